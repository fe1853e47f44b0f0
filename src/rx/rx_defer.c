/*
 * The deferred-work queue: an intrusive FIFO of struct rx_defer, run once
 * per iteration.  Each entry carries the sequence number it was queued
 * with; a batch runs the entries queued before it started, so work queued
 * from a batch waits for the next iteration and cancelling any entry
 * (even one later in the running batch) is an O(1) unlink.
 */
#include "rx/rx.h"
#include "rx/rx_int.h"

/* see rx.h */
void
rx_defer_init(struct rx_defer *d, rx_defer_fn *run)
{
	*d = (struct rx_defer){.run = run};
}

/* see rx.h */
bool
rx_defer_queued(const struct rx_defer *d)
{
	return d->queued;
}

/* see rx.h */
void
rx_defer(struct rx_loop *l, struct rx_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->seq = ++l->defer_seq;
	d->next = NULL;
	d->prev = l->defer_tail;
	if (l->defer_tail != NULL)
		l->defer_tail->next = d;
	else
		l->defer_head = d;
	l->defer_tail = d;
}

/* see rx.h */
void
rx_defer_cancel(struct rx_loop *l, struct rx_defer *d)
{
	if (!d->queued)
		return;
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		l->defer_head = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	else
		l->defer_tail = d->prev;
	d->prev = d->next = NULL;
	d->queued = false;
}

/* see rx_int.h */
bool
rx_defer_pending(const struct rx_loop *l)
{
	return l->defer_head != NULL;
}

/* see rx_int.h */
void
rx_defer_run(struct rx_loop *l)
{
	uint64_t last = l->defer_seq;
	struct rx_defer *d;

	while ((d = l->defer_head) != NULL && d->seq <= last) {
		rx_defer_cancel(l, d);
		d->run(l, d);
	}
}
