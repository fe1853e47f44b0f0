/*
 * Unit tests: the metrics registry's Prometheus text rendering (the
 * integration test parses the real /metrics with prometheus_client).
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

static void
render_all_types(void **state)
{
	static const double bounds[] = {0.1, 1};
	uint64_t buckets[2] = {0};
	struct metric_family c, g, h;
	struct metric c1, c2, g1, h1;
	struct metrics r;
	char mem[2048];
	struct buf b;

	metrics_init(&r);
	metric_family_init(
	    &c, "x_requests_total", "Requests.", METRIC_COUNTER, NULL, NULL);
	metric_init(&c1, "code=\"200\"", NULL, NULL, 0);
	metric_init(&c2, "code=\"404\"", NULL, NULL, 0);
	metric_family_add(&c, &c1);
	metric_family_add(&c, &c2);
	metrics_add(&r, &c);
	metric_family_init(
	    &g, "x_gauge", "A gauge.", METRIC_GAUGE, collect, NULL);
	metric_init(&g1, NULL, NULL, NULL, 0);
	metric_family_add(&g, &g1);
	metrics_add(&r, &g);
	metric_family_init(
	    &h, "x_seconds", "Latency.", METRIC_HISTOGRAM, NULL, NULL);
	metric_init(&h1, "path=\"/a\"", bounds, buckets, 2);
	metric_family_add(&h, &h1);
	metrics_add(&r, &h);

	metric_inc(&c1);
	metric_add(&c1, 2);
	metric_observe(&h1, 0.05);
	metric_observe(&h1, 0.5);
	metric_observe(&h1, 7);
	buf_init(&b, mem, sizeof(mem) - 1);
	assert_true(metrics_render(&r, &b));
	mem[b.len] = '\0';
	assert_int_equal(collected, 1);
	assert_string_equal(mem,
	    "# HELP x_requests_total Requests.\n"
	    "# TYPE x_requests_total counter\n"
	    "x_requests_total{code=\"200\"} 3\n"
	    "x_requests_total{code=\"404\"} 0\n"
	    "# HELP x_gauge A gauge.\n"
	    "# TYPE x_gauge gauge\n"
	    "x_gauge 42\n"
	    "# HELP x_seconds Latency.\n"
	    "# TYPE x_seconds histogram\n"
	    "x_seconds_bucket{path=\"/a\",le=\"0.1\"} 1\n"
	    "x_seconds_bucket{path=\"/a\",le=\"1\"} 2\n"
	    "x_seconds_bucket{path=\"/a\",le=\"+Inf\"} 3\n"
	    "x_seconds_sum{path=\"/a\"} 7.55\n"
	    "x_seconds_count{path=\"/a\"} 3\n");
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
	assert_true(metrics_render(&r, &b));
	mem[b.len] = '\0';
	assert_non_null(strstr(mem, "y +Inf\n"));
	buf_init(&b, mem, 10);
	assert_false(metrics_render(&r, &b));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(render_all_types),
	    cmocka_unit_test(render_special_and_overflow),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
