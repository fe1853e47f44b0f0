/* Signals as reactor events: block them and read a signalfd. */
#include <errno.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "rx/rx.h"

static void
signal_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
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

/* see rx.h */
int
rx_signal_start(struct rx_loop *l, const sigset_t *set, rx_signal_fn *fn)
{
	int fd;

	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -errno;
	fd = signalfd(l->sigfd, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	l->on_signal = fn;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		rx_watch_init(&l->sigwatch, fd, signal_io, NULL);
		rx_watch_set(l, &l->sigwatch, RX_READ);
	}
	return 0;
}
