/* The worker restart policy: arithmetic only, so it is unit-testable. */
#include <sys/wait.h>

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
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == INIT_EXIT_PERMANENT)
		return INIT_SLOW_MS;
	d = (int64_t)INIT_FAST_MS << shift;
	if (d > INIT_FAST_MAX_MS)
		d = INIT_FAST_MAX_MS;
	return jitter(d, rnd);
}
