/*
 * h2_ring.c — a byte ring over caller memory, for stream send and receive
 * queues.  take/ack style: peek gives the contiguous readable run.
 */
#include <string.h>

#include "h2/h2_int.h"
#include "lib/util.h"

/* see h2_int.h */
void
h2_ring_init(struct h2_ring *r, void *mem, size_t cap)
{
	r->p = mem;
	r->cap = cap;
	r->head = 0;
	r->len = 0;
	r->touched = 0;
}

/* see h2_int.h */
size_t
h2_ring_room(const struct h2_ring *r)
{
	return r->cap - r->len;
}

/* see h2_int.h */
size_t
h2_ring_put(struct h2_ring *r, const void *p, size_t n)
{
	const uint8_t *in = p;
	size_t tail, k, done = 0;

	n = MIN(n, h2_ring_room(r));
	while (done < n) {
		tail = (r->head + r->len) % r->cap;
		k = MIN(n - done, r->cap - tail);
		memcpy(r->p + tail, in + done, k);
		r->touched = MAX(r->touched, tail + k);
		r->len += k;
		done += k;
	}
	return n;
}

/* see h2_int.h */
const uint8_t *
h2_ring_peek(const struct h2_ring *r, size_t *len)
{
	*len = MIN(r->len, r->cap - r->head);
	return *len > 0 ? r->p + r->head : NULL;
}

/* see h2_int.h */
size_t
h2_ring_peek_room(const struct h2_ring *r)
{
	return r->head + r->len >= r->cap ? 0 : r->cap - r->head - r->len;
}

/* see h2_int.h */
void
h2_ring_drop(struct h2_ring *r, size_t n)
{
	n = MIN(n, r->len);
	r->len -= n;
	r->head = r->len == 0 ? 0 : (r->head + n) % r->cap;
}
