/* The manager's state: /metrics families and the /status JSON. */
#include <stdio.h>
#include <string.h>

#include "connector/manager.h"
#include "connector/session.h"
#include "lib/json.h"
#include "lib/util.h"
#include "trace/trace.h"

static const char *const dial_labels[DIAL_RESULT__N] = {
    "result=\"ok\"",
    "result=\"dns\"",
    "result=\"connect\"",
    "result=\"proxy\"",
    "result=\"tls\"",
    "result=\"h2\"",
};

static const char *const state_labels[CONN__STATES] = {
    "state=\"idle\"",
    "state=\"dialing\"",
    "state=\"handshaking\"",
    "state=\"open\"",
    "state=\"draining\"",
    "state=\"closing\"",
};

/* Every outcome a request can have: "ok" and the typed error reasons. */
static const char *const outcomes[MANAGER_OUTCOMES] = {
    "ok",
    "dns",
    "refused",
    "reset",
    "unreachable",
    "tls",
    "timeout",
    "too_large",
    "bad_request",
    "bad_response",
    "overloaded",
    "cancelled",
    "policy_denied",
    "proxy",
    "draining",
    "internal",
};

static const char *const outcome_labels[MANAGER_OUTCOMES] = {
    "outcome=\"ok\"",
    "outcome=\"dns\"",
    "outcome=\"refused\"",
    "outcome=\"reset\"",
    "outcome=\"unreachable\"",
    "outcome=\"tls\"",
    "outcome=\"timeout\"",
    "outcome=\"too_large\"",
    "outcome=\"bad_request\"",
    "outcome=\"bad_response\"",
    "outcome=\"overloaded\"",
    "outcome=\"cancelled\"",
    "outcome=\"policy_denied\"",
    "outcome=\"proxy\"",
    "outcome=\"draining\"",
    "outcome=\"internal\"",
};

static const double lat_bounds[MANAGER_LAT_BUCKETS] = {
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    5,
    30,
};

static const double size_bounds[MANAGER_SIZE_BUCKETS] = {
    0,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
};

static void
collect_slots(struct metric_family *f, void *arg)
{
	struct manager *m = arg;
	const struct tunnel_slot *t;
	unsigned i, inflight = 0;
	uint64_t in = 0, out = 0;

	for (i = 0; i < CONN__STATES; i++)
		metric_set(&m->mx.tunnel_state[i], 0);
	for (i = 0; i < m->nslots; i++) {
		t = &m->slots[i];
		metric_inc(&m->mx.tunnel_state[t->conn.state]);
		inflight += t->inflight;
		in += conn_bytes_in(&t->conn);
		out += conn_bytes_out(&t->conn);
	}
	metric_set(&m->mx.inflight_now, inflight);
	metric_set(&m->mx.bytes_in, (double)in);
	metric_set(&m->mx.bytes_out, (double)out);
}

static void
family(struct metrics *r, struct metric_family *f, const char *name,
    const char *help, enum metric_type type, struct manager *m)
{
	metric_family_init(f, name, help, type, collect_slots, m);
	metrics_add(r, f);
}

static void
series(struct metric_family *f, struct metric *s, const char *const *labels,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		metric_init(
		    &s[i], labels != NULL ? labels[i] : NULL, NULL, NULL, 0);
		metric_family_add(f, &s[i]);
	}
}

/* see manager.h */
void
manager_metrics_add(struct manager *m, struct metrics *r)
{
	struct manager_metrics *x = &m->mx;
	unsigned i;
	static const char *const dir[2] = {
	    "direction=\"in\"", "direction=\"out\""};

	family(r, &x->tunnels, "outpost_tunnels", "Tunnel slots by state.",
	    METRIC_GAUGE, m);
	series(&x->tunnels, x->tunnel_state, state_labels, CONN__STATES);
	family(r, &x->dials, "outpost_dials_total", "Tunnel dials by result.",
	    METRIC_COUNTER, m);
	series(&x->dials, x->dial, dial_labels, DIAL_RESULT__N);
	family(r, &x->reconnects, "outpost_reconnects_total",
	    "Open tunnels lost or closed.", METRIC_COUNTER, m);
	series(&x->reconnects, &x->reconnect, NULL, 1);
	family(r, &x->closes, "outpost_tunnel_closes_total",
	    "Tunnel connections closed, by typed reason.", METRIC_COUNTER, m);
	for (i = 0; i < x->ncloses; i++) /* any before the registry */
		metric_family_add(&x->closes, &x->close[i]);
	family(r, &x->requests, "outpost_requests_total",
	    "Requests by outcome (ok or the typed error reason).",
	    METRIC_COUNTER, m);
	series(&x->requests, x->outcome, outcome_labels, MANAGER_OUTCOMES);
	family(r, &x->inflight, "outpost_requests_in_flight",
	    "Requests executing now.", METRIC_GAUGE, m);
	series(&x->inflight, &x->inflight_now, NULL, 1);
	family(r, &x->latency, "outpost_upstream_seconds",
	    "Time from a request's arrival to its answer.", METRIC_HISTOGRAM,
	    m);
	metric_init(
	    &x->lat, NULL, lat_bounds, x->lat_buckets, MANAGER_LAT_BUCKETS);
	metric_set_exemplars(&x->lat, x->lat_ex);
	metric_family_add(&x->latency, &x->lat);
	family(r, &x->req_size, "outpost_upstream_request_body_bytes",
	    "Request body sizes of answered requests.", METRIC_HISTOGRAM, m);
	metric_init(&x->req_body, NULL, size_bounds, x->req_buckets,
	    MANAGER_SIZE_BUCKETS);
	metric_family_add(&x->req_size, &x->req_body);
	family(r, &x->resp_size, "outpost_upstream_response_body_bytes",
	    "Response body sizes of answered requests.", METRIC_HISTOGRAM, m);
	metric_init(&x->resp_body, NULL, size_bounds, x->resp_buckets,
	    MANAGER_SIZE_BUCKETS);
	metric_family_add(&x->resp_size, &x->resp_body);
	family(r, &x->bytes, "outpost_tunnel_bytes_total",
	    "Bytes on the tunnel connections.", METRIC_COUNTER, m);
	metric_init(&x->bytes_in, dir[0], NULL, NULL, 0);
	metric_init(&x->bytes_out, dir[1], NULL, NULL, 0);
	metric_family_add(&x->bytes, &x->bytes_in);
	metric_family_add(&x->bytes, &x->bytes_out);
	manager_addrs_metrics_add(m, r);
	session_metrics_add(m->sessions, r);
}

/* see manager.h */
void
manager_count_dial(struct manager *m, enum manager_dial r)
{
	metric_inc(&m->mx.dial[r]);
	/* The edge hung up on, or alerted about, our certificate. */
	if (r == DIAL_RESULT_TLS && m->on_refused != NULL &&
	    m->last_error != NULL &&
	    (strcmp(m->last_error, "handshake_closed") == 0 ||
		strcmp(m->last_error, "closed") == 0 ||
		strcmp(m->last_error, "peer_rejected") == 0))
		m->on_refused(m, m->refused_arg);
}

/* see manager.h */
void
manager_count_request(struct manager *m, const char *reason)
{
	size_t i;

	for (i = 0; i < MANAGER_OUTCOMES; i++) {
		if (strcmp(outcomes[i], reason) == 0) {
			metric_inc(&m->mx.outcome[i]);
			return;
		}
	}
	metric_inc(&m->mx.outcome[MANAGER_OUTCOMES - 1]);
}

/* A reason usable as a label value as it is: [a-z0-9_], not empty. */
static bool
reason_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
			*s == '_'))
			return false;
	return true;
}

/* The series of a reason, added at its first close; once all but one are
 * taken, the last is "other" for the rest. */
static struct metric *
close_series(struct manager_metrics *x, const char *reason)
{
	unsigned i;

	if (!reason_token(reason))
		reason = "other";
	for (i = 0; i < x->ncloses; i++)
		if (strcmp(x->close_reason[i], reason) == 0)
			return &x->close[i];
	if (x->ncloses >= MANAGER_CLOSE_REASONS - 1 &&
	    strcmp(reason, "other") != 0)
		return close_series(x, "other");
	x->close_reason[i] = reason;
	snprintf(x->close_label[i], sizeof(x->close_label[i]),
	    "reason=\"%.28s\"", reason);
	metric_init(&x->close[i], x->close_label[i], NULL, NULL, 0);
	if (x->closes.name != NULL) /* else manager_metrics_add() links it */
		metric_family_add(&x->closes, &x->close[i]);
	x->ncloses++;
	return &x->close[i];
}

/* see manager.h */
void
manager_count_close(struct manager *m, const char *reason)
{
	metric_inc(close_series(&m->mx, reason));
}

/* see manager.h */
void
manager_observe_latency(
    struct manager *m, int64_t ms, const struct trace_ref *span)
{
	char tid[2 * TRACE_ID_LEN + 1], sid[2 * TRACE_SPAN_ID_LEN + 1];
	bool traced = span != NULL && span->active &&
	    (span->ctx.flags & TRACE_FLAG_SAMPLED) != 0;

	if (traced) {
		util_hex(span->ctx.trace_id, TRACE_ID_LEN, tid);
		util_hex(span->ctx.span_id, TRACE_SPAN_ID_LEN, sid);
	}
	metric_observe_traced(&m->mx.lat, (double)ms / 1000.0,
	    traced ? tid : NULL, traced ? sid : NULL);
}

/* see manager.h */
void
manager_observe_bodies(struct manager *m, size_t req, size_t resp)
{
	metric_observe(&m->mx.req_body, (double)req);
	metric_observe(&m->mx.resp_body, (double)resp);
}

static void
slot_json(const struct tunnel_slot *t, const char *address, int64_t now,
    struct buf *b)
{
	const struct tunnel_conn *n = &t->conn;
	bool live = n->state == CONN_OPEN || n->state == CONN_DRAINING;

	buf_printf(b, "{\"slot\":%u,\"state\":\"%s\",\"since_ms\":%lld,",
	    t->index, conn_state_name(n->state), (long long)(now - n->since));
	buf_adds(b, "\"address\":");
	json_cstr(b, address[0] != '\0' ? address : NULL);
	buf_adds(b, ",");
	buf_printf(b, "\"in_flight\":%u,\"served\":%llu,\"errors\":%llu,",
	    t->inflight, (unsigned long long)t->served,
	    (unsigned long long)t->errors);
	buf_adds(b, "\"connection_uuid\":");
	json_cstr(b, live ? t->uuid : NULL);
	buf_adds(b, ",\"last_error\":");
	json_cstr(b, n->last_error[0] != '\0' ? n->last_error : NULL);
	buf_adds(b, ",\"last_error_detail\":");
	json_cstr(b, n->last_detail[0] != '\0' ? n->last_detail : NULL);
	buf_adds(b, "}");
}

/* see manager.h */
void
manager_status_json(const struct manager *m, struct buf *b)
{
	int64_t now = rx_now(m->loop);
	unsigned i, g, shown = 0;
	const struct tunnel_slot *t;

	buf_adds(b, "{\"controller\":");
	json_cstr(b, m->conf.authority);
	buf_printf(b, ",\"tunnels_wanted\":%u,\"active_tunnels\":%u,",
	    m->conf.slots, manager_open_tunnels(m));
	buf_adds(b, "\"last_error\":");
	json_cstr(b, m->last_error);
	buf_adds(b, ",\"edge_addresses\":");
	manager_addrs_json(m, b);
	buf_adds(b, ",\"slots\":[");
	for (i = 0; i < m->nslots; i++) {
		t = &m->slots[i];
		g = manager_slot_group(m, t);
		/* Spares, and the slots of an address not in use, appear
		 * only while they are doing something. */
		if ((i % (2 * m->conf.slots) >= m->conf.slots ||
			!m->addrs[g].wanted) &&
		    t->conn.state == CONN_IDLE && !conn_scheduled(&t->conn))
			continue;
		if (shown++ > 0)
			buf_adds(b, ",");
		slot_json(t, m->addrs[g].name, now, b);
	}
	buf_adds(b, "]}");
}

/* see manager.h */
void
manager_status_fn(struct buf *b, void *arg)
{
	manager_status_json(arg, b);
}
