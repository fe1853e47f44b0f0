/*
 * edge_registry.c — connectors by name, their tunnels, the least-loaded
 * choice, and the heartbeat that takes a silent tunnel out of routing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/util.h"

/* see edge_int.h */
struct edge_connector *
edge_registry_find(struct edge *e, const char *name, size_t n)
{
	struct list_node *node;
	struct edge_connector *k;

	LIST_FOR_EACH(node, &e->connectors)
	{
		k = list_entry(node, struct edge_connector, link);
		if (strlen(k->name) == n && memcmp(k->name, name, n) == 0)
			return k;
	}
	return NULL;
}

/* At the cap, forget the connector silent longest that has no tunnel. */
static bool
evict_one(struct edge *e)
{
	struct edge_connector *k, *victim = NULL;
	struct list_node *n;

	LIST_FOR_EACH(n, &e->connectors)
	{
		k = list_entry(n, struct edge_connector, link);
		if (list_empty(&k->tunnels) &&
		    (victim == NULL || k->last_seen_ms < victim->last_seen_ms))
			victim = k;
	}
	if (victim == NULL)
		return false;
	list_remove(&victim->link);
	free(victim);
	e->nconnectors--;
	return true;
}

/* The connector named name, created when new (NULL: full or ENOMEM). */
static struct edge_connector *
connector_get(struct edge *e, const char *name)
{
	struct edge_connector *k = edge_registry_find(e, name, strlen(name));

	if (k != NULL)
		return k;
	if (e->nconnectors >= EDGE_MAX_CONNECTORS && !evict_one(e))
		return NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->first_seen_ms = util_wall_ms();
	list_init(&k->tunnels);
	list_prepend(&e->connectors, &k->link);
	e->nconnectors++;
	return k;
}

/* see edge_int.h */
int
edge_registry_add(struct edge *e, struct edge_tunnel *t, const char *name)
{
	struct edge_connector *k = connector_get(e, name);

	if (k == NULL)
		return -ENOSPC;
	t->owner = k;
	list_prepend(&k->tunnels, &t->link);
	k->last_seen_ms = util_wall_ms();
	log_info("edge: connector %s: tunnel %s open from %s", k->name, t->id,
	    t->c->addr);
	if (e->draining) /* an open connection's new call: move it on */
		edge_tunnel_start_close(t);
	else
		edge_update_tunnel_open(t);
	return 0;
}

/*
 * see edge_int.h.  Without tunnels, an issuance starts the entry afresh
 * (a connector re-enrolled under a known name replaces the old entry,
 * listed offline until it connects); with tunnels (a renewal) only the
 * certificate's end moves.
 */
int
edge_registry_enrolled(struct edge *e, const char *name, int64_t not_after)
{
	struct edge_connector *k = connector_get(e, name);

	if (k == NULL)
		return -ENOSPC;
	k->cert_not_after = not_after;
	if (list_empty(&k->tunnels)) {
		k->first_seen_ms = util_wall_ms();
		k->requests = 0;
	}
	return 0;
}

/* see edge_int.h */
void
edge_registry_remove(struct edge_tunnel *t)
{
	struct edge_connector *k = t->owner;

	if (k == NULL)
		return;
	list_remove(&t->link);
	t->owner = NULL;
	k->last_seen_ms = util_wall_ms();
	if (!edge_connector_online(k))
		log_warn("edge: connector %s is offline (no routable tunnel)",
		    k->name);
}

/* see edge_int.h */
bool
edge_connector_online(const struct edge_connector *k)
{
	const struct list_node *n;

	LIST_FOR_EACH(n, &k->tunnels)
	if (edge_tunnel_routable(list_entry(n, struct edge_tunnel, link)))
		return true;
	return false;
}

static bool
has_room(const struct edge_tunnel *t)
{
	return t->max_concurrent <= 0 ||
	    t->in_flight < (unsigned)t->max_concurrent;
}

/* True when a is a better choice than b (b may be NULL). */
static bool
better(const struct edge_tunnel *a, const struct edge_tunnel *b)
{
	if (b == NULL)
		return true;
	if (has_room(a) != has_room(b))
		return has_room(a);
	if (a->in_flight != b->in_flight)
		return a->in_flight < b->in_flight;
	return a->last_pick < b->last_pick; /* spread ties */
}

/* see edge_int.h */
struct edge_tunnel *
edge_registry_pick(struct edge_connector *k, int64_t now)
{
	struct edge_tunnel *t, *best = NULL;
	struct list_node *n;

	LIST_FOR_EACH(n, &k->tunnels)
	{
		t = list_entry(n, struct edge_tunnel, link);
		if (edge_tunnel_routable(t) && better(t, best))
			best = t;
	}
	if (best != NULL)
		best->last_pick = now;
	return best;
}

/* The peer showed it is alive (an answer, or it consumed a backlog). */
static void
alive(struct edge_tunnel *t, int64_t now)
{
	t->missed = 0;
	t->alive_at = now;
	if (t->state == EDGE_T_OFFLINE) {
		t->state = EDGE_T_ONLINE;
		log_info("edge: tunnel %s online again", t->id);
	}
}

static void
go_offline(struct edge_tunnel *t)
{
	t->state = EDGE_T_OFFLINE;
	log_warn("edge: tunnel %s of %s offline: no heartbeat answer for %d "
		 "intervals",
	    t->id, t->owner ? t->owner->name : "?", EDGE_MISSES);
	if (t->owner != NULL && !edge_connector_online(t->owner))
		log_warn("edge: connector %s is offline", t->owner->name);
}

static void
send_heartbeat(struct edge_tunnel *t)
{
	char id[EDGE_REQ_ID_MAX];

	/* With a backlog queued, another heartbeat would only wait behind
	 * it: the interval counts as missed unless the backlog moves. */
	t->missed++;
	if (!grpc_sendq_empty(&t->oq))
		return;
	snprintf(id, sizeof(id), "hc-%" PRIu64 "-%u", t->seq, t->missed);
	edge_tunnel_send(t, edge_msg_health(id, util_wall_ms()));
	edge_conn_kick(t->c);
}

/*
 * One timer per tunnel fires at the next heartbeat and, while the tunnel
 * is online, at the moment it has been silent for EDGE_MISSES intervals,
 * so Offline comes within 3 intervals of the last sign of life.
 */
static void
on_heartbeat(struct rx_loop *l, struct rx_timer *tm)
{
	struct edge_tunnel *t = container_of(tm, struct edge_tunnel, hb);
	int64_t now = rx_now(l), ival = t->c->e->conf->heartbeat_ms, next;
	int64_t off_at;

	if (t->closed || t->c->closing)
		return;
	if (t->progress) {
		t->progress = false;
		alive(t, now);
	}
	if (now - t->alive_at >= 2 * EDGE_MISSES * ival) {
		log_warn("edge: tunnel %s: silent for %d intervals; closing",
		    t->id, 2 * EDGE_MISSES);
		edge_registry_remove(t);
		h2_stream_cancel(&t->hs, 8);
		edge_conn_kick(t->c);
		return;
	}
	off_at = t->alive_at + EDGE_MISSES * ival;
	if (now >= off_at && t->state == EDGE_T_ONLINE)
		go_offline(t);
	if (now >= t->hb_due) {
		send_heartbeat(t);
		t->hb_due = now + ival;
	}
	next = t->hb_due;
	if (t->state == EDGE_T_ONLINE && off_at > now && off_at < next)
		next = off_at;
	rx_timer_start(l, &t->hb, next - now);
}

/* see edge_int.h */
void
edge_heartbeat_start(struct edge_tunnel *t)
{
	int64_t now = rx_now(t->c->e->l);

	t->alive_at = now;
	t->hb_due = now + t->c->e->conf->heartbeat_ms;
	rx_timer_init(&t->hb, on_heartbeat);
	rx_timer_start(t->c->e->l, &t->hb, t->c->e->conf->heartbeat_ms);
}

/* see edge_int.h */
void
edge_heartbeat_answered(struct edge_tunnel *t)
{
	t->last_hb_ms = util_wall_ms();
	alive(t, rx_now(t->c->e->l));
}
