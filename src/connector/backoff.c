#include "connector/backoff.h"

#define UNITS_PER_TOKEN 60000

/* see backoff.h */
void
backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms)
{
	b->base_ms = base_ms;
	b->cap_ms = cap_ms < base_ms ? base_ms : cap_ms;
	b->failures = 0;
}

/* see backoff.h */
void
backoff_reset(struct backoff *b)
{
	b->failures = 0;
}

/* see backoff.h */
int64_t
backoff_next(struct backoff *b, uint32_t rnd)
{
	int64_t hi = b->base_ms;
	unsigned i;

	for (i = 0; i < b->failures && hi < b->cap_ms; i++)
		hi *= 2;
	if (hi > b->cap_ms)
		hi = b->cap_ms;
	if (b->failures < 64)
		b->failures++;
	return b->base_ms + (int64_t)(rnd % (uint64_t)(hi - b->base_ms + 1));
}

static void
refill(struct budget *b, int64_t now_ms)
{
	int64_t cap = b->per_minute * UNITS_PER_TOKEN;

	if (now_ms > b->last_ms) {
		b->units += (now_ms - b->last_ms) * b->per_minute;
		if (b->units > cap)
			b->units = cap;
	}
	b->last_ms = now_ms;
}

/* see backoff.h */
void
budget_init(struct budget *b, int64_t per_minute, int64_t now_ms)
{
	b->per_minute = per_minute < 1 ? 1 : per_minute;
	b->units = b->per_minute * UNITS_PER_TOKEN;
	b->last_ms = now_ms;
}

/* see backoff.h */
int64_t
budget_take(struct budget *b, int64_t now_ms)
{
	int64_t missing;

	refill(b, now_ms);
	if (b->units >= UNITS_PER_TOKEN) {
		b->units -= UNITS_PER_TOKEN;
		return 0;
	}
	missing = UNITS_PER_TOKEN - b->units;
	return (missing + b->per_minute - 1) / b->per_minute;
}
