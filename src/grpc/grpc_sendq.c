/*
 * grpc_sendq.c — a stream's queue of outgoing gRPC messages.
 */
#include <errno.h>
#include <stdlib.h>

#include "grpc/grpc.h"
#include "lib/util.h"

/* see grpc.h */
void
grpc_sendq_init(struct grpc_sendq *q, unsigned max)
{
	*q = (struct grpc_sendq){.max = max};
	list_init(&q->q);
}

/* see grpc.h */
bool
grpc_sendq_push(struct grpc_sendq *q, struct grpc_out *o)
{
	if (o == NULL)
		return false;
	if (q->max != 0 && q->n >= q->max) {
		grpc_out_free(o);
		return false;
	}
	list_append(&q->q, &o->link);
	q->n++;
	return true;
}

/* protobuf-c's output into a stream's send ring (room checked first). */
struct ring_out {
	ProtobufCBuffer base;
	struct h2_stream *st;
};

static void
ring_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
	struct ring_out *r = container_of(b, struct ring_out, base);

	h2_stream_send(r->st, data, len);
}

/* A message up to this size is packed flat on the stack and sent in one
 * piece: pack_to_buffer appends every tag, length and field on its own
 * (~40 h2_stream_send calls for a response head, ~3k instructions). */
#define GRPC_FLAT_MAX 2048

/* see grpc.h */
bool
grpc_sendq_put(
    struct grpc_sendq *q, struct h2_stream *st, const ProtobufCMessage *m)
{
	struct ring_out r = {.base.append = ring_append, .st = st};
	size_t n = protobuf_c_message_get_packed_size(m), len;
	uint8_t flat[GRPC_PREFIX_LEN + GRPC_FLAT_MAX];

	len = n <= GRPC_FLAT_MAX ? GRPC_PREFIX_LEN + n : GRPC_PREFIX_LEN;
	if (!grpc_sendq_empty(q) || n > h2_stream_send_room(st) ||
	    h2_stream_send_room(st) - n < GRPC_PREFIX_LEN ||
	    !grpc_prefix_write(flat, n))
		return grpc_sendq_push(q, grpc_out_pack(m));
	if (len > GRPC_PREFIX_LEN)
		protobuf_c_message_pack(m, flat + GRPC_PREFIX_LEN);
	if (h2_stream_send(st, flat, len) != (long)len)
		return grpc_sendq_push(q, grpc_out_pack(m));
	if (len == GRPC_PREFIX_LEN)
		protobuf_c_message_pack_to_buffer(m, &r.base);
	return true;
}

/* see grpc.h */
long
grpc_sendq_pump(struct grpc_sendq *q, struct h2_stream *st, bool *full)
{
	struct list_node *node;
	struct grpc_out *o;
	long n, moved = 0;

	if (full != NULL)
		*full = false;
	while ((node = list_first(&q->q)) != NULL) {
		o = list_entry(node, struct grpc_out, link);
		n = h2_stream_send(st, o->data + o->off, o->len - o->off);
		if (n < 0)
			return n;
		o->off += (size_t)n;
		moved += n;
		if (o->off < o->len) {
			if (full != NULL)
				*full = true;
			break;
		}
		list_remove(&o->link);
		q->n--;
		grpc_out_free(o);
	}
	return moved;
}

/* see grpc.h */
bool
grpc_sendq_empty(const struct grpc_sendq *q)
{
	return list_empty(&q->q);
}

/* see grpc.h */
void
grpc_sendq_clear(struct grpc_sendq *q)
{
	struct list_node *n, *tmp;

	LIST_FOR_EACH_SAFE(n, tmp, &q->q)
	grpc_out_free(list_entry(n, struct grpc_out, link));
	list_init(&q->q);
	q->n = 0;
}
