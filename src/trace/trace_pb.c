/*
 * Finished spans as the bytes of one OTLP/protobuf
 * ExportTraceServiceRequest, written straight from the spans into one
 * buffer of the exact size: no protobuf-c message tree, no per-span
 * allocation, no second pass to move a message after its length.  The
 * bytes are those protobuf-c packs for the same message (fields in number
 * order, proto3 zero values left out, a oneof member always written;
 * tests/unit/test_trace.c holds the two equal); the resource and the scope
 * are packed by protobuf-c.
 *
 * Layout: request { 1 resource_spans { 1 resource, 2 scope_spans { 1 scope,
 * 2 span... } } }, and a span { 1 trace_id, 2 span_id, 3 trace_state,
 * 4 parent_span_id, 5 name, 6 kind, 7 start, 8 end, 9 attributes
 * { 1 key, 2 value { 1 string_value | 3 int_value } }, 15 status
 * { 3 code }, 16 flags }.
 */
#include <stdlib.h>
#include <string.h>

#include "trace/trace_int.h"

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* The bytes a varint of v takes. */
static size_t
vlen(uint64_t v)
{
	size_t n = 1;

	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A length-delimited field of field number below 16 (a one-byte tag). */
static size_t
len_field(size_t n)
{
	return 1 + vlen(n) + n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	while (v > 0x7f) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* The tag of field f (below 16) and the length n. */
static uint8_t *
put_len(uint8_t *p, unsigned f, size_t n)
{
	*p++ = (uint8_t)(f << 3 | WIRE_LEN);
	return put_varint(p, n);
}

static uint8_t *
put_bytes(uint8_t *p, unsigned f, const void *d, size_t n)
{
	p = put_len(p, f, n);
	memcpy(p, d, n);
	return p + n;
}

static uint8_t *
put_fixed(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, v >>= 8)
		*p++ = (uint8_t)v;
	return p;
}

/* AnyValue: the oneof member, written even when empty or zero. */
static size_t
value_size(const struct trace_span *s, const struct trace_attr *a)
{
	return a->is_str ? len_field(a->len) : 1 + vlen((uint64_t)a->num);
}

/* KeyValue: a key of k bytes, a value of v bytes (value_size()). */
static size_t
attr_size(size_t k, size_t v)
{
	return (k > 0 ? len_field(k) : 0) + len_field(v);
}

static size_t
span_size(const struct trace_span *s)
{
	size_t i, n = len_field(TRACE_ID_LEN) + len_field(TRACE_SPAN_ID_LEN);
	size_t state = strnlen(s->arena, s->state_len);
	size_t name = strlen(s->name);

	if (state > 0)
		n += len_field(state);
	if (s->has_parent)
		n += len_field(TRACE_SPAN_ID_LEN);
	if (name > 0)
		n += len_field(name);
	if (s->kind != 0)
		n += 1 + vlen((uint64_t)s->kind);
	if (s->start_ns != 0)
		n += 1 + 8;
	if (s->end_ns != 0)
		n += 1 + 8;
	for (i = 0; i < s->nattrs; i++)
		n += len_field(attr_size(
		    strlen(s->attrs[i].key), value_size(s, &s->attrs[i])));
	/* status: always there; its code when set */
	n += len_field(s->status != 0 ? 1 + vlen((uint64_t)s->status) : 0);
	if (s->ctx.flags != 0)
		n += 2 + 4; /* field 16: a two-byte tag */
	return n;
}

static uint8_t *
put_attr(uint8_t *p, const struct trace_span *s, const struct trace_attr *a)
{
	size_t k = strlen(a->key), v = value_size(s, a);

	p = put_len(p, 9, attr_size(k, v));
	if (k > 0)
		p = put_bytes(p, 1, a->key, k);
	p = put_len(p, 2, v);
	if (a->is_str) {
		p = put_bytes(p, 1, s->arena + a->off, a->len);
	} else {
		*p++ = 3 << 3 | WIRE_VARINT;
		p = put_varint(p, (uint64_t)a->num);
	}
	return p;
}

/* Span s of size bytes (span_size()), as ScopeSpans' field 2. */
static uint8_t *
put_span(uint8_t *p, const struct trace_span *s, size_t size)
{
	size_t i, state = strnlen(s->arena, s->state_len);
	size_t name = strlen(s->name);

	p = put_len(p, 2, size);
	p = put_bytes(p, 1, s->ctx.trace_id, TRACE_ID_LEN);
	p = put_bytes(p, 2, s->ctx.span_id, TRACE_SPAN_ID_LEN);
	if (state > 0)
		p = put_bytes(p, 3, s->arena, state);
	if (s->has_parent)
		p = put_bytes(p, 4, s->parent_id, TRACE_SPAN_ID_LEN);
	if (name > 0)
		p = put_bytes(p, 5, s->name, name);
	if (s->kind != 0) {
		*p++ = 6 << 3 | WIRE_VARINT;
		p = put_varint(p, (uint64_t)s->kind);
	}
	if (s->start_ns != 0) {
		*p++ = 7 << 3 | WIRE_I64;
		p = put_fixed(p, s->start_ns, 8);
	}
	if (s->end_ns != 0) {
		*p++ = 8 << 3 | WIRE_I64;
		p = put_fixed(p, s->end_ns, 8);
	}
	for (i = 0; i < s->nattrs; i++)
		p = put_attr(p, s, &s->attrs[i]);
	if (s->status != 0) {
		p = put_len(p, 15, 1 + vlen((uint64_t)s->status));
		*p++ = 3 << 3 | WIRE_VARINT;
		p = put_varint(p, (uint64_t)s->status);
	} else {
		p = put_len(p, 15, 0);
	}
	if (s->ctx.flags != 0) {
		p = put_varint(p, 16 << 3 | WIRE_I32);
		p = put_fixed(p, s->ctx.flags, 4);
	}
	return p;
}

/* see trace_int.h */
uint8_t *
trace_pb_request(const ProtobufCMessage *resource,
    const ProtobufCMessage *scope, const struct trace_span *const *spans,
    size_t n, size_t max, size_t *len)
{
	size_t rlen = protobuf_c_message_get_packed_size(resource);
	size_t slen = protobuf_c_message_get_packed_size(scope);
	size_t i, ss = len_field(slen), rs;
	uint32_t *size = malloc(n > 0 ? n * sizeof(*size) : 1);
	uint8_t *body, *p;

	if (size == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		size[i] = (uint32_t)span_size(spans[i]); /* a few KiB at most */
		ss += len_field(size[i]);
	}
	rs = len_field(rlen) + len_field(ss);
	*len = len_field(rs);
	if (*len > max || (body = malloc(*len)) == NULL) {
		free(size);
		return NULL;
	}
	p = put_len(body, 1, rs);
	p = put_len(p, 1, rlen);
	p += protobuf_c_message_pack(resource, p);
	p = put_len(p, 2, ss);
	p = put_len(p, 1, slen);
	p += protobuf_c_message_pack(scope, p);
	for (i = 0; i < n; i++)
		p = put_span(p, spans[i], size[i]);
	free(size);
	return body;
}
