/*
 * Signals for the poll backend, without signalfd (lwIP's sockets are all
 * net_poll() sees there): a thread sigwait()s for the blocked set and
 * writes each signal number as one byte into a loopback TCP connection
 * made through the socket shim; the loop watches the other end.  A
 * thread, not a handler writing to a self-pipe: lwIP's socket calls are
 * not async-signal-safe, and a pipe is no lwIP socket.  The write is
 * non-blocking; when the connection's buffer is full the signal is
 * dropped, as the kernel coalesces a pending signal.
 *
 * The set must be blocked in every thread: rx_signal_start() blocks it in
 * the caller before this starts, threads created later inherit it, and
 * lwIP starts its own threads with every signal blocked (net_lwip.c), so
 * the order of rx_signal_start() and the first socket does not matter.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "net/net.h"
#include "rx/rx_int.h"

#define PAIR_WAIT_MS 2000

struct sigwait_state {
	pthread_t thread;
	sigset_t set;
	int wfd; /* the thread's end */
	int wake; /* a signal of set, sent to the thread to stop it */
	bool running; /* thread started and not joined */
	bool stop; /* read and written with __atomic */
};

static void *
sigwait_main(void *arg)
{
	struct sigwait_state *s = arg;
	unsigned char b;
	int sig;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (sigwait(&s->set, &sig) != 0 ||
		    __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			continue;
		b = (unsigned char)sig;
		(void)net_write(s->wfd, &b, 1);
	}
	return NULL;
}

static void
sigwait_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	unsigned char b[16];
	ssize_t n, i;

	/* Bounded: one read of at most 16 signals per callback. */
	n = net_read(w->fd, b, sizeof(b));
	for (i = 0; i < n; i++)
		l->on_signal(l, b[i]);
}

/* Wait up to PAIR_WAIT_MS for events on fd. */
static int
await(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r = net_poll(&p, 1, PAIR_WAIT_MS);

	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : r;
}

/* A connected loopback pair: *rfd (the loop's) and *wfd. */
static int
pair(int *rfd, int *wfd)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_storage ss;
	int lfd, r;

	if ((lfd = net_listen((struct sockaddr *)&sin, sizeof(sin), 1)) < 0)
		return lfd;
	*rfd = -1;
	if ((r = net_local_addr(lfd, &ss)) < 0 ||
	    (r = *wfd = net_socket(AF_INET, SOCK_STREAM)) < 0)
		goto out;
	r = net_connect(
	    *wfd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	if (r == -EINPROGRESS && (r = await(*wfd, POLLOUT)) == 0)
		r = net_connect_result(*wfd);
	if (r == 0 && (r = await(lfd, POLLIN)) == 0)
		r = *rfd = net_accept(lfd, &ss);
	if (r < 0)
		net_close(*wfd);
out:
	net_close(lfd);
	return r < 0 ? r : 0;
}

/* Stop the thread (no pthread_cancel: a cancel could land inside lwIP's
 * locks): raise the flag and wake its sigwait() with a signal of its set,
 * sent to that thread alone. */
static void
stop_thread(struct sigwait_state *s)
{
	if (!s->running)
		return;
	__atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
	pthread_kill(s->thread, s->wake);
	pthread_join(s->thread, NULL);
	s->running = false;
}

/* The lowest signal in set, or 0 when it is empty. */
static int
first_signal(const sigset_t *set)
{
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1)
			return sig;
	return 0;
}

/* see rx_int.h */
int
rx_sigwait_start(struct rx_loop *l, const sigset_t *set)
{
	struct sigwait_state *s = l->sigstate;
	int r;

	if (s != NULL) {
		stop_thread(s); /* restarted below with the new set */
	} else {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -ENOMEM;
		if ((r = pair(&l->sigfd, &s->wfd)) < 0) {
			free(s);
			return r;
		}
		l->sigstate = s;
		rx_watch_init(&l->sigwatch, l->sigfd, sigwait_io, NULL);
		rx_watch_set(l, &l->sigwatch, RX_READ);
	}
	s->set = *set;
	s->stop = false;
	if ((s->wake = first_signal(set)) == 0)
		return 0; /* nothing to wait for: no thread */
	if ((r = pthread_create(&s->thread, NULL, sigwait_main, s)) != 0)
		return -r; /* the pair stays, for a later try or rx_free() */
	s->running = true;
	return 0;
}

/* see rx_int.h */
void
rx_sigwait_free(struct rx_loop *l)
{
	struct sigwait_state *s = l->sigstate;

	if (s == NULL)
		return;
	stop_thread(s);
	net_close(s->wfd);
	net_close(l->sigfd);
	l->sigfd = -1;
	free(s);
	l->sigstate = NULL;
}
