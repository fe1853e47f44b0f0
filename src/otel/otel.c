/* The exporter's life cycle and its per-signal queues. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg/cfg.h"
#include "lib/log.h"
#include "lib/util.h"
#include "otel/otel_int.h"

static const char *const signal_names[] = {"metrics", "traces", "logs"};

/* see otel_int.h */
const char *
otel_signal_name(enum otel_signal s)
{
	return signal_names[s];
}

static void
add_families(struct otel *o, struct metrics *r)
{
	static const char *const dropped[] = {
	    "signal=\"metrics\"", "signal=\"traces\"", "signal=\"logs\""};
	static const char *const exports[OTEL_SIGNALS][OTEL_R_N] = {
	    {"signal=\"metrics\",result=\"ok\"",
		"signal=\"metrics\",result=\"retry\"",
		"signal=\"metrics\",result=\"rejected\""},
	    {"signal=\"traces\",result=\"ok\"",
		"signal=\"traces\",result=\"retry\"",
		"signal=\"traces\",result=\"rejected\""},
	    {"signal=\"logs\",result=\"ok\"",
		"signal=\"logs\",result=\"retry\"",
		"signal=\"logs\",result=\"rejected\""}};
	size_t s, k;

	metrics_add_family(r, &o->f_dropped, "outpost_otlp_dropped_total",
	    "Telemetry items (data points, log records, spans) dropped before "
	    "a collector accepted them.",
	    METRIC_COUNTER, NULL, NULL);
	metrics_add_family(r, &o->f_exports, "outpost_otlp_exports_total",
	    "OTLP export attempts by outcome (retry: failed, to be tried "
	    "again; rejected: dropped).",
	    METRIC_COUNTER, NULL, NULL);
	for (s = 0; s < OTEL_SIGNALS; s++) {
		metric_family_add_series(
		    &o->f_dropped, &o->m_dropped[s], dropped[s]);
		for (k = 0; k < OTEL_R_N; k++)
			metric_family_add_series(
			    &o->f_exports, &o->m_exports[s][k], exports[s][k]);
	}
}

static int
start_dns(struct otel *o, const struct otel_conf *c, char *err, size_t errlen)
{
	struct dns_config dc = {.servers = cfg_str(c->cfg, CFG_DNS_SERVERS)};

	if (dns_new(&o->own_dns, o->loop, &dc, err, errlen) < 0)
		return -1;
	o->dns = o->own_dns;
	return 0;
}

/* see otel.h */
int
otel_new(const struct otel_conf *c, struct otel **out, char *err, size_t errlen)
{
	struct otel *o;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		snprintf(err, errlen, "OTLP exporter: out of memory");
		return -1;
	}
	o->loop = c->loop;
	o->dns = c->dns;
	o->start_ns = otel_now_ns();
	if (otel_conf_load(o, c, err, errlen) < 0 ||
	    otel_resource_init(o, c, err, errlen) < 0) {
		otel_free(o);
		return -1;
	}
	if (!o->ep[OTEL_METRICS].on && !o->ep[OTEL_TRACES].on &&
	    !o->ep[OTEL_LOGS].on) {
		otel_free(o);
		return 0;
	}
	if (o->dns == NULL && start_dns(o, c, err, errlen) < 0) {
		otel_free(o);
		return -1;
	}
	if (otel_export_init(o) < 0) {
		snprintf(err, errlen, "OTLP exporter: out of memory");
		otel_free(o);
		return -1;
	}
	log_info("otlp: exporting%s%s%s (%s)",
	    o->ep[OTEL_METRICS].on ? " metrics" : "",
	    o->ep[OTEL_LOGS].on ? " logs" : "",
	    o->ep[OTEL_TRACES].on ? " traces" : "",
	    o->proto == OTEL_JSON ? "http/json" : "http/protobuf");
	if (c->registry != NULL)
		add_families(o, c->registry);
	if (o->ep[OTEL_METRICS].on && c->registry != NULL) {
		o->registry = c->registry;
		otel_metrics_start(o);
	}
	if (o->ep[OTEL_LOGS].on && otel_logs_start(o) < 0) {
		snprintf(err, errlen, "OTLP exporter: out of memory");
		otel_free(o);
		return -1;
	}
	*out = o;
	return 0;
}

static void
req_free(struct otel_req *r)
{
	free(r->body);
	*r = (struct otel_req){0};
}

static void drop_oldest(struct otel *o, enum otel_signal s);

/* What no collector took by the end: dropped, counted and said. */
static void
drop_unsent(struct otel *o)
{
	size_t s, n[OTEL_SIGNALS] = {0};

	if (o->have_cur) {
		n[o->sig] += o->cur.nitems;
		otel_count_dropped(o, o->sig, o->cur.nitems);
	}
	req_free(&o->cur);
	for (s = 0; s < OTEL_SIGNALS; s++)
		while (o->q[s].n > 0) {
			n[s] += o->q[s].r[o->q[s].head].nitems;
			drop_oldest(o, (enum otel_signal)s);
		}
	if (n[OTEL_METRICS] + n[OTEL_TRACES] + n[OTEL_LOGS] > 0)
		log_warn("otlp: stopping with %zu spans, %zu log records and "
			 "%zu data points not exported: dropped",
		    n[OTEL_TRACES], n[OTEL_LOGS], n[OTEL_METRICS]);
}

/* see otel.h */
void
otel_free(struct otel *o)
{
	if (o == NULL)
		return;
	otel_logs_stop(o);
	otel_metrics_stop(o);
	otel_export_stop(o);
	drop_unsent(o);
	otel_resource_free(o);
	otel_conf_free(o);
	if (o->own_dns != NULL)
		dns_free(o->own_dns);
	free(o);
}

/* see otel.h */
bool
otel_enabled(const struct otel *o, enum otel_signal s)
{
	return o != NULL && o->ep[s].on;
}

/* see otel.h */
enum otel_protocol
otel_protocol(const struct otel *o)
{
	return o->proto;
}

/* see otel.h */
Opentelemetry__Proto__Resource__V1__Resource *
otel_resource(struct otel *o)
{
	return &o->r.res;
}

/* see otel.h */
Opentelemetry__Proto__Common__V1__InstrumentationScope *
otel_scope(struct otel *o)
{
	return &o->r.scope;
}

/* see otel.h */
void
otel_count_dropped(struct otel *o, enum otel_signal s, size_t n)
{
	metric_add(&o->m_dropped[s], (double)n);
}

/* Drop the oldest request of q, counting its items. */
static void
drop_oldest(struct otel *o, enum otel_signal s)
{
	struct otel_queue *q = &o->q[s];
	struct otel_req *r = &q->r[q->head];

	otel_count_dropped(o, s, r->nitems);
	q->bytes -= r->len;
	req_free(r);
	q->head = (q->head + 1) % OTEL_QUEUE_MAX;
	q->n--;
}

/* Queue body (taken over); the oldest make room. */
static void
enqueue(struct otel *o, enum otel_signal s, uint8_t *body, size_t len,
    size_t nitems)
{
	struct otel_queue *q = &o->q[s];

	while (q->n > 0 &&
	    (q->n == OTEL_QUEUE_MAX || q->bytes + len > OTEL_QUEUE_BYTES))
		drop_oldest(o, s);
	q->r[(q->head + q->n) % OTEL_QUEUE_MAX] =
	    (struct otel_req){.body = body, .len = len, .nitems = nitems};
	q->n++;
	q->bytes += len;
	otel_export_kick(o);
}

/* see otel.h */
int
otel_submit_take(struct otel *o, enum otel_signal s, uint8_t *body, size_t len,
    size_t nitems)
{
	if (!otel_enabled(o, s)) {
		free(body);
		return -ENOTCONN;
	}
	if (len > OTEL_QUEUE_BYTES) {
		free(body);
		otel_count_dropped(o, s, nitems);
		return -EMSGSIZE;
	}
	enqueue(o, s, body, len, nitems);
	return 0;
}

/* see otel.h */
int
otel_submit(struct otel *o, enum otel_signal s, const void *body, size_t len,
    size_t nitems)
{
	uint8_t *p;

	if (!otel_enabled(o, s))
		return -ENOTCONN;
	if (len > OTEL_QUEUE_BYTES) {
		otel_count_dropped(o, s, nitems);
		return -EMSGSIZE;
	}
	p = malloc(len > 0 ? len : 1);
	if (p == NULL) {
		otel_count_dropped(o, s, nitems);
		return -ENOMEM;
	}
	memcpy(p, body, len);
	return otel_submit_take(o, s, p, len, nitems);
}

/* JSON: grow the buffer until the message fits (OTEL_QUEUE_BYTES). */
static uint8_t *
encode_json(const ProtobufCMessage *req, size_t hint, size_t *len)
{
	size_t cap = 4 * hint + 4096;
	struct buf b;
	uint8_t *p;

	for (;; cap *= 2) {
		if (cap > OTEL_QUEUE_BYTES)
			cap = OTEL_QUEUE_BYTES;
		if ((p = malloc(cap)) == NULL)
			return NULL;
		buf_init(&b, p, cap);
		if (otel_json_encode(req, &b)) {
			*len = b.len;
			return p;
		}
		free(p);
		if (cap == OTEL_QUEUE_BYTES)
			return NULL;
	}
}

/* see otel.h */
int
otel_submit_msg(struct otel *o, enum otel_signal s, const ProtobufCMessage *req,
    size_t nitems)
{
	size_t len = 0, packed;
	uint8_t *p;

	if (!otel_enabled(o, s))
		return -ENOTCONN;
	packed = protobuf_c_message_get_packed_size(req);
	if (o->proto == OTEL_JSON) {
		p = encode_json(req, packed, &len);
	} else if (packed <= OTEL_QUEUE_BYTES &&
	    (p = malloc(packed > 0 ? packed : 1)) != NULL) {
		len = protobuf_c_message_pack(req, p);
	} else {
		p = NULL;
	}
	if (p == NULL) {
		otel_count_dropped(o, s, nitems);
		return packed > OTEL_QUEUE_BYTES ? -EMSGSIZE : -ENOMEM;
	}
	enqueue(o, s, p, len, nitems);
	return 0;
}

/* see otel.h */
uint64_t
otel_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* see otel.h */
uint64_t
otel_start_ns(const struct otel *o)
{
	return o->start_ns;
}
