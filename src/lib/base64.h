/*
 * base64.h — RFC 4648 base64 (standard alphabet), for secrets given as
 * environment variables and for PEM bodies.  No allocation; the caller
 * supplies the output buffer.
 */
#ifndef LIB_BASE64_H
#define LIB_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* Bytes needed to decode n characters of base64 (an upper bound). */
#define BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 3)

/* Characters produced by encoding n bytes, without a terminating NUL. */
#define BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)

/*
 * Decode src[0..n) into dst (cap bytes).  ASCII whitespace anywhere is
 * skipped (wrapped `base64` output works); '=' padding is optional but
 * may only end the input.  Returns the decoded length, -EINVAL for
 * invalid input (bad character, misplaced padding, dangling bits or a
 * lone trailing character), or -ENOSPC when cap is too small.  On error
 * dst may hold partial output: wipe it if the input was secret.
 */
ssize_t base64_decode(void *dst, size_t cap, const char *src, size_t n);

/*
 * Encode src[0..n) into dst with padding and a terminating NUL; cap must
 * be at least BASE64_ENCODED_LEN(n) + 1.  Returns the length without the
 * NUL, or -ENOSPC.
 */
ssize_t base64_encode(char *dst, size_t cap, const void *src, size_t n);

#endif
