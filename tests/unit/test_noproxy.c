/* Unit tests: NO_PROXY matching and proxy values (net/noproxy.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "net/noproxy.h"

static struct noproxy *
parse_ok(const char *list)
{
	struct noproxy *np = NULL;
	char err[NOPROXY_ERR_MAX] = "";

	if (noproxy_parse(&np, list, err, sizeof(err)) != 0)
		fail_msg("refused \"%s\": %s", list, err);
	return np;
}

struct probe {
	const char *host;
	uint16_t port;
	bool direct;
};

static void
expect(const char *list, const struct probe *p, size_t n)
{
	struct noproxy *np = parse_ok(list);
	size_t i;

	for (i = 0; i < n; i++)
		if (noproxy_bypass(np, p[i].host, p[i].port) != p[i].direct)
			fail_msg("NO_PROXY=\"%s\": %s:%u should go %s", list,
			    p[i].host, p[i].port,
			    p[i].direct ? "direct" : "through the proxy");
	noproxy_free(np);
}

static void
noproxy_names(void **state)
{
	static const struct probe p[] = {
	    {"corp", 80, true},
	    {"a.corp", 443, true},
	    {"x.y.corp", 80, true},
	    {"A.CORP", 80, true},
	    {"a.corp.", 80, true},
	    {"notcorp", 80, false},
	    {"corp.example", 80, false},
	    {"b.example.net", 80, true},
	    {"example.net", 80, false},
	    {"c.wild.test", 80, true},
	    {"wild.test", 80, false},
	    {"exact.org", 8080, true},
	    {"exact.org", 80, false},
	    {"sub.exact.org", 8080, true},
	};

	expect(
	    " corp , .example.net,*.wild.test,exact.org:8080,,", p, nitems(p));
}

static void
noproxy_addresses(void **state)
{
	static const struct probe p[] = {
	    {"10.1.2.3", 80, true},
	    {"11.0.0.1", 80, false},
	    {"192.0.2.7", 443, true},
	    {"192.0.2.8", 443, false},
	    {"2001:db8::1", 80, true},
	    {"[2001:db8::1]", 80, true},
	    {"2001:db8::2", 80, false},
	    {"fd00:1::5", 443, true},
	    {"fe80::1", 443, false},
	    {"198.51.100.1", 8443, true},
	    {"198.51.100.1", 443, false},
	    {"2001:db8:1::9", 22, true},
	    {"2001:db8:1::9", 80, false},
	    {"172.16.0.1", 80, true},
	    {"172.31.255.255", 80, true},
	    {"172.32.0.0", 80, false},
	};

	expect("10.0.0.0/8,192.0.2.7,[2001:db8::1],fd00::/8,"
	       "198.51.100.1:8443,[2001:db8:1::9]:22,172.16.0.0/12",
	    p, nitems(p));
}

/* Names never match address entries as text, nor addresses names. */
static void
noproxy_names_and_addresses_apart(void **state)
{
	static const struct probe p[] = {
	    {"10.0.0.1", 80, false},
	    {"10.0.0.1.nip.example", 80, false},
	    {"10.0.0.1.nip.example", 81, true},
	};

	expect("0.0.1,nip.example:81", p, nitems(p));
}

static void
noproxy_star_and_loopback(void **state)
{
	static const struct probe all[] = {
	    {"anything.example", 80, true},
	    {"192.0.2.1", 443, true},
	};
	static const struct probe none[] = {
	    {"localhost", 80, true},
	    {"LOCALHOST.", 80, true},
	    {"127.0.0.1", 80, true},
	    {"127.255.0.9", 443, true},
	    {"::1", 80, true},
	    {"::ffff:127.0.0.1", 80, true},
	    /* Go proxies these: only "localhost" itself is special. */
	    {"nginx.localhost", 80, false},
	    {"localhost.example", 80, false},
	    {"192.0.2.1", 80, false},
	};
	size_t i;

	expect("*", all, nitems(all));
	expect("", none, nitems(none));
	expect("example.org", none, nitems(none));
	for (i = 0; i < 6; i++)
		assert_true(noproxy_bypass(NULL, none[i].host, 80));
	assert_false(noproxy_bypass(NULL, "nginx.localhost", 80));
	expect(NULL, none, nitems(none));
}

static void
noproxy_rejects(void **state)
{
	static const struct {
		const char *list, *err;
	} bad[] = {
	    {"10.0.0.0/33", "entry 1: bad CIDR"},
	    {"ok,10.0.0.0/", "entry 2: bad CIDR"},
	    {"10.0.0.0/x", "entry 1: bad CIDR"},
	    {"corp/8", "entry 1: not a host name"},
	    {"::/129", "entry 1: bad CIDR"},
	    {"a,,corp:0", "entry 3: bad port"},
	    {"corp:65536", "entry 1: bad port"},
	    {"corp:", "entry 1: bad port"},
	    {"[::1]:x", "entry 1: bad port"},
	    {"a b", "entry 1: not a host name"},
	    {"c..orp", "entry 1: not a host name"},
	    {".", "entry 1: not a host name"},
	    {"*.", "entry 1: not a host name"},
	    {"http://corp", "entry 1: not a host name"},
	};
	struct noproxy *np;
	char err[NOPROXY_ERR_MAX], many[NOPROXY_MAX_ENTRIES * 3 + 8] = "";
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		err[0] = '\0';
		assert_int_equal(
		    noproxy_parse(&np, bad[i].list, err, sizeof(err)), -EINVAL);
		assert_null(np);
		if (strstr(err, bad[i].err) != err)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].list,
			    err, bad[i].err);
	}
	for (i = 0; i < NOPROXY_MAX_ENTRIES; i++)
		strcat(many, "a,");
	noproxy_free(parse_ok(many));
	strcat(many, "b");
	assert_int_equal(noproxy_parse(&np, many, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "more than 128 entries");
}

static void
noproxy_proxy_values(void **state)
{
	struct dial_proxy p;
	const char *why = NULL;

	assert_true(noproxy_proxy_parse(&p, "proxy.corp:3128", &why));
	assert_string_equal(p.host, "proxy.corp");
	assert_int_equal(p.port, 3128);
	assert_string_equal(p.auth, "");
	assert_true(
	    noproxy_proxy_parse(&p, "http://joe:s3cret@10.0.0.1:8080", &why));
	assert_string_equal(p.host, "10.0.0.1");
	assert_int_equal(p.port, 8080);
	assert_string_equal(p.auth, "Basic am9lOnMzY3JldA==");
	dial_proxy_wipe(&p);
	assert_true(noproxy_proxy_parse(&p, "joe:s3cret@proxy", &why));
	assert_int_equal(p.port, 80);
	assert_string_equal(p.auth, "Basic am9lOnMzY3JldA==");
	dial_proxy_wipe(&p);
	assert_false(noproxy_proxy_parse(&p, "https://proxy:3128", &why));
	assert_non_null(strstr(why, "https proxies are not supported"));
	assert_false(noproxy_proxy_parse(&p, "socks5://proxy:1080", &why));
	assert_false(noproxy_proxy_parse(&p, "joe:s3cret@proxy:99999", &why));
	assert_null(strstr(why, "s3cret"));
	assert_false(noproxy_proxy_parse(&p, "", &why));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(noproxy_names),
	    cmocka_unit_test(noproxy_addresses),
	    cmocka_unit_test(noproxy_names_and_addresses_apart),
	    cmocka_unit_test(noproxy_star_and_loopback),
	    cmocka_unit_test(noproxy_rejects),
	    cmocka_unit_test(noproxy_proxy_values),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
