/*
 * redact_live.c — the rules in force for the executor (see redact.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/redact.h"
#include "lib/metrics.h"
#include "lib/util.h"

#define LABEL_MAX 160
#define N_BOUNDS 10

static const double bounds[N_BOUNDS] = {
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

/* One rule name's hits series; names are kept across reloads. */
struct rule_series {
	char name[LABEL_MAX]; /* as in the rules ("" for _other) */
	char label[LABEL_MAX + 16]; /* rule="..." escaped */
	struct metric m;
};

struct redact_live {
	struct redact_live_conf c;
	struct redact_rules *rules; /* NULL: refuse everything */
	/* Metrics: the families live here, registered or not. */
	struct metric_family f_hits, f_refused, f_seconds, f_loaded, f_reload;
	struct rule_series rs[REDACT_METRIC_RULES + 1]; /* last: _other */
	size_t n_rs;
	struct metric **by_rule; /* rules' index -> its series */
	char reason_label[REDACT__COUNT][48];
	struct metric refused[REDACT__COUNT];
	struct metric seconds, loaded, reload;
	uint64_t buckets[N_BOUNDS];
};

/* rule="name" with '\\', '"' and newlines escaped (truncated to fit). */
static void
label_fmt(char *out, size_t size, const char *name)
{
	size_t o = 0;

	o += (size_t)snprintf(out, size, "rule=\"");
	for (; *name != '\0' && o + 4 < size; name++) {
		if (*name == '\\' || *name == '"' || *name == '\n')
			out[o++] = '\\';
		out[o++] = *name == '\n' ? 'n' : *name;
	}
	snprintf(out + o, size - o, "\"");
}

/* The series of rule name (a new one while there is room, else _other). */
static struct metric *
series_for(struct redact_live *l, const char *name)
{
	struct rule_series *s;
	size_t i;

	for (i = 0; i < l->n_rs; i++)
		if (strncmp(l->rs[i].name, name, LABEL_MAX - 1) == 0)
			return &l->rs[i].m;
	if (l->n_rs == REDACT_METRIC_RULES)
		return &l->rs[REDACT_METRIC_RULES].m;
	s = &l->rs[l->n_rs++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	label_fmt(s->label, sizeof(s->label), name);
	metric_init(&s->m, s->label, NULL, NULL, 0);
	metric_family_add(&l->f_hits, &s->m);
	return &s->m;
}

/* Map the rules to their series; the gauges follow the new rules. */
static void
metrics_follow(struct redact_live *l)
{
	size_t i, n = l->rules != NULL ? redact_rules_count(l->rules) : 0;

	free(l->by_rule);
	l->by_rule = calloc(n ? n : 1, sizeof(*l->by_rule));
	for (i = 0; l->by_rule != NULL && i < n; i++)
		l->by_rule[i] = series_for(l, redact_rule_name(l->rules, i));
	metric_set(&l->loaded, (double)n);
	metric_set(&l->reload, (double)util_wall_ms() / 1000.0);
}

static void
family(struct redact_live *l, struct metric_family *f, const char *name,
    const char *help, enum metric_type t, struct metric *m)
{
	metric_family_init(f, name, help, t, NULL, l);
	if (m != NULL) {
		metric_init(m, NULL, t == METRIC_HISTOGRAM ? bounds : NULL,
		    t == METRIC_HISTOGRAM ? l->buckets : NULL,
		    t == METRIC_HISTOGRAM ? N_BOUNDS : 0);
		metric_family_add(f, m);
	}
}

static void
metrics_init_all(struct redact_live *l)
{
	struct rule_series *other = &l->rs[REDACT_METRIC_RULES];
	size_t i;

	family(l, &l->f_hits, "outpost_redaction_hits_total",
	    "Substitutions made, by rule.", METRIC_COUNTER, NULL);
	family(l, &l->f_refused, "outpost_redaction_refusals_total",
	    "Bodies refused (redaction_failed), by reason.", METRIC_COUNTER,
	    NULL);
	for (i = 1; i < REDACT__COUNT; i++) {
		snprintf(l->reason_label[i], sizeof(l->reason_label[i]),
		    "reason=\"%s\"",
		    redact_refusal_name((enum redact_refusal)i));
		metric_init(&l->refused[i], l->reason_label[i], NULL, NULL, 0);
		metric_family_add(&l->f_refused, &l->refused[i]);
	}
	family(l, &l->f_seconds, "outpost_redaction_seconds",
	    "Time spent applying the rules to one body.", METRIC_HISTOGRAM,
	    &l->seconds);
	family(l, &l->f_loaded, "outpost_redaction_rules_loaded",
	    "Rules in force (0 after an invalid reload, while stopping).",
	    METRIC_GAUGE, &l->loaded);
	family(l, &l->f_reload,
	    "outpost_redaction_last_reload_timestamp_seconds",
	    "When the rules in force were loaded (Unix time).", METRIC_GAUGE,
	    &l->reload);
	snprintf(other->label, sizeof(other->label), "rule=\"_other\"");
	metric_init(&other->m, other->label, NULL, NULL, 0);
	metric_family_add(&l->f_hits, &other->m);
}

/* see redact.h */
void
redact_live_metrics_add(struct redact_live *l, struct metrics *reg)
{
	metrics_add(reg, &l->f_hits);
	metrics_add(reg, &l->f_refused);
	metrics_add(reg, &l->f_seconds);
	metrics_add(reg, &l->f_loaded);
	metrics_add(reg, &l->f_reload);
}

/*
 * Count one outcome: hits per rule (of a body passed on), the refusal, the
 * time since t0.
 */
static void
observe(struct redact_live *l, const struct redact_result *res,
    const struct timespec *t0)
{
	struct timespec t1;
	size_t i, n = l->rules != NULL ? redact_rules_count(l->rules) : 0;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (res->refusal != REDACT_OK && res->refusal < REDACT__COUNT)
		metric_inc(&l->refused[res->refusal]);
	for (i = 0; res->refusal == REDACT_OK && res->hits != NULL &&
	     l->by_rule != NULL && i < n;
	     i++)
		metric_add(l->by_rule[i], (double)res->hits[i]);
	if (res->applied || res->refusal != REDACT_OK)
		metric_observe(&l->seconds,
		    (double)(t1.tv_sec - t0->tv_sec) +
			(double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
}

/* see redact.h */
struct redact_live *
redact_live_new(const struct redact_live_conf *c, struct redact_rules *rules)
{
	struct redact_live *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		redact_rules_free(rules);
		return NULL;
	}
	l->c = *c;
	l->rules = rules;
	metrics_init_all(l);
	metrics_follow(l);
	return l;
}

/* see redact.h */
void
redact_live_free(struct redact_live *l)
{
	if (l == NULL)
		return;
	redact_rules_free(l->rules);
	free(l->by_rule);
	free(l);
}

/* see redact.h */
void
redact_live_set(struct redact_live *l, struct redact_rules *rules)
{
	redact_rules_free(l->rules);
	l->rules = rules;
	metrics_follow(l);
}

/* see redact.h */
bool
redact_live_requests(const struct redact_live *l)
{
	return l->c.requests;
}

/*
 * Every field called name, joined by ", " and NUL-terminated in buf
 * (truncated to fit); returns how many fields have that name.
 */
static size_t
field_value(const struct http_header *f, size_t n, const char *name, char *buf,
    size_t size)
{
	size_t i, found = 0, len = strlen(name), o = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (f[i].name_len != len ||
		    strncasecmp(f[i].name, name, len) != 0)
			continue;
		if (found++ > 0 && o + 2 < size) {
			memcpy(buf + o, ", ", 2);
			o += 2;
		}
		o += (size_t)snprintf(buf + o, size - o, "%.*s",
		    (int)MIN(f[i].value_len, size - o - 1), f[i].value);
		o = MIN(o, size - 1);
	}
	return found;
}

static enum redact_refusal
refuse(struct redact_result *res, enum redact_refusal why, const char *detail)
{
	memset(res, 0, sizeof(*res));
	res->refusal = why;
	snprintf(res->detail, sizeof(res->detail), "%s", detail);
	return why;
}

static enum redact_refusal
apply(struct redact_live *l, struct redact_input *in, const uint8_t *body,
    size_t len, struct redact_result *res)
{
	struct timespec t0;

	memset(res, 0, sizeof(*res));
	if (len == 0)
		return REDACT_OK; /* nothing to redact, nothing to leak */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	in->binary_pass = l->c.binary_pass;
	in->max_out = l->c.max_out;
	in->max_decoded = l->c.max_decoded;
	if (l->rules == NULL)
		refuse(res, REDACT_RULES,
		    "the rules file changed and is invalid; stopping");
	else
		redact_apply(l->rules, in, body, len, res);
	observe(l, res, &t0);
	return res->refusal;
}

/* see redact.h */
bool
redact_live_covers(const struct redact_live *l, const char *host)
{
	return l->rules == NULL || redact_rules_cover(l->rules, host);
}

/* see redact.h */
enum redact_refusal
redact_live_response(struct redact_live *l, const char *host, int status,
    const struct http_header *fields, size_t nfields, const uint8_t *body,
    size_t len, struct redact_result *res)
{
	char ct[128], ce[64];
	struct redact_input in = {.host = host, .status = status};

	/* Several fields: a type nobody can tell (refused as binary), an
	 * encoding that is not one (refused), when a rule targets the host. */
	if (field_value(fields, nfields, "content-type", ct, sizeof(ct)) > 1)
		snprintf(ct, sizeof(ct), "(several Content-Type fields)");
	field_value(fields, nfields, "content-encoding", ce, sizeof(ce));
	in.content_type = ct[0] ? ct : NULL;
	in.content_encoding = ce;
	return apply(l, &in, body, len, res);
}

/* see redact.h */
enum redact_refusal
redact_live_request(struct redact_live *l, const char *host,
    const char *content_type, const char *content_encoding, const uint8_t *body,
    size_t len, struct redact_result *res)
{
	struct redact_input in = {.host = host,
	    .content_type = content_type,
	    .content_encoding = content_encoding};

	return apply(l, &in, body, len, res);
}
