/*
 * net_listen.c — the accept loop with its pause (see net_listen.h).
 */
#include <errno.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"
#include "net/net_listen.h"

static bool
out_of_resources(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
	    err == -ENOMEM;
}

static void
resume(struct rx_loop *l, struct rx_timer *t)
{
	struct net_listener *ls = container_of(t, struct net_listener, pause);

	rx_watch_set(l, &ls->w, RX_READ);
}

static void
pause_accepting(struct net_listener *ls, int err)
{
	ls->pauses++;
	log_warn("%s: accept: %s; pausing %d ms", ls->name, strerror(-err),
	    NET_ACCEPT_PAUSE_MS);
	rx_watch_set(ls->l, &ls->w, 0);
	rx_timer_start(ls->l, &ls->pause, NET_ACCEPT_PAUSE_MS);
}

static void
on_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct net_listener *ls = container_of(w, struct net_listener, w);
	struct sockaddr_storage peer;
	int i, fd;

	for (i = 0; i < NET_ACCEPT_BURST && !w->closing; i++) {
		if (ls->ready != NULL && !ls->ready(ls))
			return;
		fd = net_accept(w->fd, &peer);
		if (out_of_resources(fd)) {
			pause_accepting(ls, fd);
			return;
		}
		if (fd == -EAGAIN)
			return;
		if (fd < 0) {
			/* The peer gave up before we took it (ECONNABORTED,
			 * EPROTO, ...): the next one may be fine. */
			log_debug("%s: accept: %s", ls->name, strerror(-fd));
			continue;
		}
		ls->accept(ls, fd, &peer);
	}
}

static void
on_closed(struct rx_loop *l, struct rx_watch *w)
{
	struct net_listener *ls = container_of(w, struct net_listener, w);

	if (ls->closed != NULL)
		ls->closed(ls);
}

/* see net_listen.h */
void
net_listener_start(struct net_listener *ls, struct rx_loop *l, int fd,
    const char *name, net_accept_fn *accept)
{
	ls->l = l;
	ls->name = name;
	ls->accept = accept;
	ls->pauses = 0;
	rx_timer_init(&ls->pause, resume);
	rx_watch_init(&ls->w, fd, on_io, on_closed);
	rx_watch_set(l, &ls->w, RX_READ);
}

/* see net_listen.h */
void
net_listener_close(struct net_listener *ls)
{
	rx_timer_stop(ls->l, &ls->pause);
	rx_watch_close(ls->l, &ls->w);
}
