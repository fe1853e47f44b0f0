/*
 * init's side of an update (issue #21): a writer child verifies the staged
 * bundle and writes the other slot (update_write.c) while the loop goes on;
 * its progress comes back through a pipe into in->update; once written,
 * the reboot follows UPDATE_REBOOT.  See init_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"
#include "lib/util.h"

#define CERT_PATH "/etc/outpost/update-signing.crt"
#define ESP_MNT INIT_RUN_DIR "/esp"
#define RECHECK_MAX_S 600 /* the wall clock may be set meanwhile (NTP) */

/* One progress record on the pipe: written whole (< PIPE_BUF). */
struct progress_msg {
	uint32_t state, percent;
	char text[INITCTL_REASON_MAX];
};

/* --- the writer child ---------------------------------------------------- */

static void
child_report(
    void *arg, enum initctl_state st, unsigned percent, const char *text)
{
	struct progress_msg m = {.state = st, .percent = percent};

	snprintf(m.text, sizeof(m.text), "%s", text);
	(void)!write(*(int *)arg, &m, sizeof(m));
}

static int
part_dev(const char *name, char *out, size_t n)
{
	return init_part_find("/sys", name, out, n);
}

/*
 * The ESP, read-write, in a mount namespace of the child's own: the mount
 * goes away with the child, however it ends.
 */
static int
esp_mount(void)
{
	char dev[80];
	int r;

	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* EINVAL: "/" is no mount point (a test's chroot), nothing to do. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 &&
	    errno != EINVAL)
		return -errno;
	if ((r = init_part_find("/sys", "esp", dev, sizeof(dev))) < 0)
		return r;
	if (mkdir(ESP_MNT, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mount(dev, ESP_MNT, "vfat", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		"fmask=0077,dmask=0077") < 0)
		return -errno;
	return 0;
}

static void
child_main(const struct init *in, const char *path, int fd)
{
	struct init_update_io io = {
	    .bundle = path,
	    .cert = CERT_PATH,
	    .esp = ESP_MNT,
	    .running = in->update.version,
	    .target = init_slot_other(in->update.slot),
	    .allow_downgrade = in->update_allow_downgrade,
	    .bios = in->bios,
	    .part = part_dev,
	    .esp_mount = esp_mount,
	    .report = child_report,
	    .arg = &fd,
	};
	sigset_t all;
	int r;

	/* A test's ESP (OUTPOST_INIT_ESP) is a directory already. */
	if (in->esp_mounted) {
		io.esp = in->esp;
		io.esp_mount = NULL;
	}
	/* Unblocked: the shutdown's SIGTERM ends a write half-way (safe). */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	r = init_update_write(&io);
	sync();
	_exit(r == 0 ? EXIT_OK : EXIT_PERMANENT);
}

/* --- init's side ---------------------------------------------------------- */

static void
fail(struct init *in, const char *why)
{
	in->update.state = INITCTL_FAILED;
	snprintf(in->update.reason, sizeof(in->update.reason), "%s", why);
	log_warn("init: update failed: %s", why);
}

/* see init_int.h */
void
init_update_reboot_check(struct init *in)
{
	int64_t s;

	if (in->update.state != INITCTL_WRITTEN || in->stopping)
		return;
	s = rebootpol_wait(&in->update_reboot, util_wall_ms() / 1000);
	if (s < 0) {
		log_info("init: update written; rebooting when asked "
			 "(UPDATE_REBOOT=manual)");
	} else if (s == 0) {
		in->reboot = true;
		init_shutdown_begin(in, "update written");
	} else {
		log_info("init: update written; reboot window opens in %lld s",
		    (long long)s);
		rx_timer_start(
		    &in->loop, &in->update_timer, MIN(s, RECHECK_MAX_S) * 1000);
	}
}

static void
reboot_due(struct rx_loop *l, struct rx_timer *t)
{
	init_update_reboot_check(container_of(t, struct init, update_timer));
}

static void
take(struct init *in, const struct progress_msg *m)
{
	struct init_update *u = &in->update;

	if (m->state >= INITCTL_OFFERED || m->percent > 100)
		return;
	u->state = m->state;
	u->percent = m->percent;
	if (m->state == INITCTL_FAILED) {
		fail(in, m->text);
	} else if (m->state == INITCTL_WRITTEN) {
		snprintf(
		    u->other_version, sizeof(u->other_version), "%s", m->text);
		log_info("init: update %s written to slot %s", m->text,
		    init_slot_other(u->slot));
	}
}

/* Progress from the writer; its end (EOF) decides what happens next. */
static void
pipe_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct init *in = container_of(w, struct init, update_pipe);
	struct progress_msg m[8];
	ssize_t n;
	size_t i;
	int k;

	for (k = 0; k < 16; k++) {
		n = read(w->fd, m, sizeof(m));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n / sizeof(m[0]); i++)
			take(in, &m[i]);
	}
	if (k == 16)
		return; /* more to read next time */
	rx_watch_close(l, w);
	in->update_writing = false;
	if (in->update.state == INITCTL_VERIFYING ||
	    in->update.state == INITCTL_WRITING)
		fail(in, "the writer stopped before the end");
	init_update_reboot_check(in);
}

static int
spawn(struct init *in, const char *path)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(in, path, p[1]);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	rx_watch_init(&in->update_pipe, p[0], pipe_io, NULL);
	rx_watch_set(&in->loop, &in->update_pipe, RX_READ);
	in->update_writing = true;
	log_info("init: update writer pid=%d: %s", (int)pid, path);
	return 0;
}

/* see init_int.h */
void
init_update_start(struct init *in, const char *path)
{
	struct init_update *u = &in->update;
	int r;

	/* The last writer's final record may come just before its end. */
	if (in->update_writing) {
		log_warn("init: update %s ignored: the last writer is still "
			 "finishing",
		    path);
		return;
	}
	init_slot_read(in);
	rx_timer_stop(&in->loop, &in->update_timer);
	rx_timer_init(&in->update_timer, reboot_due);
	u->state = INITCTL_VERIFYING;
	u->percent = 0;
	u->reason[0] = '\0';
	if (u->slot[0] == '\0') {
		fail(in,
		    "running slot unknown (no outpost.slot= on the "
		    "kernel command line)");
		return;
	}
	if ((r = spawn(in, path)) < 0)
		fail(in, strerror(-r));
}

/* see init_int.h */
void
init_slot_read(struct init *in)
{
	struct init_update *u = &in->update;
	char *text;
	size_t len;

	if (u->version[0] == '\0')
		snprintf(u->version, sizeof(u->version), "%s", OUTPOST_VERSION);
	if (u->slot[0] != '\0' ||
	    util_read_file("/proc/cmdline", 4096, &text, &len) < 0)
		return;
	init_slot_parse(text, u->slot, sizeof(u->slot));
	free(text);
}
