/*
 * privdrop.h — the privilege drop of `outpost run` and `outpost-edge run`
 * (#17 item 2), called once after start-up (configuration read, identity
 * loaded, listening sockets open) and before sandbox_start().
 *
 * Started as root (any of the real, effective or saved uids 0: a
 * container without USER, a systemd unit without User=), in this order:
 *   1. the data directory (DATA_DIR / EDGE_DATA_DIR) and what root owns
 *      under it (depth 4, symlinks never followed) are given to
 *      OUTPOST_USER, as systemd's StateDirectory= does, so that the
 *      identity can still be renewed and tokens written after the drop;
 *   2. the bounding set loses every capability but the one kept;
 *   3. setgroups(0), setresgid(gid x3), setresuid(uid x3) — with
 *      PR_SET_KEEPCAPS only while a capability is kept;
 *   4. effective = permitted = the one kept, inheritable and ambient empty;
 *   5. no_new_privs;
 *   6. verified: all uids/gids are the target, no supplementary group,
 *      setuid(0) and setgid(0) fail, the capability sets are as set, the
 *      data directory is writable and every file read again later is
 *      readable.
 * Started unprivileged (the appliance's init already runs the worker as
 * uid 999 with CAP_SYS_TIME; a container with USER 65532) OUTPOST_USER
 * does not apply: steps 4–5 and the capability check only.  The bounding
 * set is then left alone unless CAP_SETPCAP is held (no_new_privs already
 * keeps an exec from gaining anything).
 *
 * The one capability ever kept is CAP_SYS_TIME, and only with `sys_time`
 * set (NTP_SERVERS: the worker steps the clock) and held at the call.
 * A target uid or gid 0 needs ALLOW_ROOT=true (cfg refuses it otherwise,
 * and so does this function); the loop then runs as root without
 * capabilities, logged at warn.  With 0:0 the ids are left as they are
 * (as when started unprivileged).  capset(2) is called only when there is
 * something to drop: a systemd unit's SystemCallFilter=~@privileged
 * refuses it even to a process that holds nothing.
 */
#ifndef LIB_PRIVDROP_H
#define LIB_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The default OUTPOST_USER (the image's user, distroless "nonroot"). */
#define PRIVDROP_DEFAULT_USER "65532:65532"

struct privdrop_conf {
	const char *user; /* OUTPOST_USER, "uid:gid" (privdrop_parse_user) */
	bool allow_root; /* ALLOW_ROOT */
	bool sys_time; /* keep CAP_SYS_TIME when held (NTP_SERVERS) */
	const char *data_key; /* "DATA_DIR": names data_dir in errors */
	const char *data_dir; /* NULL: none */
	const char *const *reread; /* NULL-terminated, or NULL: files that
				     are opened again while the loop runs */
};

/*
 * Parse "uid:gid": two decimal numbers below 4294967295 (that one is -1),
 * nothing else.  0 or -EINVAL.
 */
int privdrop_parse_user(const char *s, uid_t *uid, gid_t *gid);

/*
 * Drop as above.  Returns 0, or -errno with `err` naming the step that
 * failed (the caller exits 100: the loop never runs with the privileges
 * it meant to give up).  Logs the resulting identity at info (at warn
 * when it is root).  Setup phase only, single-threaded.
 */
int privdrop_start(const struct privdrop_conf *conf, char *err, size_t errlen);

#endif
