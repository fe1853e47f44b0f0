/*
 * The loop: batch interest changes, wait (through the backend), dispatch,
 * expire timers, run deferred work, then finish deferred closes.
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/util.h"
#include "net/net.h"
#include "rx/rx.h"
#include "rx/rx_int.h"

/* The build picks the backend: -DRX_BACKEND=rx_poll_backend (lwIP). */
#ifndef RX_BACKEND
#define RX_BACKEND rx_epoll_backend
#endif

/* see rx_int.h */
int
rx_init_backend(
    struct rx_loop *l, size_t max_timers, const struct rx_backend *be)
{
	int r;

	*l = (struct rx_loop){.sigfd = -1, .be = be};
	if ((r = be->init(l)) < 0)
		return r;
	l->heap = calloc(max_timers ? max_timers : 1, sizeof(*l->heap));
	if (l->heap == NULL) {
		be->free(l);
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
int
rx_init(struct rx_loop *l, size_t max_timers)
{
	return rx_init_backend(l, max_timers, &RX_BACKEND);
}

/* see rx.h */
void
rx_free(struct rx_loop *l)
{
	l->be->signal_free(l);
	l->be->free(l);
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

/* A hung-up watcher that wants nothing stays out of the backend: the kernel
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
	/* Removing it from the backend now means no later wait reports it;
	 * the change list may still point at it, so it is skipped there. */
	if (w->registered)
		l->be->disarm(l, w);
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
		l->be->disarm(l, w);
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
				l->be->disarm(l, w);
			w->registered = false;
			w->armed = 0;
			continue;
		}
		if (l->be->arm(l, w) == 0) {
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

/* see rx_int.h */
void
rx_dispatch(struct rx_loop *l, struct rx_watch *w, bool rd, bool wr, bool hup)
{
	unsigned got;

	if (w->closing || w->fd < 0) /* closing or released */
		return;
	got = (rd ? RX_READ : 0) | (wr ? RX_WRITE : 0);
	if (hup)
		got |= RX_READ | RX_WRITE;
	got &= w->want;
	if (hup) {
		got |= RX_HANGUP;
		w->hung_up = true;
	}
	if (got != 0)
		w->io(l, w, got);
	/* Still wanting nothing: out of the backend (see parked()). */
	if (hup && !w->closing && parked(w) && w->registered)
		queue_change(l, w);
}

/* see rx.h */
int
rx_run_once(struct rx_loop *l, int max_wait_ms)
{
	int r, wait;

	apply_changes(l);
	finish_closes(l);
	wait = rx_defer_pending(l) ? 0 : rx_timer_wait_ms(l, max_wait_ms);
	if ((r = l->be->wait(l, wait)) < 0)
		return r;
	l->iterations++;
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
