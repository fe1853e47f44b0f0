/* The metrics registry and its Prometheus text renderer. */
#include <math.h>
#include <stdio.h>

#include "lib/metrics.h"

/* see metrics.h */
void
metrics_init(struct metrics *r)
{
	list_init(&r->families);
}

/* see metrics.h */
void
metric_family_init(struct metric_family *f, const char *name, const char *help,
    enum metric_type type, metric_collect_fn *collect, void *arg)
{
	*f = (struct metric_family){.name = name,
	    .help = help,
	    .type = type,
	    .collect = collect,
	    .arg = arg};
	list_init(&f->series);
	list_init(&f->node);
}

/* see metrics.h */
void
metrics_add(struct metrics *r, struct metric_family *f)
{
	list_append(&r->families, &f->node);
}

/* see metrics.h */
void
metric_init(struct metric *m, const char *labels, const double *bounds,
    uint64_t *buckets, size_t nbounds)
{
	*m = (struct metric){.labels = labels,
	    .bounds = bounds,
	    .buckets = buckets,
	    .nbounds = nbounds};
	list_init(&m->node);
}

/* see metrics.h */
void
metric_family_add(struct metric_family *f, struct metric *m)
{
	list_append(&f->series, &m->node);
}

/* see metrics.h */
void
metric_observe(struct metric *m, double v)
{
	size_t i;

	for (i = 0; i < m->nbounds; i++)
		if (v <= m->bounds[i]) {
			m->buckets[i]++;
			break;
		}
	m->sum += v;
	m->count++;
}

/* Prometheus floats: integers plainly, +Inf/-Inf/NaN by name. */
static void
put_num(struct buf *b, double v)
{
	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else
		buf_printf(b, "%.15g", v);
}

/* name{labels[,extra]} value */
static void
put_sample(struct buf *b, const char *name, const char *suffix,
    const char *labels, const char *extra, double v)
{
	bool has = labels != NULL && labels[0] != '\0';

	buf_printf(b, "%s%s", name, suffix);
	if (has || extra != NULL)
		buf_printf(b, "{%s%s%s}", has ? labels : "",
		    has && extra != NULL ? "," : "", extra ? extra : "");
	buf_adds(b, " ");
	put_num(b, v);
	buf_adds(b, "\n");
}

static void
put_histogram(struct buf *b, const char *name, const struct metric *m)
{
	char le[48];
	uint64_t acc = 0;
	size_t i;

	for (i = 0; i < m->nbounds; i++) {
		acc += m->buckets[i];
		snprintf(le, sizeof(le), "le=\"%.15g\"", m->bounds[i]);
		put_sample(b, name, "_bucket", m->labels, le, (double)acc);
	}
	put_sample(
	    b, name, "_bucket", m->labels, "le=\"+Inf\"", (double)m->count);
	put_sample(b, name, "_sum", m->labels, NULL, m->sum);
	put_sample(b, name, "_count", m->labels, NULL, (double)m->count);
}

/* see metrics.h */
bool
metrics_render(struct metrics *r, struct buf *out)
{
	static const char *types[] = {"counter", "gauge", "histogram"};
	struct list_node *fn, *mn;
	struct metric_family *f;
	struct metric *m;

	LIST_FOR_EACH(fn, &r->families)
	{
		f = list_entry(fn, struct metric_family, node);
		if (f->collect != NULL)
			f->collect(f, f->arg);
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name,
		    f->help, f->name, types[f->type]);
		LIST_FOR_EACH(mn, &f->series)
		{
			m = list_entry(mn, struct metric, node);
			if (f->type == METRIC_HISTOGRAM)
				put_histogram(out, f->name, m);
			else
				put_sample(out, f->name, "", m->labels, NULL,
				    m->value);
		}
	}
	return !out->overflow;
}
