/*
 * Trace and span ids: random bytes from getrandom(2), drawn through a small
 * buffer so that one system call serves several spans, never all zero
 * (the W3C spec's invalid value).
 */
#include <string.h>

#include "lib/util.h"
#include "trace/trace_int.h"

/* 24 bytes per new trace, 16 per joined request: one call for about 40. */
static uint8_t pool[1024];
static size_t left;

static int
draw(uint8_t *out, size_t n)
{
	int rc;

	do {
		if (left < n) {
			if ((rc = util_random(pool, sizeof(pool))) < 0)
				return rc;
			left = sizeof(pool);
		}
		memcpy(out, pool + sizeof(pool) - left, n);
		/* Used bytes are not left behind for a later reader. */
		memset(pool + sizeof(pool) - left, 0, n);
		left -= n;
	} while (trace_zero(out, n));
	return 0;
}

/* see trace.h */
int
trace_new_trace_id(uint8_t id[TRACE_ID_LEN])
{
	return draw(id, TRACE_ID_LEN);
}

/* see trace.h */
int
trace_new_span_id(uint8_t id[TRACE_SPAN_ID_LEN])
{
	return draw(id, TRACE_SPAN_ID_LEN);
}
