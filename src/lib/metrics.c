/* The metrics registry and its Prometheus text renderer. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
metrics_add_family(struct metrics *r, struct metric_family *f, const char *name,
    const char *help, enum metric_type type, metric_collect_fn *collect,
    void *arg)
{
	metric_family_init(f, name, help, type, collect, arg);
	metrics_add(r, f);
}

/* see metrics.h */
void
metric_family_add_series(
    struct metric_family *f, struct metric *m, const char *labels)
{
	metric_init(m, labels, NULL, NULL, 0);
	metric_family_add(f, m);
}

/* see metrics.h */
/* The bucket of v: an index of bounds, or nbounds for +Inf. */
static size_t
bucket_of(const struct metric *m, double v)
{
	size_t i;

	for (i = 0; i < m->nbounds; i++)
		if (v <= m->bounds[i])
			break;
	return i;
}

void
metric_observe(struct metric *m, double v)
{
	size_t i = bucket_of(m, v);

	if (i < m->nbounds)
		m->buckets[i]++;
	m->sum += v;
	m->count++;
}

/* see metrics.h */
void
metric_set_exemplars(struct metric *m, struct metric_exemplar *ex)
{
	m->exemplars = ex;
}

/* id into dst (cap bytes, NUL-terminated, cut to fit); once per request,
 * so no snprintf. */
static void
copy_id(char *dst, size_t cap, const char *id)
{
	size_t n = strnlen(id, cap - 1);

	memcpy(dst, id, n);
	dst[n] = '\0';
}

/* see metrics.h */
void
metric_observe_traced(
    struct metric *m, double v, const char *trace_id, const char *span_id)
{
	struct metric_exemplar *e;
	struct timespec ts;

	metric_observe(m, v);
	if (m->exemplars == NULL || trace_id == NULL)
		return;
	e = &m->exemplars[bucket_of(m, v)];
	copy_id(e->trace_id, sizeof(e->trace_id), trace_id);
	copy_id(e->span_id, sizeof(e->span_id), span_id);
	e->value = v;
	clock_gettime(CLOCK_REALTIME, &ts);
	e->when = (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* The exposition being written: its format and the output. */
struct render {
	enum metrics_format fmt;
	struct buf *b;
};

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

/* name{labels[,extra]} value, without the line's end */
static void
put_value(struct buf *b, const char *name, const char *suffix,
    const char *labels, const char *extra, double v)
{
	bool has = labels != NULL && labels[0] != '\0';

	buf_printf(b, "%s%s", name, suffix);
	if (has || extra != NULL)
		buf_printf(b, "{%s%s%s}", has ? labels : "",
		    has && extra != NULL ? "," : "", extra ? extra : "");
	buf_adds(b, " ");
	put_num(b, v);
}

static void
put_sample(struct buf *b, const char *name, const char *suffix,
    const char *labels, const char *extra, double v)
{
	put_value(b, name, suffix, labels, extra, v);
	buf_adds(b, "\n");
}

/* A bucket's sample and, in OpenMetrics, its exemplar:
 * `# {trace_id="...",span_id="..."} value timestamp`. */
static void
put_bucket(const struct render *rd, const char *name, const struct metric *m,
    size_t i, const char *le, uint64_t acc)
{
	const struct metric_exemplar *e =
	    m->exemplars != NULL ? &m->exemplars[i] : NULL;

	put_value(rd->b, name, "_bucket", m->labels, le, (double)acc);
	if (rd->fmt == METRICS_OPENMETRICS && e != NULL &&
	    e->trace_id[0] != '\0') {
		buf_printf(rd->b, " # {trace_id=\"%s\",span_id=\"%s\"} ",
		    e->trace_id, e->span_id);
		put_num(rd->b, e->value);
		buf_printf(rd->b, " %.3f", e->when);
	}
	buf_adds(rd->b, "\n");
}

/* A bucket bound; OpenMetrics writes integral bounds as "1.0". */
static void
put_le(const struct render *rd, char *le, size_t n, double bound)
{
	bool integral = bound == floor(bound) && fabs(bound) < 1e15;

	snprintf(le, n, "le=\"%.15g%s\"", bound,
	    rd->fmt == METRICS_OPENMETRICS && integral ? ".0" : "");
}

static void
put_histogram(const struct render *rd, const char *name, const struct metric *m)
{
	char le[48];
	uint64_t acc = 0;
	size_t i;

	for (i = 0; i < m->nbounds; i++) {
		acc += m->buckets[i];
		put_le(rd, le, sizeof(le), m->bounds[i]);
		put_bucket(rd, name, m, i, le, acc);
	}
	put_bucket(rd, name, m, m->nbounds, "le=\"+Inf\"", m->count);
	put_sample(rd->b, name, "_sum", m->labels, NULL, m->sum);
	put_sample(rd->b, name, "_count", m->labels, NULL, (double)m->count);
}

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* The length of the family's own name: OpenMetrics drops the sample suffix. */
static size_t
base_len(const struct render *rd, const struct metric_family *f)
{
	size_t n = strlen(f->name);

	if (rd->fmt != METRICS_OPENMETRICS)
		return n;
	if (f->type == METRIC_COUNTER && ends_with(f->name, n, "_total"))
		return n - 6;
	if (f->type == METRIC_INFO && ends_with(f->name, n, "_info"))
		return n - 5;
	return n;
}

/* HELP text, escaped as the format wants (OpenMetrics also escapes "). */
static void
put_help(const struct render *rd, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\\')
			buf_adds(rd->b, "\\\\");
		else if (*s == '\n')
			buf_adds(rd->b, "\\n");
		else if (*s == '"' && rd->fmt == METRICS_OPENMETRICS)
			buf_adds(rd->b, "\\\"");
		else
			buf_printf(rd->b, "%c", *s);
}

/* # TYPE, # UNIT (OpenMetrics, by the name's suffix) and # HELP. */
static void
put_meta(const struct render *rd, const struct metric_family *f)
{
	static const char *prom[] = {"counter", "gauge", "histogram", "gauge"};
	static const char *om[] = {"counter", "gauge", "histogram", "info"};
	static const char *units[] = {"seconds", "bytes"};
	int n = (int)base_len(rd, f);
	size_t i;
	char suffix[16];

	buf_printf(rd->b, "# TYPE %.*s %s\n", n, f->name,
	    rd->fmt == METRICS_OPENMETRICS ? om[f->type] : prom[f->type]);
	for (i = 0; rd->fmt == METRICS_OPENMETRICS && i < 2; i++) {
		snprintf(suffix, sizeof(suffix), "_%s", units[i]);
		if (ends_with(f->name, (size_t)n, suffix))
			buf_printf(
			    rd->b, "# UNIT %.*s %s\n", n, f->name, units[i]);
	}
	buf_printf(rd->b, "# HELP %.*s ", n, f->name);
	put_help(rd, f->help);
	buf_adds(rd->b, "\n");
}

static void
put_family(const struct render *rd, const struct metric_family *f)
{
	const char *suffix = "";
	struct list_node *mn;
	struct metric *m;
	size_t n = base_len(rd, f);
	char name[128];

	if (rd->fmt == METRICS_OPENMETRICS && f->type == METRIC_COUNTER)
		suffix = "_total";
	else if (rd->fmt == METRICS_OPENMETRICS && f->type == METRIC_INFO)
		suffix = "_info";
	snprintf(name, sizeof(name), "%.*s", (int)n, f->name);
	put_meta(rd, f);
	LIST_FOR_EACH(mn, &f->series)
	{
		m = list_entry(mn, struct metric, node);
		if (f->type == METRIC_HISTOGRAM)
			put_histogram(rd, name, m);
		else
			put_sample(
			    rd->b, name, suffix, m->labels, NULL, m->value);
	}
}

/* see metrics.h */
bool
metrics_render(struct metrics *r, enum metrics_format fmt, struct buf *out)
{
	struct render rd = {.fmt = fmt, .b = out};
	struct list_node *fn;
	struct metric_family *f;

	LIST_FOR_EACH(fn, &r->families)
	{
		f = list_entry(fn, struct metric_family, node);
		if (f->collect != NULL)
			f->collect(f, f->arg);
		put_family(&rd, f);
	}
	if (fmt == METRICS_OPENMETRICS)
		buf_adds(out, "# EOF\n");
	return !out->overflow;
}

/* see metrics.h */
const char *
metrics_content_type(enum metrics_format fmt)
{
	return fmt == METRICS_OPENMETRICS
	    ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
	    : "text/plain; version=0.0.4; charset=utf-8";
}

/* --- content negotiation ---------------------------------------------------- */

/* One piece of a list, with the whitespace around it trimmed. */
struct span {
	const char *p;
	size_t n;
};

static struct span
trim(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct span){p, n};
}

static bool
span_eq(struct span s, const char *lit)
{
	return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

/* Cut the next piece up to 'sep' off *rest. */
static struct span
next_piece(struct span *rest, char sep)
{
	const char *e = memchr(rest->p, sep, rest->n);
	size_t n = e != NULL ? (size_t)(e - rest->p) : rest->n;
	struct span s = trim(rest->p, n);

	rest->p += e != NULL ? n + 1 : n;
	rest->n -= e != NULL ? n + 1 : n;
	return s;
}

/* An RFC 9110 qvalue in thousandths; -1 when malformed. */
static int
qvalue(struct span v)
{
	int q = 0, scale = 1000;
	size_t i;

	if (v.n == 0 || (v.p[0] != '0' && v.p[0] != '1') || v.n > 5)
		return -1;
	q = (v.p[0] - '0') * 1000;
	if (v.n > 1 && v.p[1] != '.')
		return -1;
	for (i = 2; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		scale /= 10;
		q += (v.p[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* The format a media range stands for; -1 for one we do not serve. */
static int
range_format(struct span type, struct span version)
{
	bool any = version.p == NULL;

	if (span_eq(type, "application/openmetrics-text"))
		return any || span_eq(version, "1.0.0") ||
			span_eq(version, "0.0.1")
		    ? METRICS_OPENMETRICS
		    : -1;
	if (span_eq(type, "text/plain"))
		return any || span_eq(version, "0.0.4") ? METRICS_PROMETHEUS
							: -1;
	if (span_eq(type, "*/*") || span_eq(type, "text/*"))
		return METRICS_PROMETHEUS;
	if (span_eq(type, "application/*"))
		return METRICS_OPENMETRICS;
	return -1;
}

/* One element of the Accept list: its format (or -1) and its q. */
static int
accept_element(struct span el, int *q)
{
	struct span type = next_piece(&el, ';'), version = {NULL, 0};
	struct span param, name;

	*q = 1000;
	while (el.n > 0) {
		param = next_piece(&el, ';');
		name = next_piece(&param, '=');
		if (param.n >= 2 && param.p[0] == '"' &&
		    param.p[param.n - 1] == '"')
			param = (struct span){param.p + 1, param.n - 2};
		if (span_eq(name, "q"))
			*q = qvalue(param);
		else if (span_eq(name, "version"))
			version = param;
	}
	return *q <= 0 ? -1 : range_format(type, version);
}

/* see metrics.h */
enum metrics_format
metrics_negotiate(const char *accept, size_t len)
{
	struct span rest = {accept, accept != NULL ? len : 0};
	int best = METRICS_PROMETHEUS, best_q = 0, f, q;

	while (rest.n > 0) {
		f = accept_element(next_piece(&rest, ','), &q);
		if (f >= 0 && q > best_q) {
			best = f;
			best_q = q;
		}
	}
	return (enum metrics_format)best;
}
