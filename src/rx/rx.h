/*
 * rx.h — the reactor: one thread, one loop, epoll or poll underneath.
 *
 * The readiness mechanism is a backend chosen at build time (rx_int.h):
 * epoll (rx_epoll.c) for the POSIX build, poll over net_poll() (rx_poll.c)
 * for the lwIP build, whose sockets epoll cannot see.  Nothing below
 * depends on which one runs; "epoll" below stands for either.
 *
 * Watchers and timers are embedded in their owners (recover the owner with
 * container_of) and never allocated by the reactor.  Interest is
 * declarative: rx_watch_set() records what a watcher wants and the epoll_ctl
 * changes are applied in one batch before the next wait.  Write interest
 * should be held only while output is queued.
 *
 * Closing is deferred: rx_watch_close() stops delivery at once (events for
 * it later in the same batch are dropped) and the fd is closed, and the
 * watcher's close callback runs, at the end of the current iteration.  Any
 * callback may therefore close any watcher, itself included, and free its
 * owner from the close callback.
 *
 * Time is CLOCK_MONOTONIC in milliseconds, read once per iteration
 * (rx_now()).  Timers live in a min-heap whose capacity is fixed at
 * rx_init(); each wait is bounded by the earliest timer.
 *
 * Deferred work (rx_defer()) is the way to do something "soon, outside the
 * caller's stack": it runs once, at the end of the current iteration
 * (after I/O callbacks and timers, before deferred closes), or at the end
 * of the first one when queued outside the loop.  See struct rx_defer.
 *
 * Signals arrive as ordinary callbacks, never inside a handler: through a
 * signalfd with epoll, through a sigwait thread and a loopback socket with
 * poll (rx_sigwait.c).  Errors: >= 0 or -errno.  Nothing here may be called from
 * another thread or from a signal handler.
 */
#ifndef RX_RX_H
#define RX_RX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/list.h"

#define RX_READ 0x1u
#define RX_WRITE 0x2u
#define RX_HANGUP 0x4u

struct rx_loop;
struct rx_watch;
struct rx_timer;
struct rx_defer;

/*
 * events: RX_READ and/or RX_WRITE, plus RX_HANGUP when epoll reported an
 * error or hang-up (EPOLLERR, EPOLLHUP) on the fd.  A hang-up is delivered
 * whatever the interest: folded into the wanted directions, so that the
 * I/O call itself reports it, and as RX_HANGUP alone to a watcher that
 * wants nothing.  The kernel keeps reporting such a condition, so a
 * watcher that wants nothing is taken out of epoll once it has been told;
 * the next rx_watch_set() with some interest puts it back (and the
 * condition is reported again, folded into that interest).
 */
typedef void rx_io_fn(struct rx_loop *, struct rx_watch *, unsigned events);
typedef void rx_close_fn(struct rx_loop *, struct rx_watch *);
typedef void rx_timer_fn(struct rx_loop *, struct rx_timer *);
typedef void rx_signal_fn(struct rx_loop *, int signo);
typedef void rx_defer_fn(struct rx_loop *, struct rx_defer *);

struct rx_watch {
	int fd;
	unsigned want; /* what the owner asked for */
	unsigned armed; /* what the backend (epoll or poll) has */
	bool registered; /* fd known to the backend */
	size_t slot; /* the poll backend's index of fd; unused by epoll */
	bool pending; /* on the change list */
	bool closing;
	bool hung_up; /* epoll reported EPOLLERR/EPOLLHUP; see rx_io_fn */
	rx_io_fn *io;
	rx_close_fn *on_close; /* may be NULL */
	struct list_node link; /* change list or close list */
};

struct rx_timer {
	int64_t deadline;
	size_t slot; /* index in the heap + 1; 0 when stopped */
	uint64_t seq; /* arming order, see rx_timer_expire() */
	rx_timer_fn *fire;
};

/*
 * Deferred work: embedded in its owner like a timer (recover the owner
 * with container_of); the reactor allocates nothing.  An entry is queued
 * at most once (rx_defer() on a queued entry does nothing), so the queue
 * is bounded by the entries that exist.  The entries queued when a batch
 * starts run in queueing order; an entry queued while the batch runs (its
 * own callback re-queueing it included) runs in the next iteration, whose
 * wait then does not sleep, so deferred work never starves I/O.  The
 * callback may free the owner; any callback may cancel any entry.
 */
struct rx_defer {
	rx_defer_fn *run;
	struct list_node link; /* the loop's queue */
	uint64_t seq; /* queueing order, see rx_defer_run() */
	bool queued;
};

struct rx_backend;
struct rx_loop {
	const struct rx_backend *be; /* chosen at build time, see rx_int.h */
	void *bstate; /* the backend's own, owned by it */
	void *sigstate; /* the signal source's own, owned by it */
	int sigfd;
	bool stop;
	int64_t now;
	struct list_node changes; /* of rx_watch, by link */
	struct list_node closing; /* of rx_watch, by link */
	struct rx_timer **heap;
	size_t nheap, capheap;
	uint64_t timer_seq;
	struct list_node defers; /* of rx_defer, by link, FIFO */
	uint64_t defer_seq;
	struct rx_watch sigwatch;
	rx_signal_fn *on_signal;
	uint64_t iterations;
};

/* Create the loop with room for max_timers active timers. 0 or -errno. */
int rx_init(struct rx_loop *l, size_t max_timers);

/* Release the loop; every watcher must have been closed. */
void rx_free(struct rx_loop *l);

/* Run until rx_stop(); returns 0 or -errno from the backend's wait. */
int rx_run(struct rx_loop *l);

/* One iteration waiting at most max_wait_ms (-1: until a timer or event). */
int rx_run_once(struct rx_loop *l, int max_wait_ms);

/* Make rx_run() return after the current iteration. */
void rx_stop(struct rx_loop *l);

/* The loop's clock, refreshed once per iteration. */
int64_t rx_now(const struct rx_loop *l);

/* Attach fd (owned by the watcher from now on) with its callbacks. */
void rx_watch_init(
    struct rx_watch *w, int fd, rx_io_fn *io, rx_close_fn *on_close);

/* Declare interest (RX_READ | RX_WRITE, or 0). Applied before the next wait. */
void rx_watch_set(struct rx_loop *l, struct rx_watch *w, unsigned want);

/* Deferred close of the watcher and its fd; idempotent. */
void rx_watch_close(struct rx_loop *l, struct rx_watch *w);

/*
 * Stop watching w at once and hand its fd back to the caller, unclosed (a
 * dialer passing a connected socket to its owner).  Pending events for w
 * in this iteration are dropped; w is left inert and may be re-initialised.
 * Returns the fd, or -EBADF if w has no fd or is closing.
 */
int rx_watch_release(struct rx_loop *l, struct rx_watch *w);

void rx_timer_init(struct rx_timer *t, rx_timer_fn *fire);

/* (Re)arm t to fire after ms; 0, or -ENOSPC when the heap is full. */
int rx_timer_start(struct rx_loop *l, struct rx_timer *t, int64_t ms);

/* Disarm t; harmless when it is not armed. */
void rx_timer_stop(struct rx_loop *l, struct rx_timer *t);

bool rx_timer_active(const struct rx_timer *t);

void rx_defer_init(struct rx_defer *d, rx_defer_fn *run);

/* Queue d to run once soon (see struct rx_defer); harmless when queued. */
void rx_defer(struct rx_loop *l, struct rx_defer *d);

/* Take d off the queue; harmless when it is not queued.  An owner that
 * frees itself outside its own callback cancels first. */
void rx_defer_cancel(struct rx_loop *l, struct rx_defer *d);

bool rx_defer_queued(const struct rx_defer *d);

/* Block the signals in set and deliver them to fn as reactor events
 * (signalfd, or a sigwait thread with the poll backend). */
int rx_signal_start(struct rx_loop *l, const sigset_t *set, rx_signal_fn *fn);

#endif
