/*
 * sandbox.h — the seccomp allow-list of `outpost run` and `outpost-edge run`
 * (#17 item 1).
 *
 * A hand-written classic-BPF filter in the style of OpenSSH's
 * sandbox-seccomp-filter.c: the audit architecture is checked first (the
 * one this binary was built for: x86_64, aarch64 or arm; x32 system calls
 * are refused on x86_64), then each allowed system call is one comparison,
 * a few with an argument check (socket families, no executable mappings,
 * three ioctls); anything else kills the process (SECCOMP_RET_KILL_PROCESS,
 * which the kernel reports through audit as a SECCOMP record naming the
 * call).  With `debug` set the default action is SECCOMP_RET_TRAP instead:
 * a SIGSYS handler writes "outpost: seccomp: forbidden system call N" to
 * stderr (write(2) only, async-signal-safe) and exits 111.
 *
 * Why not libseccomp: it would be one more library built from source by
 * scripts/deps.sh for three arches, to resolve names this file gets from
 * musl's <sys/syscall.h> per arch anyway; the whole filter here is one
 * file of ~2 KiB of code and 131 (aarch64), 155 (x86_64) or 167 (armhf)
 * instructions, every allowed call visible in one list with its reason.
 *
 * Installed once, after start-up (configuration read, identity loaded,
 * listening sockets open) and before the reactor runs; no_new_privs is set
 * first, so it needs no privilege.  It cannot be removed: every later call
 * of the process, and of any child, goes through it.
 */
#ifndef LIB_SANDBOX_H
#define LIB_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

enum sandbox_profile {
	SANDBOX_WORKER, /* `outpost run` */
	SANDBOX_EDGE, /* `outpost-edge run` */
};

struct sandbox_conf {
	bool enabled; /* SECCOMP: false installs nothing, logged at warn */
	bool debug; /* ENV_LEVEL=debug: trap and name the call (above) */
	bool set_clock; /* NTP_SERVERS: clock_settime(2) is allowed when the
			   process holds CAP_SYS_TIME, else it fails EPERM */
	bool threads; /* the socket backend runs threads of its own (lwIP,
			 net.h net_backend_threads()): futex(2) for its locks */
};

/*
 * Install the filter of `p` as `conf` says.  Returns the filter's length
 * in instructions (0 when disabled), or -errno with `err` naming what
 * failed (the caller exits: a protection that cannot be installed is not
 * skipped).  The profile lists are in sandbox.c, one justification a line.
 */
int sandbox_start(enum sandbox_profile p, const struct sandbox_conf *conf,
    char *err, size_t errlen);

#endif
