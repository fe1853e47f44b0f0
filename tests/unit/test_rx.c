/*
 * Unit tests: the reactor.  Real epoll and poll (every case runs once per
 * backend, as group "rx-epoll" then "rx-poll"), real socketpairs, real
 * signals.
 * Every loop is bounded in iterations and each wait in time.  Run one case
 * with: test_rx <name-pattern>.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "rx/rx.h"
#include "rx/rx_int.h"

/* The backend the running group tests (see main). */
static const struct rx_backend *backend;

static int
init(struct rx_loop *l, size_t max_timers)
{
	return rx_init_backend(l, max_timers, backend);
}

/* --- timers ------------------------------------------------------------ */

struct tmark {
	struct rx_timer t;
	int id;
	int *log;
	int *n;
};

static void
tmark_fire(struct rx_loop *l, struct rx_timer *t)
{
	struct tmark *m = container_of(t, struct tmark, t);

	m->log[(*m->n)++] = m->id;
}

static void
timer_order(void **state)
{
	static const int64_t ms[] = {30, 10, 20, 10, 0, 25};
	static const int want[] = {4, 1, 3, 2, 5, 0};
	struct tmark m[6];
	struct rx_loop l;
	int log[6], n = 0, i;

	assert_int_equal(init(&l, 8), 0);
	for (i = 0; i < 6; i++) {
		m[i] = (struct tmark){.id = i, .log = log, .n = &n};
		rx_timer_init(&m[i].t, tmark_fire);
		assert_int_equal(rx_timer_start(&l, &m[i].t, ms[i]), 0);
	}
	/* Deadlines in order; equal deadlines in arming order. */
	for (i = 0; i < 100 && n < 6; i++)
		assert_int_equal(rx_run_once(&l, 100), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(log, want, sizeof(want));
	rx_free(&l);
}

static void
timer_stop_and_full(void **state)
{
	struct tmark a, b;
	struct rx_loop l;
	int log[2], n = 0, i;

	assert_int_equal(init(&l, 1), 0);
	a = (struct tmark){.id = 1, .log = log, .n = &n};
	b = (struct tmark){.id = 2, .log = log, .n = &n};
	rx_timer_init(&a.t, tmark_fire);
	rx_timer_init(&b.t, tmark_fire);
	assert_int_equal(rx_timer_start(&l, &a.t, 5), 0);
	assert_int_equal(rx_timer_start(&l, &b.t, 5), -ENOSPC);
	assert_true(rx_timer_active(&a.t));
	rx_timer_stop(&l, &a.t);
	rx_timer_stop(&l, &a.t); /* harmless twice */
	assert_false(rx_timer_active(&a.t));
	for (i = 0; i < 3; i++)
		rx_run_once(&l, 10);
	assert_int_equal(n, 0);
	rx_free(&l);
}

/* A timer re-armed for 0 ms from its own callback fires once per
 * iteration, so I/O keeps flowing. */
struct spin {
	struct rx_timer t;
	int fired;
};

static void
spin_fire(struct rx_loop *l, struct rx_timer *t)
{
	struct spin *s = container_of(t, struct spin, t);

	s->fired++;
	rx_timer_start(l, t, 0);
}

struct pipe_end {
	struct rx_watch w;
	int reads;
	int closes;
	struct pipe_end *victim; /* closed from our callback, if set */
	bool close_self;
};

static void
end_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct pipe_end *e = container_of(w, struct pipe_end, w);
	char b[16];

	e->reads++;
	while (read(w->fd, b, sizeof(b)) > 0)
		;
	if (e->victim != NULL)
		rx_watch_close(l, &e->victim->w);
	if (e->close_self)
		rx_watch_close(l, w);
}

static void
end_closed(struct rx_loop *l, struct rx_watch *w)
{
	struct pipe_end *e = container_of(w, struct pipe_end, w);

	e->closes++;
}

static int
pair(int sv[2])
{
	return socketpair(
	    AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

static void
zero_timer_no_starvation(void **state)
{
	struct pipe_end e = {0};
	struct spin s = {0};
	struct rx_loop l;
	uint64_t it0;
	int sv[2], i;

	assert_int_equal(init(&l, 4), 0);
	assert_int_equal(pair(sv), 0);
	rx_watch_init(&e.w, sv[0], end_io, end_closed);
	rx_watch_set(&l, &e.w, RX_READ);
	rx_timer_init(&s.t, spin_fire);
	rx_timer_start(&l, &s.t, 0);
	it0 = l.iterations;
	for (i = 0; i < 5; i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	for (i = 0; i < 5 && e.reads == 0; i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(e.reads, 1);
	/* Once per iteration, never more. */
	assert_true(s.fired >= 5);
	assert_true((uint64_t)s.fired <= l.iterations - it0);
	rx_timer_stop(&l, &s.t);
	rx_watch_close(&l, &e.w);
	rx_run_once(&l, 0);
	close(sv[1]);
	rx_free(&l);
}

/* --- deferred work ------------------------------------------------------ */

struct dmark {
	struct rx_defer d;
	int id;
	int *log;
	int *n;
	struct dmark *cancel; /* cancelled from our callback, if set */
	struct dmark *queue; /* queued from our callback, if set */
	bool again; /* re-queue itself */
};

static void
dmark_run(struct rx_loop *l, struct rx_defer *d)
{
	struct dmark *m = container_of(d, struct dmark, d);

	m->log[(*m->n)++] = m->id;
	if (m->cancel != NULL)
		rx_defer_cancel(l, &m->cancel->d);
	if (m->queue != NULL)
		rx_defer(l, &m->queue->d);
	if (m->again)
		rx_defer(l, d);
}

static void
defer_order_and_cancel(void **state)
{
	struct dmark m[5];
	struct rx_loop l;
	int log[8], n = 0, i;
	static const int first[] = {0, 1, 3}, second[] = {0, 1, 3, 4};

	assert_int_equal(init(&l, 1), 0);
	for (i = 0; i < 5; i++) {
		m[i] = (struct dmark){.id = i, .log = log, .n = &n};
		rx_defer_init(&m[i].d, dmark_run);
	}
	m[0].cancel = &m[2]; /* later in the same batch */
	m[1].queue = &m[4]; /* queued from a batch: next iteration */
	for (i = 0; i < 4; i++)
		rx_defer(&l, &m[i].d);
	rx_defer(&l, &m[0].d); /* already queued: nothing */
	assert_true(rx_defer_queued(&m[3].d));
	/* Queued outside the loop: runs at the end of the first iteration,
	 * in queueing order, each once. */
	assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(log, first, sizeof(first));
	assert_false(rx_defer_queued(&m[2].d));
	assert_true(rx_defer_queued(&m[4].d));
	assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(log, second, sizeof(second));
	/* Nothing queued any more: the loop waits for its bound. */
	for (i = 0; i < 2; i++)
		assert_int_equal(rx_run_once(&l, 5), 0);
	assert_int_equal(n, 4);
	/* Cancel of an entry not queued is harmless. */
	rx_defer_cancel(&l, &m[2].d);
	rx_free(&l);
}

/* Work that re-queues itself runs once per iteration and I/O still flows. */
static void
defer_once_per_iteration(void **state)
{
	struct pipe_end e = {0};
	struct rx_loop l;
	struct dmark m;
	uint64_t it0;
	int log[32], n = 0, sv[2], i;

	assert_int_equal(init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	rx_watch_init(&e.w, sv[0], end_io, end_closed);
	rx_watch_set(&l, &e.w, RX_READ);
	m = (struct dmark){.id = 7, .log = log, .n = &n, .again = true};
	rx_defer_init(&m.d, dmark_run);
	rx_defer(&l, &m.d);
	it0 = l.iterations;
	for (i = 0; i < 5; i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	for (i = 0; i < 5 && e.reads == 0; i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(e.reads, 1);
	assert_true((uint64_t)n == l.iterations - it0);
	rx_defer_cancel(&l, &m.d);
	assert_false(rx_defer_queued(&m.d));
	i = n;
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(n, i);
	rx_watch_close(&l, &e.w);
	rx_run_once(&l, 0);
	close(sv[1]);
	rx_free(&l);
}

/* --- closing from callbacks ------------------------------------------ */

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void
close_self_in_callback(void **state)
{
	struct pipe_end e = {.close_self = true};
	struct rx_loop l;
	int sv[2], i;

	assert_int_equal(init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	rx_watch_init(&e.w, sv[0], end_io, end_closed);
	rx_watch_set(&l, &e.w, RX_READ);
	assert_int_equal(write(sv[1], "ab", 2), 2);
	assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(e.reads, 1);
	assert_int_equal(e.closes, 1);
	assert_false(fd_open(sv[0]));
	/* More data for a closed watcher is never delivered. */
	for (i = 0; i < 3; i++)
		rx_run_once(&l, 10);
	assert_int_equal(e.reads, 1);
	assert_int_equal(e.closes, 1);
	close(sv[1]);
	rx_free(&l);
}

static void
close_other_in_same_batch(void **state)
{
	struct pipe_end a = {0}, b = {0};
	struct rx_loop l;
	int s1[2], s2[2];

	assert_int_equal(init(&l, 1), 0);
	assert_int_equal(pair(s1), 0);
	assert_int_equal(pair(s2), 0);
	/* Each closes the other: whichever runs first wins, the other's
	 * event in the same batch is dropped. */
	a.victim = &b;
	b.victim = &a;
	rx_watch_init(&a.w, s1[0], end_io, end_closed);
	rx_watch_init(&b.w, s2[0], end_io, end_closed);
	rx_watch_set(&l, &a.w, RX_READ);
	rx_watch_set(&l, &b.w, RX_READ);
	assert_int_equal(rx_run_once(&l, 0), 0); /* register */
	assert_int_equal(write(s1[1], "x", 1), 1);
	assert_int_equal(write(s2[1], "y", 1), 1);
	assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(a.reads + b.reads, 1);
	assert_int_equal(a.closes + b.closes, 1);
	assert_true(a.reads == 1 ? b.closes == 1 : a.closes == 1);
	assert_true(a.reads == 1 ? !fd_open(s2[0]) : !fd_open(s1[0]));
	if (a.reads == 1)
		rx_watch_close(&l, &a.w);
	else
		rx_watch_close(&l, &b.w);
	rx_run_once(&l, 0);
	assert_int_equal(a.closes + b.closes, 2);
	close(s1[1]);
	close(s2[1]);
	rx_free(&l);
}

/* A watcher closed and another set up in the same callback: the deferred
 * close must not swallow the new one. */
static void
close_then_rearm(void **state)
{
	struct pipe_end e = {.close_self = true};
	struct rx_loop l;
	int sv[2];

	assert_int_equal(init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	rx_watch_init(&e.w, sv[0], end_io, end_closed);
	rx_watch_set(&l, &e.w, RX_READ);
	rx_watch_close(&l, &e.w);
	rx_watch_close(&l, &e.w); /* idempotent */
	rx_watch_set(&l, &e.w, RX_READ); /* ignored once closing */
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(rx_run_once(&l, 50), 0);
	assert_int_equal(e.reads, 0);
	assert_int_equal(e.closes, 1);
	close(sv[1]);
	rx_free(&l);
}

/* --- hang-ups and errors whatever the interest -------------------------- */

/* A watcher that asks for nothing (an owner whose input buffer is full,
 * waiting for an answer) and whose peer goes away: the reactor must tell
 * it once and then stop reporting it, not wake up forever. */
struct hup_watch {
	struct rx_watch w;
	int calls;
	unsigned events;
};

static void
hup_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct hup_watch *h = container_of(w, struct hup_watch, w);

	h->calls++;
	h->events |= ev;
}

struct flag_timer {
	struct rx_timer t;
	bool fired;
};

static void
flag_fire(struct rx_loop *l, struct rx_timer *t)
{
	container_of(t, struct flag_timer, t)->fired = true;
}

/* Iterations until a 30 ms timer fires: 1 or 2 when the loop sleeps,
 * the bound (50) when something keeps waking it. */
static int
iterations_until_timer(struct rx_loop *l)
{
	struct flag_timer ft = {0};
	int it;

	rx_timer_init(&ft.t, flag_fire);
	assert_int_equal(rx_timer_start(l, &ft.t, 30), 0);
	for (it = 0; it < 50 && !ft.fired; it++)
		assert_int_equal(rx_run_once(l, -1), 0);
	rx_timer_stop(l, &ft.t);
	return it;
}

static void
hangup_checks(struct rx_loop *l, struct hup_watch *h)
{
	char b[4];

	assert_true(iterations_until_timer(l) <= 3);
	assert_int_equal(h->calls, 1);
	assert_true(h->events & RX_HANGUP);
	assert_false(h->events & (RX_READ | RX_WRITE)); /* not wanted */
	/* Asking for input again brings the condition back, folded into
	 * the wanted direction so that the read reports it. */
	h->events = 0;
	rx_watch_set(l, &h->w, RX_READ);
	assert_int_equal(rx_run_once(l, 1000), 0);
	assert_int_equal(h->calls, 2);
	assert_true(h->events & RX_READ);
	assert_true(read(h->w.fd, b, sizeof(b)) <= 0);
	/* And asking for nothing again does not spin either. */
	rx_watch_set(l, &h->w, 0);
	assert_true(iterations_until_timer(l) <= 3);
	assert_int_equal(h->calls, 2);
	rx_watch_close(l, &h->w);
	assert_int_equal(rx_run_once(l, 0), 0);
}

static void
hangup_without_interest(void **state)
{
	struct hup_watch h = {0};
	struct rx_loop l;
	int sv[2];

	assert_int_equal(init(&l, 2), 0);
	assert_int_equal(pair(sv), 0);
	rx_watch_init(&h.w, sv[0], hup_io, NULL);
	rx_watch_set(&l, &h.w, 0);
	assert_int_equal(rx_run_once(&l, 0), 0); /* registered, quiet */
	assert_int_equal(h.calls, 0);
	close(sv[1]); /* both directions gone: EPOLLHUP */
	hangup_checks(&l, &h);
	rx_free(&l);
}

/* The same with a TCP peer that resets (RST: EPOLLERR | EPOLLHUP). */
static void
reset_without_interest(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	socklen_t alen = sizeof(a);
	struct hup_watch h = {0};
	struct rx_loop l;
	int ls, c, s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	assert_true((c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_true((s = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0);
	close(ls);
	assert_int_equal(init(&l, 2), 0);
	rx_watch_init(&h.w, s, hup_io, NULL);
	rx_watch_set(&l, &h.w, 0);
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(h.calls, 0);
	assert_int_equal(
	    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(c); /* RST */
	hangup_checks(&l, &h);
	rx_free(&l);
}

/* --- signals ------------------------------------------------------------ */

static int got_signal;

static void
on_signal(struct rx_loop *l, int signo)
{
	got_signal = signo;
	rx_stop(l);
}

static void
signal_delivery(void **state)
{
	struct rx_loop l;
	sigset_t set;

	assert_int_equal(init(&l, 1), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(rx_signal_start(&l, &set, on_signal), 0);
	got_signal = 0;
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	/* rx_run returns because the callback stops the loop. */
	assert_int_equal(rx_run(&l), 0);
	assert_int_equal(got_signal, SIGUSR1);
	rx_free(&l);
}

/* --- scale -------------------------------------------------------------- */

#define MANY 1000

static void
many_watchers(void **state)
{
	static struct pipe_end e[MANY];
	static int peer[MANY];
	struct rlimit rl;
	struct rx_loop l;
	int sv[2], i, reads, closes, it;

	/* 2000 descriptors: raise the soft limit as far as allowed. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2 * MANY + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 2 * MANY + 64)
		skip();
	assert_int_equal(init(&l, 1), 0);
	for (i = 0; i < MANY; i++) {
		assert_int_equal(pair(sv), 0);
		e[i] = (struct pipe_end){.close_self = true};
		rx_watch_init(&e[i].w, sv[0], end_io, end_closed);
		rx_watch_set(&l, &e[i].w, RX_READ);
		peer[i] = sv[1];
	}
	assert_int_equal(rx_run_once(&l, 0), 0);
	for (i = 0; i < MANY; i++)
		assert_int_equal(write(peer[i], "z", 1), 1);
	/* 64 events per wait: about 16 iterations. */
	for (it = 0, reads = 0; it < 200 && reads < MANY; it++) {
		assert_int_equal(rx_run_once(&l, 1000), 0);
		for (i = 0, reads = 0; i < MANY; i++)
			reads += e[i].reads;
	}
	for (i = 0, closes = 0; i < MANY; i++) {
		assert_int_equal(e[i].reads, 1);
		closes += e[i].closes;
		close(peer[i]);
	}
	assert_int_equal(closes, MANY);
	rx_free(&l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(timer_order),
	    cmocka_unit_test(timer_stop_and_full),
	    cmocka_unit_test(zero_timer_no_starvation),
	    cmocka_unit_test(defer_order_and_cancel),
	    cmocka_unit_test(defer_once_per_iteration),
	    cmocka_unit_test(close_self_in_callback),
	    cmocka_unit_test(close_other_in_same_batch),
	    cmocka_unit_test(close_then_rearm),
	    cmocka_unit_test(hangup_without_interest),
	    cmocka_unit_test(reset_without_interest),
	    cmocka_unit_test(signal_delivery),
	    cmocka_unit_test(many_watchers),
	};

	int r;

	if (unit_filter(argc, argv) < 0)
		return 2;
	backend = &rx_epoll_backend;
	r = cmocka_run_group_tests_name("rx-epoll", tests, NULL, NULL);
	backend = &rx_poll_backend;
	return r | cmocka_run_group_tests_name("rx-poll", tests, NULL, NULL);
}
