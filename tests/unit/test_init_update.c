/*
 * Unit tests for init's update path (#21): slot selection from the kernel
 * command line, UKI names, and the slot writer (update_write.c) against
 * regular files standing in for the partitions and a directory for the
 * ESP, with real bundles signed by scripts/update.sh and openssl.
 * Usage: test_init_update [name-filter]
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

#define RUNNING "1.0.0"
#define ROOT_SIZE 300000
#define SLOT_SIZE (1 << 20)

static char dir[64]; /* bundles and keys, made once */
static char work[128]; /* one test's partitions and ESP */

struct seen {
	enum initctl_state state[512];
	unsigned percent[512];
	size_t n;
	char last[INITCTL_REASON_MAX];
	void (*hook)(enum initctl_state st); /* on each report */
};

static void
report(void *arg, enum initctl_state st, unsigned percent, const char *text)
{
	struct seen *s = arg;

	assert_true(s->n < 512);
	assert_true(percent <= 100);
	s->state[s->n] = st;
	s->percent[s->n++] = percent;
	snprintf(s->last, sizeof(s->last), "%s", text);
	if (s->hook != NULL)
		s->hook(st);
}

static int
part(const char *name, char *out, size_t n)
{
	struct stat st;

	snprintf(out, n, "%s/%s", work, name);
	return stat(out, &st) == 0 ? 0 : -ENOENT;
}

static int
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

/* bundle NAME of VERSION for ARCH, signed with KEY (a or b). */
static int
bundle(const char *name, const char *version, const char *arch, char key)
{
	return sh("set -e; cd %s; rm -rf p o; mkdir p;"
		  " cp root.erofs root.verity uki-a.efi uki-b.efi p/;"
		  " echo %s >p/version; echo %s >p/arch;"
		  " SIGNING_KEY=key%c.pem SIGNING_CERT=cert%c.pem"
		  " %s/scripts/update.sh p o >/dev/null;"
		  " mv o/*.update %s.update; rm -rf p o",
	    dir, version, arch, key, key, getenv("PWD"), name);
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_init_update.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	if (sh("set -e; cd %s; for k in a b; do openssl req -x509 -newkey"
	       " rsa:2048 -nodes -days 30 -subj /CN=test-$k -keyout key$k.pem"
	       " -out cert$k.pem 2>/dev/null; done;"
	       " head -c %d /dev/urandom >root.erofs;"
	       " head -c 9000 /dev/urandom >root.verity;"
	       " head -c 5000 /dev/urandom >uki-a.efi;"
	       " head -c 5001 /dev/urandom >uki-b.efi",
		dir, ROOT_SIZE) < 0)
		return -1;
	return bundle("good", "1.0.1", "x86_64", 'a') ||
	    bundle("otherkey", "1.0.1", "x86_64", 'b') ||
	    bundle("aarch64", "1.0.1", "aarch64", 'a') ||
	    bundle("older", "0.9.0", "x86_64", 'a');
}

static int
group_teardown(void **state)
{
	(void)state;
	return sh("rm -rf %s", dir);
}

/* Partitions of both slots, slot a holding something; the ESP's UKIs. */
static int
work_setup(void **state)
{
	(void)state;
	snprintf(work, sizeof(work), "%s/w", dir);
	return sh("set -e; cd %s; rm -rf w; mkdir -p w/esp/EFI/Linux; cd w;"
		  " truncate -s %d root-b verity-b;"
		  " head -c 4096 /dev/urandom >root-a;"
		  " echo a >esp/EFI/Linux/outpost-1.0.0-a.efi;"
		  " echo old >esp/EFI/Linux/outpost-0.9.0-b.efi;"
		  " echo older >esp/EFI/Linux/outpost-0.8.0-b+0-3.efi;"
		  " echo loader >esp/EFI/Linux/readme.txt;"
		  " sha256sum root-a >a.sum",
	    dir, SLOT_SIZE);
}

static struct init_update_io
io_for(const char *name, struct seen *s)
{
	static char path[128], cert[128], esp[160];
	struct init_update_io io = {
	    .bundle = path,
	    .cert = cert,
	    .esp = esp,
	    .running = RUNNING,
	    .target = "b",
	    .part = part,
	    .report = report,
	    .arg = s,
	};

	snprintf(path, sizeof(path), "%s/%s.update", dir, name);
	snprintf(cert, sizeof(cert), "%s/certa.pem", dir);
	snprintf(esp, sizeof(esp), "%s/esp", work);
	return io;
}

/* The ESP's EFI/Linux as "name name ..." in sorted order. */
static void
esp_list(char *out, size_t n)
{
	struct dirent **ents;
	char d[192];
	int k, i;

	snprintf(d, sizeof(d), "%s/esp/EFI/Linux", work);
	out[0] = '\0';
	k = scandir(d, &ents, NULL, alphasort);
	assert_true(k >= 0);
	for (i = 0; i < k; i++) {
		if (ents[i]->d_name[0] != '.')
			snprintf(out + strlen(out), n - strlen(out), "%s%s",
			    out[0] ? " " : "", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
}

#define ESP_BEFORE \
	"outpost-0.8.0-b+0-3.efi outpost-0.9.0-b.efi outpost-1.0.0-a.efi " \
	"readme.txt"

/* Slot b still all zeroes, slot a as it was, the ESP as it was. */
static void
assert_untouched(void)
{
	char list[512];

	/* Each of slot b's partitions that is there (a test may hide one). */
	assert_int_equal(sh("cd %s && for f in root-b verity-b; do"
			    " [ ! -e $f ] || [ -z \"$(tr -d '\\000' <$f |"
			    " head -c 1)\" ] || exit 1; done &&"
			    " sha256sum -c --status a.sum",
			     work),
	    0);
	esp_list(list, sizeof(list));
	assert_string_equal(list, ESP_BEFORE);
}

static void
refused(const char *name, const char *reason)
{
	struct seen s = {0};
	struct init_update_io io = io_for(name, &s);

	assert_int_equal(init_update_write(&io), -1);
	assert_int_equal(s.state[s.n - 1], INITCTL_FAILED);
	if (strstr(s.last, reason) == NULL)
		fail_msg("%s: reason %s, want %s", name, s.last, reason);
	assert_untouched();
}

static void
slot_from_cmdline(void **state)
{
	char s[INITCTL_SLOT_MAX];

	(void)state;
	assert_true(init_slot_parse(
	    "console=ttyS0 outpost.slot=a quiet", s, sizeof(s)));
	assert_string_equal(s, "a");
	assert_true(init_slot_parse("outpost.slot=b", s, sizeof(s)));
	assert_string_equal(s, "b");
	assert_true(init_slot_parse(
	    "outpost.slot=a dm-mod.create=x outpost.slot=b\n", s, sizeof(s)));
	assert_string_equal(s, "b");
	assert_false(init_slot_parse("xoutpost.slot=a", s, sizeof(s)));
	assert_string_equal(s, "");
	assert_false(init_slot_parse("outpost.slot=c", s, sizeof(s)));
	assert_false(init_slot_parse("outpost.slot=ab", s, sizeof(s)));
	assert_false(init_slot_parse("outpost.slot=", s, sizeof(s)));
	assert_false(init_slot_parse("", s, sizeof(s)));
	/* Running a, write b; running b, write a. */
	assert_string_equal(init_slot_other("a"), "b");
	assert_string_equal(init_slot_other("b"), "a");
}

static void
uki_names(void **state)
{
	static const char *bad[] = {"outpost-1.0.0-c.efi", "outpost--a.efi",
	    "outpost-1.0.0-a+.efi", "outpost-1.0.0-a+3-.efi",
	    "outpost-1.0.0-a.efi.tmp", "outpost-1.0.0-a+3.efi.tmp",
	    "outpost-1.0.0-ab.efi", "BOOTX64.EFI", "outpost-1.0.0-a",
	    "outpost-1.0.0-a+x.efi"};
	char name[64], v[INITCTL_VERSION_MAX], slot[2];
	size_t i;

	(void)state;
	assert_int_equal(init_uki_name(name, sizeof(name), "1.0.1", "b"), 0);
	assert_string_equal(name, "outpost-1.0.1-b+3.efi");
	assert_int_equal(init_uki_name(name, 21, "1.0.1", "b"), -1);
	assert_true(
	    init_uki_parse("outpost-1.0.1-b+3.efi", v, sizeof(v), slot));
	assert_string_equal(v, "1.0.1");
	assert_string_equal(slot, "b");
	assert_true(init_uki_parse("outpost-0.4.0-a.efi", v, sizeof(v), slot));
	assert_string_equal(slot, "a");
	assert_true(init_uki_parse("outpost-2-a+2-1.efi", v, sizeof(v), slot));
	assert_string_equal(v, "2");
	assert_true(init_uki_parse("outpost-2-a+0-3.efi", v, sizeof(v), slot));
	assert_false(init_uki_parse("outpost-1.0.1-b.efi", v, 5, slot));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (init_uki_parse(bad[i], v, sizeof(v), slot))
			fail_msg("accepted %s", bad[i]);
}

/* Percent never falls within a phase; the phases come in order. */
static void
assert_progress(const struct seen *s)
{
	size_t i;

	assert_int_equal(s->state[0], INITCTL_VERIFYING);
	for (i = 1; i < s->n; i++) {
		assert_true(s->state[i] >= s->state[i - 1]);
		if (s->state[i] == s->state[i - 1])
			assert_true(s->percent[i] >= s->percent[i - 1]);
	}
}

static void
writes_the_other_slot(void **state)
{
	struct seen s = {0};
	struct init_update_io io = io_for("good", &s);
	char list[512];

	(void)state;
	assert_int_equal(init_update_write(&io), 0);
	assert_int_equal(s.state[s.n - 1], INITCTL_WRITTEN);
	assert_int_equal(s.percent[s.n - 1], 100);
	assert_string_equal(s.last, "1.0.1");
	assert_progress(&s);
	/* Byte-exact slot b, zeroes after; slot a and its UKI untouched. */
	assert_int_equal(
	    sh("cd %s && cmp -n %d w/root-b root.erofs &&"
	       " cmp -s -i %d:0 -n %d w/root-b /dev/zero &&"
	       " cmp -n 9000 w/verity-b root.verity &&"
	       " cmp uki-b.efi w/esp/EFI/Linux/outpost-1.0.1-b+3.efi &&"
	       " cd w && sha256sum -c --status a.sum",
		dir, ROOT_SIZE, ROOT_SIZE, SLOT_SIZE - ROOT_SIZE),
	    0);
	esp_list(list, sizeof(list));
	assert_string_equal(
	    list, "outpost-1.0.0-a.efi outpost-1.0.1-b+3.efi readme.txt");
}

static void
writes_slot_a_from_b(void **state)
{
	struct seen s = {0};
	struct init_update_io io = io_for("good", &s);

	(void)state;
	assert_int_equal(
	    sh("cd %s && truncate -s %d root-a verity-a", work, SLOT_SIZE), 0);
	io.target = "a";
	assert_int_equal(init_update_write(&io), 0);
	assert_int_equal(sh("cd %s && cmp uki-a.efi"
			    " w/esp/EFI/Linux/outpost-1.0.1-a+3.efi &&"
			    " cmp -n %d w/root-a root.erofs &&"
			    " test ! -e w/esp/EFI/Linux/outpost-1.0.0-a.efi &&"
			    " test -e w/esp/EFI/Linux/outpost-0.9.0-b.efi",
			     dir, ROOT_SIZE),
	    0);
}

static void
refuses_bad_signature(void **state)
{
	(void)state;
	refused("otherkey", "bad signature");
}

static void
refuses_wrong_arch(void **state)
{
	(void)state;
	refused("aarch64", "for arch aarch64, this is x86_64");
}

static void
refuses_downgrade_unless_allowed(void **state)
{
	struct seen s = {0};
	struct init_update_io io = io_for("older", &s);

	(void)state;
	refused("older", "version 0.9.0 is not newer than 1.0.0");
	io.allow_downgrade = true;
	assert_int_equal(init_update_write(&io), 0);
	assert_int_equal(sh("test -e %s/esp/EFI/Linux/outpost-0.9.0-b+3.efi &&"
			    " test ! -e %s/esp/EFI/Linux/outpost-0.9.0-b.efi",
			     work, work),
	    0);
}

static void
refuses_part_larger_than_slot(void **state)
{
	(void)state;
	assert_int_equal(sh("truncate -s 200000 %s/root-b", work), 0);
	refused("good", "part root: 1 MiB larger than the slot (0 MiB)");
	assert_int_equal(sh("truncate -s %d %s/root-b", SLOT_SIZE, work), 0);
	assert_untouched();
}

static void
refuses_tampered_part(void **state)
{
	(void)state;
	/* A byte of the root part (parts start at 4096). */
	assert_int_equal(sh("cd %s && cp good.update bad.update && printf x |"
			    " dd of=bad.update bs=1 seek=5000 conv=notrunc"
			    " status=none",
			     dir),
	    0);
	refused("bad", "part root: sha256 mismatch");
}

static void
refuses_without_esp_or_partition(void **state)
{
	(void)state;
	assert_int_equal(
	    sh("mv %s/esp/EFI/Linux %s/esp/EFI/gone", work, work), 0);
	{
		struct seen s = {0};
		struct init_update_io io = io_for("good", &s);

		assert_int_equal(init_update_write(&io), -1);
		assert_non_null(strstr(s.last, "ESP"));
	}
	assert_int_equal(
	    sh("mv %s/esp/EFI/gone %s/esp/EFI/Linux", work, work), 0);
	assert_int_equal(sh("mv %s/verity-b %s/gone", work, work), 0);
	refused("good", "partition verity-b: No such file or directory");
	assert_int_equal(sh("mv %s/gone %s/verity-b", work, work), 0);
	refused("missing", "bundle: No such file or directory");
}

/* The worker owns the bundle: one changed after it verified. */
static void
tamper_when_writing(enum initctl_state st)
{
	static bool done;

	if (st == INITCTL_WRITING && !done) {
		done = true;
		assert_int_equal(sh("cd %s && printf x | dd of=late.update bs=1"
				    " seek=5000 conv=notrunc status=none",
				     dir),
		    0);
	}
}

static void
changed_while_writing_leaves_slot_unbootable(void **state)
{
	struct seen s = {.hook = tamper_when_writing};
	struct init_update_io io = io_for("late", &s);
	char list[512];

	(void)state;
	assert_int_equal(sh("cp %s/good.update %s/late.update", dir, dir), 0);
	assert_int_equal(init_update_write(&io), -1);
	assert_string_equal(s.last, "part root: sha256 mismatch");
	/* No UKI of slot b is left, none half-installed either. */
	esp_list(list, sizeof(list));
	assert_string_equal(list, "outpost-1.0.0-a.efi readme.txt");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(slot_from_cmdline),
	    cmocka_unit_test(uki_names),
	    cmocka_unit_test_setup(writes_the_other_slot, work_setup),
	    cmocka_unit_test_setup(writes_slot_a_from_b, work_setup),
	    cmocka_unit_test_setup(refuses_bad_signature, work_setup),
	    cmocka_unit_test_setup(refuses_wrong_arch, work_setup),
	    cmocka_unit_test_setup(
		refuses_downgrade_unless_allowed, work_setup),
	    cmocka_unit_test_setup(refuses_part_larger_than_slot, work_setup),
	    cmocka_unit_test_setup(refuses_tampered_part, work_setup),
	    cmocka_unit_test_setup(
		refuses_without_esp_or_partition, work_setup),
	    cmocka_unit_test_setup(
		changed_while_writing_leaves_slot_unbootable, work_setup),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
