/*
 * rx_mcache.h — a lib/mcache.h cache of anonymous mappings whose idle
 * entries a timer of the reactor gives back: what no caller took again for
 * idle_ms is unmapped, so the resident size returns near idle after a
 * burst.  The one way the connector's calls and the edge's streams keep
 * their per-call rings (issue #20).
 *
 * Unbound (no loop yet, or released), nothing is kept: a put unmaps at
 * once, a get maps fresh.  A timer the loop has no slot for empties the
 * cache rather than keep it for good.  One thread, the loop's.  The entry
 * table is the caller's memory.
 */
#ifndef RX_MCACHE_H
#define RX_MCACHE_H

#include "lib/mcache.h"
#include "rx/rx.h"

struct rx_mcache {
	struct mcache mc;
	struct rx_timer trim; /* armed while anything is kept */
	struct rx_loop *l; /* the timer's loop; NULL: keep nothing */
	int64_t idle_ms;
};

/*
 * A zeroed struct rx_mcache is unbound and empty.  Bind it to l: from now
 * on it keeps entries in ent[max], at most max_hot bytes of them
 * resident, each given back after idle_ms unused by a timer of l.  A cache
 * already bound stays as it is.  No allocation.
 */
void rx_mcache_bind(struct rx_mcache *m, struct rx_loop *l,
    struct mcache_ent *ent, size_t max, size_t max_hot, int64_t idle_ms);

/* mcache_get(): a buffer of mcache_size(len) bytes, *hot of them possibly
 * resident; NULL when out of memory. */
void *rx_mcache_get(struct rx_mcache *m, size_t len, size_t *hot);

/* mcache_put() at the loop's time (p may be NULL), then the trim timer
 * armed if it is not; unbound, p is unmapped. */
void rx_mcache_put(struct rx_mcache *m, void *p, size_t len, size_t hot);

/* If bound to l (NULL: any): stop the timer, give every entry back and
 * unbind (the loop goes away). */
void rx_mcache_release(struct rx_mcache *m, struct rx_loop *l);

#endif
