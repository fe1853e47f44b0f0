/*
 * Log lines as OTLP log records: the log module's sink (lib/log.h) copies
 * each line's level and message (already secret-free, and bounded by the
 * log module's rate limit and line length), and the trace context the
 * line was written in (trace_id, span_id, flags), into a fixed batch; the batch
 * is exported OTEL_LOGS_DELAY_MS after its first record, or at once when
 * full.  No allocation per line.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "otel/otel_int.h"
#include "proto/opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"

#define OTEL_LOGS_BATCH 128 /* records per export */
#define OTEL_LOGS_TEXT (64 * 1024) /* message bytes per export */
#define OTEL_LOGS_DELAY_MS 1000

struct otel_logs {
	struct otel *o;
	struct rx_timer timer;
	size_t n, used;
	uint64_t ts[OTEL_LOGS_BATCH];
	enum log_level level[OTEL_LOGS_BATCH];
	size_t off[OTEL_LOGS_BATCH];
	bool traced[OTEL_LOGS_BATCH];
	struct log_trace trace[OTEL_LOGS_BATCH];
	char text[OTEL_LOGS_TEXT];
	/* The message, rebuilt for each export. */
	Opentelemetry__Proto__Logs__V1__LogRecord rec[OTEL_LOGS_BATCH];
	Opentelemetry__Proto__Logs__V1__LogRecord *recp[OTEL_LOGS_BATCH];
	Opentelemetry__Proto__Common__V1__AnyValue body[OTEL_LOGS_BATCH];
};

static const int severities[] = {
    OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_DEBUG,
    OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO,
    OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN,
    OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR};
static const char *const severity_texts[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void
record(struct otel_logs *lg, size_t i)
{
	Opentelemetry__Proto__Logs__V1__LogRecord *r = &lg->rec[i];

	opentelemetry__proto__logs__v1__log_record__init(r);
	opentelemetry__proto__common__v1__any_value__init(&lg->body[i]);
	r->time_unix_nano = r->observed_time_unix_nano = lg->ts[i];
	r->severity_number = severities[lg->level[i]];
	r->severity_text = (char *)severity_texts[lg->level[i]];
	lg->body[i].value_case =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	lg->body[i].string_value = lg->text + lg->off[i];
	r->body = &lg->body[i];
	if (lg->traced[i]) {
		r->trace_id.data = lg->trace[i].trace_id;
		r->trace_id.len = sizeof(lg->trace[i].trace_id);
		r->span_id.data = lg->trace[i].span_id;
		r->span_id.len = sizeof(lg->trace[i].span_id);
		r->flags = lg->trace[i].flags;
	}
	lg->recp[i] = r;
}

static void
export_logs(struct otel_logs *lg)
{
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Logs__V1__ResourceLogs
	    rl = OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT,
	    *rlp = &rl;
	Opentelemetry__Proto__Logs__V1__ScopeLogs
	    sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT,
	    *slp = &sl;
	size_t i;

	rx_timer_stop(lg->o->loop, &lg->timer);
	if (lg->n == 0)
		return;
	for (i = 0; i < lg->n; i++)
		record(lg, i);
	sl.scope = otel_scope(lg->o);
	sl.n_log_records = lg->n;
	sl.log_records = lg->recp;
	rl.resource = otel_resource(lg->o);
	rl.n_scope_logs = 1;
	rl.scope_logs = &slp;
	req.n_resource_logs = 1;
	req.resource_logs = &rlp;
	otel_submit_msg(lg->o, OTEL_LOGS, &req.base, lg->n);
	lg->n = lg->used = 0;
}

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	(void)l;
	export_logs(container_of(t, struct otel_logs, timer));
}

static void
sink(void *arg, enum log_level level, const char *msg, size_t n,
    const struct log_trace *trace)
{
	struct otel_logs *lg = arg;

	if (lg->n == OTEL_LOGS_BATCH || lg->used + n + 1 > OTEL_LOGS_TEXT)
		export_logs(lg);
	n = MIN(n, OTEL_LOGS_TEXT - 1);
	lg->ts[lg->n] = otel_now_ns();
	lg->level[lg->n] = level;
	lg->off[lg->n] = lg->used;
	lg->traced[lg->n] = trace != NULL;
	if (trace != NULL)
		lg->trace[lg->n] = *trace;
	memcpy(lg->text + lg->used, msg, n);
	lg->text[lg->used + n] = '\0';
	lg->used += n + 1;
	if (lg->n++ == 0)
		rx_timer_start(lg->o->loop, &lg->timer, OTEL_LOGS_DELAY_MS);
}

/* see otel_int.h */
int
otel_logs_start(struct otel *o)
{
	struct otel_logs *lg = calloc(1, sizeof(*lg));

	if (lg == NULL)
		return -1;
	lg->o = o;
	rx_timer_init(&lg->timer, on_timer);
	o->logs = lg;
	log_set_sink(sink, lg);
	return 0;
}

/* see otel_int.h */
void
otel_logs_stop(struct otel *o)
{
	if (o->logs == NULL)
		return;
	log_set_sink(NULL, NULL);
	rx_timer_stop(o->loop, &o->logs->timer);
	free(o->logs);
	o->logs = NULL;
}

/* see otel_int.h */
void
otel_logs_flush(struct otel *o)
{
	if (o->logs == NULL)
		return;
	log_set_sink(NULL, NULL);
	export_logs(o->logs);
}
