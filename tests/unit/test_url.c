/* Unit tests: the URL parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/url.h"

static bool
parse(const char *s, struct url *u, const char **why)
{
	return url_parse(s, strlen(s), u, why);
}

/* A slice (pointer, length) equals lit: its length first, then its bytes. */
#define assert_slice(p, n, lit) \
	do { \
		assert_int_equal((n), strlen(lit)); \
		assert_non_null(p); \
		assert_memory_equal((p), (lit), strlen(lit)); \
	} while (0)

static void
url_full(void **state)
{
	const char *why = NULL;
	struct url u;

	static const char s[] = "HTTPS://user:pw@api.internal:8443/a/b?c=d";

	assert_true(parse(s, &u, &why));
	assert_true(u.tls);
	assert_int_equal(u.port, 8443);
	assert_true(u.port_given);
	assert_false(u.ipv6);
	assert_slice(u.host, u.hostlen, "api.internal");
	assert_slice(u.userinfo, u.userinfolen, "user:pw");
	assert_slice(u.path, u.pathlen, "/a/b?c=d");
	/* Zero-copy: the slices point into the caller's string. */
	assert_ptr_equal(u.userinfo, s + 8);
	assert_ptr_equal(u.host, s + 16);
	assert_ptr_equal(u.path, s + 33);
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
	assert_int_equal(u.userinfolen, 0);
	assert_slice(u.host, u.hostlen, "h");
	assert_slice(u.path, u.pathlen, "/");
	assert_true(parse("https://h?x=1", &u, &why));
	assert_int_equal(u.port, 443);
	assert_slice(u.host, u.hostlen, "h");
	assert_slice(u.path, u.pathlen, "?x=1");
	assert_true(parse("http://u@h:1/", &u, &why));
	assert_slice(u.userinfo, u.userinfolen, "u");
	assert_slice(u.host, u.hostlen, "h");
	assert_int_equal(u.port, 1);
	assert_slice(u.path, u.pathlen, "/");
}

static void
url_ipv6(void **state)
{
	const char *why = NULL;
	struct url u;

	assert_true(parse("http://[::1]:8080/x", &u, &why));
	assert_true(u.ipv6);
	assert_slice(u.host, u.hostlen, "::1");
	assert_int_equal(u.port, 8080);
	assert_slice(u.path, u.pathlen, "/x");
	assert_true(parse("https://[fd00::a:1]", &u, &why));
	assert_slice(u.host, u.hostlen, "fd00::a:1");
	assert_int_equal(u.port, 443);
	assert_slice(u.path, u.pathlen, "/");
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
	assert_int_equal(u.hostlen, URL_HOST_MAX);
	memset(s + 7, 'a', sizeof(s) - 8);
	s[sizeof(s) - 1] = '\0';
	assert_false(parse(s, &u, &why));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(url_full),
	    cmocka_unit_test(url_defaults),
	    cmocka_unit_test(url_ipv6),
	    cmocka_unit_test(url_rejects),
	    cmocka_unit_test(url_length_limits),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
