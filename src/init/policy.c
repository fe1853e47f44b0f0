/* The worker restart policy (pure arithmetic, unit-tested) and its jitter. */
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>

#include "init/init_int.h"

static int64_t
jitter(int64_t d, uint32_t rnd)
{
	return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

/* see init_int.h */
int64_t
init_policy_delay(
    struct init_policy *p, int wstatus, int64_t ran_ms, uint32_t rnd)
{
	int64_t d;
	unsigned shift;

	if (ran_ms >= INIT_STABLE_MS)
		p->streak = 0;
	shift = p->streak < 16 ? p->streak : 16;
	if (p->streak < UINT_MAX)
		p->streak++;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == EXIT_PERMANENT)
		return INIT_SLOW_MS;
	d = (int64_t)INIT_FAST_MS << shift;
	if (d > INIT_FAST_MAX_MS)
		d = INIT_FAST_MAX_MS;
	return jitter(d, rnd);
}

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004 /* Linux 5.6; musl may not define it yet */
#endif

/* see init_int.h */
uint32_t
init_random_u32(void)
{
	struct timespec ts;
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_INSECURE) == (ssize_t)sizeof(r))
		return r;
	/* Older kernels: any varying value will do for jitter. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
}
