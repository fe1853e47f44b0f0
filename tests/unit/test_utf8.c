/* Unit tests: UTF-8 well-formedness and the in-place scrub (lib/utf8.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/utf8.h"

static bool
valid(const char *s)
{
	return utf8_valid(s, strlen(s));
}

static void
utf8_accepts_well_formed(void **state)
{
	assert_true(valid(""));
	assert_true(valid("plain ascii"));
	assert_true(valid("caf\xc3\xa9")); /* U+00E9 */
	assert_true(valid("\xe2\x82\xac")); /* U+20AC */
	assert_true(valid("\xed\x9f\xbf")); /* U+D7FF */
	assert_true(valid("\xf0\x90\x80\x80")); /* U+10000 */
	assert_true(valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
}

static void
utf8_rejects_ill_formed(void **state)
{
	assert_false(valid("caf\xe9")); /* Latin-1 */
	assert_false(valid("\xc0\xaf")); /* overlong '/' */
	assert_false(valid("\xe0\x80\xaf")); /* overlong */
	assert_false(valid("\xed\xa0\x80")); /* surrogate */
	assert_false(valid("\xf4\x90\x80\x80")); /* > U+10FFFF */
	assert_false(valid("\xf5\x80\x80\x80"));
	assert_false(valid("\x80")); /* lone continuation */
	assert_false(valid("\xe2\x82")); /* truncated */
}

static void
utf8_scrub_replaces_only_bad_bytes(void **state)
{
	char s[] = "a\xe9"
		   "b\xe2\x82\xac"
		   "c\xe2\x82";
	uint64_t before = utf8_replaced_total();

	assert_int_equal(utf8_scrub(s, strlen(s)), 3);
	assert_string_equal(s,
	    "a?b\xe2\x82\xac"
	    "c??");
	assert_true(valid(s));
	assert_int_equal(utf8_replaced_total() - before, 3);
	assert_int_equal(utf8_scrub(s, strlen(s)), 0);
}

/* A sequence cut by the end of the slice is bad even if more bytes follow. */
static void
utf8_respects_the_length(void **state)
{
	char s[] = "x\xc3\xa9";

	assert_false(utf8_valid(s, 2));
	assert_int_equal(utf8_scrub(s, 2), 1);
	assert_memory_equal(s, "x?\xa9", 3);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(utf8_accepts_well_formed),
	    cmocka_unit_test(utf8_rejects_ill_formed),
	    cmocka_unit_test(utf8_scrub_replaces_only_bad_bytes),
	    cmocka_unit_test(utf8_respects_the_length),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
