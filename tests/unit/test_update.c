/*
 * Unit tests: update/ — version numbers, the manifest parser's refusals,
 * the slot-size check and update_part_copy() against a known SHA-256
 * (FIPS 180-2's "abc").  Whole signed bundles are built by the real
 * scripts/update.sh in tests/integration/test_update_bundle.py.
 * Usage: test_update [name-filter]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "update/update_int.h"

#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEAD "outpost-update 1\nversion 0.2.0\narch x86_64\nmin-version 0\n"

static void
versions(void **state)
{
	(void)state;
	assert_true(update_version_valid("0"));
	assert_true(update_version_valid("1.10.0.999999999"));
	assert_false(update_version_valid("01.2"));
	assert_false(update_version_valid("1..2"));
	assert_false(update_version_valid("1.2.3.4.5"));
	assert_false(update_version_valid("1.2-rc1"));
	assert_false(update_version_valid("1234567890"));
	assert_false(update_version_valid(""));
	assert_true(update_version_cmp("0.10.0", "0.9.9") > 0);
	assert_true(update_version_cmp("1.2", "1.2.0") == 0);
	assert_true(update_version_cmp("0.1.0", "0.2.0") < 0);
}

static int
parse(const char *s, char *err)
{
	struct update_manifest m;

	return update_manifest_parse(s, strlen(s), 4096, 8192, &m, err, 128);
}

static void
manifest_refusals(void **state)
{
	static const struct {
		const char *text, *reason;
	} c[] = {
	    {HEAD "part root 4096 3 " ABC "\n", NULL},
	    {HEAD, "manifest: no parts"},
	    {HEAD "part root 4096 3 " ABC, "manifest: line 5 is not a line"},
	    {HEAD "part root 4095 3 " ABC "\n", "manifest: part root overlaps"},
	    {HEAD "part root 4096 3 " ABC "\npart b 4098 1 " ABC "\n",
		"manifest: part b overlaps"},
	    {HEAD "part root 4096 3 " ABC "\npart root 5000 1 " ABC "\n",
		"manifest: part root twice"},
	    {HEAD "part root 8190 3 " ABC "\n", "manifest: part root: outside"},
	    {HEAD "part root 4096 9999999999999999999 " ABC "\n",
		"manifest: part root: outside"},
	    {HEAD "part root 4096 03 " ABC "\n", "manifest: part root: bad"},
	    {HEAD "part Root 4096 3 " ABC "\n", "manifest: bad part name"},
	    {HEAD "part root  4096 3 " ABC "\n",
		"manifest: line 5 is not a part"},
	    {"outpost-update 2\n", "manifest: bad outpost-update"},
	    {"outpost-update 1\nversion 0.2.0-rc1\n", "manifest: bad version"},
	    {"outpost-update 1\narch x86_64\n",
		"manifest: line 2 is not version"},
	};
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = parse(c[i].text, err);

		if (c[i].reason == NULL) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_int_equal(r, -1);
		if (strncmp(err, c[i].reason, strlen(c[i].reason)) != 0)
			fail_msg("case %zu: %s", i, err);
	}
}

static void
slot_size(void **state)
{
	struct update_part p = {.name = "root", .size = 40u << 20};
	char err[128];

	(void)state;
	assert_int_equal(update_part_fits(&p, 40u << 20, err, sizeof(err)), 0);
	assert_int_equal(update_part_fits(&p, 32u << 20, err, sizeof(err)), -1);
	assert_string_equal(
	    err, "part root: 40 MiB larger than the slot (32 MiB)");
}

static void
add_progress(void *arg, uint64_t done)
{
	*(uint64_t *)arg = done;
}

static void
part_copy(void **state)
{
	char path[] = "/tmp/test_update.XXXXXX",
	     outp[] = "/tmp/test_update.XXXXXX";
	struct update_manifest m;
	struct update_part *p;
	int fd = mkstemp(path), out = mkstemp(outp);
	uint64_t done = 0;
	char err[128], got[4] = {0};
	const char *text = HEAD "part root 4096 3 " ABC "\n";

	(void)state;
	assert_true(fd >= 0 && out >= 0);
	assert_int_equal(pwrite(fd, "abc", 3, 4096), 3);
	assert_int_equal(update_manifest_parse(text, strlen(text), 4096, 4099,
			     &m, err, sizeof(err)),
	    0);
	p = &m.part[0];
	assert_ptr_equal(update_part_find(&m, "root"), p);
	assert_null(update_part_find(&m, "verity"));
	assert_int_equal(
	    update_part_copy(fd, p, out, add_progress, &done, err, sizeof(err)),
	    0);
	assert_int_equal(done, 3);
	assert_int_equal(pread(out, got, 3, 0), 3);
	assert_string_equal(got, "abc");
	assert_int_equal(pwrite(fd, "abd", 3, 4096), 3);
	assert_int_equal(
	    update_part_copy(fd, p, -1, NULL, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "part root: sha256 mismatch");
	assert_int_equal(ftruncate(fd, 4098), 0);
	assert_int_equal(
	    update_part_copy(fd, p, -1, NULL, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "part root: short read at byte 2");
	close(fd);
	close(out);
	unlink(path);
	unlink(outp);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(versions),
	    cmocka_unit_test(manifest_refusals),
	    cmocka_unit_test(slot_size),
	    cmocka_unit_test(part_copy),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
