/*
 * Fuzz target: the reader of the collector's answer (otel_resp_feed, the
 * OTLP exporter's keep-alive).  Input: the bytes the collector sends.
 * Invariants: it never takes more than it was given; fed all at once or
 * one byte at a time it takes the same bytes (or fails alike) and reaches
 * the same state, status, Retry-After and idle time; a failure leaves a
 * status exactly when the head was complete; a complete answer with bytes after
 * it leaves them; the idle time never exceeds OTEL_IDLE_MS; the end of
 * the connection after the status always completes the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otel/otel_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed data in pieces of step bytes (0: all at once): the bytes taken or -1. */
static long
feed(struct otel_resp *r, const uint8_t *data, size_t size, size_t step)
{
	size_t used = 0, n;
	long k;

	otel_resp_reset(r);
	while (used < size && r->state != OTEL_RESP_DONE) {
		n = step == 0 ? size - used : MIN(step, size - used);
		k = otel_resp_feed(r, data + used, n);
		if (k < 0)
			return -1;
		if ((size_t)k > n || (k == 0 && r->state != OTEL_RESP_DONE))
			abort();
		used += (size_t)k;
	}
	return (long)used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct otel_resp a, b;
	long ka = feed(&a, data, size, 0), kb = feed(&b, data, size, 1);

	if (ka != kb || a.state != b.state || a.status != b.status)
		abort();
	if (ka < 0) {
		/* A bad head (no status yet), or a bad body after the status. */
		if ((a.state == OTEL_RESP_HEAD) != (a.status == 0))
			abort();
		return 0;
	}
	if (a.retry_ms != b.retry_ms)
		abort();
	if (a.state == OTEL_RESP_DONE &&
	    (a.idle_ms != b.idle_ms || a.idle_ms < 0 ||
		a.idle_ms > OTEL_IDLE_MS || a.status < 200))
		abort();
	if (a.state != OTEL_RESP_DONE && (size_t)ka != size)
		abort();
	if (a.state == OTEL_RESP_BODY) {
		otel_resp_eof(&a);
		if (a.state != OTEL_RESP_DONE || a.idle_ms != 0)
			abort();
	}
	return 0;
}
