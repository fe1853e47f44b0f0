/*
 * Unit tests: the target matcher (net/netpolicy.h) — every rule kind, port
 * ranges, IPv4 and IPv6, IPv4-mapped addresses, the refusal of cloud
 * metadata and link-local addresses unless listed exactly, and every
 * parse error.  Pure: no sockets, no resolver (addresses are built here).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "net/netpolicy.h"

static struct netpolicy *
must_parse(const char *list)
{
	struct netpolicy *p = NULL;
	char err[NETPOLICY_ERR_MAX];
	int r = netpolicy_parse(&p, list, err, sizeof(err));

	if (r != 0)
		fail_msg("parse \"%s\": %s", list, err);
	return p;
}

/* The message of a list that must not parse. */
static const char *
parse_err(const char *list)
{
	static char err[NETPOLICY_ERR_MAX];
	struct netpolicy *p = (struct netpolicy *)&err; /* must be reset */

	assert_int_equal(netpolicy_parse(&p, list, err, sizeof(err)), -EINVAL);
	assert_null(p);
	assert_true(err[0] != '\0');
	return err;
}

static void
expect_err(const char *list, const char *want)
{
	const char *got = parse_err(list);

	if (strstr(got, want) == NULL)
		fail_msg("\"%s\": got \"%s\", want \"%s\"", list, got, want);
}

static union dns_sockaddr
sa(const char *ip)
{
	union dns_sockaddr u;

	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, ip, &u.in.sin_addr) == 1) {
		u.in.sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &u.in6.sin6_addr), 1);
		u.in6.sin6_family = AF_INET6;
	}
	return u;
}

/* One resolved address of host passes for port. */
static bool
addr_ok(
    const struct netpolicy *p, const char *host, uint16_t port, const char *ip)
{
	union dns_sockaddr u = sa(ip);

	return netpolicy_check_addrs(p, host, port, &u, 1);
}

/* --- parsing ---------------------------------------------------------- */

static void
parse_every_kind(void **state)
{
	struct netpolicy *p = must_parse(
	    "db.internal:5432, *.corp.example:443 ,10.0.0.0/8:5432,"
	    "192.0.2.7:22,[fd00::/8]:22,[::1]:8080,db.internal:5433-5434");

	assert_int_equal(netpolicy_count(p), 7);
	netpolicy_free(p);
	netpolicy_free(NULL);
}

static void
parse_errors_name_the_entry(void **state)
{
	const char *e = parse_err("db:22, db:99999");

	assert_string_equal(
	    e, "entry 2 \"db:99999\": port is not a number 1-65535");
	e = parse_err("a:1,b:2,c");
	assert_string_equal(e, "entry 3 \"c\": missing ':port'");
}

static void
parse_errors_every_defect(void **state)
{
	expect_err("", "empty list");
	expect_err("  ", "empty list");
	expect_err("a:1,,b:2", "entry 2 \"\": empty entry");
	expect_err("a:1,", "entry 2");
	expect_err("db", "missing ':port'");
	expect_err("db:", "missing port after ':'");
	expect_err(":22", "missing host");
	expect_err("db:0", "port is not a number 1-65535");
	expect_err("db:65536", "port is not a number");
	expect_err("db:22x", "port is not a number");
	expect_err("db:-22", "port range is not N-M");
	expect_err("db:22-", "port range is not N-M");
	expect_err("db:22-23-24", "port range is not N-M");
	expect_err("db:23-22", "port range is reversed");
	expect_err("db:1-70000", "port range is not N-M");
	expect_err("bad name:22", "not a host name");
	expect_err("-db:22", "not a host name");
	expect_err("db-.x:22", "not a host name");
	expect_err("a..b:22", "not a host name");
	expect_err("1.2.3:22", "not a host name");
	expect_err("*:22", "not a host name");
	expect_err("*.:22", "not a *.suffix");
	expect_err("*.a b:22", "not a *.suffix");
	expect_err("x.*.corp:22", "not a host name");
	expect_err("10.0.0.0/33:22", "prefix length is not 0-32");
	expect_err("10.0.0.0/:22", "prefix length is not 0-32");
	expect_err("10.0.0.0/a:22", "prefix length is not 0-32");
	expect_err("10.0.0.1/8:22", "bits set beyond the prefix");
	expect_err("10.0.0/8:22", "not an IP address");
	expect_err("300.0.0.1:22", "not a host name");
	expect_err("::1:22", "needs brackets");
	expect_err("fd00::/8:22", "needs brackets");
	expect_err("[::1]", "expected ':port' after ']'");
	expect_err("[::1]22", "expected ':port' after ']'");
	expect_err("[::1:22", "'[' without ']'");
	expect_err("[]:22", "not an IP address");
	expect_err("[fd00::/129]:22", "prefix length is not 0-128");
	expect_err("[fd00::1/8]:22", "bits set beyond the prefix");
	expect_err("[10.0.0.1]:22", "without them");
	expect_err("[::ffff:10.0.0.1]:22", "without them");
	expect_err("[::ffff:0:0/96]:22", "without them");
	expect_err("[::1]:0", "port is not a number");
	expect_err("a\x01:22", "entry 1 \"a?:22\"");
}

static void
parse_error_quotes_at_most_64_bytes(void **state)
{
	char list[300];
	const char *e;

	memset(list, 'a', 200);
	strcpy(list + 200, ":x");
	e = parse_err(list);
	assert_non_null(strstr(e, "...\": not a host name"));
	assert_true(strlen(e) < 120);
}

static void
parse_limits(void **state)
{
	char list[NETPOLICY_MAX_RULES * 8 + 16], name[300];
	struct netpolicy *p;
	size_t i, n = 0;

	for (i = 0; i < NETPOLICY_MAX_RULES; i++)
		n += (size_t)sprintf(list + n, "%sh:%zu", i ? "," : "", i + 1);
	p = must_parse(list);
	assert_int_equal(netpolicy_count(p), NETPOLICY_MAX_RULES);
	netpolicy_free(p);
	strcpy(list + n, ",h:9");
	expect_err(list, "at most 256");

	/* 63-byte labels and a 253-byte name are the DNS limits. */
	memset(name, 'a', 64);
	strcpy(name + 64, ".x:1");
	expect_err(name, "not a host name");
	for (i = 0; i < 252; i++)
		name[i] = i % 2 ? '.' : 'a';
	name[252] = 'b';
	strcpy(name + 253, ":1");
	p = must_parse(name);
	netpolicy_free(p);
	name[253] = 'c';
	strcpy(name + 254, ":1");
	expect_err(name, "not a host name");
}

/* --- matching, table-driven ------------------------------------------- */

/* One check: step 1 on host:port when ip is NULL (want is a verdict),
 * else step 2 on ip resolved from host (want is 1 or 0). */
struct tcase {
	const char *host;
	uint16_t port;
	const char *ip;
	int want;
};

#define NAME(h, port, v) \
	{ \
		h, port, NULL, NETPOLICY_##v \
	}
#define PASS(h, port, ip) \
	{ \
		h, port, ip, 1 \
	}
#define FAIL(h, port, ip) \
	{ \
		h, port, ip, 0 \
	}

static void
run_cases(const char *list, const struct tcase *t, size_t n)
{
	struct netpolicy *p = must_parse(list);
	size_t i;
	int got;

	for (i = 0; i < n; i++) {
		got = t[i].ip != NULL
		    ? addr_ok(p, t[i].host, t[i].port, t[i].ip)
		    : (int)netpolicy_check_name(p, t[i].host, t[i].port);
		if (got != t[i].want)
			fail_msg("\"%s\": %s:%u %s: got %d, want %d", list,
			    t[i].host, t[i].port, t[i].ip ? t[i].ip : "(name)",
			    got, t[i].want);
	}
	netpolicy_free(p);
}

#define RUN(list, cases) run_cases(list, cases, nitems(cases))

static void
name_rules(void **state)
{
	static const struct tcase t[] = {
	    NAME("db.internal", 5432, ALLOW),
	    NAME("DB.Internal.", 5433, ALLOW),
	    NAME("db.internal", 5431, DENY),
	    NAME("db.internal", 5434, DENY),
	    NAME("xdb.internal", 5432, DENY),
	    NAME("internal", 5432, DENY),
	    NAME("a.corp.example", 443, ALLOW),
	    NAME("b.a.Corp.Example", 443, ALLOW),
	    NAME("corp.example", 443, DENY),
	    NAME("xcorp.example", 443, DENY),
	    NAME("a.corp.example", 80, DENY),
	    /* Malformed hosts. */
	    NAME("", 443, DENY),
	    NAME("[]", 443, DENY),
	    NAME("a b.corp.example", 443, DENY),
	    NAME("fe80::1%eth0", 443, DENY),
	    /* A listed name's addresses pass, except special ones. */
	    PASS("db.internal", 5432, "10.1.2.3"),
	    PASS("x.corp.example", 443, "2001:db8::1"),
	    FAIL("db.internal", 5432, "169.254.169.254"),
	    FAIL("db.internal", 5432, "fe80::1"),
	    FAIL("db.internal", 5432, "::ffff:169.254.1.1"),
	    FAIL("db.internal", 9999, "10.1.2.3"),
	    FAIL("other", 5432, "10.1.2.3"),
	};

	RUN("db.internal:5432-5433,*.corp.example:443", t);
}

static void
name_never_matches_an_address_rule_textually(void **state)
{
	/* "10.0.0.1" as a host is that address; no name rule matches an
	 * address, and an all-digit last label is not a name.  A name not
	 * listed: address rules might match, resolve first. */
	static const struct tcase t[] = {
	    NAME("10.0.0.1", 22, ALLOW),
	    NAME("127.1", 22, DENY),
	    NAME("db", 22, ALLOW),
	    NAME("other", 22, RESOLVE),
	    NAME("other", 23, DENY),
	};

	RUN("10.0.0.1:22,db:22", t);
}

/* --- addresses -------------------------------------------------------- */

static void
cidr_v4(void **state)
{
	static const struct tcase t[] = {
	    NAME("db", 5432, RESOLVE),
	    NAME("db", 22, RESOLVE),
	    NAME("db", 23, DENY),
	    PASS("db", 5432, "10.0.0.0"),
	    PASS("db", 5432, "10.255.255.255"),
	    FAIL("db", 5432, "11.0.0.0"),
	    FAIL("db", 5432, "9.255.255.255"),
	    FAIL("db", 5433, "10.0.0.1"),
	    PASS("db", 22, "192.0.2.7"),
	    FAIL("db", 22, "192.0.2.8"),
	    /* IP literal hosts are final at step 1. */
	    NAME("10.9.9.9", 5432, ALLOW),
	    NAME("11.9.9.9", 5432, DENY),
	    NAME("192.0.2.7", 22, ALLOW),
	};

	RUN("10.0.0.0/8:5432,192.0.2.7:22", t);
}

static void
cidr_prefix_edges(void **state)
{
	static const struct tcase t[] = {
	    PASS("h", 1, "10.1.2.128"),
	    PASS("h", 1, "10.1.2.255"),
	    FAIL("h", 1, "10.1.2.127"),
	    PASS("h", 2, "1.2.3.4"),
	    PASS("h", 2, "255.255.255.255"),
	    FAIL("h", 2, "2001:db8::1"),
	    PASS("h", 3, "2001:db8:ab00::1"),
	    PASS("h", 3, "2001:db8:abff:ffff::1"),
	    FAIL("h", 3, "2001:db8:ac00::"),
	    FAIL("h", 3, "2001:db8:aa00::"),
	};

	RUN("10.1.2.128/25:1,0.0.0.0/0:2,[2001:db8:ab00::/40]:3", t);
}

static void
cidr_v6(void **state)
{
	static const struct tcase t[] = {
	    PASS("h", 22, "fd12:3456::1"),
	    PASS("h", 22, "fdff:ffff:ffff:ffff::"),
	    FAIL("h", 22, "fc00::1"),
	    FAIL("h", 23, "fd12::1"),
	    PASS("h", 8080, "::1"),
	    FAIL("h", 8080, "::2"),
	    NAME("[::1]", 8080, ALLOW),
	    NAME("::1", 8080, ALLOW),
	    NAME("[::2]", 8080, DENY),
	    /* An IPv6 rule never matches an IPv4 address, mapped or not. */
	    PASS("h", 9, "2001:db8::1"),
	    FAIL("h", 9, "1.2.3.4"),
	    FAIL("h", 9, "::ffff:1.2.3.4"),
	};

	RUN("[fd00::/8]:22,[::1]:8080,[::/0]:9", t);
}

static void
mapped_ipv6_is_the_ipv4_address(void **state)
{
	static const struct tcase t[] = {
	    PASS("h", 22, "::ffff:10.1.2.3"),
	    FAIL("h", 22, "::ffff:11.1.2.3"),
	    PASS("h", 80, "::ffff:127.0.0.1"),
	    NAME("[::ffff:10.1.2.3]", 22, ALLOW),
	    NAME("::ffff:127.0.0.1", 80, ALLOW),
	    NAME("::ffff:127.0.0.2", 80, DENY),
	    /* The IPv4-compatible form (::a.b.c.d) is plain IPv6. */
	    FAIL("h", 22, "::10.1.2.3"),
	};

	RUN("10.0.0.0/8:22,127.0.0.1:80", t);
}

static void
every_address_must_pass(void **state)
{
	struct netpolicy *p = must_parse("127.0.0.1/32:5432");
	union dns_sockaddr two[2] = {sa("127.0.0.1"), sa("127.0.0.9")};
	union dns_sockaddr v6[2] = {sa("127.0.0.1"), sa("::1")};
	union dns_sockaddr other = sa("127.0.0.1");

	/* A name resolving to one allowed and one refused address (the
	 * rebinding pattern) is refused as a whole. */
	assert_true(netpolicy_check_addrs(p, "db.test", 5432, two, 1));
	assert_false(netpolicy_check_addrs(p, "db.test", 5432, two, 2));
	assert_false(netpolicy_check_addrs(p, "db.test", 5432, two + 1, 1));
	assert_false(netpolicy_check_addrs(p, "localhost", 5432, v6, 2));
	assert_false(netpolicy_check_addrs(p, "db.test", 5432, two, 0));
	/* Not AF_INET/AF_INET6 fails. */
	other.sa.sa_family = AF_UNIX;
	assert_false(netpolicy_check_addrs(p, "db.test", 5432, &other, 1));
	assert_false(netpolicy_check_addr(p, "db.test", 5432, &other.sa));
	assert_true(netpolicy_check_addr(p, "db.test", 5432, &two[0].sa));
	assert_false(netpolicy_check_addr(p, "db.test", 5432, &two[1].sa));
	assert_true(netpolicy_check_addr(p, "db.test", 5432, &v6[0].sa));
	assert_false(netpolicy_check_addr(p, "db.test", 5432, &v6[1].sa));
	netpolicy_free(p);
}

/* --- metadata and link-local ------------------------------------------ */

static const char *const specials[] = {
    "169.254.169.254",
    "169.254.170.2",
    "169.254.0.0",
    "169.254.255.255",
    "100.100.100.200",
    "168.63.129.16",
    "fe80::1",
    "febf:ffff::1",
    "fd00:ec2::254",
    "fd20:ce::254",
    "::ffff:169.254.169.254",
    "::ffff:100.100.100.200",
    "64:ff9b::169.254.169.254",
    "64:ff9b::100.100.100.200",
};

static const char *const ordinary[] = {
    "169.253.255.255",
    "169.255.0.0",
    "100.100.100.201",
    "168.63.129.17",
    "fec0::1",
    "fe7f::1",
    "fd00:ec2::253",
    "fd20:ce::253",
    "64:ff9b::10.0.0.1",
    "127.0.0.1",
    "::1",
};

static void
special_addresses(void **state)
{
	union dns_sockaddr u;
	size_t i;

	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		u = sa(specials[i]);
		if (!netpolicy_is_special(&u.sa))
			fail_msg("%s should be special", specials[i]);
	}
	for (i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		u = sa(ordinary[i]);
		if (netpolicy_is_special(&u.sa))
			fail_msg("%s should not be special", ordinary[i]);
	}
}

static void
specials_refused_through_any_wider_rule(void **state)
{
	struct netpolicy *p = must_parse(
	    "0.0.0.0/0:80,[::/0]:80,169.254.0.0/16:80,[fe80::/10]:80,"
	    "100.100.100.0/24:80,metadata.internal:80,*.internal:80");
	size_t i;

	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		if (addr_ok(p, "metadata.internal", 80, specials[i]) ||
		    addr_ok(p, "x.internal", 80, specials[i]) ||
		    addr_ok(p, "other", 80, specials[i]) ||
		    addr_ok(p, specials[i], 80, specials[i]))
			fail_msg("%s passed", specials[i]);
		if (netpolicy_check_name(p, specials[i], 80) != NETPOLICY_DENY)
			fail_msg("%s as a host passed", specials[i]);
	}
	for (i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		if (!addr_ok(p, "other", 80, ordinary[i]))
			fail_msg("%s refused", ordinary[i]);
	}
	netpolicy_free(p);
}

static void
specials_pass_when_listed_exactly(void **state)
{
	static const struct tcase t[] = {
	    PASS("imds", 80, "169.254.169.254"),
	    PASS("imds", 80, "::ffff:169.254.169.254"),
	    PASS("imds", 80, "fd00:ec2::254"),
	    PASS("imds", 80, "100.100.100.200"),
	    PASS("ll", 22, "fe80::1"),
	    NAME("169.254.169.254", 80, ALLOW),
	    /* Exactly: not a neighbour, not another port. */
	    FAIL("imds", 80, "169.254.169.253"),
	    FAIL("imds", 81, "169.254.169.254"),
	    FAIL("ll", 22, "fe80::2"),
	    NAME("169.254.169.254", 81, DENY),
	};

	RUN("169.254.169.254:80,[fd00:ec2::254/128]:80,"
	    "100.100.100.200/32:80,[fe80::1]:22",
	    t);
}

static void
any_policy(void **state)
{
	const struct netpolicy *p = netpolicy_any();
	struct netpolicy *same = must_parse("0.0.0.0/0:1-65535,[::/0]:1-65535");
	size_t i;

	assert_int_equal(netpolicy_count(p), netpolicy_count(same));
	assert_int_equal(
	    netpolicy_check_name(p, "example.test", 1), NETPOLICY_RESOLVE);
	assert_int_equal(
	    netpolicy_check_name(p, "example.test", 65535), NETPOLICY_RESOLVE);
	assert_int_equal(
	    netpolicy_check_name(p, "127.0.0.1", 80), NETPOLICY_ALLOW);
	assert_int_equal(netpolicy_check_name(p, "[::1]", 80), NETPOLICY_ALLOW);
	/* The static policy and the same list parsed agree everywhere. */
	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		if (addr_ok(p, "example.test", 80, specials[i]) ||
		    addr_ok(same, "example.test", 80, specials[i]))
			fail_msg("%s passed", specials[i]);
	}
	for (i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		if (!addr_ok(p, "example.test", 443, ordinary[i]) ||
		    !addr_ok(same, "example.test", 443, ordinary[i]))
			fail_msg("%s refused", ordinary[i]);
	}
	netpolicy_free(same);
	netpolicy_free((struct netpolicy *)p); /* ignored */
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_every_kind),
	    cmocka_unit_test(parse_errors_name_the_entry),
	    cmocka_unit_test(parse_errors_every_defect),
	    cmocka_unit_test(parse_error_quotes_at_most_64_bytes),
	    cmocka_unit_test(parse_limits),
	    cmocka_unit_test(name_rules),
	    cmocka_unit_test(name_never_matches_an_address_rule_textually),
	    cmocka_unit_test(cidr_v4),
	    cmocka_unit_test(cidr_prefix_edges),
	    cmocka_unit_test(cidr_v6),
	    cmocka_unit_test(mapped_ipv6_is_the_ipv4_address),
	    cmocka_unit_test(every_address_must_pass),
	    cmocka_unit_test(special_addresses),
	    cmocka_unit_test(specials_refused_through_any_wider_rule),
	    cmocka_unit_test(specials_pass_when_listed_exactly),
	    cmocka_unit_test(any_policy),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
