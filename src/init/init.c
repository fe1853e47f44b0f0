/* PID 1: setup, the supervision loop, shutdown.  See init.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init.h"
#include "init/init_int.h"
#include "lib/exit.h"
#include "lib/log.h"
#include "lib/util.h"

static struct init the_init;

static void
on_signal(struct rx_loop *l, int signo)
{
	struct init *in = container_of(l, struct init, loop);

	switch (signo) {
	case SIGCHLD:
		init_reap(in);
		break;
	case SIGTERM:
		init_shutdown_begin(in, "SIGTERM");
		break;
	case SIGPWR:
		init_shutdown_begin(in, "SIGPWR");
		break;
	case SIGINT: /* Ctrl-Alt-Del, once RB_DISABLE_CAD is set */
		init_shutdown_begin(in, "Ctrl-Alt-Del");
		break;
	}
}

static void
restart_due(struct rx_loop *l, struct rx_timer *t)
{
	init_worker_start(container_of(t, struct init, restart));
}

/* Console as stdin/stdout/stderr when the kernel left none. */
static void
console_open(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/* Which executable the worker runs: ourselves unless a test says not. */
static int
worker_path(struct init *in)
{
	const char *w = getenv("OUTPOST_INIT_WORKER");
	ssize_t n;

	if (in->test && w != NULL && w[0] == '/') {
		snprintf(in->exe, sizeof(in->exe), "%s", w);
		return 0;
	}
	n = readlink("/proc/self/exe", in->exe, sizeof(in->exe) - 1);
	if (n < 0)
		return -errno;
	in->exe[n] = '\0';
	return 0;
}

/* Before anything else: /proc, /dev and the console. */
static void
setup_early(void)
{
	if (init_mount_base() < 0)
		init_console("outpost: early mounts failed");
	console_open();
	reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del becomes SIGINT */
}

/* The rest of the appliance's setup: disks, config, network, button. */
static void
setup_appliance(struct init *in)
{
	init_slot_read(in); /* for the banner and the control channel */
	init_mount_disks(in);
	init_conf_read(in);
	setenv("OUTPOST_DATA_STATE", in->data_ok ? "ok" : "needs_recovery", 1);
	setenv("DATA_DIR", "/data", 0);
	init_net_start(in);
	init_power_start(in);
	snprintf(in->esp, sizeof(in->esp), "%s/esp", INIT_RUN_DIR);
	init_assess_boot(in);
}

/*
 * A test's assessment (--test): OUTPOST_INIT_ESP a directory standing in
 * for the ESP, OUTPOST_INIT_SLOT the running slot, OUTPOST_INIT_NOTIFY the
 * socket's path; the configuration from the environment as usual.
 */
static void
setup_test(struct init *in)
{
	const char *esp = getenv("OUTPOST_INIT_ESP");
	const char *slot = getenv("OUTPOST_INIT_SLOT");

	if (esp == NULL || esp[0] != '/')
		return;
	init_conf_read(in);
	snprintf(in->esp, sizeof(in->esp), "%s", esp);
	in->esp_mounted = true;
	if (slot != NULL && (strcmp(slot, "a") == 0 || strcmp(slot, "b") == 0))
		snprintf(in->update.slot, sizeof(in->update.slot), "%s", slot);
	init_assess_boot(in);
}

/* NOTIFY_SOCKET: init's own, or a test's (OUTPOST_INIT_NOTIFY). */
static void
setup_notify(struct init *in)
{
	const char *path = INIT_NOTIFY_PATH;
	int r;

	if (in->test && (path = getenv("OUTPOST_INIT_NOTIFY")) == NULL)
		return;
	if (!in->test && mkdir(INIT_RUN_DIR, 0755) < 0 && errno != EEXIST)
		log_warn("init: %s: %s", INIT_RUN_DIR, strerror(errno));
	if ((r = init_ready_start(in, path)) < 0)
		log_warn("init: NOTIFY_SOCKET %s: %s (readiness unknown)", path,
		    strerror(-r));
}

static int
setup(struct init *in)
{
	sigset_t set;
	int r;

	if (!in->test)
		setup_early();
	if ((r = rx_init(&in->loop, 12)) < 0)
		return r;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPWR);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if ((r = rx_signal_start(&in->loop, &set, on_signal)) < 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	rx_timer_init(&in->restart, restart_due);
	if ((r = init_ctl_start(in)) < 0)
		log_warn("init: control channel: %s (updates disabled)",
		    strerror(-r));
	if ((r = worker_path(in)) < 0)
		return r;
	setup_notify(in);
	if (!in->test)
		setup_appliance(in);
	else
		setup_test(in);
	return 0;
}

/* see init.h */
int
init_main(int argc, char **argv)
{
	struct init *in = &the_init;
	int r, i;

	/* Anywhere: PID 1 may get here from main() with argv "init --test". */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--test") == 0)
			in->test = true;
	if (getpid() != 1) {
		fprintf(stderr,
		    "init: must run as PID 1 (for a test: unshare "
		    "--pid --fork --mount-proc outpost init --test)\n");
		return EXIT_PERMANENT;
	}
	if ((r = setup(in)) < 0) {
		log_error("init: setup: %s", strerror(-r));
		if (in->test)
			return EXIT_TEMPORARY;
	}
	if (!in->test)
		init_banner(in);
	init_worker_start(in);
	/* From now on, we must not die. */
	for (;;)
		rx_run(&in->loop);
}
