/*
 * Unit tests for init's boot assessment (#21, assess.c, slot.c, ready.c):
 * boot counter parsing, the decision from the ESP's EFI/Linux (trees made
 * in a tmp dir), the trial's timer logic with injected time, marking good
 * by rename, and the sd_notify datagram parser.
 * Usage: test_init_assess [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init_int.h"

#define MIN_MS (60 * 1000)

static char tmp[64]; /* one test's ESP: tmp/EFI/Linux */
static char uki_dir[96];

static void
counters(void **state)
{
	unsigned l, d;

	(void)state;
	assert_true(init_uki_counter("outpost-1.2.0-a+3.efi", &l, &d));
	assert_int_equal(l, 3);
	assert_int_equal(d, 0);
	assert_true(init_uki_counter("outpost-1.2.0-b+2-1.efi", &l, &d));
	assert_int_equal(l, 2);
	assert_int_equal(d, 1);
	assert_true(init_uki_counter("outpost-1.2.0-b+0-3.efi", &l, &d));
	assert_int_equal(l, 0);
	assert_int_equal(d, 3);
	assert_false(init_uki_counter("outpost-1.2.0-b.efi", &l, &d));
	assert_false(init_uki_counter("outpost-1.2.0-b+.efi", &l, &d));
	assert_false(init_uki_counter("outpost-1.2.0-b+1-.efi", &l, &d));
	assert_false(init_uki_counter("outpost-1.2.0-b+1-2.efi.tmp", &l, &d));
	assert_false(
	    init_uki_counter("outpost-1.2.0-b+1234567890.efi", &l, &d));
	assert_false(init_uki_counter("linux-1.2.0-b+3.efi", &l, &d));
}

static void
good_names(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(
	    init_uki_good_name("outpost-1.2.0-a+2-1.efi", out, sizeof(out)), 0);
	assert_string_equal(out, "outpost-1.2.0-a.efi");
	assert_int_equal(
	    init_uki_good_name("outpost-1.2.0-b+3.efi", out, sizeof(out)), 0);
	assert_string_equal(out, "outpost-1.2.0-b.efi");
	assert_int_equal(
	    init_uki_good_name("outpost-1.2.0-b+3.efi", out, 10), -1);
	assert_int_equal(
	    init_uki_good_name("readme.txt", out, sizeof(out)), -1);
}

/* One decision: the ESP's names (NULL-terminated), who runs, and what
 * must come out. */
struct decision {
	const char *names[4];
	const char *slot, *running;
	enum initctl_state state;
	const char *uki, *other, *reason;
};

static const struct decision decisions[] = {
    {{"outpost-1.0.0-a.efi", "outpost-1.1.0-b+2-1.efi", "readme.txt"}, "b",
	"1.1.0", INITCTL_TRIAL, "outpost-1.1.0-b+2-1.efi", "1.0.0", ""},
    {{"outpost-1.0.0-a.efi", "outpost-1.1.0-b.efi"}, "b", "1.1.0", INITCTL_GOOD,
	"", "1.0.0", ""},
    /* Slot a, written b not yet tried: a is good, b is the other. */
    {{"outpost-1.0.0-a.efi", "outpost-1.1.0-b+2-1.efi"}, "a", "1.0.0",
	INITCTL_GOOD, "", "1.1.0", ""},
    {{"readme.txt"}, "a", "1.0.0", INITCTL_IDLE, "", "", ""},
    /* Never a trial when an uncounted name of the slot is there too. */
    {{"outpost-1.1.0-b.efi", "outpost-1.1.0-b+3.efi"}, "b", "1.1.0",
	INITCTL_GOOD, "", "", ""},
    /* systemd-boot fell back to a from a newer b. */
    {{"outpost-1.0.0-a.efi", "outpost-1.1.0-b+0-3.efi"}, "a", "1.0.0",
	INITCTL_ROLLED_BACK, "", "1.1.0",
	"1.1.0 did not come up after 3 tries"},
    /* An exhausted older slot is no rollback of ours. */
    {{"outpost-1.0.0-a.efi", "outpost-0.9.0-b+0-3.efi"}, "a", "1.0.0",
	INITCTL_GOOD, "", "0.9.0", ""},
    /* Tries left: not rolled back (yet). */
    {{"outpost-1.0.0-a.efi", "outpost-1.1.0-b+1-2.efi"}, "a", "1.0.0",
	INITCTL_GOOD, "", "1.1.0", ""},
    /* The newest of the other slot's UKIs counts. */
    {{"outpost-1.2.0-b+0-3.efi", "outpost-1.0.0-b.efi",
	 "outpost-1.1.0-a+3.efi"},
	"a", "1.1.0", INITCTL_TRIAL, "outpost-1.1.0-a+3.efi", "1.2.0", ""},
};

static void
decides(void **state)
{
	const struct decision *d;
	struct init_update u;
	char uki[96];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
		d = &decisions[i];
		for (k = 0; k < 4 && d->names[k] != NULL; k++)
			;
		memset(&u, 0, sizeof(u));
		snprintf(u.reason, sizeof(u.reason), "stale");
		init_assess_decide(
		    d->names, k, d->slot, d->running, &u, uki, sizeof(uki));
		print_message("decision %zu\n", i);
		assert_int_equal(u.state, d->state);
		assert_string_equal(uki, d->uki);
		assert_string_equal(u.other_version, d->other);
		assert_string_equal(u.reason, d->reason);
	}
}

static int
esp_setup(void **state)
{
	char p[160];

	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_init_assess.XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(p, sizeof(p), "%s/EFI", tmp);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(uki_dir, sizeof(uki_dir), "%s/EFI/Linux", tmp);
	assert_int_equal(mkdir(uki_dir, 0700), 0);
	return 0;
}

static int
esp_teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void
touch(const char *name)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", uki_dir, name);
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, "MZ", 2), 2);
	close(fd);
}

static bool
exists(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", uki_dir, name);
	return access(p, F_OK) == 0;
}

static void
dir_trial_then_mark_good(void **state)
{
	struct init_update u = {0};
	char uki[96], why[128];

	(void)state;
	touch("outpost-1.0.0-a.efi");
	touch("outpost-1.1.0-b+1-2.efi");
	touch("outpost-1.1.0-b.efi.tmp");
	assert_int_equal(
	    init_assess_dir(uki_dir, "b", "1.1.0", &u, uki, sizeof(uki)), 0);
	assert_int_equal(u.state, INITCTL_TRIAL);
	assert_string_equal(uki, "outpost-1.1.0-b+1-2.efi");
	assert_string_equal(u.other_version, "1.0.0");
	assert_int_equal(init_uki_mark_good(uki_dir, uki, why, sizeof(why)), 0);
	assert_true(exists("outpost-1.1.0-b.efi"));
	assert_false(exists("outpost-1.1.0-b+1-2.efi"));
	assert_true(exists("outpost-1.0.0-a.efi"));
	/* The next boot is good. */
	assert_int_equal(
	    init_assess_dir(uki_dir, "b", "1.1.0", &u, uki, sizeof(uki)), 0);
	assert_int_equal(u.state, INITCTL_GOOD);
	/* A second rename fails with the reason. */
	assert_int_equal(init_uki_mark_good(uki_dir, "outpost-1.1.0-b+1-2.efi",
			     why, sizeof(why)),
	    -1);
	assert_string_equal(why,
	    "ESP: rename outpost-1.1.0-b+1-2.efi to outpost-1.1.0-b.efi: No "
	    "such file or directory");
	assert_int_equal(
	    init_uki_mark_good(uki_dir, "readme.txt", why, sizeof(why)), -1);
	assert_string_equal(why, "readme.txt: not a UKI name of ours");
}

static void
dir_rolled_back_and_missing(void **state)
{
	struct init_update u = {.state = INITCTL_WRITTEN};
	char uki[96], missing[128];

	(void)state;
	touch("outpost-1.0.0-a.efi");
	touch("outpost-1.1.0-b+0-3.efi");
	assert_int_equal(
	    init_assess_dir(uki_dir, "a", "1.0.0", &u, uki, sizeof(uki)), 0);
	assert_int_equal(u.state, INITCTL_ROLLED_BACK);
	assert_string_equal(u.reason, "1.1.0 did not come up after 3 tries");
	snprintf(missing, sizeof(missing), "%s/nothing", tmp);
	u.state = INITCTL_WRITTEN;
	assert_int_equal(
	    init_assess_dir(missing, "a", "1.0.0", &u, uki, sizeof(uki)),
	    -ENOENT);
	assert_int_equal(u.state, INITCTL_WRITTEN);
}

static void
dir_many_files_bounded(void **state)
{
	struct init_update u = {0};
	char uki[96], name[64];
	int i;

	(void)state;
	for (i = 0; i < 3 * INIT_ESP_UKI_MAX; i++) {
		snprintf(name, sizeof(name), "junk-%d.efi", i);
		touch(name);
	}
	touch("outpost-1.1.0-b+3.efi");
	assert_int_equal(
	    init_assess_dir(uki_dir, "b", "1.1.0", &u, uki, sizeof(uki)), 0);
	assert_int_equal(u.state, INITCTL_TRIAL);
}

static void
trial_timer(void **state)
{
	const int64_t ga = 2 * MIN_MS, start = 1000;
	struct init_trial t = {.start = start, .ready_since = -1};
	int64_t w;

	(void)state;
	/* Not ready: wait for the deadline, then fail. */
	assert_int_equal(
	    init_trial_verdict(&t, start, ga, &w), INIT_TRIAL_WAIT);
	assert_int_equal(w, ga + INIT_TRIAL_ALLOWANCE_MS);
	assert_int_equal(
	    init_trial_verdict(&t, start + ga + 5 * MIN_MS, ga, &w),
	    INIT_TRIAL_FAILED);
	/* Ready at 10 s: good 2 min later, not before. */
	t.ready_since = start + 10000;
	assert_int_equal(
	    init_trial_verdict(&t, start + 10000, ga, &w), INIT_TRIAL_WAIT);
	assert_int_equal(w, ga);
	assert_int_equal(init_trial_verdict(&t, start + 10000 + ga - 1, ga, &w),
	    INIT_TRIAL_WAIT);
	assert_int_equal(w, 1);
	assert_int_equal(init_trial_verdict(&t, start + 10000 + ga, ga, &w),
	    INIT_TRIAL_GOOD);
	/* Ready late, near the deadline: the deadline comes first. */
	t.ready_since = start + 6 * MIN_MS;
	assert_int_equal(init_trial_verdict(&t, start + 6 * MIN_MS, ga, &w),
	    INIT_TRIAL_WAIT);
	assert_int_equal(w, MIN_MS);
	assert_int_equal(init_trial_verdict(&t, start + 7 * MIN_MS, ga, &w),
	    INIT_TRIAL_FAILED);
	/* Ready long enough wins over a passed deadline (a late check). */
	t.ready_since = start;
	assert_int_equal(init_trial_verdict(&t, start + 60 * MIN_MS, ga, &w),
	    INIT_TRIAL_GOOD);
}

static void
notify_parse(void **state)
{
	char st[32];

#define P(s) init_notify_parse(s, strlen(s), st, sizeof(st))
	(void)state;
	st[0] = '\0';
	assert_int_equal(
	    P("READY=1\nSTATUS=ready: 1 tunnel up"), INIT_NOTIFY_READY);
	assert_string_equal(st, "ready: 1 tunnel up");
	assert_int_equal(
	    P("STATUS=not ready: no tunnel"), INIT_NOTIFY_NOT_READY);
	assert_string_equal(st, "not ready: no tunnel");
	assert_int_equal(
	    P("STOPPING=1\nSTATUS=draining"), INIT_NOTIFY_NOT_READY);
	assert_string_equal(st, "draining");
	assert_int_equal(P("WATCHDOG=1"), INIT_NOTIFY_NONE);
	assert_int_equal(P(""), INIT_NOTIFY_NONE);
	assert_int_equal(P("READY=10\nREADY=\nXREADY=1"), INIT_NOTIFY_NONE);
	assert_int_equal(P("READY=1\n"), INIT_NOTIFY_READY);
	/* Cut to fit, controls dropped. */
	assert_int_equal(P("STATUS=ready: \x01"
			   "0123456789012345678901234567890"
			   "123456789"),
	    INIT_NOTIFY_READY);
	assert_int_equal(strlen(st), sizeof(st) - 1);
	assert_string_equal(st, "ready: 012345678901234567890123");
	/* Not NUL-terminated: only n bytes are read. */
	assert_int_equal(init_notify_parse("READY=1XXXX", 7, st, sizeof(st)),
	    INIT_NOTIFY_READY);
#undef P
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(counters),
	    cmocka_unit_test(good_names),
	    cmocka_unit_test(decides),
	    cmocka_unit_test_setup_teardown(
		dir_trial_then_mark_good, esp_setup, esp_teardown),
	    cmocka_unit_test_setup_teardown(
		dir_rolled_back_and_missing, esp_setup, esp_teardown),
	    cmocka_unit_test_setup_teardown(
		dir_many_files_bounded, esp_setup, esp_teardown),
	    cmocka_unit_test(trial_timer),
	    cmocka_unit_test(notify_parse),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
