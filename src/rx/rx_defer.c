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
	list_init(&d->link);
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
	list_append(&l->defers, &d->link);
}

/* see rx.h */
void
rx_defer_cancel(struct rx_loop *l, struct rx_defer *d)
{
	(void)l; /* the node unlinks itself in O(1) */
	if (!d->queued)
		return;
	list_remove(&d->link);
	d->queued = false;
}

/* see rx_int.h */
bool
rx_defer_pending(const struct rx_loop *l)
{
	return !list_empty(&l->defers);
}

/* see rx_int.h */
void
rx_defer_run(struct rx_loop *l)
{
	uint64_t last = l->defer_seq;
	struct rx_defer *d;

	while (!list_empty(&l->defers)) {
		d = list_entry(l->defers.next, struct rx_defer, link);
		if (d->seq > last)
			break;
		rx_defer_cancel(l, d);
		d->run(l, d);
	}
}
