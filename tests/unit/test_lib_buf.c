/* Unit tests: lib/buf (capacity, sticky overflow, the NUL rule of
 * buf_printf) and lib/json (quoting and escaping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/buf.h"
#include "lib/json.h"

static void
buf_add_respects_capacity(void **state)
{
	uint8_t mem[8];
	struct buf b;
	uint8_t *t;
	size_t room;

	buf_init(&b, mem, sizeof(mem));
	assert_true(buf_add(&b, "abc", 3));
	assert_true(buf_adds(&b, "defgh"));
	assert_int_equal(b.len, 8);
	assert_false(b.overflow);
	assert_true(buf_add(&b, NULL, 0));
	assert_false(buf_add(&b, "i", 1));
	assert_true(b.overflow);
	assert_int_equal(b.len, 8);
	assert_memory_equal(mem, "abcdefgh", 8);
	buf_consume(&b, 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(mem, "defgh", 5);
	assert_true(b.overflow); /* sticky until reset */
	t = buf_tail(&b, &room);
	assert_ptr_equal(t, mem + 5);
	assert_int_equal(room, 3);
	memcpy(t, "xyz", 3);
	buf_commit(&b, 3);
	assert_memory_equal(mem, "defghxyz", 8);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_false(b.overflow);
}

/* The NUL rule documented in buf.h. */
static void
buf_printf_nul_rule(void **state)
{
	char mem[8];
	struct buf b;

	memset(mem, '#', sizeof(mem));
	buf_init(&b, mem, sizeof(mem));
	assert_true(buf_printf(&b, "%d-%s", 12, "ab"));
	assert_int_equal(b.len, 5);
	assert_string_equal(mem, "12-ab"); /* a NUL at p[len], not counted */
	assert_true(buf_add(&b, "X", 1));
	assert_memory_equal(mem, "12-abX#", 7); /* the NUL is overwritten */
	/* Two bytes of room: "12" would end at cap, so it fails. */
	assert_false(buf_printf(&b, "%s", "12"));
	assert_true(b.overflow);
	assert_int_equal(b.len, 6);
	assert_memory_equal(mem, "12-abX1", 8); /* tail clobbered, truncated */
	assert_int_equal(mem[7], '\0');
	buf_reset(&b);
	assert_true(buf_printf(&b, "%s", "1234567")); /* 7 + NUL fit */
	assert_int_equal(b.len, 7);
	assert_true(buf_printf(&b, "%s", "")); /* the NUL alone fits */
	assert_true(buf_add(&b, "Z", 1));
	assert_false(buf_printf(&b, "%s", "")); /* no room for the NUL */
}

static void
json_escapes(void **state)
{
	static const char in[] = "a\"b\\c\n\x01\x7f\xc3\xa9";
	char mem[64];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	json_str(&b, in, sizeof(in) - 1);
	assert_int_equal(
	    b.len, strlen("\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\""));
	assert_memory_equal(
	    mem, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\"", b.len);
	buf_reset(&b);
	json_cstr(&b, NULL);
	json_cstr(&b, "");
	json_str(&b, "x\0y", 3); /* a NUL inside is escaped, not an end */
	assert_int_equal(b.len, strlen("null\"\"\"x\\u0000y\""));
	assert_memory_equal(mem, "null\"\"\"x\\u0000y\"", b.len);
	/* Out of room: overflow is set and the caller checks once. */
	buf_init(&b, mem, 4);
	json_cstr(&b, "abcdef");
	assert_true(b.overflow);
	assert_true(b.len <= 4);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(buf_add_respects_capacity),
	    cmocka_unit_test(buf_printf_nul_rule),
	    cmocka_unit_test(json_escapes),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
