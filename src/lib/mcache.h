/*
 * mcache.h — a bounded LIFO cache of anonymous mappings, for memory that
 * comes and goes with each call: a streamed answer opens a Deliver call per
 * request (issue #20), and a fresh mapping per call cost an mmap, a munmap
 * and a page fault for every page its rings touched, on both sides.
 *
 * A buffer given back (mcache_put) stays mapped and resident as it is (no
 * madvise on the hot path), and the next mcache_get of the same length
 * takes the most recently given back one: its pages are the warmest.  Two
 * bounds hold at all times: at most max entries, and at most max_hot bytes
 * that may be resident.  The caller says how many bytes of a buffer it may
 * have touched (its "hot" bytes; rings over the buffer fill from offset 0,
 * so this is usually their high-water mark, not their size); a put that
 * would break a bound first gives back the oldest entries, and a buffer
 * hotter than max_hot alone is unmapped at once.  mcache_trim() gives back
 * what was not reused for a while: run it from a timer, so that the
 * resident size after a burst returns near idle.
 *
 * Sans-I/O apart from mmap/munmap: time is the caller's (milliseconds, any
 * monotonic origin).  One thread.  The table is caller memory; nothing here
 * allocates it.  A reused buffer holds what its last user left: callers
 * that read before writing must not use this (a fresh mapping is zeroed).
 */
#ifndef LIB_MCACHE_H
#define LIB_MCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mcache_ent {
	void *p;
	size_t len; /* mapped bytes, a page multiple */
	size_t hot; /* of them possibly resident, <= len */
	int64_t at; /* when it was given back */
};

struct mcache {
	struct mcache_ent *ent; /* [max], oldest first */
	size_t n, max;
	size_t hot, max_hot; /* sum of ent[].hot, and its bound */
	uint64_t hits, misses; /* mcache_get() answered from the cache or not */
};

/*
 * An empty cache over the caller's table of max entries (ent may be NULL
 * when max is 0: nothing is cached then).  No allocation.
 */
void mcache_init(
    struct mcache *mc, struct mcache_ent *ent, size_t max, size_t max_hot);

/* len rounded up to whole pages: the length a buffer of len bytes maps. */
size_t mcache_size(size_t len);

/*
 * A buffer of mcache_size(len) bytes, readable and writable: the most
 * recently given back one of that size, or a fresh mapping.  *hot says
 * how many of its bytes may already be resident (0 for a fresh one); hand
 * it back, raised by what the new user touches, to mcache_put().  NULL
 * when out of memory (or len is 0).
 */
void *mcache_get(struct mcache *mc, size_t len, size_t *hot);

/*
 * Give p (from mcache_get() with the same len) back.  hot: bytes of it
 * that may be resident (rounded up to pages, capped at its size).  now:
 * the caller's clock, for mcache_trim().  Keeps it unless it alone is
 * hotter than max_hot or max is 0 (then it is unmapped), first giving
 * back the oldest entries as needed to stay within both bounds.  p NULL:
 * nothing.
 */
void mcache_put(
    struct mcache *mc, void *p, size_t len, size_t hot, int64_t now);

/*
 * Give back (munmap) every entry given back at or before now - idle_ms.
 * Returns the milliseconds until the next entry is due (>= 1), or -1 when
 * the cache is empty: re-arm a timer with it.
 */
int64_t mcache_trim(struct mcache *mc, int64_t now, int64_t idle_ms);

/* Give back every entry (the table stays the caller's). */
void mcache_drain(struct mcache *mc);

#endif
