/* Signals as reactor events: block them, then the backend's source (a
 * signalfd here, for epoll; rx_sigwait.c for poll). */
#include <errno.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "rx/rx_int.h"

/* see rx.h */
int
rx_signal_start(struct rx_loop *l, const sigset_t *set, rx_signal_fn *fn)
{
	int r;

	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -errno;
	if ((r = l->be->signal_start(l, set)) < 0)
		return r;
	l->on_signal = fn;
	return 0;
}

static void
signalfd_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct signalfd_siginfo si;
	ssize_t n;
	int i;

	/* Bounded: a flood of signals cannot keep this callback running. */
	for (i = 0; i < 16; i++) {
		n = read(w->fd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si))
			return;
		l->on_signal(l, (int)si.ssi_signo);
	}
}

/* see rx_int.h */
int
rx_signalfd_start(struct rx_loop *l, const sigset_t *set)
{
	int fd = signalfd(l->sigfd, set, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		rx_watch_init(&l->sigwatch, fd, signalfd_io, NULL);
		rx_watch_set(l, &l->sigwatch, RX_READ);
	}
	return 0;
}

/* see rx_int.h */
void
rx_signalfd_free(struct rx_loop *l)
{
	if (l->sigfd >= 0)
		close(l->sigfd);
	l->sigfd = -1;
}
