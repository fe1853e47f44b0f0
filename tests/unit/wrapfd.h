/*
 * wrapfd.h — fault injection under the socket shim, for unit tests (after
 * dropbear's fuzz-wrapfd).
 *
 * Every unit test program links wrapfd.o, which interposes the C library's
 * recv(), readv() and send(): the calls through which the POSIX shim moves
 * bytes (net_read, net_read2, net_write).  With no plan set they pass straight
 * through to the next definition (ASan's interceptor, then libc), so tests
 * that do not use this are unaffected.  A plan makes calls on one fd, or
 * on every fd without a plan of its own, behave like a real network at
 * its worst: short reads and writes, EINTR, spurious EAGAIN, and a reset
 * after a number of bytes.
 *
 * A fault never hits two consecutive calls on the same fd, so a caller
 * that retries correctly always progresses.  Faults are drawn from a
 * seeded PRNG: a failing run repeats with the same seed.  The WRAPFD_ALL
 * plan counts bytes (reset_after) and alternation over all fds together.
 * Single-threaded; at most WRAPFD_MAX fds have plans of their own.
 */
#ifndef TESTS_UNIT_WRAPFD_H
#define TESTS_UNIT_WRAPFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WRAPFD_MAX 64
#define WRAPFD_ALL (-1) /* the plan for every fd without its own */

enum {
	WRAPFD_SHORT_READ = 1 << 0, /* recv() returns 1..n-1 bytes */
	WRAPFD_SHORT_WRITE = 1 << 1, /* send() takes 1..n-1 bytes */
	WRAPFD_EINTR = 1 << 2, /* fails with EINTR before doing anything */
	WRAPFD_EAGAIN = 1 << 3, /* fails with EAGAIN although ready */
};

struct wrapfd_plan {
	unsigned faults; /* WRAPFD_* */
	unsigned percent; /* chance of a fault per call, 0..100 */
	int64_t reset_after; /* bytes moved before ECONNRESET; < 0: never */
};

struct wrapfd_stats {
	unsigned short_reads, short_writes, eintr, eagain, resets;
	unsigned reads; /* read calls on planned fds */
	uint64_t bytes; /* moved through planned fds */
};

/* Set (p != NULL) or remove (p == NULL) the plan of fd or WRAPFD_ALL. */
void wrapfd_set(int fd, const struct wrapfd_plan *p);

/* Remove every plan and zero the statistics. */
void wrapfd_clear(void);

void wrapfd_seed(uint64_t seed);

const struct wrapfd_stats *wrapfd_stats(void);

/*
 * For another socket layer's calls (the lwIP shim's, wrapped by
 * wrapfd_lwip.c): before a call moving up to *n bytes on fd, 0 to make it
 * (*n perhaps made smaller) or -1 with errno set (EINTR, EAGAIN,
 * ECONNRESET) to fail it instead; after it, wrapfd_after() with its result.
 * Fds without a plan pass through untouched.
 */
int wrapfd_before(int fd, size_t *n, bool reading);
/* A scatter read through real() (readv or the other layer's) under fd's
 * plan: a short read shortens the buffers to the bytes allowed. */
struct iovec;
typedef ssize_t readv_fn(int, const struct iovec *, int);
ssize_t wrapfd_readv(int fd, const struct iovec *iov, int cnt, readv_fn *real);
void wrapfd_after(int fd, ssize_t r);

#endif
