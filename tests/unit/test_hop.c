/* Unit tests: hop-by-hop header filtering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "http/hop.h"

static bool
drop(const struct hop_filter *f, const char *name)
{
	return hop_drop(f, name, strlen(name));
}

static void
hop_fixed_names(void **state)
{
	struct hop_filter f;

	hop_init(&f);
	assert_true(drop(&f, "Connection"));
	assert_true(drop(&f, "TRANSFER-ENCODING"));
	assert_true(drop(&f, "keep-alive"));
	assert_true(drop(&f, "Proxy-Authorization"));
	assert_true(drop(&f, "te"));
	assert_true(drop(&f, "Proxy-Connection"));
	assert_true(drop(&f, "proxy-authenticate"));
	assert_true(drop(&f, "Trailer"));
	assert_true(drop(&f, "Upgrade"));
	assert_false(drop(&f, "tee"));
	assert_false(drop(&f, "upgrad"));
	assert_false(drop(&f, "trailers"));
	assert_false(drop(&f, "keep-alive2"));
	assert_false(drop(&f, "proxy-authorizatio"));
	assert_false(drop(&f, "Set-Cookie"));
	assert_false(drop(&f, "Content-Length"));
	assert_false(drop(&f, ""));
}

static void
hop_connection_tokens(void **state)
{
	static const char v[] = " X-Secret ,x-other,, \tClose ";
	struct hop_filter f;

	hop_init(&f);
	hop_note(&f, "X-Secret", 8, "value", 5);
	assert_false(drop(&f, "x-secret"));
	hop_note(&f, "CONNECTION", 10, v, strlen(v));
	assert_true(drop(&f, "x-secret"));
	assert_true(drop(&f, "X-Other"));
	assert_true(drop(&f, "close"));
	assert_false(drop(&f, "x-secre"));
	assert_false(drop(&f, "X-Secret2"));
}

/* Issue 10 item 8: the ninth token and later ones were passed through. */
static void
hop_every_connection_token(void **state)
{
	static const char v[] = "a1,a2,a3,a4,a5,a6,a7,a8,X-Internal-Secret, "
				"b1 ,b2,b3,b4,b5,b6,b7,b8,b9,last";
	struct hop_filter f;

	hop_init(&f);
	hop_note(&f, "connection", 10, v, strlen(v));
	assert_true(drop(&f, "a1"));
	assert_true(drop(&f, "a8"));
	assert_true(drop(&f, "x-internal-secret"));
	assert_true(drop(&f, "b1"));
	assert_true(drop(&f, "b9"));
	assert_true(drop(&f, "LAST"));
	assert_false(drop(&f, "a9"));
	assert_false(drop(&f, "X-Internal"));
	assert_false(hop_overflow(&f));
}

/* Tokens from every Connection line count, the value's end is respected. */
static void
hop_connection_lines(void **state)
{
	static const char v[] = "one,two-and-more";
	struct hop_filter f;

	hop_init(&f);
	hop_note(&f, "Connection", 10, "x-first", 7);
	hop_note(&f, "connection", 10, v, 7); /* "one,two" */
	assert_true(drop(&f, "x-first"));
	assert_true(drop(&f, "one"));
	assert_true(drop(&f, "two"));
	assert_false(drop(&f, "two-and-more"));
	assert_false(drop(&f, "x-other"));
}

/* More Connection lines than the filter records: nothing is forwarded. */
static void
hop_too_many_lines_fail_closed(void **state)
{
	struct hop_filter f;
	int i;

	hop_init(&f);
	for (i = 0; i < HOP_CONNECTION_MAX; i++)
		hop_note(&f, "connection", 10, "x-a", 3);
	assert_false(hop_overflow(&f));
	assert_false(drop(&f, "x-secret"));
	hop_note(&f, "connection", 10, "x-secret", 8);
	assert_true(hop_overflow(&f));
	assert_true(drop(&f, "x-secret"));
	assert_true(drop(&f, "accept"));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hop_fixed_names),
	    cmocka_unit_test(hop_connection_tokens),
	    cmocka_unit_test(hop_every_connection_token),
	    cmocka_unit_test(hop_connection_lines),
	    cmocka_unit_test(hop_too_many_lines_fail_closed),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
