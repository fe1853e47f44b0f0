/*
 * init_int.h — declarations shared by the files of src/init/.
 * Nothing here is used outside the module except by its unit tests.
 */
#ifndef INIT_INIT_INT_H
#define INIT_INIT_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "init/dhcp.h"
#include "lib/exit.h"
#include "lib/initctl.h"
#include "lib/rebootpol.h"
#include "rx/rx.h"

#define INIT_WORKER_UID 999 /* "outpost" in rootfs/etc/passwd */
#define INIT_WORKER_GID 999
#define INIT_GRACE_MS 5000 /* SIGTERM to SIGKILL at shutdown */
#define INIT_POWER_MAX 4 /* evdev devices with KEY_POWER we watch */
#define INIT_RUN_DIR "/run/outpost"

/* --- restart policy (policy.c): pure arithmetic, unit-tested ---------- */

#define INIT_FAST_MS 500 /* first restart after a temporary failure */
#define INIT_FAST_MAX_MS 30000 /* cap of the doubling */
#define INIT_SLOW_MS 60000 /* after exit 100: the config needs a human */
#define INIT_STABLE_MS 60000 /* a run this long resets the streak */

struct init_policy {
	unsigned streak; /* consecutive failures without a stable run */
};

/*
 * Milliseconds to wait before restarting a worker that ended with wait(2)
 * status wstatus after running ran_ms.  rnd supplies the jitter.  Exit 100
 * waits INIT_SLOW_MS; anything else (111, 0, other codes, signals) doubles
 * from INIT_FAST_MS up to INIT_FAST_MAX_MS with "equal jitter": a delay in
 * [d/2, d].  Exit 0 is treated as temporary: the worker never exits on its
 * own, so an exit is a fault to recover from.
 */
int64_t init_policy_delay(
    struct init_policy *p, int wstatus, int64_t ran_ms, uint32_t rnd);

/*
 * Randomness for jitter and DHCP transaction ids, which need not be secret:
 * never blocks, unlike util_random(), because early in boot the kernel's
 * pool is not initialised yet and waiting for it costs seconds under TCG.
 */
uint32_t init_random_u32(void);

/* --- partitions (part.c) ----------------------------------------------- */

/*
 * Find the block device whose GPT partition name is name by reading
 * <sysfs>/class/block/<dev>/uevent (PARTNAME=, DEVNAME=): no udev, no blkid.
 * Writes "/dev/<DEVNAME>" into out.  0, -ENOENT, or -errno.
 */
int init_part_find(const char *sysfs, const char *name, char *out, size_t n);

/* --- the running init ---------------------------------------------------- */

struct init_net {
	char ifname[16];
	uint8_t mac[6];
	int ifindex;
	struct dhcp dhcp;
	struct rx_watch sock;
	struct rx_timer timer; /* carrier poll, then the engine's waits */
	struct rx_defer start; /* init_dhcp_start(): first carrier check */
	bool active; /* DHCP engine started (after carrier) */
	bool is_static;
	char addr[40]; /* "a.b.c.d/len" for the banner, "" until bound */
};

/*
 * Update state (issue #21 contract; update.c, owner slots, fills it): what
 * init reports to the worker on its control channel (ctl.c).
 */
struct init_update {
	enum initctl_state state;
	unsigned percent; /* 0..100 */
	char reason[INITCTL_REASON_MAX]; /* last failure, or "" */
	char slot[INITCTL_SLOT_MAX]; /* running slot, "" when unknown */
	char version[INITCTL_VERSION_MAX]; /* running version */
	char other_version[INITCTL_VERSION_MAX]; /* the other slot's, or "" */
};

/*
 * A trial boot (assess.c): monotonic ms when it began and since when the
 * worker has been ready (-1: not ready now).
 */
struct init_trial {
	int64_t start;
	int64_t ready_since;
};

struct init {
	struct rx_loop loop;
	bool test;
	char exe[PATH_MAX]; /* worker executable */
	pid_t worker; /* 0 when not running */
	int64_t worker_started;
	struct init_policy policy;
	struct rx_timer restart;
	struct rx_timer grace;
	bool stopping;
	bool reboot; /* the shutdown ends in a reboot, not a power-off */
	struct rx_watch power[INIT_POWER_MAX];
	size_t npower;
	struct init_net net;
	bool data_ok; /* /data is the data partition, not tmpfs */
	unsigned boots; /* /data/boot-count after this boot, 0 if unknown */
	bool config_ok; /* /config is the config partition */
	int http_port;
	unsigned config_errors; /* from cfg_load(), shown in the banner */
	bool identity; /* a client certificate and key are configured */
	char net_address[40]; /* static "a.b.c.d/len", "" for DHCP */
	char net_gateway[40];
	char net_dns[128];
	struct init_update update;
	struct rebootpol update_reboot; /* UPDATE_REBOOT */
	bool update_allow_downgrade; /* UPDATE_ALLOW_DOWNGRADE */
	bool update_writing; /* the writer's pipe is open */
	struct rx_watch update_pipe; /* progress from the writer child */
	struct rx_timer update_timer; /* reboot window check */
	struct rx_watch ctl; /* init's end of the control channel */
	int ctl_worker_fd; /* the worker's end, inherited; -1 when none */
	struct rx_watch notify; /* NOTIFY_SOCKET (ready.c) */
	bool notify_ok; /* the socket is bound */
	bool worker_ready; /* READY=1 seen, not withdrawn since */
	bool bios; /* booted by syslinux (no /sys/firmware/efi), or a test's
		      OUTPOST_INIT_FIRMWARE=bios */
	char esp[PATH_MAX]; /* the ESP's root ("" : assessment off) */
	bool esp_mounted; /* esp is a directory already (tests) */
	char uki[96]; /* on trial: its UKI (BIOS: syslinux label), else "" */
	int64_t good_after_ms; /* UPDATE_GOOD_AFTER */
	struct init_trial trial;
	struct rx_timer trial_timer; /* assess.c */
};

/* conf.c: what init itself reads from the configuration. */
void init_conf_read(struct init *in);

/* mount.c: the early mounts; /config and /data with fallbacks. */
int init_mount_base(void);
void init_mount_disks(struct init *in);
void init_unmount_disks(void);

/* super.c: the worker and every other child. */
void init_worker_start(struct init *in);
void init_reap(struct init *in);
void init_shutdown_begin(struct init *in, const char *why);

/*
 * ctl.c: the control channel (lib/initctl.h).  init_ctl_start() makes the
 * socketpair in setup (both ends close-on-exec; -errno on failure, and the
 * worker then runs without OUTPOST_INIT_CTL); init_ctl_child(), in the
 * worker's child before exec, lets its end through and names it in the
 * environment.  Requests are answered from the loop, one reply each; a
 * malformed one is logged and dropped.
 */
int init_ctl_start(struct init *in);
void init_ctl_child(const struct init *in);
/* Answer one decoded request: the reply init sends (ctl.c; for tests). */
void init_ctl_handle(
    struct init *in, const struct initctl_req *q, struct initctl_reply *r);

/*
 * update.c (#21 contract): write the staged bundle at path (checked by
 * initctl_path_ok()) to the slot that is not running, in a writer child;
 * progress and outcome in in->update (verifying, writing, then written or
 * failed with the reason).  Once written, the reboot follows
 * in->update_reboot (UPDATE_REBOOT).  Returns at once; called from the
 * loop (ctl.c) while no write is under way.
 */
void init_update_start(struct init *in, const char *path);

/* Reboot now if the update is written and UPDATE_REBOOT allows it now, or
 * arm in->update_timer to ask again; nothing for manual (update.c). */
void init_update_reboot_check(struct init *in);

/* in->update.slot from /proc/cmdline and .version (OUTPOST_VERSION), for
 * the fields still empty (update.c). */
void init_slot_read(struct init *in);

/* --- slots and their UKIs (slot.c) -------------------------------------- */

#define INIT_UKI_TRIES 3 /* boot counter of a newly written slot */

/*
 * The slot of "outpost.slot=a|b" on the kernel command line cmdline into
 * out (n >= 2): true, or false with out "" when absent or another value.
 */
bool init_slot_parse(const char *cmdline, char *out, size_t n);

/* "b" for "a", "a" for anything else. */
const char *init_slot_other(const char *slot);

/* "outpost-<version>-<slot>+3.efi", the name of a trial UKI: 0, or -1
 * when it does not fit n. */
int init_uki_name(char *out, size_t n, const char *version, const char *slot);

/*
 * Whether file is a UKI of ours, "outpost-<version>-<slot>.efi" with an
 * optional boot counter ("+3", "+2-1"; systemd-boot's syntax): its version
 * (digits and dots, vn bytes with the NUL) and slot (2 bytes) copied out.
 */
bool init_uki_parse(const char *file, char *version, size_t vn, char *slot);

/*
 * The boot counter of a UKI file name ("...+N.efi" or "...+N-M.efi"): true
 * with *left = N and *done = M (0 without "-M"); false when there is none
 * or file is not one of ours.  Counts of more than nine digits are refused.
 */
bool init_uki_counter(const char *file, unsigned *left, unsigned *done);

/* file without its boot counter ("outpost-1.2-a+2-1.efi" ->
 * "outpost-1.2-a.efi"): 0, or -1 when file is not a UKI of ours or out
 * (n bytes) is too small. */
int init_uki_good_name(const char *file, char *out, size_t n);

/* --- assessment of this boot (assess.c) ---------------------------------- */

#define INIT_ESP_UKI_MAX 64 /* UKIs of ours looked at in EFI/Linux */
#define INIT_TRIAL_ALLOWANCE_MS (5 * 60 * 1000) /* beyond UPDATE_GOOD_AFTER */
#define INIT_MARK_RETRY_MS 60000 /* after a rename that failed */

/*
 * What this boot is, from the UKI names in EFI/Linux (names[n], other
 * files ignored), the running slot and version: u->state TRIAL when the
 * running slot's UKI still has a boot counter (its name into uki, n
 * bytes), ROLLED_BACK (with u->reason) when the other slot's UKI is newer
 * than running and its counter is used up ("+0-M"), else GOOD when the
 * running slot's UKI is there without a counter, else IDLE.
 * u->other_version is the other slot's UKI's version, or "".  Pure.
 */
void init_assess_decide(const char *const *names, size_t n, const char *slot,
    const char *running, struct init_update *u, char *uki, size_t ukin);

/* The same for the directory dir (EFI/Linux): 0, or -errno when it
 * cannot be read (u untouched then). */
int init_assess_dir(const char *dir, const char *slot, const char *running,
    struct init_update *u, char *uki, size_t ukin);

enum init_trial_verdict {
	INIT_TRIAL_WAIT, /* *wait ms until the verdict may change */
	INIT_TRIAL_GOOD, /* ready for good_after_ms: mark good */
	INIT_TRIAL_FAILED, /* not good by good_after_ms + the allowance */
};

/* The verdict on trial t at monotonic ms now.  Pure. */
enum init_trial_verdict init_trial_verdict(const struct init_trial *t,
    int64_t now, int64_t good_after_ms, int64_t *wait);

/*
 * Rename the UKI file in dir to its name without the counter, then fsync
 * dir: 0, or -1 with the reason in why (n bytes).
 */
int init_uki_mark_good(const char *dir, const char *file, char *why, size_t n);

/* At boot (before the worker starts): assess from the ESP in->esp (mounted
 * read-only for the look unless in->esp_mounted) and start the trial. */
void init_assess_boot(struct init *in);

/* The worker's readiness changed, or it exited with wait(2) status
 * (exited true): what a trial makes of it. */
void init_assess_ready(struct init *in);
void init_assess_exit(struct init *in, int wstatus);

/* --- the BIOS path: syslinux (adv.c, pe.c, bios.c, bios_esp.c) ---------- */

/*
 * syslinux's auxiliary data vector: INIT_ADV_BYTES at the end of
 * /syslinux/ldlinux.sys, two copies of INIT_ADV_SIZE (magic, checksum,
 * tag/length/data records).  ldlinux boots the boot-once command
 * (INIT_ADV_BOOTONCE, a label) and clears it before it does, so a boot
 * that never reaches init falls back to DEFAULT on the next reset.
 */
#define INIT_ADV_SIZE 512
#define INIT_ADV_BYTES (2 * INIT_ADV_SIZE)
#define INIT_ADV_BOOTONCE 1

/*
 * The value of tag in adv (INIT_ADV_BYTES; the first valid copy counts,
 * as for ldlinux) into out (n bytes, NUL-terminated, cut to fit): its
 * length, 0 when absent (or empty), -1 when neither copy is valid.  Pure.
 */
int init_adv_get(const uint8_t *adv, unsigned tag, char *out, size_t n);

/*
 * Set tag to len bytes of data (len 0: remove it) in adv, keeping the
 * other records of its valid copy (an empty ADV when none is), and write
 * both copies with their checksum, as syslinux_setadv() does: 0, or -1
 * when tag is not 1..255, len > 255 or the records do not fit.  Pure.
 */
int init_adv_set(uint8_t *adv, unsigned tag, const void *data, size_t len);

/* Where a PE section's bytes lie in its file. */
struct init_pe_section {
	uint64_t off, size;
};

#define INIT_PE_HEAD_MAX 4096 /* headers read to find a section */

/*
 * Section name (1..8 bytes, ".linux") of the PE file of file_size bytes
 * whose first n bytes are head: its offset and size (the virtual size
 * when smaller than the raw one, which is padded).  Headers and section
 * table must lie in head, the section in the file.  0, or -1 with
 * "PE: ..." in err.  Pure.
 */
int init_pe_section(const uint8_t *head, size_t n, uint64_t file_size,
    const char *name, struct init_pe_section *s, char *err, size_t errlen);

#define INIT_BIOS_DIR "syslinux" /* under the ESP: cfg, tries, ldlinux */
#define INIT_BIOS_CFG "syslinux.cfg"
#define INIT_BIOS_TRIES "outpost-tries"
#define INIT_BIOS_LDLINUX "ldlinux.sys"
#define INIT_BIOS_CFG_MAX 16384
#define INIT_BIOS_CMDLINE_MAX 2048 /* x86's COMMAND_LINE_SIZE */

/*
 * The tries file, "<slot> <version> <left>\n": a trial of version in slot
 * with left boots of it still to arm (INIT_UKI_TRIES - 1 once written: the
 * write arms the first).  init maintains it; syslinux never reads it.
 */
struct init_tries {
	char slot[2];
	char version[INITCTL_VERSION_MAX];
	unsigned left;
};

/* Parse n bytes at s: true, or false when it is not exactly that.  Pure. */
bool init_tries_parse(const char *s, size_t n, struct init_tries *t);
/* Format t into out (n bytes): its length, or -1 when it does not fit. */
int init_tries_format(const struct init_tries *t, char *out, size_t n);

/* syslinux.cfg as init and scripts/image.sh write it: DEFAULT and one
 * label per slot (/boot/linux-<slot>, "# outpost <version>", APPEND). */
struct init_bios_label {
	bool present;
	char version[INITCTL_VERSION_MAX];
	char cmdline[INIT_BIOS_CMDLINE_MAX];
};

struct init_bios_cfg {
	char dflt[2]; /* DEFAULT's slot, "" when none of ours */
	struct init_bios_label label[2]; /* slots a, b */
};

/* Parse syslinux.cfg (n bytes at s); lines of other kinds are ignored:
 * true, or false when a line is longer than INIT_BIOS_CMDLINE_MAX + 16. */
bool init_bios_cfg_parse(const char *s, size_t n, struct init_bios_cfg *c);
/* Format c: its length, or -1 when it does not fit n bytes. */
int init_bios_cfg_format(const struct init_bios_cfg *c, char *out, size_t n);
/* The label of slot ("a" or "b"). */
struct init_bios_label *init_bios_label(
    struct init_bios_cfg *c, const char *slot);

/*
 * What a BIOS boot is (the counterpart of init_assess_decide()), from
 * syslinux.cfg c, the tries file t (NULL: none), the running slot and
 * version: TRIAL when t names the running slot; when t names the other
 * slot, *arm (its next try is to be armed: left - 1, boot-once, reboot)
 * while left > 0, else ROLLED_BACK with the reason; without t GOOD when
 * DEFAULT is the running slot, else IDLE.  u->other_version is the other
 * label's version, or "".  Pure.
 */
void init_bios_decide(const struct init_bios_cfg *c, const struct init_tries *t,
    const char *slot, struct init_update *u, bool *arm);

/*
 * The ESP's syslinux files (bios_esp.c), blocking, esp a mounted ESP's
 * root: 0 or -1 with the reason in why (n bytes).  init_bios_read():
 * syslinux.cfg into c and the tries file into t (*have false when there
 * is none).  init_bios_write(): data as the file name of the directory
 * dfd, atomically (temporary name, fsync, rename, fsync of dfd).
 * init_bios_once(): the boot-once command label ("" clears it) in
 * ldlinux.sys's ADV, written in place (ldlinux finds it by sector).
 */
int init_bios_read(const char *esp, struct init_bios_cfg *c,
    struct init_tries *t, bool *have, char *why, size_t n);
int init_bios_write(int dfd, const char *name, const void *data, size_t len,
    char *why, size_t n);
int init_bios_once(const char *esp, const char *label, char *why, size_t n);

/* A trial in slot is good: DEFAULT slot in syslinux.cfg, then the tries
 * file removed.  0 or -1 with why. */
int init_bios_mark_good(const char *esp, const char *slot, char *why, size_t n);

/* Arm the next try of t's slot: the tries file with one less left, then
 * boot-once of it.  0 or -1 with why. */
int init_bios_arm(
    const char *esp, const struct init_tries *t, char *why, size_t n);

/*
 * The writer's side (update_write.c).  init_bios_forget(): slot's label
 * goes from syslinux.cfg (never DEFAULT's), with the tries file and any
 * boot-once, before the slot is written.  init_bios_add(): once its kernel
 * is in /boot, slot's label with version and cmdline, the tries file
 * (INIT_UKI_TRIES - 1 left) and boot-once slot, in that order.  0 or -1.
 */
int init_bios_forget(const char *esp, const char *slot, char *why, size_t n);
int init_bios_add(const char *esp, const char *slot, const char *version,
    const char *cmdline, char *why, size_t n);

/* --- readiness of the worker (ready.c) ----------------------------------- */

#define INIT_NOTIFY_PATH INIT_RUN_DIR "/notify"
#define INIT_NOTIFY_MAX 512 /* longest datagram read; longer ones dropped */

/* What one sd_notify datagram says about readiness. */
enum init_notify {
	INIT_NOTIFY_NONE, /* nothing about readiness */
	INIT_NOTIFY_READY, /* READY=1, or STATUS=ready... */
	INIT_NOTIFY_NOT_READY, /* STATUS=not ready..., or STOPPING=1 */
};

/*
 * Parse the newline-separated assignments of one datagram (n bytes at p,
 * not NUL-terminated): what it says about readiness (the last assignment
 * that says anything wins), and the STATUS= value into status (sn bytes,
 * printable ASCII only, cut to fit; untouched when absent).  Pure.
 */
enum init_notify init_notify_parse(
    const char *p, size_t n, char *status, size_t sn);

/*
 * Bind path as a datagram socket the worker may send to (SCM_CREDENTIALS:
 * only datagrams of the worker's pid count) and set NOTIFY_SOCKET for the
 * children: 0 or -errno.
 */
int init_ready_start(struct init *in, const char *path);

/* The worker is gone: not ready any more. */
void init_ready_lost(struct init *in);

/* --- the slot writer (update_write.c) ------------------------------------ */

/* What the writer works on: the appliance's devices, or a test's files. */
struct init_update_io {
	const char *bundle; /* the staged bundle */
	const char *cert; /* PEM certificate bundles must be signed by */
	const char *esp; /* the ESP's root directory, writable */
	const char *running; /* running version */
	const char *target; /* the slot to write, "a" or "b" */
	bool allow_downgrade; /* UPDATE_ALLOW_DOWNGRADE */
	bool bios; /* booted by syslinux: install for it (init_bios_add()) */
	/* The device (or file) of the GPT partition called name into out:
	 * 0 or -errno (init_part_find() in the appliance). */
	int (*part)(const char *name, char *out, size_t n);
	/* Make esp available, once everything verified: 0 or -errno; NULL
	 * when it is a plain directory already (tests). */
	int (*esp_mount)(void);
	/*
	 * Progress: each state change and percent step; last of all
	 * WRITTEN with text the new version, or FAILED with text the reason.
	 */
	void (*report)(void *arg, enum initctl_state st, unsigned percent,
	    const char *text);
	void *arg;
};

/*
 * Verify the bundle (signature against io->cert, update_check() with
 * UPDATE_ARCH, every part's sha256, each part against its partition, the
 * ESP's EFI/Linux) and only then write root-<target> and
 * verity-<target>, then install uki-<target> as EFI/Linux/
 * outpost-<version>-<target>+3.efi (temporary name, fsync, rename, fsync
 * of the directory); with io->bios, /boot/linux-<target> and the label of
 * syslinux.cfg from the UKI's .linux and .cmdline instead, then the tries
 * file and boot-once (init_bios_forget() before, init_bios_add() after).  The target's earlier UKIs are removed before its
 * partitions are touched, so a write that fails half-way leaves a slot
 * nothing boots.  A refusal before that leaves the target untouched.
 * Blocking: for the writer child or a test.  0 or -1, reported either way.
 */
int init_update_write(const struct init_update_io *io);

/* power.c: the ACPI power button through evdev. */
void init_power_start(struct init *in);

/* netif.c and netdhcp.c: loopback, first Ethernet, DHCP or static. */
int init_net_start(struct init *in);
int init_netif_up(const char *ifname);
int init_netif_addr(
    const char *ifname, uint32_t addr, uint32_t mask, uint32_t gw);
int init_netif_first_ether(const char *sysfs, char *name, size_t n);
int init_netif_mac(const char *ifname, uint8_t mac[6], int *ifindex);
bool init_netif_carrier(const char *sysfs, const char *ifname);
void init_net_write_resolv(const uint32_t *dns, size_t n);
int init_dhcp_start(struct init *in);

/* NET_ADDRESS "a.b.c.d/len" (len 1..32) into address and mask, network
 * order; false when malformed. */
bool init_net_parse_cidr(const char *s, uint32_t *addr, uint32_t *mask);

/* NET_DNS: up to DHCP_DNS_MAX IPv4 addresses separated by commas or
 * spaces into dns[]; malformed entries are skipped.  Returns the count. */
size_t init_net_parse_dns(const char *s, uint32_t *dns);

/* banner.c: console lines for the operator.  init_banner(): the whole
 * banner the first time, only the network and health lines after that
 * (DHCP bound). */
void init_banner(const struct init *in);
void init_console(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
