/* Fault injection by interposing recv(), readv() and send(); see wrapfd.h. */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wrapfd.h"

typedef ssize_t recv_fn(int, void *, size_t, int);
typedef ssize_t send_fn(int, const void *, size_t, int);

struct entry {
	int fd; /* -1: free */
	struct wrapfd_plan plan;
	int64_t moved;
	bool faulted; /* the last call on this fd was a fault */
};

static struct entry table[WRAPFD_MAX];
static struct entry all;
static bool have_all, ready;
static struct wrapfd_stats stats;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void
init_once(void)
{
	size_t i;

	if (ready)
		return;
	for (i = 0; i < WRAPFD_MAX; i++)
		table[i].fd = -1;
	ready = true;
}

/* xorshift64*: reproducible from the seed. */
static uint32_t
next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static struct entry *
find(int fd, bool create)
{
	size_t i;

	init_once();
	for (i = 0; i < WRAPFD_MAX; i++)
		if (table[i].fd == fd)
			return &table[i];
	if (create)
		for (i = 0; i < WRAPFD_MAX; i++)
			if (table[i].fd == -1)
				return &table[i];
	return NULL;
}

/* see wrapfd.h */
void
wrapfd_set(int fd, const struct wrapfd_plan *p)
{
	struct entry *e;

	if (fd == WRAPFD_ALL) {
		have_all = p != NULL;
		all = (struct entry){.fd = -1};
		if (p != NULL)
			all.plan = *p;
		return;
	}
	if ((e = find(fd, p != NULL)) == NULL)
		return;
	*e = (struct entry){.fd = p != NULL ? fd : -1};
	if (p != NULL)
		e->plan = *p;
}

/* see wrapfd.h */
void
wrapfd_clear(void)
{
	size_t i;

	init_once();
	for (i = 0; i < WRAPFD_MAX; i++)
		table[i].fd = -1;
	have_all = false;
	stats = (struct wrapfd_stats){0};
}

/* see wrapfd.h */
void
wrapfd_seed(uint64_t seed)
{
	rng = seed != 0 ? seed : 1;
}

/* see wrapfd.h */
const struct wrapfd_stats *
wrapfd_stats(void)
{
	return &stats;
}

static struct entry *
plan_for(int fd)
{
	struct entry *e = ready ? find(fd, false) : NULL;

	if (e != NULL)
		return e;
	return have_all ? &all : NULL;
}

/*
 * Decide the fate of one call moving up to *n bytes: 0 to go ahead
 * (perhaps with a smaller *n), or an errno to fail with.
 */
static int
fate(struct entry *e, size_t *n, unsigned short_flag)
{
	unsigned f = e->plan.faults, pick;

	if (e->plan.reset_after >= 0 && e->moved >= e->plan.reset_after) {
		stats.resets++;
		return ECONNRESET;
	}
	if (e->faulted || next_rand() % 100 >= e->plan.percent) {
		e->faulted = false;
		return 0;
	}
	e->faulted = true;
	pick = next_rand() % 3;
	if (pick == 0 && (f & WRAPFD_EINTR)) {
		stats.eintr++;
		return EINTR;
	}
	if (pick == 1 && (f & WRAPFD_EAGAIN)) {
		stats.eagain++;
		return EAGAIN;
	}
	if ((f & short_flag) && *n > 1) {
		*n = 1 + next_rand() % (*n - 1);
		if (short_flag == WRAPFD_SHORT_READ)
			stats.short_reads++;
		else
			stats.short_writes++;
		return 0;
	}
	e->faulted = false;
	return 0;
}

static void
account(struct entry *e, ssize_t r)
{
	if (r > 0) {
		e->moved += r;
		stats.bytes += (uint64_t)r;
	}
}

/* A reset also caps the bytes moved before it. */
static size_t
cap_reset(const struct entry *e, size_t n)
{
	int64_t left;

	if (e->plan.reset_after < 0)
		return n;
	left = e->plan.reset_after - e->moved;
	return left > 0 && (int64_t)n > left ? (size_t)left : n;
}

/* see wrapfd.h */
int
wrapfd_before(int fd, size_t *n, bool reading)
{
	struct entry *e = plan_for(fd);
	int err;

	if (e == NULL || *n == 0)
		return 0;
	stats.reads += reading;
	*n = cap_reset(e, *n);
	err = fate(e, n, reading ? WRAPFD_SHORT_READ : WRAPFD_SHORT_WRITE);
	if (err == 0)
		return 0;
	errno = err;
	return -1;
}

/* see wrapfd.h */
void
wrapfd_after(int fd, ssize_t r)
{
	struct entry *e = plan_for(fd);

	if (e != NULL)
		account(e, r);
}

ssize_t recv(int fd, void *p, size_t n, int flags);
ssize_t readv(int fd, const struct iovec *iov, int cnt);
ssize_t send(int fd, const void *p, size_t n, int flags);

/*
 * Static builds (the cross unit tests run under qemu-user) have no next
 * definition to look up: dlsym() returns NULL there, so go to the kernel.
 */
static ssize_t
raw_recv(int fd, void *p, size_t n, int flags)
{
	return recvfrom(fd, p, n, flags, NULL, NULL);
}

static ssize_t
raw_readv(int fd, const struct iovec *iov, int cnt)
{
	return syscall(SYS_readv, fd, iov, cnt);
}

static ssize_t
raw_send(int fd, const void *p, size_t n, int flags)
{
	return sendto(fd, p, n, flags, NULL, 0);
}

ssize_t
recv(int fd, void *p, size_t n, int flags)
{
	static recv_fn *real;
	ssize_t r;

	if (real == NULL)
		real = (recv_fn *)dlsym(RTLD_NEXT, "recv");
	if (real == NULL)
		real = raw_recv;
	if (wrapfd_before(fd, &n, true) < 0)
		return -1;
	r = real(fd, p, n, flags);
	wrapfd_after(fd, r);
	return r;
}

/* A scatter read's buffers cut to the n bytes a plan allows. */
static int
cut_iov(struct iovec *iov, int cnt, size_t n)
{
	size_t k;
	int i;

	for (i = 0; i < cnt && n > 0; i++) {
		k = iov[i].iov_len < n ? iov[i].iov_len : n;
		iov[i].iov_len = k;
		n -= k;
	}
	return i > 0 ? i : cnt;
}

/* see wrapfd.h */
ssize_t
wrapfd_readv(int fd, const struct iovec *iov, int cnt, readv_fn *real)
{
	struct iovec v[4];
	size_t n = 0;
	ssize_t r;
	int i;

	if (cnt < 1 || cnt > 4)
		return real(fd, iov, cnt);
	for (i = 0; i < cnt; i++) {
		v[i] = iov[i];
		n += iov[i].iov_len;
	}
	if (wrapfd_before(fd, &n, true) < 0)
		return -1;
	r = real(fd, v, cut_iov(v, cnt, n));
	wrapfd_after(fd, r);
	return r;
}

ssize_t
readv(int fd, const struct iovec *iov, int cnt)
{
	static readv_fn *real;

	if (real == NULL)
		real = (readv_fn *)dlsym(RTLD_NEXT, "readv");
	if (real == NULL)
		real = raw_readv;
	return wrapfd_readv(fd, iov, cnt, real);
}

ssize_t
send(int fd, const void *p, size_t n, int flags)
{
	static send_fn *real;
	ssize_t r;

	if (real == NULL)
		real = (send_fn *)dlsym(RTLD_NEXT, "send");
	if (real == NULL)
		real = raw_send;
	if (wrapfd_before(fd, &n, false) < 0)
		return -1;
	r = real(fd, p, n, flags);
	wrapfd_after(fd, r);
	return r;
}
