/*
 * The poll backend (the lwIP build): poll over net_poll(), so it sees
 * whatever sockets the shim hands out (lwIP's included).
 *
 * The registered fds sit in one pollfd array with the watcher of each
 * (w->slot).  Disarming leaves a hole (fd -1, which poll ignores) so that
 * a dispatch walking the array is never disturbed; the holes are squeezed
 * out before the next wait.  The array grows by doubling up to RX_POLL_MAX
 * entries; past that arm() fails with -EMFILE.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "lib/util.h"
#include "net/net.h"
#include "rx/rx_int.h"

#define RX_POLL_MAX 65536

struct poll_state {
	struct pollfd *pfd;
	struct rx_watch **w;
	size_t n, cap, holes;
};

static int
po_init(struct rx_loop *l)
{
	struct poll_state *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	l->bstate = s;
	return 0;
}

static void
po_free(struct rx_loop *l)
{
	struct poll_state *s = l->bstate;

	free(s->pfd);
	free(s->w);
	free(s);
	l->bstate = NULL;
}

static int
grow(struct poll_state *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct pollfd *p;
	struct rx_watch **w;

	if (cap > RX_POLL_MAX)
		return -EMFILE;
	if ((p = realloc(s->pfd, cap * sizeof(*p))) == NULL)
		return -ENOMEM;
	s->pfd = p;
	if ((w = realloc(s->w, cap * sizeof(*w))) == NULL)
		return -ENOMEM;
	s->w = w;
	s->cap = cap;
	return 0;
}

static int
po_arm(struct rx_loop *l, struct rx_watch *w)
{
	struct poll_state *s = l->bstate;
	short ev = (short)((w->want & RX_READ ? POLLIN : 0) |
	    (w->want & RX_WRITE ? POLLOUT : 0));
	int r;

	if (!w->registered) {
		if (s->n == s->cap && (r = grow(s)) < 0)
			return r;
		w->slot = s->n++;
		s->w[w->slot] = w;
		s->pfd[w->slot] = (struct pollfd){.fd = w->fd};
	}
	s->pfd[w->slot].events = ev;
	return 0;
}

static void
po_disarm(struct rx_loop *l, struct rx_watch *w)
{
	struct poll_state *s = l->bstate;

	s->pfd[w->slot].fd = -1;
	s->w[w->slot] = NULL;
	s->holes++;
}

/* Squeeze the holes out, keeping every watcher's slot right. */
static void
compact(struct poll_state *s)
{
	size_t i, j;

	for (i = 0, j = 0; i < s->n; i++) {
		if (s->w[i] == NULL)
			continue;
		s->pfd[j] = s->pfd[i];
		s->w[j] = s->w[i];
		s->w[j]->slot = j;
		j++;
	}
	s->n = j;
	s->holes = 0;
}

static int
po_wait(struct rx_loop *l, int ms)
{
	struct poll_state *s = l->bstate;
	size_t i, n;
	short e;
	int r;

	if (s->holes > 0)
		compact(s);
	n = s->n;
	r = net_poll(s->pfd, (nfds_t)n, ms);
	if (r < 0 && r != -EINTR)
		return r;
	l->now = util_mono_ms();
	/* Watchers armed by a callback land past n and wait for the next
	 * poll; disarmed ones leave a NULL that is skipped. */
	for (i = 0; r > 0 && i < n; i++) {
		e = s->pfd[i].revents;
		if (e == 0 || s->w[i] == NULL)
			continue;
		s->pfd[i].revents = 0;
		rx_dispatch(l, s->w[i], (e & POLLIN) != 0, (e & POLLOUT) != 0,
		    (e & (POLLERR | POLLHUP | POLLNVAL)) != 0);
	}
	return 0;
}

const struct rx_backend rx_poll_backend = {
    .init = po_init,
    .free = po_free,
    .arm = po_arm,
    .disarm = po_disarm,
    .wait = po_wait,
    .signal_start = rx_sigwait_start,
    .signal_free = rx_sigwait_free,
};
