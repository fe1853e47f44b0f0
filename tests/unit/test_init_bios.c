/*
 * Unit tests for the BIOS path of updates (#21): syslinux's ADV (adv.c)
 * against what Debian's syslinux 6.04 installer writes, the PE section
 * reader (pe.c), the tries file, syslinux.cfg and the decision of a boot
 * (bios.c), and the ESP's files in a tmp dir (bios_esp.c).
 * Usage: test_init_bios [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init_int.h"

/*
 * The first 28 bytes of each ADV copy (the rest up to the trailing magic
 * is zeroes) as `extlinux --once=b`, `extlinux --once='b outpost.x=1'`
 * and `extlinux --clear-once` of Debian's extlinux 6.04 (the installers'
 * shared libinstaller/setadv.c) left them in ldlinux.sys, which is where
 * syslinux keeps them on FAT too; Debian's mtools `syslinux` has no
 * --once.
 */
static const char *const syslinux_once_b =
    "a52f2d5a6616a2a20101620000000000000000000000000000000000";
static const char *const syslinux_once_b_arg =
    "a52f2d5a10e487e3010d62206f7574706f73742e783d310000000000";
static const char *const syslinux_cleared =
    "a52f2d5a671704a30000000000000000000000000000000000000000";

static void
adv_from_hex(uint8_t *adv, const char *hex)
{
	size_t i;

	memset(adv, 0, INIT_ADV_BYTES);
	for (i = 0; hex[2 * i] != '\0'; i++)
		sscanf(hex + 2 * i, "%2hhx", &adv[i]);
	memcpy(adv + 508, "\x64\xbf\x28\xdd", 4);
	memcpy(adv + INIT_ADV_SIZE, adv, INIT_ADV_SIZE);
}

static void
adv_matches_syslinux(void **state)
{
	uint8_t adv[INIT_ADV_BYTES], want[INIT_ADV_BYTES];
	char out[64];

	(void)state;
	adv_from_hex(adv, syslinux_cleared);
	assert_int_equal(init_adv_get(adv, INIT_ADV_BOOTONCE, out, 64), 0);
	assert_int_equal(init_adv_set(adv, INIT_ADV_BOOTONCE, "b", 1), 0);
	adv_from_hex(want, syslinux_once_b);
	assert_memory_equal(adv, want, INIT_ADV_BYTES);
	assert_int_equal(init_adv_get(want, INIT_ADV_BOOTONCE, out, 64), 1);
	assert_string_equal(out, "b");
	/* Replaced, not added to. */
	assert_int_equal(
	    init_adv_set(adv, INIT_ADV_BOOTONCE, "b outpost.x=1", 13), 0);
	adv_from_hex(want, syslinux_once_b_arg);
	assert_memory_equal(adv, want, INIT_ADV_BYTES);
	assert_int_equal(init_adv_get(want, INIT_ADV_BOOTONCE, out, 64), 13);
	assert_string_equal(out, "b outpost.x=1");
	assert_int_equal(init_adv_set(adv, INIT_ADV_BOOTONCE, "", 0), 0);
	adv_from_hex(want, syslinux_cleared);
	assert_memory_equal(adv, want, INIT_ADV_BYTES);
}

static void
adv_copies_and_limits(void **state)
{
	uint8_t adv[INIT_ADV_BYTES], big[255];
	char out[4];

	(void)state;
	adv_from_hex(adv, syslinux_once_b_arg);
	/* A torn first copy: ldlinux reads the second. */
	adv[20] ^= 1;
	assert_int_equal(init_adv_get(adv, INIT_ADV_BOOTONCE, out, 4), 13);
	assert_string_equal(out, "b o"); /* cut to fit */
	adv[INIT_ADV_SIZE + 20] ^= 1;
	assert_int_equal(init_adv_get(adv, INIT_ADV_BOOTONCE, out, 4), -1);
	assert_string_equal(out, "");
	memset(adv, 0xff, sizeof(adv));
	assert_int_equal(init_adv_get(adv, INIT_ADV_BOOTONCE, out, 4), -1);
	/* Other tags are kept, in order; tag and length are checked. */
	assert_int_equal(init_adv_set(adv, 2, "menu", 4), 0);
	assert_int_equal(init_adv_set(adv, INIT_ADV_BOOTONCE, "a", 1), 0);
	assert_int_equal(init_adv_get(adv, 2, out, 4), 4);
	assert_int_equal(adv[8], 2);
	assert_int_equal(adv[14], INIT_ADV_BOOTONCE);
	assert_int_equal(init_adv_set(adv, 0, "a", 1), -1);
	assert_int_equal(init_adv_set(adv, 256, "a", 1), -1);
	memset(big, 'x', sizeof(big));
	assert_int_equal(init_adv_set(adv, 3, big, 256), -1);
	assert_int_equal(init_adv_set(adv, 3, big, 255), 0);
	assert_int_equal(init_adv_set(adv, 4, big, 255), -1); /* full */
	assert_int_equal(init_adv_get(adv, INIT_ADV_BOOTONCE, out, 4), 1);
}

/* A PE with sections .linux (at 0x400, 0x300 bytes) and .cmdline (at
 * 0x200, 11 of 0x200 raw bytes), as objcopy lays them out. */
static size_t
make_pe(uint8_t *p, size_t n)
{
	size_t pe = 0x80, t = pe + 24 + 0xf0;

	assert_true(n >= 0x700);
	memset(p, 0, n);
	p[0] = 'M';
	p[1] = 'Z';
	p[0x3c] = (uint8_t)pe;
	memcpy(p + pe, "PE\0\0", 4);
	p[pe + 6] = 2; /* sections */
	p[pe + 20] = 0xf0; /* optional header size */
	memcpy(p + t, ".cmdline", 8);
	p[t + 9] = 0x00, p[t + 8] = 11; /* VirtualSize */
	p[t + 17] = 0x02; /* SizeOfRawData 0x200 */
	p[t + 21] = 0x02; /* PointerToRawData 0x200 */
	memcpy(p + t + 40, ".linux", 6);
	p[t + 40 + 9] = 0x03; /* VirtualSize 0x300 */
	p[t + 40 + 17] = 0x04; /* raw 0x400: padded */
	p[t + 40 + 21] = 0x04;
	memcpy(p + 0x200, "outpost.x=1", 11);
	return 0x800;
}

static void
pe_sections(void **state)
{
	static uint8_t pe[0x800];
	struct init_pe_section s;
	size_t size = make_pe(pe, sizeof(pe)), i;
	char err[96];

	(void)state;
	assert_int_equal(
	    init_pe_section(pe, 0x400, size, ".cmdline", &s, err, sizeof(err)),
	    0);
	assert_int_equal(s.off, 0x200);
	assert_int_equal(s.size, 11);
	assert_int_equal(
	    init_pe_section(pe, 0x400, size, ".linux", &s, err, sizeof(err)),
	    0);
	assert_int_equal(s.off, 0x400);
	assert_int_equal(s.size, 0x300);
	assert_int_equal(
	    init_pe_section(pe, 0x400, size, ".linu", &s, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "PE: no section .linu");
	assert_int_equal(
	    init_pe_section(pe, 0x400, 0x600, ".linux", &s, err, sizeof(err)),
	    -1);
	assert_string_equal(
	    err, "PE: section .linux beyond the end of the file");
	/* Headers cut anywhere: refused, never read past them (ASan). */
	for (i = 0; i < 0x80 + 24 + 0xf0 + 80; i++) {
		uint8_t *cut = malloc(i + 1);

		memcpy(cut, pe, i);
		assert_int_equal(init_pe_section(cut, i, size, ".linux", &s,
				     err, sizeof(err)),
		    -1);
		free(cut);
	}
	pe[0x80 + 6] = 97; /* more sections than PE allows */
	assert_int_equal(
	    init_pe_section(pe, 0x800, size, ".linux", &s, err, sizeof(err)),
	    -1);
}

static void
tries_file(void **state)
{
	struct init_tries t = {.slot = "b", .version = "0.3.1", .left = 2};
	char out[64];

	(void)state;
	assert_int_equal(init_tries_format(&t, out, sizeof(out)), 10);
	assert_string_equal(out, "b 0.3.1 2\n");
	memset(&t, 0, sizeof(t));
	assert_true(init_tries_parse("a 1.2 0\n", 8, &t));
	assert_string_equal(t.slot, "a");
	assert_string_equal(t.version, "1.2");
	assert_int_equal(t.left, 0);
	assert_false(init_tries_parse("a 1.2 0", 7, &t)); /* no newline */
	assert_false(init_tries_parse("c 1.2 0\n", 8, &t));
	assert_false(init_tries_parse("a 1.2 4\n", 8, &t)); /* > tries */
	assert_false(init_tries_parse("a 1.2 +1\n", 9, &t));
	assert_false(init_tries_parse("a 1.2  1\n", 9, &t));
	assert_false(init_tries_parse("a 01.2 1\n", 9, &t));
	assert_false(init_tries_parse("a 1.2 1\nx", 9, &t));
	assert_false(init_tries_parse("a 1.2 1\n\0", 9, &t));
	assert_false(init_tries_parse("", 0, &t));
	assert_int_equal(init_tries_format(&t, out, 5), -1);
}

/* What scripts/image.sh writes for slot a. */
#define IMAGE_CFG \
	"DEFAULT a\nPROMPT 0\nTIMEOUT 0\nLABEL a\n  # outpost 0.3.0\n" \
	"  LINUX /boot/linux-a\n  APPEND console=ttyS0 outpost.slot=a " \
	"dm-mod.create=\"vroot,,,ro,0 8 verity 1\"\n"

static void
cfg_round_trip(void **state)
{
	struct init_bios_cfg c;
	char out[INIT_BIOS_CFG_MAX], *big;

	(void)state;
	assert_true(init_bios_cfg_parse(IMAGE_CFG, strlen(IMAGE_CFG), &c));
	assert_string_equal(c.dflt, "a");
	assert_true(c.label[0].present);
	assert_false(c.label[1].present);
	assert_string_equal(c.label[0].version, "0.3.0");
	assert_string_equal(c.label[0].cmdline,
	    "console=ttyS0 outpost.slot=a dm-mod.create=\"vroot,,,ro,0 8 "
	    "verity 1\"");
	assert_int_equal(
	    init_bios_cfg_format(&c, out, sizeof(out)), (int)strlen(IMAGE_CFG));
	assert_string_equal(out, IMAGE_CFG);
	c.label[1] = c.label[0];
	snprintf(c.label[1].version, sizeof(c.label[1].version), "0.3.1");
	snprintf(c.dflt, sizeof(c.dflt), "b");
	assert_true(init_bios_cfg_format(&c, out, sizeof(out)) > 0);
	assert_true(init_bios_cfg_parse(out, strlen(out), &c));
	assert_string_equal(c.dflt, "b");
	assert_string_equal(c.label[1].version, "0.3.1");
	assert_int_equal(init_bios_cfg_format(&c, out, 40), -1);
	/* Not ours: no label, DEFAULT of another name, CRLF, case. */
	assert_true(init_bios_cfg_parse(
	    "default vesamenu\r\nlabel x\r\n  append y\r\n", 40, &c));
	assert_string_equal(c.dflt, "");
	assert_false(c.label[0].present || c.label[1].present);
	/* A line with a control character inside is not ours (fuzz). */
	assert_true(init_bios_cfg_parse("LABEL a\n  APPEND ct\r\0x\n", 23, &c));
	assert_true(c.label[0].present);
	assert_string_equal(c.label[0].cmdline, "");
	big = malloc(INIT_BIOS_CMDLINE_MAX + 32);
	memset(big, 'x', INIT_BIOS_CMDLINE_MAX + 32);
	assert_false(init_bios_cfg_parse(big, INIT_BIOS_CMDLINE_MAX + 32, &c));
	free(big);
}

static void
decides(void **state)
{
	struct init_bios_cfg c;
	struct init_tries t = {.slot = "b", .version = "0.3.1", .left = 2};
	struct init_update u;
	bool arm;

	(void)state;
	assert_true(init_bios_cfg_parse(IMAGE_CFG, strlen(IMAGE_CFG), &c));
	init_bios_decide(&c, NULL, "a", &u, &arm);
	assert_int_equal(u.state, INITCTL_GOOD);
	assert_false(arm);
	assert_string_equal(u.other_version, "");
	c.label[1] = c.label[0];
	snprintf(c.label[1].version, sizeof(c.label[1].version), "0.3.1");
	/* The default slot, its trial still has tries: arm the next. */
	init_bios_decide(&c, &t, "a", &u, &arm);
	assert_true(arm);
	assert_string_equal(u.other_version, "0.3.1");
	/* The new slot, booted once: a trial. */
	init_bios_decide(&c, &t, "b", &u, &arm);
	assert_int_equal(u.state, INITCTL_TRIAL);
	assert_false(arm);
	assert_string_equal(u.other_version, "0.3.0");
	/* None left: rolled back, and so on every later boot. */
	t.left = 0;
	init_bios_decide(&c, &t, "a", &u, &arm);
	assert_false(arm);
	assert_int_equal(u.state, INITCTL_ROLLED_BACK);
	assert_string_equal(u.reason, "0.3.1 did not come up after 3 tries");
	/* Tries for a label that is gone: nothing to arm. */
	t.left = 2;
	c.label[1].present = false;
	init_bios_decide(&c, &t, "a", &u, &arm);
	assert_false(arm);
	assert_int_equal(u.state, INITCTL_ROLLED_BACK);
	/* Good after the trial: DEFAULT b, no tries file. */
	c.label[1].present = true;
	snprintf(c.dflt, sizeof(c.dflt), "b");
	init_bios_decide(&c, NULL, "b", &u, &arm);
	assert_int_equal(u.state, INITCTL_GOOD);
	init_bios_decide(&c, NULL, "a", &u, &arm);
	assert_int_equal(u.state, INITCTL_IDLE);
}

/* --- the ESP's files -------------------------------------------------- */

static char esp[64];

static int
esp_setup(void **state)
{
	uint8_t adv[INIT_ADV_BYTES];
	char path[128];
	int fd;

	(void)state;
	snprintf(esp, sizeof(esp), "/tmp/test_init_bios.XXXXXX");
	assert_non_null(mkdtemp(esp));
	snprintf(path, sizeof(path), "%s/syslinux", esp);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/syslinux/syslinux.cfg", esp);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, IMAGE_CFG, strlen(IMAGE_CFG)),
	    (ssize_t)strlen(IMAGE_CFG));
	close(fd);
	/* ldlinux.sys: code, then the ADV as the installer leaves it. */
	snprintf(path, sizeof(path), "%s/syslinux/ldlinux.sys", esp);
	fd = open(path, O_WRONLY | O_CREAT, 0400);
	memset(adv, 0x90, sizeof(adv));
	assert_int_equal(write(fd, adv, sizeof(adv)), (ssize_t)sizeof(adv));
	adv_from_hex(adv, syslinux_cleared);
	assert_int_equal(write(fd, adv, sizeof(adv)), (ssize_t)sizeof(adv));
	close(fd);
	return 0;
}

static int
esp_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", esp);
	return system(cmd) == 0 ? 0 : -1;
}

static void
read_once(char *out, size_t n)
{
	uint8_t buf[2 * INIT_ADV_BYTES];
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/syslinux/ldlinux.sys", esp);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	assert_int_equal(buf[0], 0x90); /* the code untouched */
	assert_true(
	    init_adv_get(buf + INIT_ADV_BYTES, INIT_ADV_BOOTONCE, out, n) >= 0);
}

static void
esp_update_cycle(void **state)
{
	struct init_bios_cfg c;
	struct init_tries t;
	char why[128], once[16];
	bool have;

	(void)state;
	assert_int_equal(init_bios_read(esp, &c, &t, &have, why, 128), 0);
	assert_false(have);
	/* The writer: slot b goes (nothing armed), comes back on trial. */
	assert_int_equal(init_bios_forget(esp, "b", why, 128), 0);
	assert_int_equal(init_bios_forget(esp, "a", why, 128), -1);
	assert_string_equal(why, "slot a is syslinux's DEFAULT");
	assert_int_equal(init_bios_add(esp, "b", "0.3.1",
			     "console=ttyS0 outpost.slot=b", why, 128),
	    0);
	read_once(once, sizeof(once));
	assert_string_equal(once, "b");
	assert_int_equal(init_bios_read(esp, &c, &t, &have, why, 128), 0);
	assert_true(have);
	assert_string_equal(t.slot, "b");
	assert_int_equal(t.left, INIT_UKI_TRIES - 1);
	assert_string_equal(c.label[1].cmdline, "console=ttyS0 outpost.slot=b");
	assert_string_equal(c.dflt, "a");
	/* ldlinux cleared it and booted a again: the next try. */
	assert_int_equal(init_bios_once(esp, "", why, 128), 0);
	assert_int_equal(init_bios_arm(esp, &t, why, 128), 0);
	read_once(once, sizeof(once));
	assert_string_equal(once, "b");
	assert_int_equal(init_bios_read(esp, &c, &t, &have, why, 128), 0);
	assert_int_equal(t.left, INIT_UKI_TRIES - 2);
	/* b came up: good. */
	assert_int_equal(init_bios_mark_good(esp, "b", why, 128), 0);
	assert_int_equal(init_bios_read(esp, &c, &t, &have, why, 128), 0);
	assert_false(have);
	assert_string_equal(c.dflt, "b");
	assert_string_equal(c.label[0].version, "0.3.0");
}

static void
esp_refusals(void **state)
{
	char path[128], why[128];
	struct init_bios_cfg c;
	struct init_tries t;
	bool have;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/syslinux/outpost-tries", esp);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "b 0.3.1 9\n", 10), 10);
	close(fd);
	assert_int_equal(init_bios_read(esp, &c, &t, &have, why, 128), -1);
	assert_string_equal(why,
	    "ESP: syslinux/outpost-tries: not \"<slot> <version> <left>\"");
	snprintf(path, sizeof(path), "%s/syslinux/ldlinux.sys", esp);
	assert_int_equal(truncate(path, 2 * INIT_ADV_BYTES - 1), 0);
	assert_int_equal(init_bios_once(esp, "b", why, 128), -1);
	assert_int_equal(truncate(path, 4 * INIT_ADV_BYTES), 0);
	assert_int_equal(init_bios_once(esp, "b", why, 128), -1);
	assert_non_null(strstr(why, "no syslinux ADV at its end"));
	assert_int_equal(init_bios_mark_good(esp, "b", why, 128), -1);
	assert_string_equal(why, "ESP: syslinux.cfg has no label b");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(adv_matches_syslinux),
	    cmocka_unit_test(adv_copies_and_limits),
	    cmocka_unit_test(pe_sections),
	    cmocka_unit_test(tries_file),
	    cmocka_unit_test(cfg_round_trip),
	    cmocka_unit_test(decides),
	    cmocka_unit_test_setup_teardown(
		esp_update_cycle, esp_setup, esp_teardown),
	    cmocka_unit_test_setup_teardown(
		esp_refusals, esp_setup, esp_teardown),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
