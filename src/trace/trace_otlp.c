/*
 * Finished spans as one OTLP ExportTraceServiceRequest (the recorder's
 * exporter callback), queued on the OTLP exporter (otel/otel.h), which
 * owns the bytes.  http/protobuf, the request path's usual case: the
 * spans are written straight into the request's bytes (trace_pb.c).
 * http/json: a protobuf-c message is built in one block allocated per
 * batch (at most OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans), encoded by the
 * exporter, and freed before returning.
 */
#include <stdlib.h>
#include <string.h>

#include "otel/otel.h"
#include "proto/opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "trace/trace_int.h"

typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

/* One span's message parts, and its strings NUL-terminated. */
struct enc {
	pb_span span;
	Opentelemetry__Proto__Trace__V1__Status status;
	pb_kv kv[TRACE_ATTRS_MAX];
	pb_kv *kvp[TRACE_ATTRS_MAX];
	pb_any av[TRACE_ATTRS_MAX];
	uint8_t ids[TRACE_ID_LEN + 2 * TRACE_SPAN_ID_LEN];
	char text[TRACE_ARENA + TRACE_ATTRS_MAX + 1];
};

/* A copy of n arena bytes at off, NUL-terminated, from *used on. */
static char *
text_of(struct enc *e, size_t *used, const struct trace_span *s, size_t off,
    size_t n)
{
	char *p = e->text + *used;

	memcpy(p, s->arena + off, n);
	p[n] = '\0';
	*used += n + 1;
	return p;
}

static void
encode_attrs(struct enc *e, const struct trace_span *s, size_t *used)
{
	size_t i;

	for (i = 0; i < s->nattrs; i++) {
		const struct trace_attr *a = &s->attrs[i];

		opentelemetry__proto__common__v1__key_value__init(&e->kv[i]);
		opentelemetry__proto__common__v1__any_value__init(&e->av[i]);
		e->kv[i].key = (char *)a->key;
		e->kv[i].value = &e->av[i];
		if (a->is_str) {
			e->av[i].value_case =
			    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			e->av[i].string_value =
			    text_of(e, used, s, a->off, a->len);
		} else {
			e->av[i].value_case =
			    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			e->av[i].int_value = a->num;
		}
		e->kvp[i] = &e->kv[i];
	}
	e->span.n_attributes = s->nattrs;
	e->span.attributes = e->kvp;
}

static void
encode_span(struct enc *e, const struct trace_span *s)
{
	pb_span *p = &e->span;
	size_t used = 0;

	opentelemetry__proto__trace__v1__span__init(p);
	opentelemetry__proto__trace__v1__status__init(&e->status);
	memcpy(e->ids, s->ctx.trace_id, TRACE_ID_LEN);
	memcpy(e->ids + TRACE_ID_LEN, s->ctx.span_id, TRACE_SPAN_ID_LEN);
	p->trace_id = (ProtobufCBinaryData){TRACE_ID_LEN, e->ids};
	p->span_id =
	    (ProtobufCBinaryData){TRACE_SPAN_ID_LEN, e->ids + TRACE_ID_LEN};
	if (s->has_parent) {
		memcpy(e->ids + TRACE_ID_LEN + TRACE_SPAN_ID_LEN, s->parent_id,
		    TRACE_SPAN_ID_LEN);
		p->parent_span_id = (ProtobufCBinaryData){TRACE_SPAN_ID_LEN,
		    e->ids + TRACE_ID_LEN + TRACE_SPAN_ID_LEN};
	}
	if (s->state_len > 0)
		p->trace_state = text_of(e, &used, s, 0, s->state_len);
	p->flags = s->ctx.flags;
	p->name = (char *)s->name;
	p->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
	p->start_time_unix_nano = s->start_ns;
	p->end_time_unix_nano = s->end_ns;
	e->status.code =
	    (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status;
	p->status = &e->status;
	encode_attrs(e, s, &used);
}

/* The http/json case: a message tree the exporter encodes. */
static void
export_tree(struct otel *o, const struct trace_span *const *spans, size_t n)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
	    OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
	    OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
	struct enc *e = calloc(n, sizeof(*e));
	pb_span **pp = calloc(n, sizeof(*pp));
	size_t i;

	if (e != NULL && pp != NULL) {
		for (i = 0; i < n; i++) {
			encode_span(&e[i], spans[i]);
			pp[i] = &e[i].span;
		}
		ss.scope = otel_scope(o);
		ss.n_spans = n;
		ss.spans = pp;
		rs.resource = otel_resource(o);
		rs.n_scope_spans = 1;
		rs.scope_spans = &ssp;
		req.n_resource_spans = 1;
		req.resource_spans = &rsp;
		otel_submit_msg(o, OTEL_TRACES, &req.base, n);
	} else
		trace_otlp_dropped(o, n);
	free(e);
	free(pp);
}

/* see trace.h */
void
trace_otlp_export(void *arg, const struct trace_span *const *spans, size_t n)
{
	struct otel *o = arg;
	uint8_t *body;
	size_t len;

	if (otel_protocol(o) == OTEL_JSON) {
		export_tree(o, spans, n);
		return;
	}
	body = trace_pb_request(&otel_resource(o)->base, &otel_scope(o)->base,
	    spans, n, OTEL_QUEUE_BYTES, &len);
	if (body != NULL)
		otel_submit_take(o, OTEL_TRACES, body, len, n);
	else
		trace_otlp_dropped(o, n);
}

/* see trace.h */
void
trace_otlp_dropped(void *arg, size_t n)
{
	otel_count_dropped(arg, OTEL_TRACES, n);
}
