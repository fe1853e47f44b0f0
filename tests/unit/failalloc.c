/* The counting allocator (failalloc.h). */
#include <errno.h>
#include <stddef.h>

#include "failalloc.h"

static unsigned long count, target;
static bool armed, fired, held;

/* see failalloc.h */
void
failalloc_arm(unsigned long n)
{
	count = 0;
	target = n;
	fired = false;
	armed = failalloc_supported();
}

/* see failalloc.h */
unsigned long
failalloc_disarm(void)
{
	armed = false;
	return count;
}

/* see failalloc.h */
bool
failalloc_fired(void)
{
	return fired;
}

/* see failalloc.h */
void
failalloc_hold(bool on)
{
	held = on;
}

#ifdef __GLIBC__
#include <dlfcn.h>

/* Whether this allocation is the one to fail (only glibc's are replaced). */
static bool
fail_now(void)
{
	if (!armed || held)
		return false;
	if (++count != target)
		return false;
	fired = true;
	errno = ENOMEM;
	return true;
}

typedef void *malloc_fn(size_t);
typedef void *calloc_fn(size_t, size_t);
typedef void *realloc_fn(void *, size_t);

void *malloc(size_t n);
void *calloc(size_t k, size_t n);
void *realloc(void *p, size_t n);

static malloc_fn *real_malloc;
static calloc_fn *real_calloc;
static realloc_fn *real_realloc;

/*
 * dlsym() may allocate (with calloc) while we look the real functions up:
 * those few requests come from a static arena, and are never freed (free()
 * is not interposed, and is never handed them: they belong to the dynamic
 * linker's bookkeeping for the life of the process).
 */
static unsigned char arena[4096] __attribute__((aligned(16)));
static size_t arena_used;
static bool resolving;

static void *
arena_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > sizeof(arena) - arena_used)
		return NULL;
	p = arena + arena_used;
	arena_used += n;
	return p; /* static storage: already zero */
}

static void
resolve(void)
{
	if (real_realloc != NULL || resolving)
		return;
	resolving = true;
	real_malloc = (malloc_fn *)dlsym(RTLD_NEXT, "malloc");
	real_calloc = (calloc_fn *)dlsym(RTLD_NEXT, "calloc");
	real_realloc = (realloc_fn *)dlsym(RTLD_NEXT, "realloc");
	resolving = false;
}

/* see failalloc.h */
bool
failalloc_supported(void)
{
	resolve();
	return real_realloc != NULL;
}

void *
malloc(size_t n)
{
	resolve();
	if (real_malloc == NULL)
		return arena_alloc(n);
	return fail_now() ? NULL : real_malloc(n);
}

void *
calloc(size_t k, size_t n)
{
	resolve();
	if (real_calloc == NULL)
		return n != 0 && k > (size_t)-1 / n ? NULL : arena_alloc(k * n);
	return fail_now() ? NULL : real_calloc(k, n);
}

void *
realloc(void *p, size_t n)
{
	resolve();
	if (real_realloc == NULL)
		return NULL; /* not asked for while resolving */
	/* realloc(p, 0) frees: not an allocation that can fail. */
	return n != 0 && fail_now() ? NULL : real_realloc(p, n);
}
#else
/* see failalloc.h */
bool
failalloc_supported(void)
{
	return false;
}
#endif
