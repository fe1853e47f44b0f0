/*
 * util.h — small helpers shared by every module: container_of, array
 * length, the monotonic and wall clocks, secret hygiene, error messages,
 * and reading a whole file.
 */
#ifndef LIB_UTIL_H
#define LIB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p)-offsetof(type, member)))
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/* Milliseconds of CLOCK_MONOTONIC: for deadlines, never for display. */
int64_t util_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for display and wire. */
int64_t util_wall_ms(void);

/* Zero a secret so the compiler cannot elide the store. */
void util_wipe(void *p, size_t n);

/* Constant-time equality of two buffers of the same length n. */
bool util_ct_eq(const void *a, const void *b, size_t n);

/* The value of one hexadecimal digit, or -1. */
int util_hexval(int c);

/* n bytes as lowercase hex into out: 2n characters and a NUL. */
void util_hex(const void *p, size_t n, char *out);

/* The message into err (errlen bytes, truncated); returns -1, for the
 * "return util_fail(err, errlen, ...)" of a check's error path. */
int util_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Fill p with n bytes from getrandom(2).  Returns 0 or -errno; it never
 * falls back to a weaker source.
 */
int util_random(void *p, size_t n);

/*
 * Read the whole file at path (setup phase: blocking I/O), at most max
 * bytes.  On success returns 0 with *out heap memory holding *len bytes
 * and a NUL after them (so text can be used as a string); the caller
 * frees it (util_wipe() first when it is a secret).  Errors, with *out
 * NULL and no part of the file handed out (what was read is wiped):
 * -EFBIG more than max bytes, -EIO a regular file whose size changed
 * while it was read (a short read), -EISDIR, -ENOMEM, or the -errno of
 * open/fstat/read.  Devices, pipes (/dev/null) and files that report no
 * size (procfs) are read to their end.
 */
int util_read_file(const char *path, size_t max, char **out, size_t *len);

/*
 * util_read_file() of name relative to the directory dfd (AT_FDCWD: the
 * current directory; an absolute name ignores dfd), opened with flags
 * added to O_RDONLY | O_CLOEXEC | O_NOCTTY.  flags is 0 or O_NOFOLLOW
 * (anything else: -EINVAL): with O_NOFOLLOW a symlink as the last
 * component is refused with -ELOOP, never followed.  Same results, errors
 * and ownership as util_read_file().
 */
int util_read_file_at(
    int dfd, const char *name, int flags, size_t max, char **out, size_t *len);

#endif
