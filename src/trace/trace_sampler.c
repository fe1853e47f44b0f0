/*
 * The OpenTelemetry SDK samplers, by their OTEL_TRACES_SAMPLER names.
 */
#include <string.h>

#include "trace/trace_int.h"

static const struct {
	const char *name;
	enum trace_sampler_kind kind;
} samplers[] = {
    {"always_on", TRACE_ALWAYS_ON},
    {"always_off", TRACE_ALWAYS_OFF},
    {"traceidratio", TRACE_RATIO},
    {"parentbased_always_on", TRACE_PARENT_ALWAYS_ON},
    {"parentbased_always_off", TRACE_PARENT_ALWAYS_OFF},
    {"parentbased_traceidratio", TRACE_PARENT_RATIO},
};

/* see trace.h */
bool
trace_sampler_init(
    struct trace_sampler *s, const char *name, int64_t ratio_milli)
{
	size_t i;

	if (ratio_milli < 0)
		ratio_milli = 0;
	*s = (struct trace_sampler){.all = ratio_milli >= 1000};
	/* bound = ratio x 2^64 / 1000 (2^64 = 1000 q + UINT64_MAX % 1000 + 1),
	 * without 128-bit arithmetic (32-bit targets). */
	if (!s->all)
		s->bound = (uint64_t)ratio_milli * (UINT64_MAX / 1000) +
		    (uint64_t)ratio_milli * (UINT64_MAX % 1000 + 1) / 1000;
	for (i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++)
		if (strcmp(name, samplers[i].name) == 0) {
			s->kind = samplers[i].kind;
			return true;
		}
	return false;
}

static bool
ratio(const struct trace_sampler *s, const uint8_t id[TRACE_ID_LEN])
{
	uint64_t v = 0;
	int i;

	if (s->all)
		return true;
	for (i = 8; i < TRACE_ID_LEN; i++)
		v = v << 8 | id[i];
	return v < s->bound;
}

/* see trace.h */
bool
trace_sampled(const struct trace_sampler *s, const struct trace_ctx *parent,
    const uint8_t trace_id[TRACE_ID_LEN])
{
	switch (s->kind) {
	case TRACE_ALWAYS_ON:
		return true;
	case TRACE_ALWAYS_OFF:
		return false;
	case TRACE_RATIO:
		return ratio(s, trace_id);
	case TRACE_PARENT_ALWAYS_ON:
	case TRACE_PARENT_ALWAYS_OFF:
	case TRACE_PARENT_RATIO:
		break;
	}
	if (parent != NULL)
		return (parent->flags & TRACE_FLAG_SAMPLED) != 0;
	if (s->kind == TRACE_PARENT_RATIO)
		return ratio(s, trace_id);
	return s->kind == TRACE_PARENT_ALWAYS_ON;
}
