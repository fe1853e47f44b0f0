/*
 * The OTLP/HTTP JSON encoding (OTLP specification, "JSON Protobuf
 * Encoding"): the protobuf JSON mapping of any message, read from its
 * protobuf-c descriptor, with OTLP's own rules: field names in
 * lowerCamelCase, trace and span ids as lowercase hex (not base64), enums
 * as integers, 64-bit integers as decimal strings.  Fields at their
 * default value are left out, as protobuf's JSON printers do.
 */
#include <math.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/json.h"
#include "otel/otel_int.h"

static void message(const ProtobufCMessage *m, struct buf *b);

/* time_unix_nano -> "timeUnixNano". */
static void
name(const char *n, struct buf *b)
{
	bool up = false;

	buf_adds(b, "\"");
	for (; *n != '\0'; n++) {
		if (*n == '_') {
			up = b->len > 1 && b->p[b->len - 1] != '"';
			continue;
		}
		buf_printf(
		    b, "%c", up && *n >= 'a' && *n <= 'z' ? *n - 32 : *n);
		up = false;
	}
	buf_adds(b, "\":");
}

static bool
hex_id(const char *n)
{
	size_t l = strlen(n);

	return (l >= 8 && strcmp(n + l - 8, "trace_id") == 0) ||
	    (l >= 7 && strcmp(n + l - 7, "span_id") == 0);
}

static void
bytes(const ProtobufCFieldDescriptor *f, const ProtobufCBinaryData *d,
    struct buf *b)
{
	size_t i, room;
	uint8_t *t;
	ssize_t n;

	buf_adds(b, "\"");
	if (hex_id(f->name)) {
		for (i = 0; i < d->len; i++)
			buf_printf(b, "%02x", d->data[i]);
	} else if ((t = buf_tail(b, &room)) != NULL &&
	    (n = base64_encode((char *)t, room, d->data, d->len)) >= 0) {
		buf_commit(b, (size_t)n);
	} else {
		b->overflow = true;
	}
	buf_adds(b, "\"");
}

static void
real(double v, struct buf *b)
{
	if (isnan(v))
		buf_adds(b, "\"NaN\"");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		buf_printf(b, "%.17g", v);
}

/* One value of field f stored at p. */
static void
value(const ProtobufCFieldDescriptor *f, const void *p, struct buf *b)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		buf_printf(b, "%d", *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		buf_printf(b, "%u", *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		buf_printf(b, "\"%lld\"", (long long)*(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		buf_printf(
		    b, "\"%llu\"", (unsigned long long)*(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		real(*(const float *)p, b);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		real(*(const double *)p, b);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		buf_adds(b, *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_STRING:
		json_cstr(b, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		bytes(f, p, b);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		message(*(ProtobufCMessage *const *)p, b);
		break;
	}
}

static size_t
type_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* A singular field is sent when set: non-zero, non-empty, non-NULL. */
static bool
present(const ProtobufCFieldDescriptor *f, const uint8_t *m)
{
	const uint8_t *p = m + f->offset;
	const ProtobufCBinaryData *d;
	size_t i, n;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(m + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_STRING)
		return *(char *const *)p != NULL && **(char *const *)p != '\0';
	if (f->type == PROTOBUF_C_TYPE_BYTES) {
		d = (const ProtobufCBinaryData *)p;
		return d->len > 0;
	}
	for (i = 0, n = type_size(f); i < n; i++)
		if (p[i] != 0)
			return true;
	return false;
}

static void
field(const ProtobufCFieldDescriptor *f, const uint8_t *m, bool *first,
    struct buf *b)
{
	size_t n = 0, i, sz = type_size(f);
	const uint8_t *arr;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n = *(const size_t *)(m + f->quantifier_offset);
		if (n == 0)
			return;
	} else if (!present(f, m)) {
		return;
	}
	buf_adds(b, *first ? "" : ",");
	*first = false;
	name(f->name, b);
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		value(f, m + f->offset, b);
		return;
	}
	arr = *(const uint8_t *const *)(m + f->offset);
	buf_adds(b, "[");
	for (i = 0; i < n; i++) {
		buf_adds(b, i > 0 ? "," : "");
		value(f, arr + i * sz, b);
	}
	buf_adds(b, "]");
}

static void
message(const ProtobufCMessage *m, struct buf *b)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;
	unsigned i;

	buf_adds(b, "{");
	for (i = 0; i < d->n_fields; i++)
		field(&d->fields[i], (const uint8_t *)m, &first, b);
	buf_adds(b, "}");
}

/* see otel_int.h */
bool
otel_json_encode(const ProtobufCMessage *msg, struct buf *b)
{
	message(msg, b);
	return !b->overflow;
}
