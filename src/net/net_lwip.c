/*
 * The lwIP backend of the socket shim (the NET=lwip build): every net.h
 * call on lwIP's lwip_* socket API.  Descriptors are lwIP's own (never
 * valid for libc calls); lwIP has no SOCK_NONBLOCK, accept4 or
 * MSG_NOSIGNAL: sockets are made non-blocking with lwip_fcntl, and lwIP
 * never raises SIGPIPE.  Close-on-exec does not apply: lwIP descriptors do
 * not survive exec.  The stack starts on the first net_socket(),
 * net_poll() or net_iface_start() (net_lwip_if.c), once per process.
 *
 * Threads.  The reactor is one thread, as in the POSIX build; lwIP adds
 * its own, none of which ever touches reactor state:
 *   - the tcpip thread (tcpip_init): lwIP's timers (TCP retransmission,
 *     ARP, neighbour discovery) and every received frame;
 *   - the tap thread (the unix port's tapif.c): read()s frames from the
 *     tap device and queues them to the tcpip thread (tcpip_input,
 *     bounded by MEMP_NUM_TCPIP_MSG_INPKT: a full queue drops the frame);
 *   - the signal thread of the poll backend (src/rx/rx_sigwait.c).
 * The reactor's lwip_* calls run in the reactor's own thread under lwIP's
 * core lock (LWIP_TCPIP_CORE_LOCKING), so a call never waits for the
 * tcpip thread to be scheduled; lwip_poll() sleeps on a semaphore that the
 * tcpip thread's socket events post.  lwIP's two threads are created with
 * every signal blocked (net_lwip_masked()), whenever the first socket is
 * made, so a process signal is only ever taken by the reactor's own
 * threads (rx_sigwait.c's sigwait()).  The worker's seccomp
 * allow-list is installed by the reactor thread after these threads exist
 * and binds that thread alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>

#include <lwip/sockets.h>
#include <lwip/tcpip.h>

#include "net/net.h"
#include "net/net_lwip_int.h"

static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

/* see net_lwip_int.h */
void
net_lwip_masked(void (*fn)(void *), void *arg)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	fn(arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void
tcpip_start(void *arg)
{
	tcpip_init(NULL, NULL);
}

static void
stack_init(void)
{
	net_lwip_masked(tcpip_start, NULL);
}

/* see net_lwip_int.h */
void
net_lwip_start(void)
{
	pthread_once(&stack_once, stack_init);
}

static int
ret(int r)
{
	return r < 0 ? -errno : r;
}

static int
nonblock(int fd)
{
	int fl = lwip_fcntl(fd, F_GETFL, 0);

	if (fl < 0 || lwip_fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = -errno;
		lwip_close(fd);
		return e;
	}
	return fd;
}

/* see net.h */
int
net_socket(int family, int type)
{
	int fd;

	net_lwip_start();
	fd = lwip_socket(family, type, 0);
	return fd < 0 ? -errno : nonblock(fd);
}

/* lwIP reports a RST answering our SYN as ECONNRESET; a connection that
 * was never established cannot be reset, so it is net.h's ECONNREFUSED. */
static int
connect_err(int r)
{
	return r == -ECONNRESET ? -ECONNREFUSED : r;
}

/* see net.h */
int
net_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r;

	do
		r = lwip_connect(fd, sa, len);
	while (r < 0 && errno == EINTR);
	return connect_err(ret(r));
}

/* see net.h */
int
net_connect_result(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (lwip_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return connect_err(-err);
}

/* see net.h */
int
net_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
	int fd, one = 1;

	fd = net_socket(sa->sa_family, SOCK_STREAM);
	if (fd < 0)
		return fd;
	lwip_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		lwip_setsockopt(
		    fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (lwip_bind(fd, sa, len) < 0 || lwip_listen(fd, backlog) < 0) {
		int e = -errno;
		lwip_close(fd);
		return e;
	}
	return fd;
}

/* see net.h */
int
net_accept(int lfd, struct sockaddr_storage *peer)
{
	socklen_t len = sizeof(*peer);
	int fd;

	do
		fd = lwip_accept(lfd, (struct sockaddr *)peer, &len);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : nonblock(fd);
}

/* see net.h */
ssize_t
net_read(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = lwip_recv(fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* see net.h */
ssize_t
net_read2(int fd, void *p, size_t n, void *q, size_t m)
{
	struct iovec iov[2] = {{p, n}, {q, m}};
	ssize_t r;

	do
		r = lwip_readv(fd, iov, 2);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* see net.h */
ssize_t
net_write(int fd, const void *p, size_t n)
{
	ssize_t r;

	do
		r = lwip_send(fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* see net.h */
int
net_shutdown_write(int fd)
{
	return ret(lwip_shutdown(fd, SHUT_WR));
}

/* see net.h */
int
net_close(int fd)
{
	return ret(lwip_close(fd));
}

/* see net.h */
int
net_set_opt(int fd, enum net_opt opt, bool on)
{
	int v = on;

	switch (opt) {
	case NET_NODELAY:
		return ret(lwip_setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
	case NET_KEEPALIVE:
		return ret(lwip_setsockopt(
		    fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)));
	}
	return -EINVAL;
}

/* see net.h */
int
net_local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	return ret(lwip_getsockname(fd, (struct sockaddr *)ss, &len));
}

/* see net.h */
int
net_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	net_lwip_start();
	return ret(lwip_poll(fds, n, timeout_ms));
}

/* see net.h */
bool
net_backend_threads(void)
{
	return true;
}
