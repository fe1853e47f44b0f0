/*
 * The wrapfd plans (wrapfd.h) over the lwIP shim: the NET=lwip unit test
 * links with -Wl,--wrap=lwip_recv,--wrap=lwip_readv,--wrap=lwip_send, so
 * net_read, net_read2 and net_write (src/net/net_lwip.c) reach lwIP
 * through these, and the same
 * short reads and writes, EINTR, spurious EAGAIN and resets hit lwIP's
 * sockets as the POSIX shim's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wrapfd.h"

ssize_t __real_lwip_recv(int s, void *p, size_t n, int flags);
ssize_t __real_lwip_readv(int s, const struct iovec *iov, int cnt);
ssize_t __wrap_lwip_readv(int s, const struct iovec *iov, int cnt);
ssize_t __real_lwip_send(int s, const void *p, size_t n, int flags);
ssize_t __wrap_lwip_recv(int s, void *p, size_t n, int flags);
ssize_t __wrap_lwip_send(int s, const void *p, size_t n, int flags);

ssize_t
__wrap_lwip_recv(int s, void *p, size_t n, int flags)
{
	ssize_t r;

	if (wrapfd_before(s, &n, true) < 0)
		return -1;
	r = __real_lwip_recv(s, p, n, flags);
	wrapfd_after(s, r);
	return r;
}

ssize_t
__wrap_lwip_readv(int s, const struct iovec *iov, int cnt)
{
	return wrapfd_readv(s, iov, cnt, __real_lwip_readv);
}

ssize_t
__wrap_lwip_send(int s, const void *p, size_t n, int flags)
{
	ssize_t r;

	if (wrapfd_before(s, &n, false) < 0)
		return -1;
	r = __real_lwip_send(s, p, n, flags);
	wrapfd_after(s, r);
	return r;
}
