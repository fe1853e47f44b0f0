/* Unit tests: the fault-injecting fd wrapper, through the socket shim. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "net/net.h"
#include "wrapfd.h"

static int fds[2];

static int
pair_setup(void **state)
{
	wrapfd_clear();
	wrapfd_seed(42);
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds);
}

static int
pair_teardown(void **state)
{
	wrapfd_clear();
	close(fds[0]);
	close(fds[1]);
	return 0;
}

/* Read n bytes from fds[0] with the shim, 100 at most per call,
 * retrying EAGAIN a bounded number of times; returns the bytes read. */
static size_t
read_all(uint8_t *p, size_t n)
{
	size_t got = 0;
	ssize_t r;
	int i;

	for (i = 0; i < 10000 && got < n; i++) {
		r = net_read(fds[0], p + got, n - got > 100 ? 100 : n - got);
		if (r > 0)
			got += (size_t)r;
		else
			assert_int_equal(r, -EAGAIN);
	}
	return got;
}

static void
wrapfd_passthrough(void **state)
{
	uint8_t in[100];

	assert_int_equal(net_write(fds[1], "0123456789", 10), 10);
	assert_int_equal(net_read(fds[0], in, sizeof(in)), 10);
	assert_memory_equal(in, "0123456789", 10);
	assert_int_equal(wrapfd_stats()->bytes, 0);
}

static void
wrapfd_short_and_eintr(void **state)
{
	const struct wrapfd_plan p = {
	    .faults = WRAPFD_SHORT_READ | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    .percent = 100,
	    .reset_after = -1};
	uint8_t out[4000], in[4000];
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7);
	assert_int_equal(net_write(fds[1], out, sizeof(out)), sizeof(out));
	wrapfd_set(fds[0], &p);
	assert_int_equal(read_all(in, sizeof(in)), sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	assert_true(wrapfd_stats()->short_reads > 0);
	assert_true(wrapfd_stats()->eintr > 0); /* retried inside net_read */
	assert_true(wrapfd_stats()->eagain > 0);
	assert_int_equal(wrapfd_stats()->bytes, sizeof(in));
}

static void
wrapfd_short_writes(void **state)
{
	const struct wrapfd_plan p = {
	    .faults = WRAPFD_SHORT_WRITE, .percent = 100, .reset_after = -1};
	uint8_t in[64];
	ssize_t r;

	wrapfd_set(WRAPFD_ALL, &p);
	r = net_write(fds[1], "abcdefghij", 10);
	assert_true(r >= 1 && r < 10);
	assert_int_equal(wrapfd_stats()->short_writes, 1);
	/* Never two faults in a row: the next call goes through whole. */
	assert_int_equal(net_write(fds[1], "klmnop", 6), 6);
	wrapfd_set(WRAPFD_ALL, NULL);
	assert_int_equal(net_read(fds[0], in, sizeof(in)), r + 6);
}

static void
wrapfd_reset(void **state)
{
	const struct wrapfd_plan p = {.reset_after = 10};
	uint8_t buf[100] = {0};

	wrapfd_set(fds[1], &p);
	assert_int_equal(net_write(fds[1], buf, sizeof(buf)), 10);
	assert_int_equal(net_write(fds[1], buf, sizeof(buf)), -ECONNRESET);
	assert_int_equal(net_read(fds[1], buf, sizeof(buf)), -ECONNRESET);
	assert_int_equal(wrapfd_stats()->resets, 2);
	/* Other fds are untouched. */
	assert_int_equal(net_read(fds[0], buf, sizeof(buf)), 10);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		wrapfd_passthrough, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(
		wrapfd_short_and_eintr, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(
		wrapfd_short_writes, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(
		wrapfd_reset, pair_setup, pair_teardown),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
