/*
 * rx_mcache.c — a mapping cache trimmed by a reactor timer (rx_mcache.h).
 */
#include <sys/mman.h>

#include "lib/util.h"
#include "rx/rx_mcache.h"

static void
arm(struct rx_mcache *m, int64_t ms)
{
	if (rx_timer_start(m->l, &m->trim, ms) < 0)
		mcache_drain(&m->mc);
}

static void
on_trim(struct rx_loop *l, struct rx_timer *t)
{
	struct rx_mcache *m = container_of(t, struct rx_mcache, trim);
	int64_t next = mcache_trim(&m->mc, rx_now(l), m->idle_ms);

	if (next > 0)
		arm(m, next);
}

/* see rx_mcache.h */
void
rx_mcache_bind(struct rx_mcache *m, struct rx_loop *l, struct mcache_ent *ent,
    size_t max, size_t max_hot, int64_t idle_ms)
{
	if (m->l != NULL)
		return;
	*m = (struct rx_mcache){.l = l, .idle_ms = idle_ms};
	mcache_init(&m->mc, ent, max, max_hot);
	rx_timer_init(&m->trim, on_trim);
}

/* see rx_mcache.h */
void *
rx_mcache_get(struct rx_mcache *m, size_t len, size_t *hot)
{
	return mcache_get(&m->mc, len, hot);
}

/* see rx_mcache.h */
void
rx_mcache_put(struct rx_mcache *m, void *p, size_t len, size_t hot)
{
	if (p == NULL)
		return;
	if (m->l == NULL) {
		munmap(p, mcache_size(len));
		return;
	}
	mcache_put(&m->mc, p, len, hot, rx_now(m->l));
	if (m->mc.n > 0 && !rx_timer_active(&m->trim))
		arm(m, m->idle_ms);
}

/* see rx_mcache.h */
void
rx_mcache_release(struct rx_mcache *m, struct rx_loop *l)
{
	if (m->l == NULL || (l != NULL && l != m->l))
		return;
	rx_timer_stop(m->l, &m->trim);
	mcache_drain(&m->mc);
	m->l = NULL;
}
