/*
 * trace_int.h — shared between trace*.c only.
 *
 * trace_ctx.c      traceparent / tracestate values
 * trace_id.c       random ids
 * trace_sampler.c  the samplers
 * trace_span.c     spans and the recorder's queue and batches
 * trace_pb.c       spans as OTLP/protobuf bytes
 */
#ifndef TRACE_TRACE_INT_H
#define TRACE_TRACE_INT_H

#include <protobuf-c/protobuf-c.h>

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

/*
 * spans[0..n) as one OTLP/protobuf ExportTraceServiceRequest under
 * resource and scope (packed by protobuf-c), in a malloc'd block of *len
 * bytes (the caller frees it).  NULL when *len would exceed max (*len is
 * then the size it would have) or on no memory.
 */
uint8_t *trace_pb_request(const ProtobufCMessage *resource,
    const ProtobufCMessage *scope, const struct trace_span *const *spans,
    size_t n, size_t max, size_t *len);

#endif
