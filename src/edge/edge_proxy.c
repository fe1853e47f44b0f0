/*
 * edge_proxy.c — a front-door request through a tunnel: pick the
 * connector's least-loaded routable tunnel, send HttpRequest, wait (with
 * a deadline) for HttpResponse or ErrorResponse, answer the client.  A
 * tunnel that advertises "stream" is asked for a streamed answer, which
 * may come as a Deliver call instead (edge_deliver.c).
 *
 * Pending requests live in a pool with one slot per front-door
 * connection; request_id is "r<slot>-<generation>", so a reply finds its
 * slot at once and a late reply to a recycled slot is recognised and
 * dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/hop.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/url.h"
#include "lib/util.h"

#define REASON_MAX 32

/* see edge_int.h */
void
edge_proxy_release(struct edge_req *q)
{
	if (q->t != NULL && q->t->in_flight > 0)
		q->t->in_flight--;
	rx_timer_stop(q->e->l, &q->timer);
	rx_defer_cancel(q->e->l, &q->again);
	edge_deliver_cancel(q);
	if (q->x != NULL) {
		/* The exchange outlives the slot: it must not call back. */
		http_exchange_on_abort(q->x, NULL, NULL);
		http_exchange_on_drain(q->x, NULL, NULL);
	}
	trace_span_end(q->e->trace, &q->span);
	q->x = NULL;
	q->t = NULL;
}

/* see edge_int.h */
void
edge_proxy_span(struct edge_req *q, int status, const char *error_type)
{
	trace_span_attr_int(&q->span, "http.response.status_code", status);
	if (status < 500)
		return;
	trace_span_set_status(&q->span, TRACE_STATUS_ERROR);
	if (error_type != NULL)
		trace_span_attr_str(
		    &q->span, "error.type", error_type, strlen(error_type));
}

static void
on_abort(struct http_exchange *x, void *arg)
{
	struct edge_req *q = arg;

	log_debug("edge: request %s: client went away", q->id);
	edge_proxy_release(q);
}

static void
on_timeout(struct rx_loop *l, struct rx_timer *tm)
{
	struct edge_req *q = container_of(tm, struct edge_req, timer);
	struct http_exchange *x = q->x;

	if (x == NULL)
		return;
	log_warn("edge: request %s: no answer within %" PRId64 " ms", q->id,
	    q->e->conf->request_timeout_ms);
	edge_proxy_span(q, 504, "timeout");
	edge_proxy_release(q);
	edge_api_json(
	    x, 504, "timeout", NULL, "the connector did not answer in time");
}

static struct edge_req *
slot_get(struct edge *e)
{
	size_t i;

	for (i = 0; i < e->nreqs; i++)
		if (edge_req_free(&e->reqs[i])) {
			e->reqs[i].gen++;
			snprintf(e->reqs[i].id, sizeof(e->reqs[i].id),
			    "r%zu-%" PRIu32, i, e->reqs[i].gen);
			return &e->reqs[i];
		}
	return NULL;
}

/* q's span, with what the front door knows of the request; tc its
 * context to carry.  false: none to carry. */
static bool
front_door_span(struct edge_req *q, const struct http_request *rq, size_t blen,
    struct trace_ctx *tc)
{
	if (!edge_msg_front_door(q->e->trace, &q->span, rq, tc))
		return false;
	trace_span_attr_str(
	    &q->span, "http.request.method", rq->method, rq->method_len);
	trace_span_attr_int(&q->span, "http.request.body.size", (int64_t)blen);
	return true;
}

/* see edge_int.h */
void
edge_proxy_start(
    struct edge *e, struct http_exchange *x, const struct edge_route *r)
{
	struct edge_connector *k = edge_registry_find(e, r->name, r->namelen);
	const struct http_request *rq = http_exchange_request(x);
	const uint8_t *body;
	struct edge_tunnel *t;
	struct edge_req *q;
	struct trace_ctx tc;
	char url[URL_MAX + 1];
	bool traced;
	const char *qs;
	size_t qlen, blen;

	http_exchange_query(x, &qs, &qlen);
	if (edge_route_url(r, qs, qlen, url, sizeof(url)) < 0) {
		edge_api_json(x, 400, "bad_url", NULL, NULL);
		return;
	}
	if (k == NULL || (t = edge_registry_pick(k, rx_now(e->l))) == NULL) {
		edge_api_json(x, 503, "no_tunnel", NULL,
		    "the connector has no routable tunnel");
		return;
	}
	if ((q = slot_get(e)) == NULL) {
		edge_api_json(x, 503, "busy", NULL, NULL);
		return;
	}
	body = http_exchange_body(x, &blen);
	q->streamed = edge_tunnel_has_cap(t, "stream");
	q->pstate = EDGE_P_HEAD;
	q->whole = false;
	traced = front_door_span(q, rq, blen, &tc);
	if (edge_tunnel_send(t,
		edge_msg_http(q->id, rq, url, body, blen, q->streamed,
		    traced ? &tc : NULL)) < 0) {
		edge_proxy_span(q, 503, "no_tunnel");
		trace_span_end(e->trace, &q->span);
		edge_api_json(x, 503, "no_tunnel", NULL, "tunnel send failed");
		return;
	}
	q->x = x;
	q->t = t;
	q->route = *r;
	t->in_flight++;
	t->served++;
	k->requests++;
	http_exchange_on_abort(x, on_abort, q);
	rx_timer_init(&q->timer, on_timeout);
	rx_timer_start(e->l, &q->timer, e->conf->request_timeout_ms);
	edge_conn_kick(t->c);
}

/* see edge_int.h */
struct edge_req *
edge_proxy_find(struct edge *e, const char *id)
{
	unsigned long long slot;
	char *end;

	if (id == NULL || id[0] != 'r' || id[1] < '0' || id[1] > '9')
		return NULL;
	slot = strtoull(id + 1, &end, 10);
	if (end == id + 1 || *end != '-' || slot >= e->nreqs)
		return NULL;
	if (e->reqs[slot].x == NULL || strcmp(e->reqs[slot].id, id) != 0)
		return NULL;
	return &e->reqs[slot];
}

/* The live request id names on tunnel t, its head still owed, or NULL
 * (a failure before the head is an ErrorResponse, even once a Deliver
 * call came). */
static struct edge_req *
slot_find(struct edge_tunnel *t, const char *id)
{
	struct edge_req *q = edge_proxy_find(t->c->e, id);

	return q != NULL && q->t == t && q->pstate == EDGE_P_HEAD ? q : NULL;
}

static bool
token_ok(const char *s)
{
	const char *p;

	if (*s == '\0')
		return false;
	for (p = s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", *p))
			return false;
	return true;
}

/* Field bytes (RFC 9110 5.5): HTAB, SP..0x7E and obs-text 0x80..0xFF.
 * Unsigned: a plain char is signed on x86_64, and obs-text is negative. */
static bool
value_ok(const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	for (; *s; s++)
		if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

static bool
skip_response_header(const struct hop_filter *f, const char *name)
{
	size_t n = strlen(name);

	return http_token_eq(name, n, "content-length") || hop_drop(f, name, n);
}

/* Header lines for http_respond; false when one is malformed. */
static bool
response_headers(const Connector__V1__HttpResponse *r, struct buf *b)
{
	struct hop_filter f;
	size_t i;

	hop_init(&f);
	for (i = 0; i < r->n_headers; i++) {
		const char *k = r->headers[i]->key, *v = r->headers[i]->value;

		if (!token_ok(k) || !value_ok(v))
			return false;
		hop_note(&f, k, strlen(k), v, strlen(v));
	}
	for (i = 0; i < r->n_headers; i++) {
		const char *k = r->headers[i]->key, *v = r->headers[i]->value;

		if (!skip_response_header(&f, k))
			buf_printf(b, "%s: %s\r\n", k, v);
	}
	return !b->overflow;
}

/* see edge_int.h */
int64_t
edge_proxy_length(const Connector__V1__HttpResponse *r)
{
	const char *v = NULL;
	size_t i, n;

	for (i = 0; i < r->n_headers; i++)
		if (http_token_eq(r->headers[i]->key,
			strlen(r->headers[i]->key), "content-length"))
			v = r->headers[i]->value;
	n = v != NULL ? strlen(v) : 0;
	if (n == 0 || n > 18 || strspn(v, "0123456789") != n)
		return -1;
	return (int64_t)strtoll(v, NULL, 10);
}

/* see edge_int.h */
bool
edge_proxy_head(struct http_exchange *x, const Connector__V1__HttpResponse *r,
    struct buf *b)
{
	if (r->http_status < 200 || r->http_status > 599) {
		edge_api_json(x, 502, "bad_response", NULL,
		    "the connector returned an invalid status");
		return false;
	}
	if (!response_headers(r, b) || !buf_add(b, "", 1)) {
		edge_api_json(x, 502, "bad_response", NULL,
		    "the connector returned malformed headers");
		return false;
	}
	/* A HEAD answer announces the upstream's Content-Length (what a
	 * GET would carry), or none when the upstream sent none or a bad
	 * one. */
	http_exchange_head_length(x, edge_proxy_length(r));
	return true;
}

static void
answer_http(struct edge *e, struct http_exchange *x,
    const Connector__V1__HttpResponse *r)
{
	struct buf b;

	/* The edge's scratch buffer: a per-request malloc of this size
	 * costs an mmap/munmap pair with musl. */
	buf_init(&b, e->scratch, EDGE_SCRATCH);
	if (!edge_proxy_head(x, r, &b))
		return;
	if (http_respond(x, r->http_status, (const char *)b.p, NULL,
		r->body.data, r->body.len) == -ENOSPC)
		log_warn("edge: response too large for the front door");
}

/* The typed reason: field 100, else the "[reason] " message prefix. */
static void
error_reason(const Connector__V1__ErrorResponse *er, char *out, size_t cap)
{
	const char *m = er->message, *end;
	size_t n;

	snprintf(out, cap, "%s", "unknown");
	if (er->reason != NULL && er->reason[0] != '\0') {
		snprintf(out, cap, "%s", er->reason);
		return;
	}
	if (m == NULL || m[0] != '[' || (end = strstr(m, "] ")) == NULL)
		return;
	n = (size_t)(end - m - 1);
	if (n == 0 || n >= cap ||
	    strspn(m + 1, "abcdefghijklmnopqrstuvwxyz_") != n)
		return;
	memcpy(out, m + 1, n);
	out[n] = '\0';
}

/* see edge_int.h */
void
edge_proxy_reply(
    struct edge_tunnel *t, const Connector__V1__ConnectorMessage *m)
{
	struct edge_req *q = slot_find(t, m->request_id);
	struct http_exchange *x;
	struct edge_route route;
	char reason[REASON_MAX];

	if (q == NULL) {
		log_debug("edge: tunnel %s: reply to unknown request %s", t->id,
		    m->request_id ? m->request_id : "");
		return;
	}
	x = q->x;
	route = q->route;
	if (m->message_case ==
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HTTP_RESPONSE) {
		edge_proxy_span(q, m->http_response->http_status, NULL);
		edge_proxy_release(q);
		answer_http(t->c->e, x, m->http_response);
		return;
	}
	error_reason(m->error_response, reason, sizeof(reason));
	edge_proxy_span(q, strcmp(reason, "draining") == 0 ? 503 : 502, reason);
	edge_proxy_release(q);
	if (strcmp(reason, "draining") == 0) {
		/* The connector is replacing this tunnel (START_CLOSE, a new
		 * identity) and did not run the request: route no more there
		 * and send it to another tunnel (each retry rules one out). */
		log_info("edge: tunnel %s is draining; request %s moved", t->id,
		    m->request_id);
		t->state = EDGE_T_DRAINING;
		edge_proxy_start(t->c->e, x, &route);
		return;
	}
	edge_api_json(
	    x, 502, "upstream_error", reason, m->error_response->message);
}

/* see edge_int.h */
void
edge_proxy_tunnel_gone(struct edge_tunnel *t)
{
	struct edge *e = t->c->e;
	struct http_exchange *x;
	size_t i;

	for (i = 0; i < e->nreqs; i++) {
		if (e->reqs[i].t != t || (x = e->reqs[i].x) == NULL)
			continue;
		if (e->reqs[i].dlv != NULL) {
			e->reqs[i].t = NULL; /* streaming on its own call */
			continue;
		}
		edge_proxy_span(&e->reqs[i], 502, "tunnel_closed");
		edge_proxy_release(&e->reqs[i]);
		edge_api_json(x, 502, "tunnel_closed", NULL,
		    "the tunnel closed before the connector answered");
	}
}
