/*
 * mcache.c — a bounded LIFO cache of anonymous mappings (mcache.h).
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/mcache.h"
#include "lib/util.h"

/* see mcache.h */
void
mcache_init(
    struct mcache *mc, struct mcache_ent *ent, size_t max, size_t max_hot)
{
	*mc = (struct mcache){.ent = ent, .max = max, .max_hot = max_hot};
}

/* see mcache.h */
size_t
mcache_size(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (len + pg - 1) / pg * pg;
}

/* Remove entry i (keeping the order of the rest); returns its buffer. */
static void *
take(struct mcache *mc, size_t i)
{
	void *p = mc->ent[i].p;

	mc->hot -= mc->ent[i].hot;
	memmove(
	    &mc->ent[i], &mc->ent[i + 1], (mc->n - i - 1) * sizeof(mc->ent[0]));
	mc->n--;
	return p;
}

/* Unmap the oldest entry. */
static void
evict(struct mcache *mc)
{
	size_t len = mc->ent[0].len;

	munmap(take(mc, 0), len);
}

/* see mcache.h */
void *
mcache_get(struct mcache *mc, size_t len, size_t *hot)
{
	void *p;
	size_t i;

	*hot = 0;
	if ((len = mcache_size(len)) == 0)
		return NULL;
	/* Newest first: its pages are the likeliest to be resident. */
	for (i = mc->n; i-- > 0;)
		if (mc->ent[i].len == len) {
			*hot = mc->ent[i].hot;
			mc->hits++;
			return take(mc, i);
		}
	mc->misses++;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* see mcache.h */
void
mcache_put(struct mcache *mc, void *p, size_t len, size_t hot, int64_t now)
{
	if (p == NULL)
		return;
	len = mcache_size(len);
	hot = MIN(mcache_size(hot), len);
	if (mc->max == 0 || hot > mc->max_hot) {
		munmap(p, len);
		return;
	}
	while (mc->n == mc->max || mc->hot + hot > mc->max_hot)
		evict(mc);
	mc->ent[mc->n++] =
	    (struct mcache_ent){.p = p, .len = len, .hot = hot, .at = now};
	mc->hot += hot;
}

/* see mcache.h */
int64_t
mcache_trim(struct mcache *mc, int64_t now, int64_t idle_ms)
{
	/* Entries are in the order they were given back: oldest first. */
	while (mc->n > 0 && mc->ent[0].at <= now - idle_ms)
		evict(mc);
	return mc->n == 0 ? -1 : mc->ent[0].at + idle_ms - now;
}

/* see mcache.h */
void
mcache_drain(struct mcache *mc)
{
	while (mc->n > 0)
		evict(mc);
}
