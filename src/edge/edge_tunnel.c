/*
 * edge_tunnel.c — one gRPC Tunnel call: accepting it, reading
 * ConnectorMessages, queueing ControllerMessages under the stream's flow
 * control, and tearing it down.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/connector/v1/connector.pb-c.h"
#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/util.h"

static size_t
max_message(const struct edge_conf *ec)
{
	return MAX(ec->max_request_body, ec->max_response_body) +
	    EDGE_MSG_OVERHEAD;
}

static void
tunnel_free(struct edge *e, struct edge_tunnel *t)
{
	size_t rx, tx;

	/* The rings fill from offset 0: what was ever written is what of
	 * them may be resident (or what an earlier user touched). */
	h2_stream_touched(&t->hs, &rx, &tx);
	grpc_sendq_clear(&t->oq);
	if (t->deliver)
		rx_mcache_put(
		    &e->spares, t->rdbuf, EDGE_PART_MSG_MAX, EDGE_PART_MSG_MAX);
	else
		free(t->rdbuf);
	rx_mcache_put(&e->spares, t->rx, EDGE_WINDOW, MAX(rx, t->rx_hot));
	rx_mcache_put(&e->spares, t->tx, EDGE_TX_RING, MAX(tx, t->tx_hot));
	free(t);
}

/* see edge_int.h */
struct h2_stream *
edge_tunnel_accept(struct h2_session *s, void *arg)
{
	struct edge_conn *c = arg;
	struct edge_tunnel *t;
	size_t slot;

	if (c->closing)
		return NULL;
	/* Tunnel calls take a slot; Attach calls give theirs back once
	 * their path is known (edge_session_attach). */
	for (slot = 0; slot < EDGE_CONN_STREAMS && c->tun[slot] != NULL; slot++)
		;
	if (c->nstreams >= EDGE_CONN_STREAMS + EDGE_CONN_SESSIONS ||
	    (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->rx = rx_mcache_get(&c->e->spares, EDGE_WINDOW, &t->rx_hot);
	t->tx = rx_mcache_get(&c->e->spares, EDGE_TX_RING, &t->tx_hot);
	if (t->rx == NULL || t->tx == NULL) {
		tunnel_free(c->e, t);
		return NULL;
	}
	/* The message buffer waits for the path: an Attach call needs a
	 * small one, an Enrollment call none (edge_session.c, edge_enroll.c). */
	grpc_reader_init(&t->rd, NULL, 0);
	h2_stream_init(&t->hs, t->rx, EDGE_WINDOW, t->tx, EDGE_TX_RING);
	t->c = c;
	list_init(&t->link); /* on no connector's list until named */
	grpc_sendq_init(&t->oq, 0);
	t->seq = ++c->e->seq;
	snprintf(t->id, sizeof(t->id), "t%" PRIu64, t->seq);
	t->since_ms = util_wall_ms();
	c->nstreams++;
	if (slot < EDGE_CONN_STREAMS) {
		t->slotted = true;
		c->tun[slot] = t;
		if (slot >= c->ntun)
			c->ntun = slot + 1;
	}
	return &t->hs;
}

/* Move queued messages into the stream's send ring. */
static void
pump_out(struct edge_tunnel *t)
{
	bool full;
	long n = grpc_sendq_pump(&t->oq, &t->hs, &full);

	if (n < 0) {
		log_debug("edge: tunnel %s: send side closed", t->id);
		return;
	}
	/* Bytes accepted after the ring was full mean the peer opened its
	 * window: it is alive even if its answers wait behind a large
	 * message. */
	if (n > 0 && t->blocked)
		t->progress = true;
	if (n > 0 || full)
		t->blocked = full;
}

/* see edge_int.h */
int
edge_tunnel_send(struct edge_tunnel *t, struct grpc_out *o)
{
	if (o == NULL)
		return -ENOMEM;
	if (t->closed || !t->accepted || t->c->closing) {
		free(o);
		return -EPIPE;
	}
	grpc_sendq_push(&t->oq, o);
	pump_out(t);
	return 0;
}

/* see edge_int.h */
bool
edge_tunnel_routable(const struct edge_tunnel *t)
{
	return t->accepted && !t->closed && !t->c->closing &&
	    t->state == EDGE_T_ONLINE;
}

/* see edge_int.h */
bool
edge_tunnel_has_cap(const struct edge_tunnel *t, const char *cap)
{
	const char *caps = h2_stream_capabilities(&t->hs), *p = caps;
	size_t n = strlen(cap);

	while ((p = strstr(p, cap)) != NULL) {
		if ((p == caps || p[-1] == ',' || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

/* see edge_int.h */
const char *
edge_tunnel_state_name(const struct edge_tunnel *t)
{
	if (t->closed || t->c->closing)
		return "closing";
	switch (t->state) {
	case EDGE_T_ONLINE:
		return "online";
	case EDGE_T_OFFLINE:
		return "offline";
	case EDGE_T_DRAINING:
		return "draining";
	}
	return "unknown";
}

/* Give t's slot in c->tun back (an Attach call, or t is closing). */
static void
unslot(struct edge_tunnel *t)
{
	struct edge_conn *c = t->c;
	size_t i;

	for (i = 0; t->slotted && i < c->ntun; i++)
		if (c->tun[i] == t)
			c->tun[i] = NULL;
	t->slotted = false;
}

/* End the call from our side with a status (stream stays until CLOSE). */
static void
refuse(struct edge_tunnel *t, int status, const char *msg)
{
	log_warn("edge: tunnel %s from %s: %s", t->id, t->c->addr, msg);
	t->accepted = false; /* no more messages either way */
	t->ended = true;
	edge_registry_remove(t);
	h2_stream_end_status(&t->hs, status, msg);
}

static int recycle(struct edge_tunnel *t);

static void
on_headers(struct edge_tunnel *t)
{
	char id[EDGE_REQ_ID_MAX];
	const char *path = h2_stream_path(&t->hs);

	if (t->accepted || t->ended)
		return;
	if (strcmp(path, EDGE_SESSION_PATH) == 0) {
		unslot(t);
		edge_session_attach(t);
		return;
	}
	if (strcmp(path, EDGE_DELIVER_PATH) == 0) {
		unslot(t);
		edge_deliver_attach(t);
		return;
	}
	if (strcmp(path, EDGE_UPD_FETCH_PATH) == 0 ||
	    strcmp(path, EDGE_UPD_REPORT_PATH) == 0) {
		unslot(t);
		edge_update_attach(t);
		return;
	}
	t->ended = true; /* unless accepted below */
	if (!t->slotted) {
		h2_stream_end_status(&t->hs, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "too many Tunnel calls on this connection");
		return;
	}
	if (strcmp(path, EDGE_TUNNEL_PATH) != 0) {
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
		return;
	}
	if (h2_stream_error(&t->hs) != H2_SERR_NONE) {
		h2_stream_end_status(&t->hs, GRPC_STATUS_INVALID_ARGUMENT,
		    h2_stream_error_name(h2_stream_error(&t->hs)));
		return;
	}
	if (recycle(t) < 0) {
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (h2_stream_respond(&t->hs) < 0)
		return;
	t->ended = false;
	t->accepted = true;
	snprintf(id, sizeof(id), "meta-%" PRIu64, t->seq);
	edge_tunnel_send(t, edge_msg_metadata(id));
	if (t->c->name[0] != '\0' &&
	    edge_registry_add(t->c->e, t, t->c->name) < 0) {
		refuse(t, GRPC_STATUS_RESOURCE_EXHAUSTED, "registry full");
		return;
	}
	edge_heartbeat_start(t);
}

/* see edge_int.h */
int
edge_tunnel_start_close(struct edge_tunnel *t)
{
	char id[EDGE_REQ_ID_MAX];
	int rc;

	snprintf(id, sizeof(id), "drain-%" PRIu64, ++t->c->e->seq);
	if ((rc = edge_tunnel_send(t, edge_msg_start_close(id))) < 0)
		return rc;
	t->state = EDGE_T_DRAINING;
	edge_conn_kick(t->c);
	log_info("edge: connector %s: tunnel %s draining (START_CLOSE)",
	    t->owner != NULL ? t->owner->name : "(unnamed)", t->id);
	return 0;
}

static void
copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s != NULL ? s : "");
}

static bool
uuid_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (n == 0 || n >= EDGE_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' ||
			s[i] == '_'))
			return false;
	return true;
}

static void
on_metadata(struct edge_tunnel *t, const Connector__V1__MetadataResponse *r)
{
	const char *h = r->hostname;

	if (uuid_ok(r->connection_uuid))
		copy_str(t->id, sizeof(t->id), r->connection_uuid);
	copy_str(t->hostname, sizeof(t->hostname), h);
	t->max_concurrent = r->max_concurrent_requests;
	log_info("edge: tunnel %s of %s: hostname %s, max %d in flight", t->id,
	    t->c->name[0] ? t->c->name : "(h2c)", t->hostname,
	    (int)t->max_concurrent);
	if (t->owner != NULL || t->c->name[0] != '\0')
		return;
	/* h2c carries no certificate: the hostname names the connector. */
	if (h == NULL || !edge_name_valid(h, strlen(h))) {
		refuse(t, GRPC_STATUS_PERMISSION_DENIED,
		    "h2c tunnel without a usable hostname");
		return;
	}
	if (edge_registry_add(t->c->e, t, h) < 0)
		refuse(t, GRPC_STATUS_RESOURCE_EXHAUSTED, "registry full");
}

static void
on_message(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	Connector__V1__ConnectorMessage *m;

	m = connector__v1__connector_message__unpack(NULL, n, p);
	if (m == NULL) {
		refuse(t, GRPC_STATUS_INTERNAL, "malformed ConnectorMessage");
		return;
	}
	switch (m->message_case) {
	case CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HEALTH_CHECK_RESPONSE:
		edge_heartbeat_answered(t);
		break;
	case CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_METADATA_RESPONSE:
		on_metadata(t, m->metadata_response);
		break;
	case CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HTTP_RESPONSE:
	case CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_ERROR_RESPONSE:
		edge_proxy_reply(t, m);
		break;
	case CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_CONNECTION_REQUEST:
		log_info("edge: tunnel %s: connector sent ConnectionRequest "
			 "action %d",
		    t->id, (int)m->connection_request->action);
		break;
	default:
		log_debug("edge: tunnel %s: message without a body", t->id);
		break;
	}
	connector__v1__connector_message__free_unpacked(m, NULL);
}

/*
 * A fresh message buffer: the first one (at the call's headers) and,
 * after a large message, one whose pages are untouched again, which keeps
 * the resident size of an idle tunnel small.  The reader has just
 * completed a message, so nothing partial is lost.
 */
static int
recycle(struct edge_tunnel *t)
{
	size_t max = max_message(t->c->e->conf);
	uint8_t *p = malloc(max);

	if (p == NULL)
		return -ENOMEM;
	free(t->rdbuf);
	t->rdbuf = p;
	grpc_reader_init(&t->rd, p, max);
	return 0;
}

static void
on_read(struct edge_tunnel *t)
{
	const uint8_t *p, *msg;
	size_t n, used, len, total;
	int i, r;

	for (i = 0; i < 64 && !t->closed; i++) {
		if ((p = h2_stream_take(&t->hs, &n)) == NULL || n == 0)
			break;
		total = n;
		while (n > 0) {
			r = grpc_reader_feed(&t->rd, p, n, &used, &msg, &len);
			if (r == GRPC_ERROR) {
				refuse(t, GRPC_STATUS_RESOURCE_EXHAUSTED,
				    grpc_error_name(grpc_reader_error(&t->rd)));
				h2_stream_cancel(&t->hs, 8);
				return;
			}
			if (r == GRPC_MSG) {
				on_message(t, msg, len);
				if (len > EDGE_WINDOW && recycle(t) < 0)
					refuse(t,
					    GRPC_STATUS_RESOURCE_EXHAUSTED,
					    "out of memory");
			}
			if (!t->accepted)
				return;
			p += used;
			n -= used;
		}
		h2_stream_ack(&t->hs, total);
	}
	if (h2_stream_eof(&t->hs) && !t->closed) {
		edge_registry_remove(t);
		h2_stream_end_status(&t->hs, GRPC_STATUS_OK, NULL);
	}
}

static void
on_close(struct edge_tunnel *t)
{
	struct edge_conn *c = t->c;
	bool tunnel = t->slotted;

	t->closed = true;
	edge_registry_remove(t);
	/* No request or session names a Deliver call as its tunnel: no
	 * scan of every request per streamed answer (#20). */
	if (!t->deliver) {
		edge_proxy_tunnel_gone(t);
		edge_session_tunnel_gone(t);
	}
	rx_timer_stop(c->e->l, &t->hb);
	if (tunnel)
		log_info("edge: tunnel %s%s%s closed (%s)", t->id,
		    t->hostname[0] ? " on " : "", t->hostname,
		    h2_stream_error(&t->hs) != H2_SERR_NONE
			? h2_stream_error_name(h2_stream_error(&t->hs))
			: "ended");
	unslot(t);
	c->nstreams--;
	tunnel_free(c->e, t);
}

/* see edge_int.h */
void
edge_tunnel_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct edge_tunnel *t = container_of(st, struct edge_tunnel, hs);

	if (ev & H2_EV_HEADERS)
		on_headers(t);
	if (t->deliver) {
		edge_deliver_event(t, ev);
		if (ev & H2_EV_CLOSE)
			on_close(t);
		return;
	}
	if (t->ucall != NULL) {
		edge_update_event(t, ev);
		if (ev & H2_EV_CLOSE) {
			edge_update_closed(t);
			on_close(t);
		}
		return;
	}
	if (t->sess != NULL) {
		if (ev & (H2_EV_READ | H2_EV_WRITE))
			edge_session_event(t, ev);
		if (ev & H2_EV_CLOSE) {
			edge_session_stream_closed(t);
			on_close(t);
		}
		return;
	}
	if ((ev & H2_EV_READ) && t->accepted)
		on_read(t);
	if (ev & H2_EV_WRITE)
		pump_out(t);
	if (ev & H2_EV_CLOSE)
		on_close(t);
}
