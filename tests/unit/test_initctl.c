/*
 * Unit tests for init's control channel messages (lib/initctl.h): round
 * trips, every wrong length, and each field check.  Usage: test_initctl
 * [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <string.h>

#include "lib/initctl.h"

static void
req_roundtrip(void **state)
{
	struct initctl_req q = {INITCTL_APPLY, "/data/update/0.2.0.update"}, d;
	uint8_t b[INITCTL_REQ_SIZE];

	(void)state;
	initctl_req_encode(&q, b);
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), 0);
	assert_int_equal(d.op, INITCTL_APPLY);
	assert_string_equal(d.path, q.path);
	assert_int_equal(INITCTL_REQ_SIZE, 264);
}

static void
req_length_exact(void **state)
{
	struct initctl_req q = {INITCTL_STATUS, ""}, d;
	uint8_t b[INITCTL_REQ_SIZE + 1] = {0};
	size_t n;

	(void)state;
	initctl_req_encode(&q, b);
	for (n = 0; n <= sizeof(b); n++)
		assert_int_equal(initctl_req_decode(b, n, &d),
		    n == INITCTL_REQ_SIZE ? 0 : -1);
}

static void
req_fields_checked(void **state)
{
	struct initctl_req q = {INITCTL_APPLY, "/data/update/x"}, d;
	uint8_t b[INITCTL_REQ_SIZE];

	(void)state;
	initctl_req_encode(&q, b);
	b[0] ^= 1; /* magic */
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), -1);
	initctl_req_encode(&q, b);
	b[4] = 9; /* op */
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), -1);
	initctl_req_encode(&q, b);
	b[4] = 0;
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), -1);
	initctl_req_encode(&q, b);
	memset(b + 8, 'a', INITCTL_PATH_MAX); /* no NUL */
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), -1);
	initctl_req_encode(&q, b);
	b[9] = '\n'; /* not printable */
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), -1);
	initctl_req_encode(&q, b);
	b[4] = INITCTL_STATUS; /* a path only with APPLY */
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), -1);
}

static void
req_long_path_cut(void **state)
{
	struct initctl_req q = {INITCTL_APPLY, ""}, d;
	uint8_t b[INITCTL_REQ_SIZE];

	(void)state;
	memset(q.path, 'p', sizeof(q.path)); /* no NUL: cut at the field */
	initctl_req_encode(&q, b);
	assert_int_equal(initctl_req_decode(b, sizeof(b), &d), 0);
	assert_int_equal(strlen(d.path), INITCTL_PATH_MAX - 1);
}

static void
reply_roundtrip(void **state)
{
	struct initctl_reply r = {INITCTL_STATUS, 16, INITCTL_WRITING, 42, "b",
				 "0.1.0", "0.2.0",
				 "part root: sha256 mismatch"},
			     d;
	uint8_t b[INITCTL_REPLY_SIZE];

	(void)state;
	initctl_reply_encode(&r, b);
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), 0);
	assert_int_equal(d.op, INITCTL_STATUS);
	assert_int_equal(d.result, 16);
	assert_int_equal(d.state, INITCTL_WRITING);
	assert_int_equal(d.percent, 42);
	assert_string_equal(d.slot, "b");
	assert_string_equal(d.version, "0.1.0");
	assert_string_equal(d.other_version, "0.2.0");
	assert_string_equal(d.reason, "part root: sha256 mismatch");
	assert_int_equal(initctl_reply_decode(b, sizeof(b) - 1, &d), -1);
}

static void
reply_fields_checked(void **state)
{
	struct initctl_reply r = {INITCTL_APPLY, 0, INITCTL_IDLE, 0, "a", "1",
				 "", ""},
			     d;
	uint8_t b[INITCTL_REPLY_SIZE];

	(void)state;
	initctl_reply_encode(&r, b);
	b[12] = INITCTL__STATES; /* state */
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), -1);
	b[12] = INITCTL_OFFERED; /* the worker's own: never init's */
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), -1);
	b[12] = INITCTL_FAILED; /* init's last */
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), 0);
	initctl_reply_encode(&r, b);
	b[16] = 101; /* percent */
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), -1);
	initctl_reply_encode(&r, b);
	memset(b + 20, 'x', INITCTL_SLOT_MAX); /* slot without NUL */
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), -1);
	initctl_reply_encode(&r, b);
	memset(b + INITCTL_REPLY_SIZE - INITCTL_REASON_MAX, 'x',
	    INITCTL_REASON_MAX); /* reason without NUL */
	assert_int_equal(initctl_reply_decode(b, sizeof(b), &d), -1);
}

static void
path_rules(void **state)
{
	(void)state;
	assert_true(
	    initctl_path_ok("/data/update/outpost-0.2.0-x86_64.update"));
	assert_true(initctl_path_ok("/data/update/a+b_c"));
	assert_false(initctl_path_ok("/data/update/"));
	assert_false(initctl_path_ok("/data/update/../identity/key.pem"));
	assert_false(initctl_path_ok("/data/update/.part"));
	assert_false(initctl_path_ok("/data/update/a/b"));
	assert_false(initctl_path_ok("/data/updatex"));
	assert_false(initctl_path_ok("/etc/passwd"));
	assert_false(initctl_path_ok("data/update/x"));
	assert_false(initctl_path_ok("/data/update/a b"));
}

static void
state_names(void **state)
{
	(void)state;
	assert_string_equal(initctl_state_name(INITCTL_IDLE), "idle");
	assert_string_equal(
	    initctl_state_name(INITCTL_ROLLED_BACK), "rolled_back");
	assert_string_equal(initctl_state_name(INITCTL_FAILED), "failed");
	assert_string_equal(
	    initctl_state_name(INITCTL_DOWNLOADING), "downloading");
	assert_string_equal(initctl_state_name(INITCTL__STATES), "unknown");
	for (int i = 0; i < INITCTL__STATES; i++)
		assert_int_equal(initctl_state_find(initctl_state_name(i)), i);
	assert_int_equal(initctl_state_find("unknown"), -1);
	assert_int_equal(initctl_state_find("Idle"), -1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(req_roundtrip),
	    cmocka_unit_test(req_length_exact),
	    cmocka_unit_test(req_fields_checked),
	    cmocka_unit_test(req_long_path_cut),
	    cmocka_unit_test(reply_roundtrip),
	    cmocka_unit_test(reply_fields_checked),
	    cmocka_unit_test(path_rules),
	    cmocka_unit_test(state_names),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
