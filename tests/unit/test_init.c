/*
 * Unit tests for init: GPT partition lookup by name over a fake sysfs
 * tree, and the worker restart policy.  Usage: test_init [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init_int.h"

static char root[64];

static void
put_uevent(const char *dev, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/class/block/%s", root, dev);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/class/block/%s/uevent", root, dev);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
sysfs_setup(void **state)
{
	char path[256];

	snprintf(root, sizeof(root), "/tmp/test_init.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/class", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/class/block", root);
	mkdir(path, 0755);
	put_uevent("vda",
	    "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n"
	    "DISKSEQ=1\n");
	put_uevent("vda1",
	    "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE="
	    "partition\nPARTN=1\nPARTNAME=esp\n");
	put_uevent("vda5",
	    "MAJOR=254\nMINOR=5\nDEVNAME=vda5\nDEVTYPE="
	    "partition\nPARTN=5\nPARTNAME=outpost-config\n");
	put_uevent("vda6",
	    "MAJOR=254\nMINOR=6\nDEVNAME=vda6\nDEVTYPE="
	    "partition\nPARTN=6\nPARTNAME=outpost-data");
	/* A prefix of the name must not match, nor a value in another key. */
	put_uevent("sdb1", "DEVNAME=sdb1\nPARTNAME=outpost-data-old\n");
	put_uevent("sdc1", "DEVNAME=sdc1\nXPARTNAME=outpost-config\n");
	put_uevent("sdd1", "DEVNAME=../../etc\nPARTNAME=evil\n");
	return 0;
}

static int
sysfs_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
part_found_by_name(void **state)
{
	char dev[64];

	assert_int_equal(
	    init_part_find(root, "outpost-config", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/vda5");
	/* The last line has no newline. */
	assert_int_equal(
	    init_part_find(root, "outpost-data", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/vda6");
	assert_int_equal(init_part_find(root, "esp", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "/dev/vda1");
}

static void
part_missing(void **state)
{
	char dev[64];

	assert_int_equal(
	    init_part_find(root, "outpost", dev, sizeof(dev)), -ENOENT);
	assert_int_equal(
	    init_part_find(root, "vda", dev, sizeof(dev)), -ENOENT);
	assert_int_equal(
	    init_part_find(root, "outpost-data-ol", dev, sizeof(dev)), -ENOENT);
}

static void
part_refuses_escape_and_small_buffer(void **state)
{
	char dev[8];

	assert_int_equal(
	    init_part_find(root, "evil", dev, sizeof(dev)), -ENOENT);
	assert_int_equal(
	    init_part_find(root, "outpost-config", dev, 6), -ENAMETOOLONG);
}

static void
part_no_sysfs(void **state)
{
	char dev[64];

	assert_int_equal(
	    init_part_find("/nonexistent", "x", dev, sizeof(dev)), -ENOENT);
}

static int
exited(int code)
{
	return (code & 0xff) << 8; /* the wait(2) status of exit(code) */
}

static void
policy_temporary_doubles_with_jitter(void **state)
{
	struct init_policy p = {0};
	int64_t want = INIT_FAST_MS, d;
	unsigned i;

	for (i = 0; i < 12; i++) {
		d = init_policy_delay(&p, exited(EXIT_TEMPORARY), 10, 0);
		assert_int_equal(d, want / 2); /* rnd 0: the low end */
		want =
		    want * 2 > INIT_FAST_MAX_MS ? INIT_FAST_MAX_MS : want * 2;
	}
	/* The high end of the jitter is the full delay, never more. */
	d = init_policy_delay(
	    &p, exited(EXIT_TEMPORARY), 10, INIT_FAST_MAX_MS / 2);
	assert_int_equal(d, INIT_FAST_MAX_MS);
	d = init_policy_delay(&p, exited(EXIT_TEMPORARY), 10, 0xffffffffu);
	assert_true(d >= INIT_FAST_MAX_MS / 2 && d <= INIT_FAST_MAX_MS);
}

static void
policy_permanent_is_slow(void **state)
{
	struct init_policy p = {0};

	assert_int_equal(
	    init_policy_delay(&p, exited(EXIT_PERMANENT), 5, 7), INIT_SLOW_MS);
	assert_int_equal(
	    init_policy_delay(&p, exited(EXIT_PERMANENT), INIT_STABLE_MS, 7),
	    INIT_SLOW_MS);
}

static void
policy_stable_run_resets(void **state)
{
	struct init_policy p = {0};
	unsigned i;

	for (i = 0; i < 5; i++)
		init_policy_delay(&p, exited(EXIT_TEMPORARY), 10, 0);
	assert_int_equal(p.streak, 5);
	assert_int_equal(
	    init_policy_delay(&p, exited(EXIT_TEMPORARY), INIT_STABLE_MS, 0),
	    INIT_FAST_MS / 2);
	assert_int_equal(p.streak, 1);
}

static void
policy_signal_and_zero_are_temporary(void **state)
{
	struct init_policy p = {0};

	/* SIGKILL as a wait status: the low 7 bits hold the signal. */
	assert_true(WIFSIGNALED(9));
	assert_int_equal(init_policy_delay(&p, 9, 10, 0), INIT_FAST_MS / 2);
	assert_int_equal(init_policy_delay(&p, exited(0), 10, 0), INIT_FAST_MS);
	assert_int_equal(
	    init_policy_delay(&p, exited(1), 10, 0), INIT_FAST_MS * 2);
}

static void
policy_streak_saturates(void **state)
{
	struct init_policy p = {.streak = UINT_MAX};

	assert_int_equal(
	    init_policy_delay(&p, exited(111), 1, 0), INIT_FAST_MAX_MS / 2);
	assert_int_equal(p.streak, UINT_MAX);
}

static void
net_cidr_parsing(void **state)
{
	uint32_t a, m;

	assert_true(init_net_parse_cidr("192.0.2.10/24", &a, &m));
	assert_int_equal(a, htonl(0xc000020a));
	assert_int_equal(m, htonl(0xffffff00));
	assert_true(init_net_parse_cidr("10.1.2.3/32", &a, &m));
	assert_int_equal(m, 0xffffffffu);
	assert_true(init_net_parse_cidr("10.1.2.3/1", &a, &m));
	assert_int_equal(m, htonl(0x80000000));
	assert_false(init_net_parse_cidr("10.1.2.3", &a, &m));
	assert_false(init_net_parse_cidr("10.1.2.3/0", &a, &m));
	assert_false(init_net_parse_cidr("10.1.2.3/33", &a, &m));
	assert_false(init_net_parse_cidr("10.1.2.3/24x", &a, &m));
	assert_false(init_net_parse_cidr("10.1.2/24", &a, &m));
	assert_false(init_net_parse_cidr("/24", &a, &m));
	assert_false(
	    init_net_parse_cidr("1234567890.1234567890.1.1/8", &a, &m));
}

static void
net_dns_parsing(void **state)
{
	uint32_t d[DHCP_DNS_MAX];

	assert_int_equal(init_net_parse_dns("192.0.2.53, 192.0.2.54", d), 2);
	assert_int_equal(d[1], htonl(0xc0000236));
	assert_int_equal(
	    init_net_parse_dns("1.1.1.1,bogus,8.8.8.8,9.9.9.9,4.4.4.4", d), 3);
	assert_int_equal(d[2], htonl(0x09090909));
	assert_int_equal(init_net_parse_dns("", d), 0);
}

static void
never_fires(struct rx_loop *l, struct rx_timer *t)
{
	_exit(3);
}

/*
 * The child of dhcp_starts_without_a_timer, in a network namespace of its
 * own: DHCP on "lo" (its carrier file says 1) with init's timer heap
 * full.  Exit 0 when the engine started in the first loop turn.
 */
static int
dhcp_start_child(void)
{
	struct init *in = calloc(1, sizeof(*in));
	struct rx_timer fill, probe;

	if (in == NULL || unshare(CLONE_NEWNET) < 0 ||
	    rx_init(&in->loop, 1) < 0)
		return 2;
	rx_timer_init(&fill, never_fires);
	rx_timer_init(&probe, never_fires);
	if (rx_timer_start(&in->loop, &fill, 60000) < 0 ||
	    rx_timer_start(&in->loop, &probe, 60000) != -ENOSPC)
		return 2; /* the heap is not full */
	snprintf(in->net.ifname, sizeof(in->net.ifname), "lo");
	if (init_dhcp_start(in) < 0)
		return 2;
	rx_run_once(&in->loop, 0);
	return in->net.active ? 0 : 1;
}

/*
 * init_dhcp_start() defers its first carrier check with rx_defer(): it
 * used to arm the DHCP timer at 0 ms, and with init's small timer heap
 * full that failed unseen and DHCP never started.
 */
static void
dhcp_starts_without_a_timer(void **state)
{
	int status;
	pid_t pid;

	if (access("/sys/class/net/lo/carrier", R_OK) != 0)
		skip(); /* no sysfs to read the carrier from */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(dhcp_start_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(part_found_by_name),
	    cmocka_unit_test(part_missing),
	    cmocka_unit_test(part_refuses_escape_and_small_buffer),
	    cmocka_unit_test(part_no_sysfs),
	    cmocka_unit_test(policy_temporary_doubles_with_jitter),
	    cmocka_unit_test(policy_permanent_is_slow),
	    cmocka_unit_test(policy_stable_run_resets),
	    cmocka_unit_test(policy_signal_and_zero_are_temporary),
	    cmocka_unit_test(policy_streak_saturates),
	    cmocka_unit_test(net_cidr_parsing),
	    cmocka_unit_test(net_dns_parsing),
	    cmocka_unit_test(dhcp_starts_without_a_timer),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, sysfs_setup, sysfs_teardown);
}
