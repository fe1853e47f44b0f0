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
	struct rx_watch ctl; /* init's end of the control channel */
	int ctl_worker_fd; /* the worker's end, inherited; -1 when none */
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
 * update.c (owner slots, #21 contract): write the staged bundle at path
 * (checked by initctl_path_ok()) to the inactive slot, asynchronously;
 * progress and outcome in in->update.
 */
void init_update_start(struct init *in, const char *path);

/*
 * boot.c: boot assessment (#21).  init_boot_slot() finds "outpost.slot=S"
 * (S is a or b) among the blank-separated words of cmdline (the first such
 * word counts) and writes S into slot (n >= 2); 0, or -1 with slot "" when
 * it is missing or not a or b.  init_boot_read() fills
 * in->update's slot (from /proc/cmdline; "" and a console line when
 * unknown) and running version.
 */
int init_boot_slot(const char *cmdline, char *slot, size_t n);
void init_boot_read(struct init *in);

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

/* banner.c: console lines for the operator. */
void init_banner(const struct init *in);
void init_console(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
