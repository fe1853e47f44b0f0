/*
 * Unit tests: lib/util — the constant-time compare, hex digits, wiping,
 * getrandom, and util_read_file() / util_read_file_at() against real
 * files (regular, empty, oversize, a device, a directory, procfs, a
 * symlink) in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "lib/util.h"

static char dir[] = "/tmp/outpost-util-XXXXXX";

static const char *
write_file(const char *name, const void *data, size_t n)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
	return path;
}

static void
util_ct_eq_compares_every_byte(void **state)
{
	uint8_t a[64], b[64];
	size_t i;

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(util_ct_eq(a, b, sizeof(a)));
	assert_true(util_ct_eq(a, b, 0));
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x01;
		assert_false(util_ct_eq(a, b, sizeof(a)));
		assert_true(util_ct_eq(a, b, i)); /* the bytes before i agree */
		b[i] ^= 0x01;
	}
	b[63] = 0xa5; /* every bit different in the last byte only */
	a[63] = 0x5a;
	assert_false(util_ct_eq(a, b, sizeof(a)));
}

static void
util_hexval_digits(void **state)
{
	const char *d = "0123456789abcdef", *u = "ABCDEF";
	int i;

	for (i = 0; i < 16; i++)
		assert_int_equal(util_hexval(d[i]), i);
	for (i = 0; i < 6; i++)
		assert_int_equal(util_hexval(u[i]), 10 + i);
	assert_int_equal(util_hexval('g'), -1);
	assert_int_equal(util_hexval('/'), -1);
	assert_int_equal(util_hexval(':'), -1);
	assert_int_equal(util_hexval(0), -1);
	assert_int_equal(util_hexval(0xe0), -1);
}

static void
util_wipe_and_random(void **state)
{
	uint8_t z[32] = {0}, a[32], b[32];

	assert_int_equal(util_random(a, sizeof(a)), 0);
	assert_int_equal(util_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a)); /* 2^-256 to fail */
	util_wipe(a, sizeof(a));
	assert_memory_equal(a, z, sizeof(a));
	assert_true(util_mono_ms() > 0);
	assert_true(util_wall_ms() > 1700000000000LL);
}

static void
util_read_file_whole(void **state)
{
	static const char text[] = "KEY=value\n# comment\n";
	char *p;
	size_t n;

	assert_int_equal(
	    util_read_file(write_file("a", text, strlen(text)), 1024, &p, &n),
	    0);
	assert_int_equal(n, strlen(text));
	assert_string_equal(p, text); /* NUL after the bytes */
	free(p);
	/* Exactly max bytes is fine; a bound of the file's size too. */
	assert_int_equal(util_read_file(write_file("b", text, strlen(text)),
			     strlen(text), &p, &n),
	    0);
	assert_int_equal(n, strlen(text));
	free(p);
	assert_int_equal(util_read_file(write_file("e", "", 0), 16, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(p, "");
	free(p);
}

/* tls_anchor.c returned the first 4 MiB of a larger file as if whole. */
static void
util_read_file_oversize_is_an_error(void **state)
{
	size_t big = 3 * 65536 + 7, n = 99;
	char *data = malloc(big), *p = (char *)1;

	assert_non_null(data);
	memset(data, 'x', big);
	assert_int_equal(
	    util_read_file(write_file("big", data, big), big - 1, &p, &n),
	    -EFBIG);
	assert_null(p);
	assert_int_equal(n, 0);
	assert_int_equal(
	    util_read_file(write_file("big", data, big), big, &p, &n), 0);
	assert_int_equal(n, big);
	assert_memory_equal(p, data, big);
	free(p);
	free(data);
}

static void
util_read_file_other_kinds(void **state)
{
	char path[160], *p;
	size_t n;

	/* A device has no size: read to its end. */
	assert_int_equal(util_read_file("/dev/null", 16, &p, &n), 0);
	assert_int_equal(n, 0);
	free(p);
	/* procfs reports size 0 for files with content. */
	assert_int_equal(util_read_file("/proc/self/stat", 65536, &p, &n), 0);
	assert_true(n > 10 && strlen(p) == n);
	free(p);
	/* A device that never ends stops at the bound. */
	assert_int_equal(util_read_file("/dev/zero", 100000, &p, &n), -EFBIG);
	assert_null(p);
	assert_int_equal(util_read_file(dir, 16, &p, &n), -EISDIR);
	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(util_read_file(path, 16, &p, &n), -ENOENT);
	assert_null(p);
}

/*
 * util_read_file_at(): relative to a directory, and with O_NOFOLLOW a
 * symlink as the last component is refused (-ELOOP, nothing handed out)
 * while the file it names, or the link without the flag, reads.
 */
static void
util_read_file_at_refuses_a_symlink(void **state)
{
	char path[160], *p = (char *)"x";
	size_t n;
	int dfd;

	write_file("a", "AT\n", 3);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("a", path), 0);
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(
	    util_read_file_at(dfd, "link", O_NOFOLLOW, 16, &p, &n), -ELOOP);
	assert_null(p);
	assert_int_equal(
	    util_read_file_at(dfd, "a", O_NOFOLLOW, 16, &p, &n), 0);
	assert_string_equal(p, "AT\n");
	free(p);
	assert_int_equal(util_read_file_at(dfd, "link", 0, 16, &p, &n), 0);
	assert_int_equal(n, 3);
	free(p);
	assert_int_equal(
	    util_read_file_at(dfd, "a", O_WRONLY, 16, &p, &n), -EINVAL);
	assert_int_equal(
	    util_read_file_at(dfd, "a", O_NOFOLLOW, 2, &p, &n), -EFBIG);
	close(dfd);
}

static int
setup(void **state)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	const char *names[] = {"a", "b", "e", "big", "link"};
	char path[160];
	size_t i;

	for (i = 0; i < nitems(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(util_ct_eq_compares_every_byte),
	    cmocka_unit_test(util_hexval_digits),
	    cmocka_unit_test(util_wipe_and_random),
	    cmocka_unit_test(util_read_file_whole),
	    cmocka_unit_test(util_read_file_oversize_is_an_error),
	    cmocka_unit_test(util_read_file_other_kinds),
	    cmocka_unit_test(util_read_file_at_refuses_a_symlink),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, setup, teardown);
}
