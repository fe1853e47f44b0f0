/*
 * grpc_sendq.c — a stream's queue of outgoing gRPC messages.
 */
#include <errno.h>
#include <stdlib.h>

#include "grpc/grpc.h"

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
