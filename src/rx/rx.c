/*
 * The epoll loop: batch interest changes, wait, dispatch, expire timers,
 * run deferred work, then finish deferred closes.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/util.h"
#include "net/net.h"
#include "rx/rx.h"
#include "rx/rx_int.h"

#define RX_EVENTS 64

/* see rx.h */
int
rx_init(struct rx_loop *l, size_t max_timers)
{
	*l = (struct rx_loop){.sigfd = -1};
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->heap = calloc(max_timers ? max_timers : 1, sizeof(*l->heap));
	if (l->heap == NULL) {
		close(l->epfd);
		return -ENOMEM;
	}
	l->capheap = max_timers;
	list_init(&l->changes);
	list_init(&l->closing);
	list_init(&l->defers);
	l->now = util_mono_ms();
	return 0;
}

/* see rx.h */
void
rx_free(struct rx_loop *l)
{
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->heap);
	l->heap = NULL;
}

/* see rx.h */
int64_t
rx_now(const struct rx_loop *l)
{
	return l->now;
}

/* see rx.h */
void
rx_stop(struct rx_loop *l)
{
	l->stop = true;
}

/* see rx.h */
void
rx_watch_init(struct rx_watch *w, int fd, rx_io_fn *io, rx_close_fn *on_close)
{
	*w = (struct rx_watch){.fd = fd, .io = io, .on_close = on_close};
	list_init(&w->link);
}

/* Link w at the front of list h (both lists are walked newest first). */
static void
push_front(struct list_node *h, struct rx_watch *w)
{
	list_prepend(h, &w->link);
}

static void
queue_change(struct rx_loop *l, struct rx_watch *w)
{
	if (w->pending)
		return;
	w->pending = true;
	push_front(&l->changes, w);
}

/* A hung-up watcher that wants nothing stays out of epoll: the kernel
 * would report the condition at every wait. */
static bool
parked(const struct rx_watch *w)
{
	return w->hung_up && w->want == 0;
}

/* see rx.h */
void
rx_watch_set(struct rx_loop *l, struct rx_watch *w, unsigned want)
{
	if (w->closing)
		return;
	w->want = want;
	if (parked(w) ? w->registered : w->want != w->armed || !w->registered)
		queue_change(l, w);
}

/* see rx.h */
void
rx_watch_close(struct rx_loop *l, struct rx_watch *w)
{
	if (w->closing)
		return;
	w->closing = true;
	w->want = 0;
	/* Removing it from epoll now means no later wait reports it; the
	 * change list may still point at it, so it is skipped there. */
	if (w->registered)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->registered = false;
	if (!w->pending)
		push_front(&l->closing, w);
}

/* see rx.h */
int
rx_watch_release(struct rx_loop *l, struct rx_watch *w)
{
	int fd = w->fd;

	if (w->closing || fd < 0)
		return -EBADF;
	if (w->registered)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (w->pending)
		list_remove(&w->link);
	*w = (struct rx_watch){.fd = -1};
	list_init(&w->link);
	return fd;
}

static void
apply_changes(struct rx_loop *l)
{
	struct rx_watch *w;
	struct epoll_event ev;
	int op;

	while (!list_empty(&l->changes)) {
		w = list_entry(l->changes.next, struct rx_watch, link);
		list_remove(&w->link);
		w->pending = false;
		if (w->closing) {
			push_front(&l->closing, w);
			continue;
		}
		if (parked(w)) {
			if (w->registered)
				epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
			w->registered = false;
			w->armed = 0;
			continue;
		}
		ev.events = (w->want & RX_READ ? EPOLLIN | EPOLLRDHUP : 0) |
		    (w->want & RX_WRITE ? EPOLLOUT : 0);
		ev.data.ptr = w;
		op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(l->epfd, op, w->fd, &ev) == 0) {
			w->registered = true;
			w->armed = w->want;
		}
	}
}

static void
finish_closes(struct rx_loop *l)
{
	struct rx_watch *w;

	while (!list_empty(&l->closing)) {
		w = list_entry(l->closing.next, struct rx_watch, link);
		list_remove(&w->link);
		if (w->fd >= 0)
			net_close(w->fd);
		w->fd = -1;
		if (w->on_close != NULL)
			w->on_close(l, w);
	}
}

static void
dispatch(struct rx_loop *l, struct epoll_event *ev, int n)
{
	struct rx_watch *w;
	unsigned got;
	bool hup;
	int i;

	for (i = 0; i < n; i++) {
		w = ev[i].data.ptr;
		if (w->closing || w->fd < 0) /* closing or released */
			continue;
		hup = (ev[i].events & (EPOLLERR | EPOLLHUP)) != 0;
		got = 0;
		if (ev[i].events & (EPOLLIN | EPOLLRDHUP))
			got |= RX_READ;
		if (ev[i].events & EPOLLOUT)
			got |= RX_WRITE;
		if (hup)
			got |= RX_READ | RX_WRITE;
		got &= w->want;
		if (hup) {
			got |= RX_HANGUP;
			w->hung_up = true;
		}
		if (got != 0)
			w->io(l, w, got);
		/* Still wanting nothing: out of epoll (see parked()). */
		if (hup && !w->closing && parked(w) && w->registered)
			queue_change(l, w);
	}
}

/* see rx.h */
int
rx_run_once(struct rx_loop *l, int max_wait_ms)
{
	struct epoll_event ev[RX_EVENTS];
	int n, wait;

	apply_changes(l);
	finish_closes(l);
	wait = rx_defer_pending(l) ? 0 : rx_timer_wait_ms(l, max_wait_ms);
	n = epoll_wait(l->epfd, ev, RX_EVENTS, wait);
	if (n < 0 && errno != EINTR)
		return -errno;
	l->now = util_mono_ms();
	l->iterations++;
	if (n > 0)
		dispatch(l, ev, n);
	rx_timer_expire(l);
	rx_defer_run(l);
	apply_changes(l);
	finish_closes(l);
	return 0;
}

/* see rx.h */
int
rx_run(struct rx_loop *l)
{
	int r;

	l->stop = false;
	while (!l->stop) {
		if ((r = rx_run_once(l, -1)) < 0)
			return r;
	}
	return 0;
}
