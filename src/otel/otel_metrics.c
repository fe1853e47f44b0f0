/*
 * The registry as an ExportMetricsServiceRequest, every
 * OTEL_METRIC_EXPORT_INTERVAL: one registry, two encodings (/metrics is
 * the other).  Counters are monotonic cumulative sums, gauges and infos
 * gauges, histograms cumulative with the registry's explicit bounds;
 * labels become attributes.  Then the anchor connector's metric names,
 * each drawn from one of outpost's own families (the README's mapping
 * table), so its dashboards keep working.
 *
 * The message is built in a scratch arena freed once it is encoded
 * (otel_submit_msg copies), at most once per interval.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/list.h"
#include "lib/util.h"
#include "otel/otel_int.h"
#include "proto/opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#define OTEL_LABELS_MAX 8 /* attributes of one data point */

/* An anchor name and the outpost family (and series) it is drawn from. */
struct alias {
	const char *name;
	const char *family;
	const char *series; /* labels of the one series; NULL: all series */
	const char *unit;
};

static const struct alias aliases[] = {
    {"connector.streams_active", "outpost_tunnels", "state=\"open\"", "1"},
    {"upstream_requests_total", "outpost_requests_total", NULL, "1"},
    {"upstream_latency", "outpost_upstream_seconds", NULL, "s"},
    {"reconnects_total", "outpost_reconnects_total", NULL, "1"},
    {"upstream_request_body_size", "outpost_upstream_request_body_bytes", NULL,
	"By"},
    {"upstream_response_body_size", "outpost_upstream_response_body_bytes",
	NULL, "By"},
    {"concurrent_requests", "outpost_requests_in_flight", NULL, "1"},
    {"request_body_size_limit_hit_total", "outpost_requests_total",
	"outcome=\"too_large\"", "1"},
};

/* Scratch memory of one export: zeroed blocks freed together. */
struct arena {
	void *blocks[4096];
	size_t n;
	bool failed;
};

static void *
alloc(struct arena *a, size_t n)
{
	void *p;

	if (a->failed || a->n == nitems(a->blocks) ||
	    (p = calloc(1, n > 0 ? n : 1)) == NULL) {
		a->failed = true;
		return NULL;
	}
	a->blocks[a->n++] = p;
	return p;
}

static void
arena_free(struct arena *a)
{
	while (a->n > 0)
		free(a->blocks[--a->n]);
}

struct build {
	struct arena a;
	uint64_t start, now;
	size_t points;
};

/* One label value of `k="v",...`, unescaped in place; NULL at the end. */
static char *
next_label(char **s, char **key)
{
	char *p = *s, *v, *w;

	if (*p == ',')
		p++;
	*key = p;
	if ((p = strchr(p, '=')) == NULL || p[1] != '"')
		return NULL;
	*p = '\0';
	v = w = p + 2;
	for (p = v; *p != '\0' && *p != '"'; p++, w++) {
		if (*p == '\\' && p[1] != '\0')
			p++, *p = *p == 'n' ? '\n' : *p;
		*w = *p;
	}
	if (*p != '"')
		return NULL;
	*w = '\0';
	*s = p + 1;
	return v;
}

/* The series' labels as attributes (none for an alias of one series). */
static bool
attributes(struct build *b, const char *labels, size_t *n,
    Opentelemetry__Proto__Common__V1__KeyValue ***out)
{
	Opentelemetry__Proto__Common__V1__KeyValue *kv;
	Opentelemetry__Proto__Common__V1__AnyValue *av;
	char *s, *k, *v;

	*n = 0;
	if (labels == NULL)
		return true;
	kv = alloc(&b->a, OTEL_LABELS_MAX * sizeof(*kv));
	av = alloc(&b->a, OTEL_LABELS_MAX * sizeof(*av));
	*out = alloc(&b->a, OTEL_LABELS_MAX * sizeof(**out));
	s = alloc(&b->a, strlen(labels) + 1);
	if (s == NULL || *out == NULL)
		return false;
	strcpy(s, labels);
	while (*n < OTEL_LABELS_MAX && (v = next_label(&s, &k)) != NULL) {
		otel_attr_str(&kv[*n], &av[*n], k, v);
		(*out)[*n] = &kv[*n];
		(*n)++;
	}
	return true;
}

static void *
number_point(struct build *b, const struct metric *m, const char *labels)
{
	Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p =
	    alloc(&b->a, sizeof(*p));

	if (p == NULL)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->start_time_unix_nano = b->start;
	p->time_unix_nano = b->now;
	p->value_case =
	    OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	p->as_double = m->value;
	return attributes(b, labels, &p->n_attributes, &p->attributes) ? p
								       : NULL;
}

static void *
histogram_point(struct build *b, const struct metric *m, const char *labels)
{
	Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p =
	    alloc(&b->a, sizeof(*p));
	uint64_t *counts = alloc(&b->a, (m->nbounds + 1) * sizeof(uint64_t));
	uint64_t below = 0;
	size_t i;

	if (p == NULL || counts == NULL)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->bucket_counts = counts;
	p->start_time_unix_nano = b->start;
	p->time_unix_nano = b->now;
	p->count = m->count;
	p->_sum_case =
	    OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = m->sum;
	p->n_explicit_bounds = m->nbounds;
	p->explicit_bounds = (double *)m->bounds;
	p->n_bucket_counts = m->nbounds + 1;
	for (i = 0; i < m->nbounds; i++) {
		p->bucket_counts[i] = m->buckets[i];
		below += m->buckets[i];
	}
	p->bucket_counts[m->nbounds] = m->count - MIN(below, m->count);
	return attributes(b, labels, &p->n_attributes, &p->attributes) ? p
								       : NULL;
}

/* The data points of f (only the series labelled only, if given). */
static void **
points(
    struct build *b, const struct metric_family *f, const char *only, size_t *n)
{
	const struct list_node *ln;
	const struct metric *m;
	void **v;
	size_t cap = 0;

	LIST_FOR_EACH(ln, &f->series)
	cap++;
	if ((v = alloc(&b->a, (cap > 0 ? cap : 1) * sizeof(*v))) == NULL)
		return NULL;
	*n = 0;
	LIST_FOR_EACH(ln, &f->series)
	{
		m = list_entry(ln, struct metric, node);
		if (only != NULL &&
		    (m->labels == NULL || strcmp(m->labels, only) != 0))
			continue;
		v[*n] = f->type == METRIC_HISTOGRAM
		    ? histogram_point(b, m, only != NULL ? NULL : m->labels)
		    : number_point(b, m, only != NULL ? NULL : m->labels);
		if (v[*n] == NULL)
			return NULL;
		(*n)++;
	}
	b->points += *n;
	return v;
}

static bool
fill_data(struct build *b, Opentelemetry__Proto__Metrics__V1__Metric *mm,
    const struct metric_family *f, const char *only)
{
	Opentelemetry__Proto__Metrics__V1__Gauge *g;
	Opentelemetry__Proto__Metrics__V1__Sum *s;
	Opentelemetry__Proto__Metrics__V1__Histogram *h;
	size_t n;
	void **v = points(b, f, only, &n);

	if (v == NULL)
		return false;
	if (f->type == METRIC_HISTOGRAM) {
		if ((h = alloc(&b->a, sizeof(*h))) == NULL)
			return false;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->n_data_points = n;
		h->data_points = (void *)v;
		h->aggregation_temporality =
		    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		mm->data_case =
		    OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		mm->histogram = h;
	} else if (f->type == METRIC_COUNTER) {
		if ((s = alloc(&b->a, sizeof(*s))) == NULL)
			return false;
		opentelemetry__proto__metrics__v1__sum__init(s);
		s->n_data_points = n;
		s->data_points = (void *)v;
		s->is_monotonic = true;
		s->aggregation_temporality =
		    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		mm->data_case =
		    OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		mm->sum = s;
	} else {
		if ((g = alloc(&b->a, sizeof(*g))) == NULL)
			return false;
		opentelemetry__proto__metrics__v1__gauge__init(g);
		g->n_data_points = n;
		g->data_points = (void *)v;
		mm->data_case =
		    OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
		mm->gauge = g;
	}
	return true;
}

static const char *
unit_of(const char *name)
{
	size_t l = strlen(name);

	if (l > 8 && strcmp(name + l - 8, "_seconds") == 0)
		return "s";
	if (l > 6 && strcmp(name + l - 6, "_bytes") == 0)
		return "By";
	return "";
}

static Opentelemetry__Proto__Metrics__V1__Metric *
metric(struct build *b, const struct metric_family *f, const char *name,
    const char *only, const char *unit)
{
	Opentelemetry__Proto__Metrics__V1__Metric *mm =
	    alloc(&b->a, sizeof(*mm));

	if (mm == NULL)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(mm);
	mm->name = (char *)name;
	mm->description = (char *)f->help;
	mm->unit = (char *)unit;
	return fill_data(b, mm, f, only) ? mm : NULL;
}

static const struct metric_family *
family(const struct metrics *r, const char *name)
{
	const struct list_node *ln;
	const struct metric_family *f;

	LIST_FOR_EACH(ln, &r->families)
	{
		f = list_entry(ln, struct metric_family, node);
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

/* Every family, then every alias whose family exists. */
static Opentelemetry__Proto__Metrics__V1__Metric **
all_metrics(struct build *b, struct metrics *r, size_t *n)
{
	const struct metric_family *src;
	Opentelemetry__Proto__Metrics__V1__Metric **v;
	struct metric_family *f;
	struct list_node *ln;
	size_t cap = nitems(aliases), i;

	LIST_FOR_EACH(ln, &r->families)
	cap++;
	if ((v = alloc(&b->a, cap * sizeof(*v))) == NULL)
		return NULL;
	*n = 0;
	LIST_FOR_EACH(ln, &r->families)
	{
		f = list_entry(ln, struct metric_family, node);
		if (f->collect != NULL)
			f->collect(f, f->arg);
		if ((v[(*n)++] = metric(
			 b, f, f->name, NULL, unit_of(f->name))) == NULL)
			return NULL;
	}
	for (i = 0; i < nitems(aliases); i++) {
		if ((src = family(r, aliases[i].family)) == NULL)
			continue;
		if ((v[(*n)++] = metric(b, src, aliases[i].name,
			 aliases[i].series, aliases[i].unit)) == NULL)
			return NULL;
	}
	return v;
}

static void
export_metrics(struct otel *o)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest
	    req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics
	    rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT,
	    *rmp = &rm;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics
	    sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT,
	    *smp = &sm;
	struct build *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return;
	b->start = o->start_ns;
	b->now = otel_now_ns();
	sm.scope = otel_scope(o);
	sm.metrics = all_metrics(b, o->registry, &sm.n_metrics);
	rm.resource = otel_resource(o);
	rm.n_scope_metrics = 1;
	rm.scope_metrics = &smp;
	req.n_resource_metrics = 1;
	req.resource_metrics = &rmp;
	if (sm.metrics != NULL && !b->a.failed)
		otel_submit_msg(o, OTEL_METRICS, &req.base, b->points);
	else
		otel_count_dropped(o, OTEL_METRICS, b->points);
	arena_free(&b->a);
	free(b);
}

static void
on_tick(struct rx_loop *l, struct rx_timer *t)
{
	struct otel *o = container_of(t, struct otel, tick);

	export_metrics(o);
	rx_timer_start(l, t, o->interval_ms);
}

/* see otel_int.h */
void
otel_metrics_start(struct otel *o)
{
	rx_timer_init(&o->tick, on_tick);
	rx_timer_start(o->loop, &o->tick, o->interval_ms);
}

/* see otel_int.h */
void
otel_metrics_stop(struct otel *o)
{
	if (o->registry != NULL)
		rx_timer_stop(o->loop, &o->tick);
}
