/*
 * c-ares' sockets through the socket shim and the reactor.  c-ares reports
 * errors as -1 with errno set; the shim returns -errno: convert here.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "lib/util.h"
#include "net/dns_int.h"
#include "net/net.h"

static int
fail(int e)
{
	errno = -e;
	return -1;
}

static struct dns_sock *
sock_find(struct dns_resolver *r, ares_socket_t fd)
{
	size_t i;

	for (i = 0; i < nitems(r->socks); i++)
		if (r->socks[i].used && r->socks[i].w.fd == fd)
			return &r->socks[i];
	return NULL;
}

static void
sock_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct dns_sock *s = container_of(w, struct dns_sock, w);
	struct dns_resolver *r = s->r;
	ares_socket_t fd = w->fd;

	/* Collected for a socket c-ares closed since, in this iteration, whose
	 * slot now holds a new one: not this socket's event. */
	if (l->iterations == s->born)
		return;
	/* c-ares may close this socket while processing: touch s no more. */
	ares_process_fd(r->ch, events & RX_READ ? fd : ARES_SOCKET_BAD,
	    events & RX_WRITE ? fd : ARES_SOCKET_BAD);
	dns_timer_update(r);
}

static ares_socket_t
sock_open(int family, int type, int proto, void *arg)
{
	struct dns_resolver *r = arg;
	struct dns_sock *s = NULL;
	size_t i;
	int fd;

	for (i = 0; i < nitems(r->socks) && s == NULL; i++)
		if (!r->socks[i].used)
			s = &r->socks[i];
	if (s == NULL)
		return fail(-EMFILE);
	if ((fd = net_socket(family, type)) < 0)
		return fail(fd);
	*s = (struct dns_sock){.r = r,
	    .used = true,
	    .dgram = type == SOCK_DGRAM,
	    .born = r->loop->iterations};
	rx_watch_init(&s->w, fd, sock_io, NULL);
	return fd;
}

/* Closed at once rather than deferred: the watch is detached first, so a
 * stale event for it in this batch finds no interest and is dropped (or,
 * should the slot be reused at once, is recognised by sock_io()). */
static int
sock_close(ares_socket_t fd, void *arg)
{
	struct dns_sock *s = sock_find(arg, fd);
	struct dns_resolver *r = arg;
	int r2;

	if (s == NULL)
		return fail(-EBADF);
	rx_watch_release(r->loop, &s->w);
	s->used = false;
	r2 = net_close(fd);
	return r2 < 0 ? fail(r2) : 0;
}

static int
sock_connect(
    ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *arg)
{
	struct dns_sock *s = sock_find(arg, fd);
	int r;

	if (s == NULL || len > sizeof(s->peer))
		return fail(-EBADF);
	memcpy(&s->peer, sa, len);
	s->peerlen = len;
	r = net_connect(fd, sa, len);
	return r < 0 ? fail(r) : 0;
}

static ares_ssize_t
sock_recvfrom(ares_socket_t fd, void *p, size_t n, int flags,
    struct sockaddr *from, ares_socklen_t *fromlen, void *arg)
{
	struct dns_sock *s = sock_find(arg, fd);
	ssize_t r;

	if (s == NULL)
		return fail(-EBADF);
	if ((r = net_read(fd, p, n)) < 0)
		return fail((int)r);
	if (s->dgram)
		dns_note_answer(s->r, p, (size_t)r);
	if (from != NULL && fromlen != NULL) {
		memcpy(from, &s->peer, MIN(*fromlen, s->peerlen));
		*fromlen = s->peerlen;
	}
	return r;
}

/* A datagram goes out in one write: c-ares passes UDP queries as a single
 * iovec.  For TCP, a short write ends the call like writev(2) would. */
static ares_ssize_t
sock_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *arg)
{
	ssize_t r, total = 0;
	int i;

	for (i = 0; i < n; i++) {
		r = net_write(fd, iov[i].iov_base, iov[i].iov_len);
		if (r < 0)
			return total > 0 ? total : fail((int)r);
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return total;
}

static const struct ares_socket_functions sock_funcs = {
    .asocket = sock_open,
    .aclose = sock_close,
    .aconnect = sock_connect,
    .arecvfrom = sock_recvfrom,
    .asendv = sock_sendv,
};

/* see dns_int.h */
void
dns_sock_setup(struct dns_resolver *r)
{
	ares_set_socket_functions(r->ch, &sock_funcs, r);
}

/* see dns_int.h */
void
dns_sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = arg;
	struct dns_sock *s = sock_find(r, fd);

	if (s == NULL)
		return;
	rx_watch_set(r->loop, &s->w,
	    (readable ? RX_READ : 0) | (writable ? RX_WRITE : 0));
}
