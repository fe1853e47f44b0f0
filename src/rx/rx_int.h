/* rx_int.h — declarations shared by the reactor's own files. */
#ifndef RX_RX_INT_H
#define RX_RX_INT_H

#include "rx/rx.h"

/*
 * A readiness mechanism.  The loop keeps interest in rx_watch (want,
 * armed, registered) and calls:
 *   init/free  create or release l->bstate (init: 0 or -errno);
 *   arm        make the backend report w->want for w->fd (add or modify);
 *              0 or -errno (the watcher then stays unregistered);
 *   disarm     forget w->fd at once: no later wait reports it;
 *   wait       wait up to ms (-1: no limit), set l->now, and hand every
 *              ready watcher to rx_dispatch(); 0, or -errno other than
 *              EINTR;
 *   signal_start  a source of the signals in set (already blocked) that
 *              calls l->on_signal from the loop; 0 or -errno.
 */
struct rx_backend {
	int (*init)(struct rx_loop *l);
	void (*free)(struct rx_loop *l);
	int (*arm)(struct rx_loop *l, struct rx_watch *w);
	void (*disarm)(struct rx_loop *l, struct rx_watch *w);
	int (*wait)(struct rx_loop *l, int ms);
	int (*signal_start)(struct rx_loop *l, const sigset_t *set);
	void (*signal_free)(struct rx_loop *l);
};

extern const struct rx_backend rx_epoll_backend;
extern const struct rx_backend rx_poll_backend;

/* rx_init() with backend be (the unit tests run both). */
int rx_init_backend(
    struct rx_loop *l, size_t max_timers, const struct rx_backend *be);

/* Deliver readiness to w: rd, wr as reported, hup for an error or hang-up
 * (see rx_io_fn).  Skips closing and released watchers. */
void rx_dispatch(
    struct rx_loop *l, struct rx_watch *w, bool rd, bool wr, bool hup);

/* Signal sources (signal_start/signal_free of the backends). */
int rx_signalfd_start(struct rx_loop *l, const sigset_t *set);
void rx_signalfd_free(struct rx_loop *l);
int rx_sigwait_start(struct rx_loop *l, const sigset_t *set);
void rx_sigwait_free(struct rx_loop *l);

/* Milliseconds until the earliest timer, capped by max_wait_ms (-1: none). */
int rx_timer_wait_ms(const struct rx_loop *l, int max_wait_ms);

/* Fire every timer due at rx_now() that was armed before this call. */
void rx_timer_expire(struct rx_loop *l);

/* Whether deferred work is queued (the next wait must not sleep). */
bool rx_defer_pending(const struct rx_loop *l);

/* Run the deferred work queued before this call, in queueing order. */
void rx_defer_run(struct rx_loop *l);

#endif
