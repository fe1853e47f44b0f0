/*
 * Assessment of this boot (issue #21): from the UKI names on the ESP,
 * whether the running slot is on trial (systemd-boot's boot counter still
 * in its name), good, or whether systemd-boot fell back to it from a newer
 * slot that used up its tries.  A trial is marked good (the counter
 * renamed away) once the worker has been ready for UPDATE_GOOD_AFTER; a
 * worker that exits 100, or is not good by UPDATE_GOOD_AFTER plus
 * INIT_TRIAL_ALLOWANCE_MS, reboots so that systemd-boot counts the try
 * down.  A slot that is not on trial is never rebooted for this.
 *
 * The BIOS path (syslinux) has the same states and the same trial: only
 * how the facts are read and written differs (struct loader).  There the
 * tries are counted by init in a file on the ESP (bios.c): the default
 * slot's init arms the next try of a slot on trial (boot-once) and
 * reboots at once, or reports it rolled back when none is left.
 * See init_int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "update/update.h"

#define UKI_DIR "EFI/Linux"
#define NAME_MAX_UKI 96

/* see init_int.h */
void
init_assess_decide(const char *const *names, size_t n, const char *slot,
    const char *running, struct init_update *u, char *uki, size_t ukin)
{
	char v[INITCTL_VERSION_MAX], s[2], best[INITCTL_VERSION_MAX] = "";
	unsigned left, done, best_left = 1, best_done = 0;
	bool counted, good = false;
	size_t i;

	uki[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!init_uki_parse(names[i], v, sizeof(v), s))
			continue;
		counted = init_uki_counter(names[i], &left, &done);
		if (strcmp(s, slot) == 0) {
			if (!counted)
				good = true;
			else if (strlen(names[i]) < ukin)
				snprintf(uki, ukin, "%s", names[i]);
		} else if (update_version_valid(v) &&
		    (best[0] == '\0' || update_version_cmp(v, best) > 0)) {
			snprintf(best, sizeof(best), "%s", v);
			best_left = counted ? left : 1;
			best_done = counted ? done : 0;
		}
	}
	snprintf(u->other_version, sizeof(u->other_version), "%s", best);
	u->percent = 0;
	u->reason[0] = '\0';
	/* Both names (a crash between two renames cannot make them, but a
	 * hand can): the one without a counter decides, never a reboot. */
	if (uki[0] != '\0' && !good) {
		u->state = INITCTL_TRIAL;
		return;
	}
	uki[0] = '\0';
	if (best[0] != '\0' && best_left == 0 &&
	    update_version_valid(running) &&
	    update_version_cmp(best, running) > 0) {
		u->state = INITCTL_ROLLED_BACK;
		snprintf(u->reason, sizeof(u->reason),
		    "%s did not come up after %u tries", best, best_done);
		return;
	}
	u->state = good ? INITCTL_GOOD : INITCTL_IDLE;
}

/* see init_int.h */
int
init_assess_dir(const char *dir, const char *slot, const char *running,
    struct init_update *u, char *uki, size_t ukin)
{
	char names[INIT_ESP_UKI_MAX][NAME_MAX_UKI], v[INITCTL_VERSION_MAX],
	    s[2];
	const char *p[INIT_ESP_UKI_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -errno;
	while (n < INIT_ESP_UKI_MAX && (de = readdir(d)) != NULL) {
		if (strlen(de->d_name) >= NAME_MAX_UKI ||
		    !init_uki_parse(de->d_name, v, sizeof(v), s))
			continue;
		memcpy(names[n], de->d_name, strlen(de->d_name) + 1);
		p[n] = names[n];
		n++;
	}
	closedir(d);
	init_assess_decide(p, n, slot, running, u, uki, ukin);
	return 0;
}

/* see init_int.h */
enum init_trial_verdict
init_trial_verdict(const struct init_trial *t, int64_t now,
    int64_t good_after_ms, int64_t *wait)
{
	int64_t deadline = t->start + good_after_ms + INIT_TRIAL_ALLOWANCE_MS;
	int64_t good_at = t->ready_since + good_after_ms;

	*wait = 0;
	if (t->ready_since >= 0 && now >= good_at)
		return INIT_TRIAL_GOOD;
	if (now >= deadline)
		return INIT_TRIAL_FAILED;
	*wait = deadline - now;
	if (t->ready_since >= 0 && good_at - now < *wait)
		*wait = good_at - now;
	return INIT_TRIAL_WAIT;
}

/* see init_int.h */
int
init_uki_mark_good(const char *dir, const char *file, char *why, size_t n)
{
	char good[NAME_MAX_UKI];
	int fd, r = 0;

	if (init_uki_good_name(file, good, sizeof(good)) < 0)
		return util_fail(why, n, "%s: not a UKI name of ours", file);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return util_fail(why, n, "ESP %s: %s", dir, strerror(errno));
	if (renameat(fd, file, fd, good) < 0)
		r = util_fail(why, n, "ESP: rename %s to %s: %s", file, good,
		    strerror(errno));
	else if (fsync(fd) < 0)
		r = util_fail(why, n, "ESP: fsync: %s", strerror(errno));
	close(fd);
	return r;
}

/* --- the running init ---------------------------------------------------- */

/* The ESP at in->esp (read-only or not), unless a test's directory. */
static int
esp_mount(struct init *in, unsigned long flags)
{
	char dev[80];
	int r;

	if (in->esp_mounted)
		return 0;
	if ((r = init_part_find("/sys", "esp", dev, sizeof(dev))) < 0)
		return r;
	if (mkdir(INIT_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(in->esp, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mount(dev, in->esp, "vfat",
		flags | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		"fmask=0077,dmask=0077") < 0)
		return -errno;
	return 0;
}

static void
esp_unmount(struct init *in)
{
	if (!in->esp_mounted && umount(in->esp) < 0)
		log_warn("init: umount %s: %s", in->esp, strerror(errno));
}

/* in->esp is shorter than PATH_MAX - sizeof(UKI_DIR): cut if not. */
static void
uki_dir(const struct init *in, char *out, size_t n)
{
	if ((size_t)snprintf(out, n, "%s/%s", in->esp, UKI_DIR) >= n)
		out[0] = '\0';
}

/*
 * What differs between boot loaders.  assess(): this boot's facts into
 * in->update and in->uki, the ESP mounted read-only; *reboot when the
 * boot is to end at once, after arm() (BIOS: the next try of a trial;
 * NULL: never).  good(): mark the trial good.  arm() and good() have the
 * ESP read-write.  0 or -1 with why.
 */
struct loader {
	int (*assess)(struct init *in, bool *reboot, char *why, size_t n);
	int (*arm)(struct init *in, char *why, size_t n);
	int (*good)(struct init *in, char *why, size_t n);
};

static int
uefi_assess(struct init *in, bool *reboot, char *why, size_t n)
{
	char dir[PATH_MAX];
	int r;

	*reboot = false;
	uki_dir(in, dir, sizeof(dir));
	r = init_assess_dir(dir, in->update.slot, in->update.version,
	    &in->update, in->uki, sizeof(in->uki));
	return r < 0 ? util_fail(why, n, "%s: %s", dir, strerror(-r)) : 0;
}

static int
uefi_good(struct init *in, char *why, size_t n)
{
	char dir[PATH_MAX];

	uki_dir(in, dir, sizeof(dir));
	return init_uki_mark_good(dir, in->uki, why, n);
}

static int
bios_assess(struct init *in, bool *reboot, char *why, size_t n)
{
	struct init_update *u = &in->update;
	struct init_bios_cfg c;
	struct init_tries t;
	bool have;

	if (init_bios_read(in->esp, &c, &t, &have, why, n) < 0)
		return -1;
	init_bios_decide(&c, have ? &t : NULL, u->slot, u, reboot);
	if (u->state == INITCTL_TRIAL)
		snprintf(
		    in->uki, sizeof(in->uki), "syslinux label %s", u->slot);
	return 0;
}

/* The next try of the trial in the tries file, read again read-write. */
static int
bios_arm(struct init *in, char *why, size_t n)
{
	struct init_bios_cfg c;
	struct init_tries t;
	bool have;

	if (init_bios_read(in->esp, &c, &t, &have, why, n) < 0)
		return -1;
	if (!have)
		return util_fail(why, n, "the tries file is gone");
	init_console("outpost: slot %s: %s in slot %s is on trial and did "
		     "not come up; arming try %u of %d and rebooting",
	    in->update.slot, t.version, t.slot, INIT_UKI_TRIES - t.left + 1,
	    INIT_UKI_TRIES);
	return init_bios_arm(in->esp, &t, why, n);
}

static int
bios_good(struct init *in, char *why, size_t n)
{
	return init_bios_mark_good(in->esp, in->update.slot, why, n);
}

static const struct loader uefi = {uefi_assess, NULL, uefi_good};
static const struct loader bios = {bios_assess, bios_arm, bios_good};

static const struct loader *
loader(const struct init *in)
{
	return in->bios ? &bios : &uefi;
}

static void
trial_fail(struct init *in, const char *why)
{
	struct init_update *u = &in->update;

	snprintf(u->reason, sizeof(u->reason), "trial failed: %s", why);
	init_console("outpost: trial boot of %s in slot %s failed: %s; "
		     "rebooting so that the boot loader counts the try",
	    u->version, u->slot, why);
	rx_timer_stop(&in->loop, &in->trial_timer);
	in->reboot = true;
	init_shutdown_begin(in, "trial boot failed");
}

/* fn (a loader's good or arm) with the ESP read-write: its result. */
static int
esp_rw(struct init *in, int (*fn)(struct init *, char *, size_t), char *why,
    size_t n)
{
	int r;

	if ((r = esp_mount(in, 0)) < 0)
		return util_fail(why, n, "ESP: %s", strerror(-r));
	r = fn(in, why, n);
	esp_unmount(in);
	return r;
}

static void
mark_good(struct init *in)
{
	struct init_update *u = &in->update;
	char why[INITCTL_REASON_MAX - 16];
	int r = esp_rw(in, loader(in)->good, why, sizeof(why));

	if (r < 0) {
		snprintf(u->reason, sizeof(u->reason), "mark good: %s", why);
		init_console("outpost: slot %s (%s) could not be marked good: "
			     "%s; again in %d s",
		    u->slot, u->version, why, INIT_MARK_RETRY_MS / 1000);
		rx_timer_start(&in->loop, &in->trial_timer, INIT_MARK_RETRY_MS);
		return;
	}
	u->state = INITCTL_GOOD;
	u->reason[0] = '\0';
	in->uki[0] = '\0';
	init_console("outpost: slot %s (%s) marked good: the worker was ready "
		     "for %lld s",
	    u->slot, u->version, (long long)in->good_after_ms / 1000);
}

static void
trial_check(struct init *in)
{
	int64_t wait;
	char why[96];

	if (in->update.state != INITCTL_TRIAL || in->stopping)
		return;
	rx_timer_stop(&in->loop, &in->trial_timer);
	switch (init_trial_verdict(
	    &in->trial, util_mono_ms(), in->good_after_ms, &wait)) {
	case INIT_TRIAL_WAIT:
		rx_timer_start(&in->loop, &in->trial_timer, wait);
		break;
	case INIT_TRIAL_GOOD:
		mark_good(in);
		break;
	case INIT_TRIAL_FAILED:
		snprintf(why, sizeof(why),
		    "the worker was not ready for %lld s within %lld s",
		    (long long)in->good_after_ms / 1000,
		    (long long)(in->good_after_ms + INIT_TRIAL_ALLOWANCE_MS) /
			1000);
		trial_fail(in, why);
		break;
	}
}

static void
trial_due(struct rx_loop *l, struct rx_timer *t)
{
	trial_check(container_of(t, struct init, trial_timer));
}

/* The console line of what this boot is. */
static void
assess_say(const struct init *in)
{
	const struct init_update *u = &in->update;

	switch (u->state) {
	case INITCTL_TRIAL:
		init_console(
		    "outpost: trial boot of %s in slot %s (%s): marked "
		    "good once the worker is ready for %lld s",
		    u->version, u->slot, in->uki,
		    (long long)in->good_after_ms / 1000);
		break;
	case INITCTL_ROLLED_BACK:
		init_console("outpost: rolled back: %s; running %s in slot %s",
		    u->reason, u->version, u->slot);
		break;
	default:
		log_info("init: boot assessment: %s, slot %s (%s), other slot "
			 "%s",
		    initctl_state_name(u->state), u->slot, u->version,
		    u->other_version[0] ? u->other_version : "empty");
		break;
	}
}

/* The next try armed (loader's arm()) on the ESP read-write: 0, or -1
 * (logged; the boot goes on rather than rebooting into the same). */
static int
arm_next(struct init *in)
{
	char why[INITCTL_REASON_MAX - 16];
	int r = esp_rw(in, loader(in)->arm, why, sizeof(why));

	if (r < 0)
		init_console(
		    "outpost: the next try could not be armed: %s", why);
	return r < 0 ? -1 : 0;
}

/* see init_int.h */
void
init_assess_boot(struct init *in)
{
	const char *fw = getenv("OUTPOST_INIT_FIRMWARE");
	char why[INITCTL_REASON_MAX];
	bool reboot;
	int r;

	rx_timer_init(&in->trial_timer, trial_due);
	in->trial.ready_since = -1;
	/* Booted by syslinux when the firmware is no EFI (a test says). */
	in->bios = in->test ? fw != NULL && strcmp(fw, "bios") == 0
			    : access("/sys/firmware/efi", F_OK) != 0;
	if (in->esp[0] == '\0')
		return;
	init_slot_read(in);
	if (in->update.slot[0] == '\0') {
		log_info("init: no outpost.slot= on the kernel command line: "
			 "no boot assessment");
		return;
	}
	if ((r = esp_mount(in, MS_RDONLY)) < 0) {
		log_warn("init: boot assessment: ESP: %s", strerror(-r));
		return;
	}
	reboot = false;
	r = loader(in)->assess(in, &reboot, why, sizeof(why));
	esp_unmount(in);
	if (r < 0) {
		log_warn("init: boot assessment: %s", why);
		return;
	}
	if (reboot && arm_next(in) == 0) {
		in->reboot = true;
		init_shutdown_begin(in, "the next try of a trial armed");
		return;
	}
	assess_say(in);
	in->trial.start = util_mono_ms();
	trial_check(in);
}

/* see init_int.h */
void
init_assess_ready(struct init *in)
{
	if (!in->worker_ready)
		in->trial.ready_since = -1;
	else if (in->trial.ready_since < 0)
		in->trial.ready_since = util_mono_ms();
	trial_check(in);
}

/* see init_int.h */
void
init_assess_exit(struct init *in, int wstatus)
{
	if (in->update.state == INITCTL_TRIAL && !in->stopping &&
	    WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == EXIT_PERMANENT)
		trial_fail(in, "the worker exited 100 (permanent failure)");
}
