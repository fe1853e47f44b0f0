/*
 * Unit tests: the OTLP exporter's pure parts — the key=value list reader
 * (cfg_otel_kv_parse), the OTLP JSON mapping, the endpoint rules, the
 * bounded queues (drop the oldest, count the items) and the reader of the
 * collector's answer (otel_resp: whole, bounded, reusable or not).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "cfg/cfg_int.h"
#include "lib/buf.h"
#include "lib/metrics.h"
#include "otel/otel_int.h"
#include "proto/opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"

struct kv_seen {
	char out[512];
	size_t n;
};

static bool
collect(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct kv_seen *s = arg;
	struct buf b;

	assert_int_equal(strlen(k), klen);
	assert_int_equal(strlen(v), vlen);
	buf_init(
	    &b, s->out + strlen(s->out), sizeof(s->out) - strlen(s->out) - 1);
	buf_printf(&b, "[%s|%s]", k, v);
	b.p[b.len] = '\0';
	s->n++;
	return true;
}

static int
parse(const char *s, struct kv_seen *seen)
{
	char *scratch = malloc(strlen(s) + 2);
	int r;

	memset(seen, 0, sizeof(*seen));
	r = cfg_otel_kv_parse(s, scratch, collect, seen);
	free(scratch);
	return r;
}

static void
kv_lists(void **state)
{
	struct kv_seen s;

	(void)state;
	assert_int_equal(parse("a=b", &s), 0);
	assert_string_equal(s.out, "[a|b]");
	assert_int_equal(parse(" team = net%20ops , x=%2C%3D,e=", &s), 0);
	assert_string_equal(s.out, "[team|net ops][x|,=][e|]");
	/* The position of the first bad entry; nothing called past it. */
	assert_int_equal(parse("a=b,broken,c=d", &s), 2);
	assert_int_equal(s.n, 1);
	assert_int_equal(parse("a=%zz", &s), 1);
	assert_int_equal(parse("a=%4", &s), 1);
	assert_int_equal(parse("=v", &s), 1);
	assert_int_equal(parse("k y=v", &s), 1);
	assert_int_equal(parse("", &s), 1);
	assert_int_equal(parse("a=b,", &s), 2);
	/* Decoded control bytes pass the reader; headers refuse them. */
	assert_int_equal(parse("x=a%0D%0Ab", &s), 0);
	assert_int_equal(cfg_otel_kv_check("x=a%0D%0Ab", true), 1);
	assert_int_equal(cfg_otel_kv_check("x=a%0D%0Ab", false), 0);
	assert_int_equal(cfg_otel_kv_check("x=a%09b", true), 0);
}

static void
json_mapping(void **state)
{
	Opentelemetry__Proto__Logs__V1__LogRecord
	    rec = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT,
	    *recp = &rec;
	Opentelemetry__Proto__Logs__V1__ScopeLogs
	    sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT,
	    *slp = &sl;
	Opentelemetry__Proto__Logs__V1__ResourceLogs
	    rl = OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT,
	    *rlp = &rl;
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Common__V1__AnyValue body =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	uint8_t tid[16] = {0xab, 0x01}, sid[8] = {0xff};
	char mem[1024];
	struct buf b;

	(void)state;
	body.value_case =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	body.string_value = "say \"hi\"\n";
	rec.time_unix_nano = 18446744073709551615u;
	rec.severity_number =
	    OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
	rec.body = &body;
	rec.trace_id = (ProtobufCBinaryData){sizeof(tid), tid};
	rec.span_id = (ProtobufCBinaryData){sizeof(sid), sid};
	sl.n_log_records = 1;
	sl.log_records = &recp;
	rl.n_scope_logs = 1;
	rl.scope_logs = &slp;
	req.n_resource_logs = 1;
	req.resource_logs = &rlp;
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(otel_json_encode(&req.base, &b));
	mem[b.len] = '\0';
	assert_string_equal(mem,
	    "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
	    "\"timeUnixNano\":\"18446744073709551615\","
	    "\"severityNumber\":13,"
	    "\"body\":{\"stringValue\":\"say \\\"hi\\\"\\u000a\"},"
	    "\"traceId\":\"ab010000000000000000000000000000\","
	    "\"spanId\":\"ff00000000000000\"}]}]}]}");
	/* Too small a buffer is reported, never a truncated document. */
	buf_init(&b, mem, 40);
	assert_false(otel_json_encode(&req.base, &b));
}

/* An exporter for 127.0.0.1:9 that never runs its reactor. */
static struct otel *
exporter(
    struct rx_loop *l, struct metrics *reg, struct cfg **c, const char *env1)
{
	char *envp[] = {"OUTPOST_CONFIG=/dev/null", (char *)env1,
	    "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", NULL};
	struct otel_conf oc = {.loop = l, .service_version = "t"};
	static struct cfg_errors errs;
	struct otel *o = NULL;
	char err[256];

	*c = cfg_load(envp, &errs);
	assert_non_null(*c);
	oc.cfg = *c;
	oc.registry = reg;
	assert_int_equal(otel_new(&oc, &o, err, sizeof(err)), 0);
	return o;
}

static void
endpoints(void **state)
{
	struct rx_loop l;
	struct metrics reg;
	struct cfg *c;
	struct otel *o;

	(void)state;
	assert_int_equal(rx_init(&l, 32), 0);
	metrics_init(&reg);
	o = exporter(&l, &reg, &c,
	    "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9/base/");
	assert_non_null(o);
	assert_string_equal(o->ep[OTEL_METRICS].target, "/base/v1/metrics");
	assert_string_equal(o->ep[OTEL_LOGS].target, "/base/v1/logs");
	assert_string_equal(o->ep[OTEL_TRACES].authority, "127.0.0.1:9");
	otel_free(o);
	cfg_free(c);
	metrics_init(&reg);
	o = exporter(&l, &reg, &c,
	    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://[::1]:9/custom/path");
	assert_string_equal(o->ep[OTEL_METRICS].target, "/custom/path");
	assert_string_equal(o->ep[OTEL_METRICS].authority, "[::1]:9");
	assert_true(otel_enabled(o, OTEL_METRICS));
	assert_false(otel_enabled(o, OTEL_LOGS));
	assert_int_equal(otel_submit(o, OTEL_LOGS, "x", 1, 1), -ENOTCONN);
	otel_free(o);
	cfg_free(c);
	/* No endpoint, or disabled: no exporter at all. */
	o = exporter(&l, &reg, &c, "OTEL_SERVICE_NAME=x");
	assert_null(o);
	cfg_free(c);
	o = exporter(&l, &reg, &c, "OTEL_SDK_DISABLED=true");
	assert_null(o);
	cfg_free(c);
	rx_free(&l);
}

static double
dropped(struct otel *o, enum otel_signal s)
{
	return o->m_dropped[s].value;
}

static void
queue_drops_oldest(void **state)
{
	static uint8_t big[OTEL_QUEUE_BYTES / 2];
	struct rx_loop l;
	struct metrics reg;
	struct cfg *c;
	struct otel *o;
	size_t i;

	(void)state;
	assert_int_equal(rx_init(&l, 32), 0);
	metrics_init(&reg);
	o = exporter(
	    &l, &reg, &c, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9");
	/* Full by count: each submit beyond drops the oldest's items. */
	for (i = 0; i < OTEL_QUEUE_MAX + 3; i++)
		assert_int_equal(
		    otel_submit(o, OTEL_TRACES, "ab", 2, 10 + i), 0);
	assert_int_equal(o->q[OTEL_TRACES].n, OTEL_QUEUE_MAX);
	assert_true(dropped(o, OTEL_TRACES) == 10 + 11 + 12);
	assert_int_equal(
	    o->q[OTEL_TRACES].r[o->q[OTEL_TRACES].head].nitems, 13);
	/* Full by bytes. */
	assert_int_equal(otel_submit(o, OTEL_LOGS, big, sizeof(big), 5), 0);
	assert_int_equal(otel_submit(o, OTEL_LOGS, big, sizeof(big), 6), 0);
	assert_true(dropped(o, OTEL_LOGS) == 0);
	assert_int_equal(otel_submit(o, OTEL_LOGS, "x", 1, 7), 0);
	assert_true(dropped(o, OTEL_LOGS) == 5);
	assert_int_equal(o->q[OTEL_LOGS].bytes, sizeof(big) + 1);
	/* Never queued at all: larger than a queue. */
	assert_int_equal(
	    otel_submit(o, OTEL_METRICS, big, (size_t)OTEL_QUEUE_BYTES + 1, 9),
	    -EMSGSIZE);
	assert_true(dropped(o, OTEL_METRICS) == 9);
	otel_free(o);
	cfg_free(c);
	rx_free(&l);
}

/*
 * Feed the answer s (an exact-size heap copy: ASan sees any overread) all
 * at once, or one byte at a time; returns the bytes taken, or -1.
 */
static long
resp_feed(struct otel_resp *r, const char *s, bool bytewise)
{
	size_t n = strlen(s), used = 0;
	uint8_t *p = malloc(n > 0 ? n : 1);
	long k = 0;

	memcpy(p, s, n);
	otel_resp_reset(r);
	while (used < n && r->state != OTEL_RESP_DONE) {
		k = otel_resp_feed(r, p + used, bytewise ? 1 : n - used);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	free(p);
	return k < 0 ? -1 : (long)used;
}

struct resp_case {
	const char *in;
	long taken; /* -1: malformed; -2: strlen(in) */
	int status;
	int64_t idle_ms, retry_ms;
	enum otel_resp_state state;
};

static void
resp_reader(void **state)
{
	static const struct resp_case t[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", -2, 200,
		OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    /* What follows the answer is not taken; it makes the
	     * connection unusable (the exporter's business). */
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}XY", 40, 200,
		OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", -2, 200,
		OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "2\r\n{}\r\n0\r\n\r\n",
		-2, 200, OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    /* Node's http server says "Keep-Alive: timeout=5". */
	    {"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\n"
	     "Content-Length: 0\r\n\r\n",
		-2, 200, OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 200 OK\r\nKeep-Alive: max=9, timeout=3\r\n"
	     "Content-Length: 0\r\n\r\n",
		-2, 200, 2000, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\n"
	     "Content-Length: 0\r\n\r\n",
		-2, 200, 0, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 200 OK\r\nConnection: close\r\n"
	     "Content-Length: 0\r\n\r\n",
		-2, 200, 0, -1, OTEL_RESP_DONE},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", -2, 200, 0, -1,
		OTEL_RESP_DONE},
	    /* Delimited by the close, or too long to read: not reused. */
	    {"HTTP/1.1 200 OK\r\n\r\n", -2, 200, 0, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", -2, 200, 0,
		-1, OTEL_RESP_DONE},
	    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", -2,
		204, OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n",
		-2, 503, OTEL_IDLE_MS, 3000, OTEL_RESP_DONE},
	    {"HTTP/1.1 429 Slow\r\nRetry-After: 9999\r\n"
	     "Content-Length: 0\r\n\r\n",
		-2, 429, OTEL_IDLE_MS, OTEL_RETRY_AFTER_MAX_S * 1000,
		OTEL_RESP_DONE},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2015\r\n"
	     "Content-Length: 0\r\n\r\n",
		-2, 503, OTEL_IDLE_MS, -1, OTEL_RESP_DONE},
	    /* A bad body: the status stands, the connection goes. */
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -1,
		200, 0, -1, OTEL_RESP_DONE},
	    /* Incomplete: more is needed. */
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", -2, 200, 0, -1,
		OTEL_RESP_BODY},
	    {"HTTP/1.1 200 OK\r\nContent-Le", -2, 0, 0, -1, OTEL_RESP_HEAD},
	    {"HTTP/1.1 101 Switching\r\n\r\n", -1, 0, 0, -1, OTEL_RESP_HEAD},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n"
	     "\r\n",
		-1, 0, 0, -1, OTEL_RESP_HEAD},
	    {"SSH-2.0-OpenSSH\r\n\r\n", -1, 0, 0, -1, OTEL_RESP_HEAD},
	};
	struct otel_resp *r = malloc(sizeof(*r));
	size_t i, b;

	(void)state;
	for (i = 0; i < nitems(t); i++)
		for (b = 0; b < 2; b++) {
			long want = t[i].taken == -2 ? (long)strlen(t[i].in)
						     : t[i].taken;

			if (resp_feed(r, t[i].in, b == 1) != want)
				fail_msg("case %zu (%s): took the wrong bytes",
				    i, b ? "bytewise" : "at once");
			assert_int_equal(r->state, t[i].state);
			assert_int_equal(r->status, t[i].status);
			if (r->state == OTEL_RESP_DONE)
				assert_int_equal(r->idle_ms, t[i].idle_ms);
			assert_int_equal(r->retry_ms, t[i].retry_ms);
		}
	free(r);
}

static void
resp_bounds(void **state)
{
	struct otel_resp *r = malloc(sizeof(*r));
	char *big = malloc(2 * OTEL_RESP_MAX);

	(void)state;
	/* A head longer than OTEL_RESP_MAX is refused, not grown. */
	memset(big, 'a', 2 * OTEL_RESP_MAX - 1);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	big[2 * OTEL_RESP_MAX - 1] = '\0';
	assert_int_equal(resp_feed(r, big, false), -1);
	/* The end of the connection: a status with a cut body stands. */
	assert_int_equal(
	    resp_feed(
		r, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", false),
	    40);
	otel_resp_eof(r);
	assert_int_equal(r->state, OTEL_RESP_DONE);
	assert_int_equal(r->idle_ms, 0);
	/* No status yet: still nothing to go on. */
	resp_feed(r, "HTTP/1.1 2", false);
	otel_resp_eof(r);
	assert_int_equal(r->state, OTEL_RESP_HEAD);
	/* A chunked body over OTEL_RESP_BODY_MAX ends the answer. */
	assert_int_equal(resp_feed(r,
			     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
			     "\r\n\r\nfffff\r\n",
			     false),
	    -1);
	assert_int_equal(r->status, 200);
	assert_int_equal(r->state, OTEL_RESP_DONE);
	assert_int_equal(r->idle_ms, 0);
	free(big);
	free(r);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kv_lists),
	    cmocka_unit_test(json_mapping),
	    cmocka_unit_test(endpoints),
	    cmocka_unit_test(queue_drops_oldest),
	    cmocka_unit_test(resp_reader),
	    cmocka_unit_test(resp_bounds),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name("otel", tests, NULL, NULL);
}
