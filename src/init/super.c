/* Supervision: the worker, every other child, and the shutdown sequence. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"
#include "lib/util.h"

extern char **environ;

/* The capability number of CAP_SYS_TIME (linux/capability.h). */
#define INIT_CAP_SYS_TIME 25

/*
 * The worker keeps exactly one capability, CAP_SYS_TIME, as an ambient
 * one: it sets the clock from NTP_SERVERS before its first dial (boards
 * without a real-time clock cannot validate certificates until then).
 * Called after setresuid() with PR_SET_KEEPCAPS: permitted shrinks to
 * that one bit and survives the exec.
 */
static int
keep_sys_time(void)
{
	/* capset(2)'s ABI, version 3 (musl ships no kernel headers). */
	struct {
		uint32_t version;
		int pid;
	} h = {0x20080522, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} d[2] = {{0}};

	d[0].effective = d[0].permitted = d[0].inheritable = 1u
	    << INIT_CAP_SYS_TIME;
	if (syscall(SYS_capset, &h, d) < 0)
		return -1;
	return prctl(
	    PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, INIT_CAP_SYS_TIME, 0, 0);
}

/* In the child: drop to the worker's ids in a fixed order, then exec. */
static void
worker_exec(const struct init *in)
{
	char *argv[] = {"outpost", "run", NULL};
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	init_ctl_child(in);
	if (setsid() < 0 || setgroups(0, NULL) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    setresgid(INIT_WORKER_GID, INIT_WORKER_GID, INIT_WORKER_GID) < 0 ||
	    setresuid(INIT_WORKER_UID, INIT_WORKER_UID, INIT_WORKER_UID) < 0 ||
	    keep_sys_time() < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    chdir("/") < 0) {
		log_error("init: worker credentials: %s", strerror(errno));
		_exit(EXIT_TEMPORARY);
	}
	execve(in->exe, argv, environ);
	log_error("init: exec %s: %s", in->exe, strerror(errno));
	_exit(EXIT_TEMPORARY);
}

/* see init_int.h */
void
init_worker_start(struct init *in)
{
	pid_t pid;

	if (in->stopping || in->worker > 0)
		return;
	pid = fork();
	if (pid < 0) {
		log_error("init: fork: %s", strerror(errno));
		rx_timer_start(&in->loop, &in->restart, INIT_FAST_MS);
		return;
	}
	if (pid == 0)
		worker_exec(in);
	in->worker = pid;
	in->worker_started = util_mono_ms();
	log_info("init: worker started pid=%d", (int)pid);
}

static void
worker_exited(struct init *in, int st)
{
	int64_t ran = util_mono_ms() - in->worker_started, delay;
	uint32_t rnd = init_random_u32();

	in->worker = 0;
	init_ready_lost(in);
	if (in->stopping)
		return;
	delay = init_policy_delay(&in->policy, st, ran, rnd);
	if (WIFEXITED(st))
		log_info(
		    "init: worker exited code=%d ran_ms=%lld restart_in_ms=%lld",
		    WEXITSTATUS(st), (long long)ran, (long long)delay);
	else
		log_info(
		    "init: worker killed signal=%d ran_ms=%lld restart_in_ms=%lld",
		    WTERMSIG(st), (long long)ran, (long long)delay);
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_PERMANENT)
		init_console("outpost: worker refuses to run (exit 100: "
			     "fix the configuration); retrying in %lld s",
		    (long long)delay / 1000);
	rx_timer_start(&in->loop, &in->restart, delay);
	init_assess_exit(in, st);
}

static void
shutdown_finish(struct init *in)
{
	rx_timer_stop(&in->loop, &in->grace);
	log_info("init: all processes gone, syncing");
	sync();
	if (in->test) {
		log_info("init: %s (test mode: exit)",
		    in->reboot ? "reboot" : "poweroff");
		exit(0);
	}
	init_unmount_disks();
	init_console(
	    in->reboot ? "outpost: rebooting" : "outpost: powering off");
	reboot(in->reboot ? RB_AUTOBOOT : RB_POWER_OFF);
	for (;;)
		pause(); /* PID 1 must not exit, even if reboot() failed */
}

/* see init_int.h */
void
init_reap(struct init *in)
{
	pid_t pid;
	int st, n;

	/* Bounded: at most this many zombies per wakeup; SIGCHLD comes again. */
	for (n = 0; n < 1024; n++) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			break;
		if (pid == in->worker)
			worker_exited(in, st);
	}
	if (in->stopping && pid < 0 && errno == ECHILD)
		shutdown_finish(in);
}

static void
grace_over(struct rx_loop *l, struct rx_timer *t)
{
	struct init *in = container_of(t, struct init, grace);

	log_warn("init: grace period over, killing what is left");
	kill(-1, SIGKILL);
	init_reap(in);
}

/* see init_int.h */
void
init_shutdown_begin(struct init *in, const char *why)
{
	if (in->stopping)
		return;
	in->stopping = true;
	init_console("outpost: shutdown (%s)", why);
	rx_timer_stop(&in->loop, &in->restart);
	rx_timer_init(&in->grace, grace_over);
	rx_timer_start(&in->loop, &in->grace, INIT_GRACE_MS);
	if (in->worker > 0)
		kill(in->worker, SIGTERM);
	/* Everything else too (PID 1's kill(-1) spares itself). */
	kill(-1, SIGTERM);
	kill(-1, SIGCONT);
	init_reap(in);
}
