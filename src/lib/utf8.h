/*
 * utf8.h — UTF-8 checks for text that must be valid UTF-8 on the wire
 * (protobuf proto3 `string` fields, which strict decoders reject
 * otherwise).
 *
 * The rule (docs/protocol-extensions.md, "Header values are UTF-8"): a
 * byte that does not belong to a well-formed UTF-8 sequence (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF, no truncated
 * sequence) is replaced by '?' (0x3F).  The replacement is done in
 * place and never changes the length, so a value stays inside the
 * bounded buffer it was parsed into and nothing is allocated.  Every
 * replaced byte is counted process-wide (utf8_replaced_total) for the
 * metrics.  Pure functions apart from that counter; single-threaded.
 */
#ifndef LIB_UTF8_H
#define LIB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the well-formed sequence at s[0..n) (n > 0), or 0. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* True when s[0..n) is well-formed UTF-8. */
bool utf8_valid(const char *s, size_t n);

/*
 * Replace each byte of s[0..n) that is not part of a well-formed
 * sequence by '?', in place.  Returns how many bytes were replaced (and
 * adds them to utf8_replaced_total).
 */
size_t utf8_scrub(char *s, size_t n);

/*
 * Encode the code point cp (at most 0x10FFFF; the caller checks that it is
 * not a surrogate) at o, which has room for 4 bytes.  Returns the length.
 */
size_t utf8_put(char *o, uint32_t cp);

/* Bytes replaced by utf8_scrub() since the process started. */
uint64_t utf8_replaced_total(void);

#endif
