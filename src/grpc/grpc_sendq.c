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
	*q = (struct grpc_sendq){.tail = &q->head, .max = max};
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
	o->next = NULL;
	*q->tail = o;
	q->tail = &o->next;
	q->n++;
	return true;
}

/* see grpc.h */
long
grpc_sendq_pump(struct grpc_sendq *q, struct h2_stream *st, bool *full)
{
	struct grpc_out *o;
	long n, moved = 0;

	if (full != NULL)
		*full = false;
	while ((o = q->head) != NULL) {
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
		if ((q->head = o->next) == NULL)
			q->tail = &q->head;
		q->n--;
		grpc_out_free(o);
	}
	return moved;
}

/* see grpc.h */
bool
grpc_sendq_empty(const struct grpc_sendq *q)
{
	return q->head == NULL;
}

/* see grpc.h */
void
grpc_sendq_clear(struct grpc_sendq *q)
{
	struct grpc_out *o;

	while ((o = q->head) != NULL) {
		q->head = o->next;
		grpc_out_free(o);
	}
	q->tail = &q->head;
	q->n = 0;
}
