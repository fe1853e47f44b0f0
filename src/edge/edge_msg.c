/*
 * edge_msg.c — ControllerMessages: each returns one heap grpc_out from
 * the one envelope builder (grpc_out_envelope), ready for
 * edge_tunnel_send().
 */
#include <stdlib.h>
#include <string.h>

#include "http/hop.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "edge/edge_int.h"
#include "lib/util.h"
#include "trace/trace.h"

#define HDR_MAX 128 /* headers forwarded per request (http limits: 64) */

static struct grpc_out *
envelope(const char *id, unsigned field, const ProtobufCMessage *sub)
{
	return grpc_out_envelope(
	    &connector__v1__controller_message__descriptor, id, field, sub);
}

/* see edge_int.h */
struct grpc_out *
edge_msg_health(const char *id, int64_t unix_ms)
{
	Connector__V1__HealthCheckRequest h =
	    CONNECTOR__V1__HEALTH_CHECK_REQUEST__INIT;

	h.unix_millis = unix_ms;
	return envelope(id,
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST,
	    &h.base);
}

/* see edge_int.h */
struct grpc_out *
edge_msg_metadata(const char *id)
{
	Connector__V1__MetadataRequest r =
	    CONNECTOR__V1__METADATA_REQUEST__INIT;

	return envelope(id,
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_METADATA_REQUEST,
	    &r.base);
}

/* see edge_int.h */
struct grpc_out *
edge_msg_start_close(const char *id)
{
	Connector__V1__ConnectionRequest r =
	    CONNECTOR__V1__CONNECTION_REQUEST__INIT;

	r.action =
	    CONNECTOR__V1__CONNECTION_REQUEST__ACTION__ACTION_START_CLOSE;
	return envelope(id,
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_CONNECTION_REQUEST,
	    &r.base);
}

/* Headers the edge never forwards: its own credentials and framing. */
static bool
skip_header(const struct hop_filter *f, const struct http_header *h)
{
	static const char *const own[] = {
	    "authorization", "host", "content-length", "expect", "traceparent"};
	size_t i;

	for (i = 0; i < nitems(own); i++)
		if (http_token_eq(h->name, h->name_len, own[i]))
			return true;
	return hop_drop(f, h->name, h->name_len);
}

/* NUL-terminated copies of the forwarded headers in one heap block. */
static char *
copy_headers(const struct http_request *rq, Connector__V1__Header *hv,
    Connector__V1__Header **hp, size_t *nh, bool keep_state)
{
	struct hop_filter f;
	size_t i, total = 0, n = 0;
	char *mem, *p;

	hop_init(&f);
	for (i = 0; i < rq->nheaders; i++) {
		const struct http_header *h = &rq->headers[i];

		hop_note(&f, h->name, h->name_len, h->value, h->value_len);
		total += h->name_len + h->value_len + 2;
	}
	if ((mem = p = malloc(total + 1)) == NULL)
		return NULL;
	for (i = 0; i < rq->nheaders && n < HDR_MAX; i++) {
		const struct http_header *h = &rq->headers[i];

		if (skip_header(&f, h) ||
		    (!keep_state &&
			http_token_eq(h->name, h->name_len, "tracestate")))
			continue;
		hv[n] = (Connector__V1__Header)CONNECTOR__V1__HEADER__INIT;
		hv[n].key = p;
		memcpy(p, h->name, h->name_len);
		p += h->name_len;
		*p++ = '\0';
		hv[n].value = p;
		memcpy(p, h->value, h->value_len);
		p += h->value_len;
		*p++ = '\0';
		hp[n] = &hv[n];
		n++;
	}
	*nh = n;
	return mem;
}

/* rq's one traceparent field, or NULL (none, or several). */
static const struct http_header *
one_field(const struct http_request *rq, const char *name)
{
	const struct http_header *in = NULL;
	unsigned n = 0;
	size_t i;

	for (i = 0; i < rq->nheaders; i++)
		if (http_token_eq(
			rq->headers[i].name, rq->headers[i].name_len, name)) {
			in = &rq->headers[i];
			n++;
		}
	return n == 1 ? in : NULL;
}

/* see edge_int.h */
bool
edge_msg_front_door(struct trace_recorder *r, struct trace_span *s,
    const struct http_request *rq, struct trace_ctx *tc)
{
	const struct http_header *in = one_field(rq, "traceparent"), *st;
	const char *state = NULL;
	size_t state_len = 0;
	struct trace_ctx c;
	bool parent =
	    in != NULL && trace_parent_parse(&c, in->value, in->value_len);

	if (r != NULL) {
		st = parent ? one_field(rq, "tracestate") : NULL;
		if (st != NULL && trace_state_valid(st->value, st->value_len)) {
			state = st->value;
			state_len = st->value_len;
		}
		trace_span_start(r, s, "edge.front_door", TRACE_KIND_SERVER,
		    parent ? &c : NULL, state, state_len);
		*tc = s->ctx;
		return s->active;
	}
	s->active = s->recording = false;
	if (!parent) {
		if (trace_new_trace_id(c.trace_id) < 0)
			return false;
		c.flags = TRACE_FLAG_SAMPLED;
	}
	if (trace_new_span_id(c.span_id) < 0)
		return false;
	*tc = c;
	return true;
}

/*
 * W3C Trace Context: the client's tracestate goes on only with its trace,
 * when tc (the front door's span, NULL: none) continues the trace of rq's
 * one valid traceparent.
 */
static bool
state_kept(const struct http_request *rq, const struct trace_ctx *tc)
{
	const struct http_header *in = one_field(rq, "traceparent");
	struct trace_ctx c;

	return tc != NULL && in != NULL &&
	    trace_parent_parse(&c, in->value, in->value_len) &&
	    memcmp(c.trace_id, tc->trace_id, TRACE_ID_LEN) == 0;
}

/* see edge_int.h */
struct grpc_out *
edge_msg_http(const char *id, const struct http_request *rq, const char *url,
    const void *body, size_t blen, bool stream, const struct trace_ctx *tc)
{
	Connector__V1__HttpRequest r = CONNECTOR__V1__HTTP_REQUEST__INIT;
	Connector__V1__Header hv[HDR_MAX], *hp[HDR_MAX];
	char method[16], *mem, tp[TRACE_PARENT_LEN + 1];
	struct grpc_out *o;
	size_t nh = 0;

	if (rq->method_len >= sizeof(method))
		return NULL;
	memcpy(method, rq->method, rq->method_len);
	method[rq->method_len] = '\0';
	if ((mem = copy_headers(rq, hv, hp, &nh, state_kept(rq, tc))) == NULL)
		return NULL;
	if (nh < HDR_MAX && tc != NULL) {
		trace_parent_format(tc, tp);
		hv[nh] = (Connector__V1__Header)CONNECTOR__V1__HEADER__INIT;
		hv[nh].key = "traceparent";
		hv[nh].value = tp;
		hp[nh] = &hv[nh];
		nh++;
	}
	r.method = method;
	r.url = (char *)url;
	r.n_headers = nh;
	r.headers = hp;
	r.body.data = (uint8_t *)body;
	r.body.len = blen;
	r.stream_response = stream;
	o = envelope(id,
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HTTP_REQUEST, &r.base);
	free(mem);
	return o;
}
