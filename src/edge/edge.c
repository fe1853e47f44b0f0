/*
 * edge.c — the edge's lifetime: start (tunnel listener + front door),
 * accepting tunnel connections, drain (SIGTERM), stop.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/util.h"

/* see edge.h */
size_t
edge_timers_needed(const struct edge_conf *ec)
{
	/* Per connection two timers, per tunnel one (heartbeat), per
	 * pending request one, per session one, the front door's server,
	 * the tunnel listener one, the revocation watch one, the drain one, the
	 * bundle upload one (edge_update_up.c), the spares' trim one. */
	return ec->max_tunnels * (2 + EDGE_CONN_STREAMS) + ec->api_max_conns +
	    EDGE_SESSIONS_MAX + HTTP_SERVER_TIMERS(ec->api_max_conns) + 5 + 16;
}

/* Poll period while draining: a request's end has no event of its own. */
#define EDGE_DRAIN_POLL_MS 50
/* Then how long connectors get to end their tunnels themselves. */
#define EDGE_DRAIN_LINGER_MS 2000

static rx_timer_fn drain_tick;

static void
free_all(struct edge *e)
{
	struct list_node *n, *tmp;

	LIST_FOR_EACH_SAFE(n, tmp, &e->connectors)
	free(list_entry(n, struct edge_connector, link));
	free(e->reqs);
	free(e->scratch);
	rx_mcache_release(&e->spares, NULL);
	edge_sessions_free(e);
	edge_update_free(e);
	free(e);
}

static void
maybe_free(struct edge *e)
{
	if (e->stopping && !e->lw_open && list_empty(&e->conns) &&
	    edge_sessions_idle(e))
		free_all(e);
}

static void
on_accept(struct net_listener *ls, int fd, const struct sockaddr_storage *ss)
{
	struct edge *e = ls->arg;

	if (e->nconns >= e->conf->max_tunnels) {
		log_warn("edge: EDGE_MAX_TUNNELS (%zu) reached; "
			 "connection refused",
		    e->conf->max_tunnels);
		net_close(fd);
		return;
	}
	edge_conn_accept(e, fd, (const struct sockaddr *)ss);
}

static void
on_listener_closed(struct net_listener *ls)
{
	struct edge *e = ls->arg;

	e->lw_open = false;
	maybe_free(e);
}

static int
listen_tunnels(struct edge *e)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_storage ss;
	int fd;

	sin.sin_addr.s_addr = e->conf->listen_addr;
	sin.sin_port = htons(e->conf->listen_port);
	fd = net_listen((struct sockaddr *)&sin, sizeof(sin), 128);
	if (fd < 0)
		return fd;
	e->tport = e->conf->listen_port;
	if (net_local_addr(fd, &ss) == 0 && ss.ss_family == AF_INET)
		e->tport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	e->lw.arg = e;
	e->lw.closed = on_listener_closed;
	net_listener_start(&e->lw, e->l, fd, "edge", on_accept);
	e->lw_open = true;
	return 0;
}

/* see edge.h */
struct edge *
edge_start(struct rx_loop *l, const struct edge_conf *ec, int *err)
{
	struct edge *e;
	size_t i;
	int rc;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->reqs = calloc(ec->api_max_conns, sizeof(*e->reqs))) == NULL ||
	    (e->scratch = malloc(EDGE_SCRATCH)) == NULL ||
	    edge_sessions_init(e) < 0 || edge_update_init(e) < 0) {
		if (e != NULL) {
			free(e->reqs);
			free(e->scratch);
			edge_sessions_free(e);
		}
		free(e);
		*err = -ENOMEM;
		return NULL;
	}
	list_init(&e->conns);
	list_init(&e->connectors);
	rx_timer_init(&e->drain, drain_tick);
	e->l = l;
	e->conf = ec;
	rx_mcache_bind(&e->spares, l, e->spare_ent, EDGE_SPARES, EDGE_SPARE_HOT,
	    EDGE_SPARE_IDLE_MS);
	e->nreqs = ec->api_max_conns;
	for (i = 0; i < e->nreqs; i++)
		e->reqs[i].e = e;
	if ((rc = listen_tunnels(e)) < 0 || (rc = edge_api_start(e)) < 0) {
		*err = rc;
		if (e->lw_open) {
			e->stopping = true;
			net_listener_close(&e->lw);
		} else {
			free_all(e);
		}
		return NULL;
	}
	edge_rwatch_start(e);
	log_info("edge: tunnels on port %u (%s), front door on port %u",
	    e->tport, ec->h2c ? "h2c" : "mTLS", edge_api_port(e));
	return e;
}

/* Whether a front-door request or a session is still in flight. */
static bool
busy(const struct edge *e)
{
	size_t i;

	for (i = 0; i < e->nreqs; i++)
		if (!edge_req_free(&e->reqs[i]))
			return true;
	return !edge_sessions_idle(e);
}

/*
 * Done once nothing is in flight and the connectors have closed their
 * connections (after START_CLOSE a connector ends a tunnel once a
 * replacement is up elsewhere), or EDGE_DRAIN_LINGER_MS after nothing is
 * in flight (with no other replica a connector keeps its draining
 * tunnels), or at drain_end.
 */
static void
drain_tick(struct rx_loop *l, struct rx_timer *tm)
{
	struct edge *e = container_of(tm, struct edge, drain);
	void (*done)(struct edge *, void *) = e->drain_done;
	int64_t now = rx_now(l);
	bool late = now >= e->drain_end;

	if (busy(e))
		e->drain_idle = 0;
	else if (e->drain_idle == 0)
		e->drain_idle = now;
	if (!late &&
	    (e->drain_idle == 0 ||
		(!list_empty(&e->conns) &&
		    now < e->drain_idle + EDGE_DRAIN_LINGER_MS)) &&
	    rx_timer_start(l, tm, EDGE_DRAIN_POLL_MS) == 0)
		return;
	log_info("edge: drain %s",
	    late ? "timed out (EDGE_DRAIN_TIMEOUT)"
		 : "complete: nothing in flight");
	e->drain_done = NULL;
	if (done != NULL)
		done(e, e->drain_arg);
}

/* see edge.h */
void
edge_drain(struct edge *e, void (*done)(struct edge *, void *), void *arg)
{
	struct list_node *n, *m;
	unsigned ntun = 0;

	if (e->draining || e->stopping)
		return;
	e->draining = true;
	e->drain_done = done;
	e->drain_arg = arg;
	e->drain_end = rx_now(e->l) + e->conf->drain_timeout_ms;
	if (e->lw_open)
		net_listener_close(&e->lw);
	LIST_FOR_EACH(n, &e->connectors)
	{
		struct edge_connector *k =
		    list_entry(n, struct edge_connector, link);

		LIST_FOR_EACH(m, &k->tunnels)
		{
			struct edge_tunnel *t =
			    list_entry(m, struct edge_tunnel, link);

			if (t->state != EDGE_T_DRAINING &&
			    edge_tunnel_start_close(t) == 0)
				ntun++;
		}
	}
	log_info("edge: draining: tunnel port closed, START_CLOSE on %u "
		 "tunnel(s), up to %lld ms for what is in flight",
	    ntun, (long long)e->conf->drain_timeout_ms);
	drain_tick(e->l, &e->drain);
}

/* see edge.h */
uint16_t
edge_tunnel_port(const struct edge *e)
{
	return e->tport;
}

/* see edge.h */
struct metrics *
edge_metrics(struct edge *e)
{
	return &e->metrics;
}

/* see edge.h */
void
edge_set_trace(struct edge *e, struct trace_recorder *r)
{
	e->trace = r;
}

/* see edge.h */
void
edge_stop(struct edge *e)
{
	struct list_node *n, *tmp;

	e->stopping = true;
	e->drain_done = NULL;
	rx_timer_stop(e->l, &e->drain);
	edge_rwatch_stop(e);
	if (e->api != NULL)
		http_server_close(e->api);
	e->api = NULL;
	edge_sessions_stop(e);
	LIST_FOR_EACH_SAFE(n, tmp, &e->conns)
	edge_conn_close(list_entry(n, struct edge_conn, link), "edge stopping");
	if (e->lw_open)
		net_listener_close(&e->lw);
	else
		maybe_free(e);
}

/* see edge_int.h */
void
edge_conn_gone(struct edge *e)
{
	maybe_free(e);
}
