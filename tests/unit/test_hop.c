/* Unit tests: hop-by-hop header filtering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "connector/hop.h"

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
	assert_false(drop(&f, "tee"));
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

static void
hop_connection_bounded(void **state)
{
	static const char v[] = "a,b,c,d,e,f,g,h,i,j,k";
	struct hop_filter f;

	hop_init(&f);
	hop_note(&f, "connection", 10, v, strlen(v));
	assert_int_equal(f.nconn, HOP_CONNECTION_MAX);
	assert_true(drop(&f, "a"));
	assert_true(drop(&f, "h"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hop_fixed_names),
	    cmocka_unit_test(hop_connection_tokens),
	    cmocka_unit_test(hop_connection_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
