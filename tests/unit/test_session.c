/* Unit tests: a SessionOpen's checks before any policy (connector/session.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "connector/session.h"
#include "net/dns.h"

static void
session_id_charset_and_length(void **state)
{
	char id[66];

	assert_true(session_id_valid("s1"));
	assert_true(session_id_valid("A-z_0.9"));
	assert_false(session_id_valid(""));
	assert_false(session_id_valid("has space"));
	assert_false(session_id_valid("semi;colon"));
	assert_false(session_id_valid("new\nline"));
	assert_false(session_id_valid("caf\xc3\xa9"));
	memset(id, 'a', 64);
	id[64] = '\0';
	assert_true(session_id_valid(id));
	id[64] = 'a';
	id[65] = '\0';
	assert_false(session_id_valid(id));
}

static bool
target_ok(const char *host, uint32_t port)
{
	Outpost__V1__SessionOpen so = OUTPOST__V1__SESSION_OPEN__INIT;

	so.session_id = "s";
	so.host = (char *)host;
	so.port = port;
	return session_target_valid(&so);
}

static void
session_target_host_and_port(void **state)
{
	char host[DNS_NAME_MAX + 2];

	assert_true(target_ok("db.internal", 5432));
	assert_true(target_ok("10.0.0.5", 1));
	assert_true(target_ok("[fd00::1]", 65535));
	assert_false(target_ok("", 22));
	assert_false(target_ok("h", 0));
	assert_false(target_ok("h", 65536));
	assert_false(target_ok("h", UINT32_MAX));
	memset(host, 'a', DNS_NAME_MAX);
	host[DNS_NAME_MAX] = '\0';
	assert_true(target_ok(host, 22));
	host[DNS_NAME_MAX] = 'a';
	host[DNS_NAME_MAX + 1] = '\0';
	assert_false(target_ok(host, 22));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(session_id_charset_and_length),
	    cmocka_unit_test(session_target_host_and_port),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
