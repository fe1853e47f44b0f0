/* Unit tests: reconnect backoff and the process-wide dial budget. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include "connector/backoff.h"

static void
backoff_within_bounds(void **state)
{
	struct backoff b;
	int64_t d, hi;
	unsigned n;
	uint32_t r;

	for (r = 0; r < 1000; r += 7) {
		backoff_init(&b, 5000, 60000);
		hi = 5000;
		for (n = 0; n < 20; n++) {
			d = backoff_next(&b, r * 2654435761u);
			assert_true(d >= 5000);
			assert_true(d <= hi);
			hi = hi * 2 > 60000 ? 60000 : hi * 2;
		}
	}
}

static void
backoff_first_is_base_and_reset(void **state)
{
	struct backoff b;

	backoff_init(&b, 100, 1000);
	assert_int_equal(backoff_next(&b, 12345), 100);
	assert_int_equal(backoff_next(&b, 0xffffffffu) <= 200, 1);
	backoff_next(&b, 1);
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b, 999), 100);
}

static void
backoff_reaches_cap(void **state)
{
	struct backoff b;
	int64_t max = 0, d;
	uint32_t r;

	backoff_init(&b, 1000, 8000);
	for (r = 0; r < 10; r++)
		backoff_next(&b, 0);
	for (r = 0; r < 20000; r++) {
		d = backoff_next(&b, r);
		max = d > max ? d : max;
		assert_true(d <= 8000);
	}
	assert_int_equal(max, 8000);
}

static void
backoff_cap_below_base(void **state)
{
	struct backoff b;

	backoff_init(&b, 5000, 1000);
	assert_int_equal(backoff_next(&b, 77), 5000);
	assert_int_equal(backoff_next(&b, 77), 5000);
}

static void
budget_burst_then_refill(void **state)
{
	struct budget b;
	int i;

	budget_init(&b, 30, 0);
	for (i = 0; i < 30; i++)
		assert_int_equal(budget_take(&b, 0), 0);
	/* Empty: one token per 2000 ms at 30/minute. */
	assert_int_equal(budget_take(&b, 0), 2000);
	assert_int_equal(budget_take(&b, 1500), 500);
	assert_int_equal(budget_take(&b, 2000), 0);
	assert_int_equal(budget_take(&b, 2000), 2000);
}

/* A long quiet spell does not save up more than one minute of dials. */
static void
budget_idle_does_not_accumulate(void **state)
{
	struct budget b;
	int granted = 0, i;

	budget_init(&b, 10, 0);
	for (i = 0; i < 100; i++)
		if (budget_take(&b, 600000) == 0)
			granted++;
	assert_int_equal(granted, 10);
}

/* Many slots hammering for a simulated hour never exceed the bound. */
static void
budget_bounds_a_storm(void **state)
{
	struct budget b;
	int64_t now, granted = 0;

	budget_init(&b, 12, 0);
	for (now = 0; now <= 3600000; now += 10)
		for (int slot = 0; slot < 8; slot++)
			if (budget_take(&b, now) == 0)
				granted++;
	assert_true(granted <= 12 + 12 * 60);
	assert_true(granted >= 12 * 60);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(backoff_within_bounds),
	    cmocka_unit_test(backoff_first_is_base_and_reset),
	    cmocka_unit_test(backoff_reaches_cap),
	    cmocka_unit_test(backoff_cap_below_base),
	    cmocka_unit_test(budget_burst_then_refill),
	    cmocka_unit_test(budget_idle_does_not_accumulate),
	    cmocka_unit_test(budget_bounds_a_storm),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
