/* The epoll backend (the POSIX build): see struct rx_backend. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/util.h"
#include "rx/rx_int.h"

#define RX_EVENTS 64

struct epoll_state {
	int epfd;
	struct epoll_event ev[RX_EVENTS];
};

static int
ep_init(struct rx_loop *l)
{
	struct epoll_state *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		free(s);
		return -errno;
	}
	l->bstate = s;
	return 0;
}

static void
ep_free(struct rx_loop *l)
{
	struct epoll_state *s = l->bstate;

	close(s->epfd);
	free(s);
	l->bstate = NULL;
}

static int
ep_arm(struct rx_loop *l, struct rx_watch *w)
{
	struct epoll_state *s = l->bstate;
	struct epoll_event ev;

	ev.events = (w->want & RX_READ ? EPOLLIN | EPOLLRDHUP : 0) |
	    (w->want & RX_WRITE ? EPOLLOUT : 0);
	ev.data.ptr = w;
	if (epoll_ctl(s->epfd, w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		w->fd, &ev) < 0)
		return -errno;
	return 0;
}

static void
ep_disarm(struct rx_loop *l, struct rx_watch *w)
{
	struct epoll_state *s = l->bstate;

	epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

static int
ep_wait(struct rx_loop *l, int ms)
{
	struct epoll_state *s = l->bstate;
	uint32_t e;
	int i, n;

	n = epoll_wait(s->epfd, s->ev, RX_EVENTS, ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	l->now = util_mono_ms();
	for (i = 0; i < n; i++) {
		e = s->ev[i].events;
		rx_dispatch(l, s->ev[i].data.ptr,
		    (e & (EPOLLIN | EPOLLRDHUP)) != 0, (e & EPOLLOUT) != 0,
		    (e & (EPOLLERR | EPOLLHUP)) != 0);
	}
	return 0;
}

const struct rx_backend rx_epoll_backend = {
    .init = ep_init,
    .free = ep_free,
    .arm = ep_arm,
    .disarm = ep_disarm,
    .wait = ep_wait,
    .signal_start = rx_signalfd_start,
    .signal_free = rx_signalfd_free,
};
