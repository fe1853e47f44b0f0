/*
 * The recorder from the settings: OTEL_TRACES_SAMPLER and its argument,
 * the OTEL_BSP_* batch limits; none when OTEL_SDK_DISABLED or
 * TRAVERSAL_DISABLE_TELEMETRY turn telemetry off.  The names and ranges
 * were checked by src/cfg (cfg_otel.c) before this runs.
 */
#include <errno.h>

#include "cfg/cfg.h"
#include "trace/trace.h"

/* see trace.h */
int
trace_recorder_from_cfg(
    struct trace_recorder **out, struct rx_loop *l, const struct cfg *c)
{
	struct trace_config tc = {
	    .max_queue = (size_t)cfg_int(c, CFG_OTEL_BSP_MAX_QUEUE_SIZE),
	    .max_batch = (size_t)cfg_int(c, CFG_OTEL_BSP_MAX_EXPORT_BATCH_SIZE),
	    .schedule_delay_ms = cfg_int(c, CFG_OTEL_BSP_SCHEDULE_DELAY),
	};
	int64_t ratio = cfg_is_set(c, CFG_OTEL_TRACES_SAMPLER_ARG)
	    ? cfg_int(c, CFG_OTEL_TRACES_SAMPLER_ARG)
	    : 1000;

	*out = NULL;
	if (cfg_bool(c, CFG_OTEL_SDK_DISABLED) ||
	    cfg_bool(c, CFG_TRAVERSAL_DISABLE_TELEMETRY))
		return 0;
	if (!trace_sampler_init(
		&tc.sampler, cfg_str(c, CFG_OTEL_TRACES_SAMPLER), ratio))
		return -EINVAL;
	return trace_recorder_new(out, l, &tc, NULL, NULL);
}
