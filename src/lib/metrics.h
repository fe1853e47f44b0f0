/*
 * metrics.h — a tiny metrics registry rendered as Prometheus text format
 * (version 0.0.4) or as OpenMetrics 1.0.0 text, chosen by the scraper's
 * Accept header (metrics_negotiate).
 *
 * Everything is caller-allocated and linked in; nothing is allocated.  A
 * module declares a struct metric_family (name, help, type) and one
 * struct metric per label set, adds them once at start-up, and updates the
 * values from its own code (metric_inc and friends are plain stores).  A
 * family may also carry a collect callback that refreshes its values just
 * before rendering (for gauges read from elsewhere: RSS, open fds,
 * counters kept by another module).
 *
 * Labels are given pre-formatted, e.g. `code="200",method="GET"`, and
 * must be valid Prometheus label syntax with escaped values; the strings
 * are borrowed and must outlive the registry.  Histograms use caller
 * arrays: 'bounds' (ascending upper bounds, +Inf implied) and 'buckets'
 * (one counter per bound, non-cumulative; rendering accumulates).
 *
 * Counter family names end in `_total` (OpenMetrics drops it from the
 * family's own name and keeps it on the sample); a name ending in
 * `_seconds` or `_bytes` gets a `# UNIT` line in OpenMetrics.  An info
 * family (METRIC_INFO, name ending in `_info`, value 1) is a gauge in
 * the Prometheus text and an info in OpenMetrics.
 *
 * Families and series must stay alive (and linked) for as long as the
 * registry is rendered.  Single-threaded.
 */
#ifndef LIB_METRICS_H
#define LIB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/list.h"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
	METRIC_INFO
};

enum metrics_format { METRICS_PROMETHEUS, METRICS_OPENMETRICS };

/*
 * An OpenMetrics exemplar: the trace of one observation in a bucket (the
 * latest), shown after the bucket's sample in the OpenMetrics format only.
 */
struct metric_exemplar {
	char trace_id[33]; /* lowercase hex; "" when the bucket has none */
	char span_id[17];
	double value;
	double when; /* Unix seconds */
};

struct metric {
	const char *labels; /* NULL: no labels */
	double value; /* counter or gauge */
	const double *bounds;
	uint64_t *buckets;
	size_t nbounds;
	double sum;
	uint64_t count;
	struct metric_exemplar *exemplars; /* NULL, or nbounds + 1 (+Inf) */
	struct list_node node; /* on its family's series */
};

struct metric_family;
typedef void metric_collect_fn(struct metric_family *f, void *arg);

struct metric_family {
	const char *name;
	const char *help;
	enum metric_type type;
	struct list_node series; /* struct metric, in the order added */
	metric_collect_fn *collect; /* may be NULL */
	void *arg;
	struct list_node node; /* on the registry's families */
};

struct metrics {
	struct list_node families; /* struct metric_family, in order */
};

void metrics_init(struct metrics *r);

/* Set up a family; collect may be NULL. */
void metric_family_init(struct metric_family *f, const char *name,
    const char *help, enum metric_type type, metric_collect_fn *collect,
    void *arg);

/* Families render in the order they were added. */
void metrics_add(struct metrics *r, struct metric_family *f);

/* A series; for histograms pass bounds/buckets (nbounds each), else NULL/0. */
void metric_init(struct metric *m, const char *labels, const double *bounds,
    uint64_t *buckets, size_t nbounds);
void metric_family_add(struct metric_family *f, struct metric *m);

/* Shorthands: metric_family_init + metrics_add; metric_init (no buckets) +
 * metric_family_add. */
void metrics_add_family(struct metrics *r, struct metric_family *f,
    const char *name, const char *help, enum metric_type type,
    metric_collect_fn *collect, void *arg);
void metric_family_add_series(
    struct metric_family *f, struct metric *m, const char *labels);

static inline void
metric_inc(struct metric *m)
{
	m->value += 1;
}

static inline void
metric_add(struct metric *m, double v)
{
	m->value += v;
}

static inline void
metric_set(struct metric *m, double v)
{
	m->value = v;
}

void metric_observe(struct metric *m, double v);

/* Keep exemplars for histogram m in ex (caller memory, nbounds + 1 of
 * them, zeroed; it must live as long as m). */
void metric_set_exemplars(struct metric *m, struct metric_exemplar *ex);

/* metric_observe(), and when m keeps exemplars and trace_id (32 hex
 * characters, NUL-terminated, as span_id's 16) is not NULL, the bucket's
 * exemplar becomes this observation. */
void metric_observe_traced(
    struct metric *m, double v, const char *trace_id, const char *span_id);

/*
 * Append the exposition in format 'fmt' to out; false if it did not fit
 * (out->overflow).
 */
bool metrics_render(
    struct metrics *r, enum metrics_format fmt, struct buf *out);

/*
 * The format to answer an Accept header value with (NULL: none sent):
 * the acceptable media range with the highest q (the earliest on a tie)
 * among application/openmetrics-text (version 1.0.0 or 0.0.1, or none)
 * and text/plain (version 0.0.4 or none), or a wildcard, which means the
 * Prometheus text.  Nothing acceptable also gives the Prometheus text
 * (as the Prometheus client libraries do).
 */
enum metrics_format metrics_negotiate(const char *accept, size_t len);

/* The Content-Type header value of a format. */
const char *metrics_content_type(enum metrics_format fmt);

#endif
