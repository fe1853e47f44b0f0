/* The POSIX backend of the socket shim. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/net.h"

static int
ret(int r)
{
	return r < 0 ? -errno : r;
}

/* see net.h */
int
net_socket(int family, int type)
{
	return ret(socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

/* see net.h */
int
net_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r;

	do
		r = connect(fd, sa, len);
	while (r < 0 && errno == EINTR);
	return ret(r);
}

/* see net.h */
int
net_connect_result(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* see net.h */
int
net_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
	int fd, one = 1;

	fd = net_socket(sa->sa_family, SOCK_STREAM);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* see net.h */
int
net_accept(int lfd, struct sockaddr_storage *peer)
{
	socklen_t len = sizeof(*peer);

	return ret(accept4(
	    lfd, (struct sockaddr *)peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

/* see net.h */
ssize_t
net_read(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = recv(fd, p, n, 0);
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
		r = readv(fd, iov, 2);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* see net.h */
ssize_t
net_write(int fd, const void *p, size_t n)
{
	ssize_t r;

	do
		r = send(fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* see net.h */
int
net_shutdown_write(int fd)
{
	return ret(shutdown(fd, SHUT_WR));
}

/* see net.h */
int
net_close(int fd)
{
	return ret(close(fd));
}

/* see net.h */
int
net_set_opt(int fd, enum net_opt opt, bool on)
{
	int v = on;

	switch (opt) {
	case NET_NODELAY:
		return ret(
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
	case NET_KEEPALIVE:
		return ret(
		    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)));
	}
	return -EINVAL;
}

/* see net.h */
int
net_local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	return ret(getsockname(fd, (struct sockaddr *)ss, &len));
}

/* see net.h */
int
net_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	return ret(poll(fds, n, timeout_ms));
}

/* see net.h: the kernel's interfaces are the system's to configure. */
int
net_iface_check(const struct net_iface_conf *conf, char *err, size_t errlen)
{
	const char *name = conf->tap != NULL ? "LWIP_TAP"
	    : conf->address != NULL	     ? "LWIP_ADDRESS"
	    : conf->gateway != NULL	     ? "LWIP_GATEWAY"
					     : NULL;

	if (name == NULL)
		return 0;
	snprintf(err, errlen,
	    "%s: applies to the lwIP build only (make NET=lwip); this build "
	    "uses the kernel's network interfaces",
	    name);
	return -1;
}

/* see net.h */
int
net_iface_start(const struct net_iface_conf *conf, char *err, size_t errlen)
{
	return net_iface_check(conf, err, errlen);
}

/* see net.h */
bool
net_backend_threads(void)
{
	return false;
}
