/*
 * The timer min-heap.  Each timer knows its slot so that stop and re-arm
 * are O(log n) without a search.
 */
#include <errno.h>

#include "rx/rx.h"
#include "rx/rx_int.h"

static void
heap_put(struct rx_loop *l, size_t i, struct rx_timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

static void
sift_up(struct rx_loop *l, size_t i)
{
	struct rx_timer *t = l->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (l->heap[parent]->deadline <= t->deadline)
			break;
		heap_put(l, i, l->heap[parent]);
		i = parent;
	}
	heap_put(l, i, t);
}

static void
sift_down(struct rx_loop *l, size_t i)
{
	struct rx_timer *t = l->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap &&
		    l->heap[c + 1]->deadline < l->heap[c]->deadline)
			c++;
		if (t->deadline <= l->heap[c]->deadline)
			break;
		heap_put(l, i, l->heap[c]);
		i = c;
	}
	heap_put(l, i, t);
}

/* see rx.h */
void
rx_timer_init(struct rx_timer *t, rx_timer_fn *fire)
{
	t->deadline = 0;
	t->slot = 0;
	t->fire = fire;
}

/* see rx.h */
bool
rx_timer_active(const struct rx_timer *t)
{
	return t->slot != 0;
}

/* see rx.h */
void
rx_timer_stop(struct rx_loop *l, struct rx_timer *t)
{
	struct rx_timer *moved;
	size_t i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	if (--l->nheap == i)
		return;
	moved = l->heap[l->nheap];
	heap_put(l, i, moved);
	sift_up(l, i);
	sift_down(l, moved->slot - 1);
}

/* see rx.h */
int
rx_timer_start(struct rx_loop *l, struct rx_timer *t, int64_t ms)
{
	rx_timer_stop(l, t);
	if (l->nheap == l->capheap)
		return -ENOSPC;
	t->deadline = l->now + (ms < 0 ? 0 : ms);
	t->seq = l->timer_seq++;
	l->heap[l->nheap] = t;
	t->slot = ++l->nheap;
	sift_up(l, l->nheap - 1);
	return 0;
}

/* see rx_int.h */
int
rx_timer_wait_ms(const struct rx_loop *l, int max_wait_ms)
{
	int64_t d;

	if (l->nheap == 0)
		return max_wait_ms;
	d = l->heap[0]->deadline - l->now;
	if (d < 0)
		d = 0;
	if (max_wait_ms >= 0 && d > max_wait_ms)
		d = max_wait_ms;
	return d > 1000000 ? 1000000 : (int)d;
}

/* see rx_int.h */
void
rx_timer_expire(struct rx_loop *l)
{
	uint64_t seq = l->timer_seq;
	struct rx_timer *t;

	/* Timers armed by callbacks of this pass wait for the next iteration,
	 * so a timer re-armed for 0 ms cannot starve the loop. */
	while (l->nheap > 0 && l->heap[0]->deadline <= l->now &&
	    l->heap[0]->seq < seq) {
		t = l->heap[0];
		rx_timer_stop(l, t);
		t->fire(l, t);
	}
}
