/*
 * Unit tests for lib/rebootpol.h (UPDATE_REBOOT): the parser, and the
 * decision whether a reboot may happen now or how long until it may.
 * Usage: test_lib_rebootpol [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <string.h>

#include "lib/rebootpol.h"

#define H (60 * 60)
#define DAY (24 * H)
/* 2026-12-02 00:00:00 UTC */
#define MIDNIGHT 1796169600LL

static void
parses_modes_and_windows(void **state)
{
	struct rebootpol p;
	char err[128];

	(void)state;
	assert_int_equal(rebootpol_parse("now", &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, REBOOTPOL_NOW);
	assert_int_equal(rebootpol_parse("manual", &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, REBOOTPOL_MANUAL);
	assert_int_equal(
	    rebootpol_parse("03:00-04:30", &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, REBOOTPOL_WINDOW);
	assert_int_equal(p.start, 180);
	assert_int_equal(p.end, 270);
	assert_int_equal(
	    rebootpol_parse("23:59-00:00", &p, err, sizeof(err)), 0);
	assert_int_equal(p.start, 1439);
	assert_int_equal(p.end, 0);
}

static void
refuses_malformed(void **state)
{
	static const char *bad[] = {"", "Now", "now ", "never", "3:00-04:00",
	    "03:00-4:00", "03:00 04:00", "03:00-04:00 ", "24:00-01:00",
	    "03:60-04:00", "03:00-04:0x", "0300-0400", "03:00-", "-03:00",
	    "03:00-04:00-05:00", "+3:00-04:00", "03:00\x00-04:00"};
	struct rebootpol p;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rebootpol_parse(bad[i], &p, err, sizeof(err)) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_string_equal(
		    err, "not now, manual or a daily UTC window HH:MM-HH:MM");
	}
	assert_int_equal(
	    rebootpol_parse("04:00-04:00", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "starts where it ends"));
}

static int64_t
wait_at(const char *spec, int64_t t)
{
	struct rebootpol p;
	char err[128];

	assert_int_equal(rebootpol_parse(spec, &p, err, sizeof(err)), 0);
	return rebootpol_wait(&p, t);
}

static void
decides_now_later_or_never(void **state)
{
	(void)state;
	assert_int_equal(wait_at("now", MIDNIGHT + 5), 0);
	assert_int_equal(wait_at("manual", MIDNIGHT + 5), -1);
	/* Inside: start included, end excluded. */
	assert_int_equal(wait_at("03:00-04:00", MIDNIGHT + 3 * H), 0);
	assert_int_equal(wait_at("03:00-04:00", MIDNIGHT + 4 * H - 1), 0);
	/* Before the window: until it starts; after it: tomorrow's. */
	assert_int_equal(wait_at("03:00-04:00", MIDNIGHT + 2 * H), H);
	assert_int_equal(wait_at("03:00-04:00", MIDNIGHT + 4 * H), 23 * H);
	assert_int_equal(
	    wait_at("03:00-04:00", MIDNIGHT + 3 * H - 1 + 7 * DAY), 1);
	/* Across midnight. */
	assert_int_equal(wait_at("23:30-00:30", MIDNIGHT + 23 * H + 1800), 0);
	assert_int_equal(wait_at("23:30-00:30", MIDNIGHT + 1799), 0);
	assert_int_equal(wait_at("23:30-00:30", MIDNIGHT + 1800), 23 * H);
	assert_int_equal(wait_at("23:30-00:30", MIDNIGHT + 23 * H), 1800);
	/* A clock before the epoch (unset RTC) still gives a wait < 1 day. */
	assert_int_equal(wait_at("03:00-04:00", -1), 3 * H + 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_modes_and_windows),
	    cmocka_unit_test(refuses_malformed),
	    cmocka_unit_test(decides_now_later_or_never),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
