/*
 * Fuzz target: trace/ — the traceparent parser and the tracestate check
 * (trace.h).  Invariants: an accepted traceparent formats to a version 00
 * value that parses to the same context; when the input was itself a
 * version 00 value with flags 00 or 01 the formatted value is the input,
 * byte for byte; accepted ids are never all zero; tracestate is checked
 * without reading past its bytes (ASan) and is never accepted longer than
 * TRACE_STATE_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
zero(const uint8_t *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != 0)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past it. */
	char *v = malloc(size > 0 ? size : 1);
	char out[TRACE_PARENT_LEN + 1];
	struct trace_ctx c, d;

	if (v == NULL)
		return 0;
	memcpy(v, data, size);
	if (trace_parent_parse(&c, v, size)) {
		if (zero(c.trace_id, TRACE_ID_LEN) ||
		    zero(c.span_id, TRACE_SPAN_ID_LEN))
			abort();
		trace_parent_format(&c, out);
		if (!trace_parent_parse(&d, out, TRACE_PARENT_LEN) ||
		    memcmp(&c, &d, sizeof(c)) != 0)
			abort();
		if (size == TRACE_PARENT_LEN && memcmp(v, "00", 2) == 0 &&
		    (memcmp(v + 53, "00", 2) == 0 ||
			memcmp(v + 53, "01", 2) == 0) &&
		    memcmp(v, out, size) != 0)
			abort();
	}
	if (trace_state_valid(v, size) && size > TRACE_STATE_MAX)
		abort();
	free(v);
	return 0;
}
