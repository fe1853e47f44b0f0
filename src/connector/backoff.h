/*
 * backoff.h — reconnect pacing for tunnel slots.
 *
 * struct backoff: exponential backoff with jitter.  The n-th consecutive
 * failure waits a uniformly random time in [base, min(cap, base * 2^n)], so
 * both RECONNECT_INTERVAL (base) and MAX_BACKOFF_DELAY (cap) are honoured.
 *
 * struct budget: a process-wide token bucket of dials.  Its capacity and
 * refill are both "per_minute" dials per 60 s, so over any window of T ms no
 * more than per_minute * (1 + T / 60000) dials pass, however many slots
 * fail at once.  Tokens are counted in 1/60000ths to keep the arithmetic
 * exact in integers.
 *
 * Both are plain values owned by the caller; no allocation, no clock reads
 * (the caller passes now_ms and the random word).
 */
#ifndef CONNECTOR_BACKOFF_H
#define CONNECTOR_BACKOFF_H

#include <stdint.h>

struct backoff {
	int64_t base_ms;
	int64_t cap_ms;
	unsigned failures;
};

void backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms);

/* Delay before the next attempt after one more failure; rnd: a random word. */
int64_t backoff_next(struct backoff *b, uint32_t rnd);

/* A success: the next failure starts again from base. */
void backoff_reset(struct backoff *b);

struct budget {
	int64_t per_minute;
	int64_t units; /* tokens * 60000 */
	int64_t last_ms;
};

void budget_init(struct budget *b, int64_t per_minute, int64_t now_ms);

/* Take one dial token: 0 when granted, else the ms to wait for one. */
int64_t budget_take(struct budget *b, int64_t now_ms);

#endif
