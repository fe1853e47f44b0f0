/*
 * grpc_frame.c — the 5-byte message prefix: incremental decoder, encoder.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc.h"
#include "lib/util.h"

/* see grpc.h */
void
grpc_reader_init(struct grpc_reader *r, void *buf, size_t max)
{
	r->buf = buf;
	r->max = max;
	grpc_reader_reset(r);
}

/* see grpc.h */
void
grpc_reader_reset(struct grpc_reader *r)
{
	r->hlen = 0;
	r->need = 0;
	r->have = 0;
	r->err = GRPC_ERR_NONE;
}

/* The message length a complete prefix h announces (*len), and whether
 * r accepts it. */
static enum grpc_error
prefix_check(const struct grpc_reader *r, const uint8_t *h, uint32_t *len)
{
	*len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
	    (uint32_t)h[3] << 8 | (uint32_t)h[4];
	if (h[0] != 0)
		return GRPC_ERR_COMPRESSED;
	if (*len > r->max)
		return GRPC_ERR_TOO_LARGE;
	return GRPC_ERR_NONE;
}

/* Validate a complete prefix and record the message length. */
static int
reader_parse_prefix(struct grpc_reader *r)
{
	uint32_t len;

	if ((r->err = prefix_check(r, r->hdr, &len)) != GRPC_ERR_NONE)
		return GRPC_ERROR;
	r->need = len;
	r->have = 0;
	return GRPC_PARTIAL;
}

/* Hand out the complete message and get ready for the next prefix. */
static int
reader_finish(
    struct grpc_reader *r, const uint8_t *m, const uint8_t **msg, size_t *len)
{
	*msg = m;
	*len = r->need;
	r->hlen = 0;
	r->need = 0;
	r->have = 0;
	return GRPC_MSG;
}

/* see grpc.h */
int
grpc_reader_feed(struct grpc_reader *r, const void *p, size_t n, size_t *used,
    const uint8_t **msg, size_t *len)
{
	const uint8_t *in = p;
	size_t off = 0, k;

	*used = 0;
	if (r->err != GRPC_ERR_NONE)
		return GRPC_ERROR;
	if (r->hlen < GRPC_PREFIX_LEN) {
		k = MIN(GRPC_PREFIX_LEN - r->hlen, n);
		memcpy(r->hdr + r->hlen, in, k);
		r->hlen += k;
		off = k;
		*used = off;
		if (r->hlen < GRPC_PREFIX_LEN)
			return GRPC_PARTIAL;
		if (reader_parse_prefix(r) == GRPC_ERROR)
			return GRPC_ERROR;
	}
	/* Zero-copy when the whole message is in this input. */
	if (r->have == 0 && n - off >= r->need) {
		*used = off + r->need;
		return reader_finish(r, in + off, msg, len);
	}
	k = MIN(r->need - r->have, n - off);
	if (k > 0)
		memcpy(r->buf + r->have, in + off, k);
	r->have += k;
	*used = off + k;
	if (r->have < r->need)
		return GRPC_PARTIAL;
	return reader_finish(r, r->buf, msg, len);
}

/* see grpc.h */
size_t
grpc_reader_span(const struct grpc_reader *r, const uint8_t *p, size_t n)
{
	uint32_t len;

	if (r->hlen != 0 || r->err != GRPC_ERR_NONE)
		return 0;
	if (n < GRPC_PREFIX_LEN)
		return GRPC_PREFIX_LEN;
	if (prefix_check(r, p, &len) != GRPC_ERR_NONE)
		return 0;
	return GRPC_PREFIX_LEN + (size_t)len;
}

/* see grpc.h */
bool
grpc_reader_idle(const struct grpc_reader *r)
{
	return r->hlen == 0 && r->err == GRPC_ERR_NONE;
}

/* see grpc.h */
enum grpc_error
grpc_reader_error(const struct grpc_reader *r)
{
	return r->err;
}

/* see grpc.h */
const char *
grpc_error_name(enum grpc_error e)
{
	switch (e) {
	case GRPC_ERR_NONE:
		return "none";
	case GRPC_ERR_COMPRESSED:
		return "compressed";
	case GRPC_ERR_TOO_LARGE:
		return "too_large";
	}
	return "unknown";
}

/* see grpc.h */
bool
grpc_prefix_write(uint8_t out[GRPC_PREFIX_LEN], size_t len)
{
	if (len > UINT32_MAX)
		return false;
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	return true;
}

/* Released buffers kept for the next messages (see grpc_out_free()). */
static struct grpc_out *kept[GRPC_OUT_KEEP];
static unsigned nkept;

/* A buffer for need bytes: a kept one that fits, else a new one. */
static struct grpc_out *
out_alloc(size_t need)
{
	struct grpc_out *o;
	unsigned i;

	for (i = 0; i < nkept; i++) {
		if (kept[i]->cap >= need) {
			o = kept[i];
			kept[i] = kept[--nkept];
			return o;
		}
	}
	/* Kept sizes in 256-byte steps so that messages of about the same
	 * size share buffers. */
	if (need <= GRPC_OUT_KEEP_MAX)
		need = (need + 255) & ~(size_t)255;
	if ((o = malloc(sizeof(*o) + need)) != NULL)
		o->cap = need;
	return o;
}

/* see grpc.h */
void
grpc_out_free(struct grpc_out *o)
{
	unsigned i, small = 0;

	if (o == NULL || o->cap > GRPC_OUT_KEEP_MAX) {
		free(o);
		return;
	}
	if (nkept < GRPC_OUT_KEEP) {
		kept[nkept++] = o;
		return;
	}
	/* Full: keep the larger of o and the smallest kept buffer. */
	for (i = 1; i < nkept; i++)
		if (kept[i]->cap < kept[small]->cap)
			small = i;
	if (kept[small]->cap < o->cap) {
		free(kept[small]);
		kept[small] = o;
		return;
	}
	free(o);
}

/* see grpc.h */
struct grpc_out *
grpc_out_pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	struct grpc_out *o;

	if ((o = out_alloc(GRPC_PREFIX_LEN + n)) == NULL)
		return NULL;
	if (!grpc_prefix_write(o->data, n)) {
		grpc_out_free(o);
		return NULL;
	}
	protobuf_c_message_pack(m, o->data + GRPC_PREFIX_LEN);
	list_init(&o->link);
	o->len = GRPC_PREFIX_LEN + n;
	o->off = 0;
	return o;
}

/* see grpc.h */
const ProtobufCMessage *
grpc_envelope(union grpc_envelope *u, const ProtobufCMessageDescriptor *d,
    const char *id, unsigned field, const ProtobufCMessage *sub)
{
	const ProtobufCFieldDescriptor *fid, *fm;
	int which = (int)field; /* oneof case enums are int-sized */

	fid = protobuf_c_message_descriptor_get_field(d, 1);
	fm = protobuf_c_message_descriptor_get_field(d, field);
	if (d->sizeof_message > sizeof(*u) || fid == NULL ||
	    fid->type != PROTOBUF_C_TYPE_STRING ||
	    fid->label == PROTOBUF_C_LABEL_REPEATED || fm == NULL ||
	    fm->type != PROTOBUF_C_TYPE_MESSAGE ||
	    (fm->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0 || sub == NULL)
		return NULL;
	protobuf_c_message_init(d, u);
	if (id == NULL)
		id = "";
	memcpy(u->mem + fid->offset, &id, sizeof(id));
	memcpy(u->mem + fm->offset, &sub, sizeof(sub));
	memcpy(u->mem + fm->quantifier_offset, &which, sizeof(which));
	return &u->base;
}

/* see grpc.h */
struct grpc_out *
grpc_out_envelope(const ProtobufCMessageDescriptor *d, const char *id,
    unsigned field, const ProtobufCMessage *sub)
{
	union grpc_envelope u;
	const ProtobufCMessage *m = grpc_envelope(&u, d, id, field, sub);

	return m != NULL ? grpc_out_pack(m) : NULL;
}
