/*
 * trace_int.h — shared between trace*.c only.
 *
 * trace_ctx.c      traceparent / tracestate values
 * trace_id.c       random ids
 * trace_sampler.c  the samplers
 * trace_span.c     spans and the recorder's queue and batches
 */
#ifndef TRACE_TRACE_INT_H
#define TRACE_TRACE_INT_H

#include "trace/trace.h"

/* True when the n bytes at p are all zero (an invalid W3C id). */
static inline bool
trace_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

#endif
