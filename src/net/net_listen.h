/*
 * net_listen.h — accepting connections on a listening socket from the
 * reactor: the one accept loop of the project (health port, front door,
 * the edge's tunnel port).
 *
 * On each read event it accepts up to NET_ACCEPT_BURST connections and
 * hands each (non-blocking, now the callee's) to the accept callback.
 * When the process or the system is out of descriptors or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) the pending connection stays in the
 * backlog and accepting pauses for NET_ACCEPT_PAUSE_MS instead of
 * spinning on a level-triggered event that cannot be served; the warning
 * is logged once per pause (and rate-limited by the log).  The optional
 * ready callback lets the owner leave connections in the backlog while it
 * has no room (it is asked before each accept).
 *
 * The struct is caller-allocated and embedded; it uses one watcher and
 * one timer (count it in rx_init's max_timers).  Single-threaded; every
 * function may be called from reactor callbacks, the callbacks included.
 */
#ifndef NET_NET_LISTEN_H
#define NET_NET_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rx/rx.h"

#define NET_ACCEPT_BURST 16
#define NET_ACCEPT_PAUSE_MS 100

struct net_listener;

/* True when the owner can take a connection now. */
typedef bool net_ready_fn(struct net_listener *ls);
/* A new connection: fd and its peer are the callee's. */
typedef void net_accept_fn(
    struct net_listener *ls, int fd, const struct sockaddr_storage *peer);
/* The listening socket is closed (after net_listener_close). */
typedef void net_listener_closed_fn(struct net_listener *ls);

struct net_listener {
	struct rx_watch w;
	struct rx_timer pause;
	struct rx_loop *l;
	const char *name; /* for logs, e.g. "edge" */
	net_ready_fn *ready; /* may be NULL */
	net_accept_fn *accept;
	net_listener_closed_fn *closed; /* may be NULL */
	void *arg; /* the owner's */
	uint64_t pauses; /* times accepting paused */
};

/*
 * Serve listening socket fd (the listener owns it from now on).  name is
 * borrowed for the listener's life.
 */
void net_listener_start(struct net_listener *ls, struct rx_loop *l, int fd,
    const char *name, net_accept_fn *accept);

/* Close the socket (deferred; then the closed callback runs). */
void net_listener_close(struct net_listener *ls);

#endif
