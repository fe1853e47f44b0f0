/*
 * A tunnel's lifecycle as spans (issue #15 item 4): each connection is a
 * trace of its own, rooted at its tunnel.dial span; tunnel.handshake
 * (TLS only), tunnel.open and tunnel.drain are children of that span,
 * each lasting as long as its state.  Attributes are the OpenTelemetry
 * conventions' server.address and server.port (what the dial reaches),
 * outpost.tunnel.slot and outpost.tunnel.connection (the slot and its
 * connection count, as the logs name them), on tunnel.drain the typed
 * reason it drains for (outpost.drain.reason), and on the span of the
 * state a failure ends, error.type (the close's typed reason, as
 * outpost_tunnel_closes_total counts it) with an error status.
 * Enrolment's aux connections are not tunnels and are not traced.
 */
#include <string.h>

#include "connector/manager.h"
#include "connector/tunnel_conn.h"

static const char *const phase_names[CONN__STATES] = {
    [CONN_DIALING] = "tunnel.dial",
    [CONN_HANDSHAKING] = "tunnel.handshake",
    [CONN_OPEN] = "tunnel.open",
    [CONN_DRAINING] = "tunnel.drain",
};

static void
phase_attrs(struct tunnel_conn *n, struct trace_span *s)
{
	const struct url *u = &n->mgr->conf.url;

	if (n->dial_host != NULL) {
		trace_span_attr_str(
		    s, "server.address", n->dial_host, strlen(n->dial_host));
		trace_span_attr_int(s, "server.port", n->dial_port);
	} else {
		trace_span_attr_str(s, "server.address", u->host, u->hostlen);
		trace_span_attr_int(s, "server.port", u->port);
	}
	trace_span_attr_int(s, "outpost.tunnel.slot", n->index);
	trace_span_attr_int(s, "outpost.tunnel.connection", n->generation);
	if (n->drain_reason != NULL)
		trace_span_attr_str(s, "outpost.drain.reason", n->drain_reason,
		    strlen(n->drain_reason));
}

/* see tunnel_conn.h */
void
conn_trace_state(struct tunnel_conn *n, enum conn_state to)
{
	struct trace_recorder *r = n->mgr->trace;
	bool root = to == CONN_DIALING;

	if (n->aux || r == NULL)
		return;
	trace_span_end(r, &n->phase);
	if (phase_names[to] == NULL || (!root && !n->rooted))
		return;
	trace_span_start(r, &n->phase, phase_names[to], TRACE_KIND_INTERNAL,
	    root ? NULL : &n->phase_root, NULL, 0);
	if (root) {
		n->phase_root = n->phase.ctx;
		n->rooted = n->phase.active;
	}
	if (n->phase.recording)
		phase_attrs(n, &n->phase);
}

/* see tunnel_conn.h */
void
conn_trace_fail(struct tunnel_conn *n, const char *reason)
{
	if (reason == NULL || !n->phase.recording)
		return;
	trace_span_attr_str(&n->phase, "error.type", reason, strlen(reason));
	trace_span_set_status(&n->phase, TRACE_STATUS_ERROR);
}
