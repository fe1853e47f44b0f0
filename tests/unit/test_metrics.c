/*
 * Unit tests: the metrics registry's Prometheus text and OpenMetrics
 * rendering and the Accept negotiation (the integration tests parse the
 * real /metrics with prometheus_client, promtool and a Prometheus server).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/metrics.h"

static int collected;

static void
collect(struct metric_family *f, void *arg)
{
	collected++;
	metric_set(list_entry(f->series.next, struct metric, node), 42);
}

/* A registry of every type, with values set; the caller's storage. */
struct fixture {
	uint64_t buckets[2];
	struct metric_family c, g, h, i;
	struct metric c1, c2, g1, h1, i1;
	struct metrics r;
};

static void
fixture_init(struct fixture *x)
{
	static const double bounds[] = {0.1, 1};

	*x = (struct fixture){0};
	metrics_init(&x->r);
	metric_family_init(&x->c, "x_requests_total", "Requests \"all\".",
	    METRIC_COUNTER, NULL, NULL);
	metric_init(&x->c1, "code=\"200\"", NULL, NULL, 0);
	metric_init(&x->c2, "code=\"404\"", NULL, NULL, 0);
	metric_family_add(&x->c, &x->c1);
	metric_family_add(&x->c, &x->c2);
	metrics_add(&x->r, &x->c);
	metric_family_init(
	    &x->g, "x_gauge", "A gauge.", METRIC_GAUGE, collect, NULL);
	metric_init(&x->g1, NULL, NULL, NULL, 0);
	metric_family_add(&x->g, &x->g1);
	metrics_add(&x->r, &x->g);
	metric_family_init(
	    &x->h, "x_seconds", "Latency.", METRIC_HISTOGRAM, NULL, NULL);
	metric_init(&x->h1, "path=\"/a\"", bounds, x->buckets, 2);
	metric_family_add(&x->h, &x->h1);
	metrics_add(&x->r, &x->h);
	metric_family_init(
	    &x->i, "x_build_info", "Build.", METRIC_INFO, NULL, NULL);
	metric_init(&x->i1, "version=\"1\"", NULL, NULL, 0);
	metric_set(&x->i1, 1);
	metric_family_add(&x->i, &x->i1);
	metrics_add(&x->r, &x->i);
	metric_inc(&x->c1);
	metric_add(&x->c1, 2);
	metric_observe(&x->h1, 0.05);
	metric_observe(&x->h1, 0.5);
	metric_observe(&x->h1, 7);
}

static void
render_all_types(void **state)
{
	struct fixture x;
	char mem[2048];
	struct buf b;

	fixture_init(&x);
	collected = 0;
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(metrics_render(&x.r, METRICS_PROMETHEUS, &b));
	mem[b.len] = '\0';
	assert_int_equal(collected, 1);
	assert_string_equal(mem,
	    "# TYPE x_requests_total counter\n"
	    "# HELP x_requests_total Requests \"all\".\n"
	    "x_requests_total{code=\"200\"} 3\n"
	    "x_requests_total{code=\"404\"} 0\n"
	    "# TYPE x_gauge gauge\n"
	    "# HELP x_gauge A gauge.\n"
	    "x_gauge 42\n"
	    "# TYPE x_seconds histogram\n"
	    "# HELP x_seconds Latency.\n"
	    "x_seconds_bucket{path=\"/a\",le=\"0.1\"} 1\n"
	    "x_seconds_bucket{path=\"/a\",le=\"1\"} 2\n"
	    "x_seconds_bucket{path=\"/a\",le=\"+Inf\"} 3\n"
	    "x_seconds_sum{path=\"/a\"} 7.55\n"
	    "x_seconds_count{path=\"/a\"} 3\n"
	    "# TYPE x_build_info gauge\n"
	    "# HELP x_build_info Build.\n"
	    "x_build_info{version=\"1\"} 1\n");
}

static void
render_openmetrics(void **state)
{
	struct fixture x;
	char mem[2048];
	struct buf b;

	fixture_init(&x);
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(metrics_render(&x.r, METRICS_OPENMETRICS, &b));
	mem[b.len] = '\0';
	assert_string_equal(mem,
	    "# TYPE x_requests counter\n"
	    "# HELP x_requests Requests \\\"all\\\".\n"
	    "x_requests_total{code=\"200\"} 3\n"
	    "x_requests_total{code=\"404\"} 0\n"
	    "# TYPE x_gauge gauge\n"
	    "# HELP x_gauge A gauge.\n"
	    "x_gauge 42\n"
	    "# TYPE x_seconds histogram\n"
	    "# UNIT x_seconds seconds\n"
	    "# HELP x_seconds Latency.\n"
	    "x_seconds_bucket{path=\"/a\",le=\"0.1\"} 1\n"
	    "x_seconds_bucket{path=\"/a\",le=\"1.0\"} 2\n"
	    "x_seconds_bucket{path=\"/a\",le=\"+Inf\"} 3\n"
	    "x_seconds_sum{path=\"/a\"} 7.55\n"
	    "x_seconds_count{path=\"/a\"} 3\n"
	    "# TYPE x_build info\n"
	    "# HELP x_build Build.\n"
	    "x_build_info{version=\"1\"} 1\n"
	    "# EOF\n");
}

static enum metrics_format
neg(const char *accept)
{
	return metrics_negotiate(accept, accept != NULL ? strlen(accept) : 0);
}

static void
negotiate(void **state)
{
	/* What Prometheus 2.x sends. */
	assert_int_equal(neg("application/openmetrics-text;version=1.0.0,"
			     "application/openmetrics-text;version=0.0.1;"
			     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
	    METRICS_OPENMETRICS);
	assert_int_equal(neg(NULL), METRICS_PROMETHEUS);
	assert_int_equal(neg(""), METRICS_PROMETHEUS);
	assert_int_equal(neg("*/*"), METRICS_PROMETHEUS);
	assert_int_equal(
	    neg("application/openmetrics-text"), METRICS_OPENMETRICS);
	assert_int_equal(
	    neg(" Application/OpenMetrics-Text ; Version=\"1.0.0\""),
	    METRICS_OPENMETRICS);
	/* The higher q wins, the earlier on a tie. */
	assert_int_equal(neg("text/plain;q=0.5, application/openmetrics-text"),
	    METRICS_OPENMETRICS);
	assert_int_equal(neg("application/openmetrics-text;q=0.4,text/plain"),
	    METRICS_PROMETHEUS);
	assert_int_equal(neg("text/plain, application/openmetrics-text"),
	    METRICS_PROMETHEUS);
	/* q=0, an unknown version or a malformed q is not acceptable. */
	assert_int_equal(
	    neg("application/openmetrics-text;q=0, text/plain;q=0.1"),
	    METRICS_PROMETHEUS);
	assert_int_equal(
	    neg("application/openmetrics-text;version=9.9.9,text/plain;q=0.1"),
	    METRICS_PROMETHEUS);
	assert_int_equal(
	    neg("application/openmetrics-text;q=2,text/plain;q=0.1"),
	    METRICS_PROMETHEUS);
	assert_int_equal(neg("application/json"), METRICS_PROMETHEUS);
	assert_string_equal(metrics_content_type(METRICS_OPENMETRICS),
	    "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

static void
render_special_and_overflow(void **state)
{
	struct metric_family g;
	struct metric g1;
	struct metrics r;
	char mem[64];
	struct buf b;

	metrics_init(&r);
	metric_family_init(&g, "y", "Y.", METRIC_GAUGE, NULL, NULL);
	metric_init(&g1, NULL, NULL, NULL, 0);
	metric_family_add(&g, &g1);
	metrics_add(&r, &g);
	metric_set(&g1, INFINITY);
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(metrics_render(&r, METRICS_PROMETHEUS, &b));
	mem[b.len] = '\0';
	assert_non_null(strstr(mem, "y +Inf\n"));
	buf_init(&b, mem, 10);
	assert_false(metrics_render(&r, METRICS_PROMETHEUS, &b));
}

/* Exemplars: the latest traced observation per bucket, OpenMetrics only. */
static void
render_exemplars(void **state)
{
	static const double bounds[] = {0.1, 1};
	static const char tid[] = "0af7651916cd43dd8448eb211c80319c";
	struct metric_exemplar ex[3] = {0};
	uint64_t buckets[2] = {0};
	struct metric_family f;
	struct metrics r;
	struct metric m;
	char mem[2048], *line;
	struct buf b;

	metrics_init(&r);
	metric_family_init(&f, "x_seconds", "L.", METRIC_HISTOGRAM, NULL, NULL);
	metric_init(&m, NULL, bounds, buckets, 2);
	metric_set_exemplars(&m, ex);
	metric_family_add(&f, &m);
	metrics_add(&r, &f);
	metric_observe_traced(&m, 0.5, "1111", "22"); /* replaced below */
	metric_observe_traced(&m, 0.25, tid, "b7ad6b7169203331");
	metric_observe_traced(&m, 7, NULL, NULL); /* untraced: none */
	metric_observe(&m, 0.05);
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(metrics_render(&r, METRICS_OPENMETRICS, &b));
	mem[b.len] = '\0';
	assert_non_null(strstr(mem, "x_seconds_bucket{le=\"0.1\"} 1\n"));
	line = strstr(mem,
	    "x_seconds_bucket{le=\"1.0\"} 3 # "
	    "{trace_id=\"0af7651916cd43dd8448eb211c80319c\","
	    "span_id=\"b7ad6b7169203331\"} 0.25 ");
	assert_non_null(line);
	assert_non_null(strstr(mem, "x_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_null(strstr(mem, "1111"));
	assert_true(ex[1].when > 1.7e9);
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(metrics_render(&r, METRICS_PROMETHEUS, &b));
	mem[b.len] = '\0';
	assert_null(strstr(mem, tid));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(render_all_types),
	    cmocka_unit_test(render_openmetrics),
	    cmocka_unit_test(render_exemplars),
	    cmocka_unit_test(negotiate),
	    cmocka_unit_test(render_special_and_overflow),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
