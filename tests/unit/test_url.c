/* Unit tests: the URL parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/url.h"

static bool
parse(const char *s, struct url *u, const char **why)
{
	return url_parse(s, strlen(s), u, why);
}

static void
url_full(void **state)
{
	const char *why = NULL;
	struct url u;

	assert_true(
	    parse("HTTPS://user:pw@api.internal:8443/a/b?c=d", &u, &why));
	assert_true(u.tls);
	assert_int_equal(u.port, 8443);
	assert_true(u.port_given);
	assert_memory_equal(u.host, "api.internal", u.hostlen);
	assert_int_equal(u.hostlen, 12);
	assert_memory_equal(u.userinfo, "user:pw", u.userinfolen);
	assert_memory_equal(u.path, "/a/b?c=d", u.pathlen);
}

static void
url_defaults(void **state)
{
	const char *why = NULL;
	struct url u;

	assert_true(parse("http://h", &u, &why));
	assert_false(u.tls);
	assert_int_equal(u.port, 80);
	assert_false(u.port_given);
	assert_null(u.userinfo);
	assert_memory_equal(u.path, "/", 1);
	assert_true(parse("https://h?x=1", &u, &why));
	assert_int_equal(u.port, 443);
	assert_memory_equal(u.path, "?x=1", u.pathlen);
}

static void
url_ipv6(void **state)
{
	const char *why = NULL;
	struct url u;

	assert_true(parse("http://[::1]:8080/x", &u, &why));
	assert_true(u.ipv6);
	assert_int_equal(u.hostlen, 3);
	assert_memory_equal(u.host, "::1", 3);
	assert_int_equal(u.port, 8080);
}

static void
url_rejects(void **state)
{
	static const char *bad[] = {
	    "ftp://h/",
	    "http:/h",
	    "http://",
	    "http://:80/",
	    "http://h:0/",
	    "http://h:65536/",
	    "http://h:8x/",
	    "http://h/a b",
	    "http://h/#f",
	    "http://[::1/",
	    "http://h\x01/",
	    "//h/",
	    "http://h:/",
	    "h",
	    "http://bad^host/",
	};
	const char *why;
	struct url u;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_false(parse(bad[i], &u, &why));
		assert_non_null(why);
	}
}

static void
url_length_limits(void **state)
{
	static char s[URL_MAX + 64];
	const char *why;
	struct url u;

	memcpy(s, "http://", 7);
	memset(s + 7, 'a', URL_HOST_MAX + 1);
	s[7 + URL_HOST_MAX + 1] = '\0';
	assert_false(parse(s, &u, &why));
	s[7 + URL_HOST_MAX] = '\0';
	assert_true(parse(s, &u, &why));
	memset(s + 7, 'a', sizeof(s) - 8);
	s[sizeof(s) - 1] = '\0';
	assert_false(parse(s, &u, &why));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(url_full),
	    cmocka_unit_test(url_defaults),
	    cmocka_unit_test(url_ipv6),
	    cmocka_unit_test(url_rejects),
	    cmocka_unit_test(url_length_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
