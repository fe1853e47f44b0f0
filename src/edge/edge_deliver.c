/*
 * edge_deliver.c — streamed responses on the edge (see edge_int.h,
 * spec/streaming.md): match a Deliver call to its waiting request, check
 * each ResponsePart, relay head and data to the front-door client as
 * they come, and end both sides together.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "proto/outpost/v1/responses.pb-c.h"

/* A part the connector sends (EDGE_PART_MSG_MAX): a data part, or a
 * head whose header lines must fit the edge's scratch anyway. */
#define ROUNDS 64 /* parts per event; the rest after a deferral */

/* Whether p may follow what came before (*st; advanced when it may). */
static const char *
check(enum edge_pstate *st, const Outpost__V1__ResponsePart *p)
{
	switch (*st == EDGE_P_END ? -1 : (int)p->part_case) {
	case -1:
		return "part_after_end";
	case OUTPOST__V1__RESPONSE_PART__PART_HEAD:
		if (*st != EDGE_P_HEAD)
			return "second_head";
		if (p->head->body.len != 0)
			return "bad_head"; /* the body comes in data parts */
		*st = EDGE_P_BODY;
		return NULL;
	case OUTPOST__V1__RESPONSE_PART__PART_DATA:
		if (*st != EDGE_P_BODY)
			return "data_before_head";
		if (p->data.len == 0)
			return "empty_part";
		if (p->data.len > EDGE_PART_DATA_MAX)
			return "data_too_large";
		return NULL;
	case OUTPOST__V1__RESPONSE_PART__PART_END:
		if (*st == EDGE_P_HEAD)
			return "end_before_head"; /* that is an ErrorResponse */
		*st = EDGE_P_END;
		return NULL;
	default:
		return "empty_part";
	}
}

/* A data part in its plain encoding with 1..EDGE_PART_DATA_MAX bytes. */
static bool
plain_data(const uint8_t *p, size_t n, struct edge_part *out)
{
	size_t i, len = 0;

	if (n < 3 || p[0] != 0x12) /* field 2, length-delimited */
		return false;
	for (i = 1; i < 4 && i < n; i++) {
		len |= (size_t)(p[i] & 0x7f) << (7 * (i - 1));
		if (!(p[i] & 0x80))
			break;
	}
	if (i == 4 || i == n || len != n - i - 1 || len == 0 ||
	    len > EDGE_PART_DATA_MAX)
		return false;
	*out = (struct edge_part){.data = p + i + 1, .len = len};
	return true;
}

/* see edge_int.h */
const char *
edge_part_decode(
    enum edge_pstate *st, const uint8_t *p, size_t n, struct edge_part *out)
{
	const char *why = "malformed_part";
	Outpost__V1__ResponsePart *m;

	*out = (struct edge_part){0};
	if (*st == EDGE_P_BODY && plain_data(p, n, out))
		return NULL;
	m = outpost__v1__response_part__unpack(NULL, n, p);
	if (m != NULL && (why = check(st, m)) != NULL) {
		outpost__v1__response_part__free_unpacked(m, NULL);
		return why;
	}
	if (m != NULL)
		*out = (struct edge_part){
		    .m = m, .data = m->data.data, .len = m->data.len};
	return why;
}

/* see edge_int.h */
void
edge_part_free(struct edge_part *part)
{
	if (part->m != NULL)
		outpost__v1__response_part__free_unpacked(part->m, NULL);
	*part = (struct edge_part){0};
}

static void
kick(struct edge_tunnel *t)
{
	edge_conn_kick(t->c);
}

/* Detach q and its call; the call is left as the caller ends it. */
static void
unbind(struct edge_req *q)
{
	struct edge_tunnel *t = q->dlv;

	q->dlv = NULL;
	if (t != NULL)
		t->dreq = NULL;
}

/* see edge_int.h */
void
edge_deliver_cancel(struct edge_req *q)
{
	struct edge_tunnel *t = q->dlv;

	if (t == NULL)
		return;
	unbind(q);
	if (!t->closed) {
		h2_stream_cancel(&t->hs, 8); /* CANCEL: the upstream aborts */
		kick(t);
	}
}

/*
 * The response failed for a typed reason: a client still waiting gets
 * 502, one receiving the body sees it cut.  The request is over; the
 * call is ended by the caller.
 */
static void
cut(struct edge_req *q, const char *reason, const char *detail)
{
	struct http_exchange *x = q->x;
	bool headed = q->pstate != EDGE_P_HEAD, whole = q->whole;

	if (whole) {
		log_info("edge: request %s: the body was whole before %s",
		    q->id, reason);
		unbind(q);
		edge_proxy_release(q);
		return;
	}
	log_warn("edge: request %s: streamed response %s: %s%s%s", q->id,
	    headed ? "cut" : "failed", reason, detail ? ": " : "",
	    detail ? detail : "");
	unbind(q);
	edge_proxy_release(q);
	if (headed)
		http_exchange_end(x, false);
	else
		edge_api_json(x, 502, "upstream_error", reason, detail);
}

/* Refuse the call's parts (and the rest of its response). */
static void
refuse(struct edge_tunnel *t, const char *reason)
{
	struct edge_req *q = t->dreq;

	if (q != NULL)
		cut(q, reason, "the connector broke the Deliver call");
	t->ended = true;
	h2_stream_end_status(&t->hs, GRPC_STATUS_INVALID_ARGUMENT, reason);
	kick(t);
}

/* The body is whole: DeliverAck, grpc-status 0, and the client's end. */
static void
finish(struct edge_tunnel *t, const Outpost__V1__End *end)
{
	static const uint8_t ack[GRPC_PREFIX_LEN] = {0};
	struct edge_req *q = t->dreq;
	struct http_exchange *x = q->x;

	t->ended = true;
	h2_stream_send(&t->hs, ack, sizeof(ack));
	h2_stream_end_status(&t->hs, GRPC_STATUS_OK, NULL);
	kick(t);
	if (end->error_reason[0] != '\0') {
		cut(q, end->error_reason, end->detail[0] ? end->detail : NULL);
		return;
	}
	unbind(q);
	edge_proxy_release(q);
	if (!q->whole)
		http_exchange_end(x, true);
}

static void on_drain(struct http_exchange *x, void *arg);

/* The head: the client's status and headers go out now. */
static void
on_head(struct edge_tunnel *t, const Connector__V1__HttpResponse *h)
{
	struct edge_req *q = t->dreq;
	struct http_exchange *x = q->x;
	struct buf b;

	rx_timer_stop(q->e->l, &q->timer); /* no total deadline now */
	buf_init(&b, q->e->scratch, EDGE_SCRATCH);
	if (!edge_proxy_head(x, h, &b)) {
		unbind(q);
		edge_proxy_span(q, 502, "bad_response");
		edge_proxy_release(q); /* x was answered with 502 */
		t->ended = true;
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_INVALID_ARGUMENT, "bad_head");
		kick(t);
		return;
	}
	edge_proxy_span(q, h->http_status, NULL);
	if (http_respond_stream(x, h->http_status, (const char *)b.p, NULL,
		edge_proxy_length(h)) < 0) {
		q->x = NULL; /* the front door closed it */
		edge_proxy_release(q);
		return;
	}
	if (t->dreq == NULL)
		return; /* the client went away while it was written */
	http_exchange_on_drain(x, on_drain, q);
	q->left = edge_proxy_length(h);
}

static void
on_data(struct edge_tunnel *t, const struct edge_part *d)
{
	struct edge_req *q = t->dreq;
	int r =
	    q->whole ? -EMSGSIZE : http_exchange_write(q->x, d->data, d->len);

	if (t->dreq == NULL)
		return; /* the client went away while it was written */
	if (r == 0 && q->left > 0 && (q->left -= (int64_t)d->len) == 0) {
		/* Whole: the client may go now without cancelling the call,
		 * which owes only its End.  The exchange is no longer ours
		 * (its connection may serve the next request at once). */
		http_exchange_end(q->x, true);
		q->x = NULL;
		q->whole = true;
	} else if (r == -EMSGSIZE) {
		cut(q, "too_long", "more than the announced Content-Length");
		h2_stream_cancel(&t->hs, 8);
		kick(t);
	} else if (r < 0) {
		/* -ENOMEM closed the client (its abort ran); -ENOSPC cannot
		 * happen: parts are taken only with room for a whole one. */
		log_warn("edge: request %s: the client cannot take more (%d)",
		    q->id, r);
	}
}

/* One message of the call; false when the call is done with. */
static bool
on_part(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	struct edge_req *q = t->dreq;
	struct edge_part m;
	const char *why;

	if ((why = edge_part_decode(&q->pstate, p, n, &m)) != NULL) {
		refuse(t, why);
		return false;
	}
	if (m.m == NULL ||
	    m.m->part_case == OUTPOST__V1__RESPONSE_PART__PART_DATA)
		on_data(t, &m);
	else if (m.m->part_case == OUTPOST__V1__RESPONSE_PART__PART_HEAD)
		on_head(t, m.m->head);
	else
		finish(t, m.m->end);
	edge_part_free(&m);
	return t->dreq != NULL;
}

/* Room at the client for a whole part (none needed before the head or
 * once the client has its whole body). */
static bool
room(const struct edge_req *q)
{
	return q->pstate == EDGE_P_HEAD || q->whole ||
	    http_exchange_room(q->x) >= EDGE_PART_DATA_MAX;
}

/* Waiting for a part in place: the window admits a whole one. */
_Static_assert(EDGE_WINDOW >= GRPC_PREFIX_LEN + EDGE_PART_MSG_MAX,
    "a part must fit the Deliver call's window");

/*
 * Take parts while the client has room; the window reopens as we ack.
 * A part whose rest will land right after its first bytes is waited for
 * and read in place, so the common part is never copied on its way to
 * the client (a part that wraps the ring is gathered by the reader).
 */
static void
pump(struct edge_tunnel *t)
{
	const uint8_t *p, *msg;
	size_t n, used, len, want;
	int i, r;

	for (i = 0; i < ROUNDS && t->dreq != NULL && room(t->dreq); i++) {
		if ((p = h2_stream_take(&t->hs, &n)) == NULL || n == 0)
			break;
		want = grpc_reader_span(&t->rd, p, n);
		if (want > n && h2_stream_take_room(&t->hs) >= want - n)
			break;
		r = grpc_reader_feed(&t->rd, p, n, &used, &msg, &len);
		if (r == GRPC_ERROR) {
			refuse(t, grpc_error_name(grpc_reader_error(&t->rd)));
			return;
		}
		if (r == GRPC_MSG && !on_part(t, msg, len)) {
			h2_stream_ack(&t->hs, used);
			return;
		}
		h2_stream_ack(&t->hs, used);
	}
	if (t->dreq == NULL)
		return;
	if (i == ROUNDS)
		rx_defer(t->c->e->l, &t->dreq->again);
	else if (h2_stream_eof(&t->hs)) {
		cut(t->dreq, "incomplete",
		    "the Deliver call ended without End");
		t->ended = true;
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_INVALID_ARGUMENT, "incomplete");
	}
	kick(t);
}

static void
on_drain(struct http_exchange *x, void *arg)
{
	struct edge_req *q = arg;

	if (q->dlv != NULL)
		pump(q->dlv);
}

static void
on_again(struct rx_loop *l, struct rx_defer *d)
{
	struct edge_req *q = container_of(d, struct edge_req, again);

	if (q->dlv != NULL)
		pump(q->dlv);
}

/* A refused call: bytes that still come are dropped. */
static void
discard(struct edge_tunnel *t)
{
	const uint8_t *p;
	size_t n;

	while ((p = h2_stream_take(&t->hs, &n)) != NULL && n > 0)
		h2_stream_ack(&t->hs, n);
}

/* The call closed under a relay (reset by the connector, connection
 * lost): what is in the ring still counts, the rest is cut. */
static void
on_close(struct edge_tunnel *t)
{
	if (h2_stream_error(&t->hs) == H2_SERR_NONE)
		pump(t);
	if (t->dreq != NULL)
		cut(t->dreq,
		    h2_stream_error(&t->hs) == H2_SERR_SESSION
			? "connection_lost"
			: "reset",
		    "the Deliver call closed");
}

/* see edge_int.h */
void
edge_deliver_event(struct edge_tunnel *t, unsigned ev)
{
	if (ev & H2_EV_CLOSE) {
		on_close(t);
		return;
	}
	if (!(ev & H2_EV_READ))
		return;
	if (t->dreq != NULL)
		pump(t);
	else
		discard(t);
}

/* The request a Deliver call names, or NULL with why it is refused. */
static struct edge_req *
match(struct edge_tunnel *t, const char **why)
{
	struct edge_req *q =
	    edge_proxy_find(t->c->e, h2_stream_request_id(&t->hs));

	*why = "unknown request";
	if (q == NULL || !q->streamed || q->t == NULL || q->t->c != t->c)
		return NULL;
	*why = "duplicate Deliver call";
	if (q->dlv != NULL || q->pstate != EDGE_P_HEAD)
		return NULL;
	*why = "bad call";
	if (h2_stream_error(&t->hs) != H2_SERR_NONE)
		return NULL;
	return q;
}

/* see edge_int.h */
void
edge_deliver_attach(struct edge_tunnel *t)
{
	const char *why;
	struct edge_req *q = match(t, &why);
	uint8_t *buf;
	size_t hot;

	t->deliver = true;
	t->ended = true; /* unless accepted below */
	if (q == NULL) {
		/* Info: a client that left before its call came is common. */
		log_info(
		    "edge: Deliver call for request %s from %s refused: %s",
		    h2_stream_request_id(&t->hs), t->c->addr, why);
		h2_stream_end_status(&t->hs,
		    strcmp(why, "bad call") == 0 ? GRPC_STATUS_INVALID_ARGUMENT
			: strcmp(why, "unknown request") == 0
			? GRPC_STATUS_NOT_FOUND
			: GRPC_STATUS_ALREADY_EXISTS,
		    why);
		kick(t);
		return;
	}
	if ((buf = rx_mcache_get(&t->c->e->spares, EDGE_PART_MSG_MAX, &hot)) ==
		NULL ||
	    h2_stream_respond(&t->hs) < 0) {
		rx_mcache_put(&t->c->e->spares, buf, EDGE_PART_MSG_MAX, hot);
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		kick(t);
		return;
	}
	free(t->rdbuf);
	t->rdbuf = buf;
	grpc_reader_init(&t->rd, buf, EDGE_PART_MSG_MAX);
	t->ended = false;
	t->dreq = q;
	q->dlv = t;
	rx_defer_init(&q->again, on_again);
	kick(t);
}
