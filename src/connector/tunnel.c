/*
 * Tunnel slots (tunnel.h): the Tunnel call on an edge connection, its
 * make-before-break drain, and what the slot tells the manager.  The
 * connection is tunnel_conn.c's; the messages are tunnel_msg.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "connector/manager.h"
#include "connector/session.h"
#include "connector/tunnel.h"
#include "connector/update_ctl.h"
#include "lib/log.h"
#include "lib/util.h"

#define TUNNEL_PATH "/connector.v1.ConnectorService/Tunnel"
#define TUNNEL_TXRING (256u << 10)
/* Control messages (health, metadata) that may wait beside the answers. */
#define TUNNEL_OUT_SLACK 16

static struct tunnel_slot *
slot_of(struct tunnel_conn *n)
{
	return container_of(n, struct tunnel_slot, conn);
}

/* see tunnel.h */
bool
tunnel_slot_routable(const struct tunnel_slot *t)
{
	return t->conn.state == CONN_OPEN && conn_call_routable(&t->call);
}

/* see tunnel.h */
bool
tunnel_slot_draining(const struct tunnel_slot *t)
{
	return t->conn.state == CONN_DRAINING;
}

/* --- the Tunnel call ------------------------------------------------------ */

static const char *
tunnel_on_message(struct conn_call *c, const uint8_t *p, size_t n)
{
	struct tunnel_slot *t = conn_call_arg(c);
	int r = tunnel_msg_dispatch(t, p, n);

	if (r == -ENOMEM)
		return "ControllerMessage decodes past its memory bound";
	return r < 0 ? "undecodable ControllerMessage" : NULL;
}

static void
tunnel_on_end(
    struct conn_call *c, int status, const char *reason, const char *detail)
{
	struct tunnel_slot *t = conn_call_arg(c);
	bool rebalance = status == 0 && t->inflight == 0;
	bool was_draining = tunnel_slot_draining(t);

	tunnel_msg_cancel_all(t);
	if (!rebalance) {
		conn_close(&t->conn, reason != NULL ? reason : "stream", detail,
		    false);
		return;
	}
	/* A rebalance.  Other calls on the connection may go on: then a spare
	 * slot replaces this one; else the connection closes now and this
	 * slot re-dials (its quick-close count applies). */
	conn_drain(&t->conn, "rebalance");
	if (!was_draining && t->conn.ncalls > 0 && !t->mgr->stopping)
		manager_replace(t->mgr, t);
}

static const struct conn_call_ops tunnel_call_ops = {
    .on_message = tunnel_on_message,
    .on_end = tunnel_on_end,
};

/* see tunnel.h */
bool
tunnel_queue(struct tunnel_slot *t, const char *id, unsigned field,
    const ProtobufCMessage *sub)
{
	union grpc_envelope u;
	const ProtobufCMessage *m = grpc_envelope(
	    &u, &connector__v1__connector_message__descriptor, id, field, sub);

	return m != NULL && conn_call_send(&t->call, m);
}

/* --- the connection's callbacks -------------------------------------------- */

/*
 * What this connector implements beyond connector.v1, announced on the
 * Tunnel call (spec/enrollment.md, "Capabilities"); an edge that does not
 * know the header ignores it.  "sessions" (spec/sessions.md) only while
 * SESSION_ALLOW is set: the edge sends SessionOpen only to tunnels that
 * advertised it; "stream" (spec/streaming.md) while STREAM_RESPONSES is
 * on; "update" (docs/protocol-extensions.md) under outpost's init
 * (update_ctl.h).  The anchor's TRAVERSAL_CONNECTOR_ID, when set, beside them.
 */
static int
slot_opened(struct tunnel_conn *n)
{
	struct tunnel_slot *t = slot_of(n);
	const char *id = t->mgr->conf.connector_id;
	char caps[64];
	struct h2_header h[2] = {
	    {"outpost-capabilities", caps}, {"x-traversal-connector-id", id}};
	int r;

	snprintf(caps, sizeof(caps), "enroll,renew%s%s%s",
	    session_enabled(t->mgr->sessions) ? ",sessions" : "",
	    t->mgr->conf.stream ? ",stream" : "",
	    t->mgr->upd != NULL ? ",update" : "");
	r = conn_call_open(n, &t->call, TUNNEL_PATH, h, id[0] != '\0' ? 2 : 1);
	if (r < 0)
		return r;
	tunnel_msg_hello(t);
	update_ctl_tunnel_opened(t->mgr->upd, t);
	return 0;
}

static void
slot_changed(struct tunnel_conn *n)
{
	manager_slot_changed(n->mgr);
}

static void
slot_closed(struct tunnel_conn *n, bool clean)
{
	(void)clean;
	manager_slot_idle(n->mgr, slot_of(n));
}

static const struct conn_ops slot_conn_ops = {
    .opened = slot_opened,
    .changed = slot_changed,
    .closed = slot_closed,
};

/* --- draining --------------------------------------------------------------- */

/*
 * A draining slot may end its call once nothing is in flight and a
 * replacement is routable (make-before-break), or when the process is
 * stopping.  Routable needs nothing from the edge's application: standard
 * gRPC servers send response headers only with their first message.
 */
static bool
may_finish(const struct tunnel_slot *t)
{
	return tunnel_slot_draining(t) && t->inflight == 0 &&
	    (manager_open_tunnels(t->mgr) > 0 || t->mgr->stopping);
}

/* see tunnel.h */
void
tunnel_slot_drain(struct tunnel_slot *t, const char *why)
{
	if (t->conn.state != CONN_OPEN) {
		if (!tunnel_slot_draining(t))
			conn_close(&t->conn, NULL, why, true);
		return;
	}
	log_info("tunnel %u: draining (%s)", t->index, why);
	conn_drain(&t->conn, why);
	if (!t->mgr->stopping)
		manager_replace(t->mgr, t);
	tunnel_request_done(t);
}

/* see tunnel.h */
void
tunnel_request_done(struct tunnel_slot *t)
{
	if (may_finish(t))
		conn_call_end(&t->call); /* the edge ends it; then the conn */
}

/* see tunnel.h */
void
tunnel_slot_poke(struct tunnel_slot *t)
{
	tunnel_request_done(t);
}

/* --- setup ------------------------------------------------------------------ */

/* see tunnel.h */
int
tunnel_slot_init(struct tunnel_slot *t, struct manager *m, unsigned index)
{
	*t = (struct tunnel_slot){.mgr = m, .index = index};
	if (conn_init(&t->conn, m, index, &slot_conn_ops) < 0 ||
	    conn_call_init(&t->call, &tunnel_call_ops, t, CONN_WINDOW,
		TUNNEL_TXRING, m->conf.max_message,
		m->conf.max_concurrent + TUNNEL_OUT_SLACK) < 0)
		return -ENOMEM;
	t->reqs = calloc(m->conf.max_concurrent, sizeof(*t->reqs));
	return t->reqs != NULL ? 0 : -ENOMEM;
}

/* see tunnel.h */
void
tunnel_slot_free(struct tunnel_slot *t)
{
	if (t->mgr == NULL)
		return;
	conn_free(&t->conn);
	conn_call_free(&t->call);
	free(t->reqs);
}
