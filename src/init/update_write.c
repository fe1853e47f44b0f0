/*
 * The slot writer (issue #21): verify a staged bundle and write it to the
 * slot that is not running.  Blocking file I/O, run by init's writer
 * child (update.c), never by the loop.  See init_int.h.
 *
 * Order, so that no half-written slot can ever be booted: everything is
 * checked first (signature, policy, every part's sha256, each part against
 * its partition, the ESP's directory); then the target slot's UKIs are
 * removed, its root and verity written and synced (each hashed again
 * while written: the bundle belongs to the worker, who could change it
 * meanwhile), and only then is its new UKI put in place under a temporary
 * name, synced and renamed.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/util.h"
#include "update/update.h"

#define CERT_FILE_MAX 65536
#define ESP_DIR "EFI/Linux"
#define UKI_TMP "outpost-uki.tmp" /* BIOS: the UKI, taken apart */
#define COPY_CHUNK 65536

struct writer {
	const struct init_update_io *io;
	struct update_manifest m;
	int fd; /* the bundle */
	int esp; /* ESP_DIR under io->esp */
	int dev[2]; /* root, verity of the target slot */
	const struct update_part *part[3]; /* root, verity, uki-<target> */
	enum initctl_state state;
	uint64_t total, base; /* bytes of this phase, and done before part */
	unsigned percent;
	char err[INITCTL_REASON_MAX];
};

static void
progress(void *arg, uint64_t done)
{
	struct writer *w = arg;
	unsigned pct = (unsigned)((w->base + done) * 100 / w->total);

	if (pct != w->percent) {
		w->percent = pct;
		w->io->report(w->io->arg, w->state, pct, "");
	}
}

static void
phase(struct writer *w, enum initctl_state st)
{
	w->state = st;
	w->base = 0;
	w->percent = 0;
	w->io->report(w->io->arg, st, 0, "");
}

/* Copy (out >= 0) or only hash (out -1) part i, counted in the phase. */
static int
copy(struct writer *w, size_t i, int out)
{
	const struct update_part *p = w->part[i];

	if (update_part_copy(
		w->fd, p, out, progress, w, w->err, sizeof(w->err)) < 0)
		return -1;
	w->base += p->size;
	return 0;
}

static int
open_bundle(struct writer *w)
{
	struct stat st;

	w->fd = open(w->io->bundle,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (w->fd < 0)
		return util_fail(
		    w->err, sizeof(w->err), "bundle: %s", strerror(errno));
	if (fstat(w->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return util_fail(
		    w->err, sizeof(w->err), "bundle: not a regular file");
	return 0;
}

static int
open_verified(struct writer *w)
{
	char *pem;
	size_t len;
	int r;

	if (open_bundle(w) < 0)
		return -1;
	if ((r = util_read_file(w->io->cert, CERT_FILE_MAX, &pem, &len)) < 0)
		return util_fail(w->err, sizeof(w->err), "certificate %s: %s",
		    w->io->cert, strerror(-r));
	r = update_open(w->fd, pem, len, &w->m, w->err, sizeof(w->err));
	free(pem);
	if (r < 0)
		return -1;
	return update_check(&w->m, w->io->running, UPDATE_ARCH,
	    w->io->allow_downgrade, w->err, sizeof(w->err));
}

/* The parts this slot needs, each hashed once before anything is written. */
static int
verify(struct writer *w)
{
	char uki[16];
	const char *names[3] = {"root", "verity", uki};
	size_t i;

	phase(w, INITCTL_VERIFYING);
	if (open_verified(w) < 0)
		return -1;
	snprintf(uki, sizeof(uki), "uki-%s", w->io->target);
	w->total = 0;
	for (i = 0; i < 3; i++) {
		if ((w->part[i] = update_part_find(&w->m, names[i])) == NULL)
			return util_fail(w->err, sizeof(w->err),
			    "bundle has no part %s", names[i]);
		w->total += w->part[i]->size;
	}
	if (w->total == 0)
		w->total = 1;
	for (i = 0; i < 3; i++)
		if (copy(w, i, -1) < 0)
			return -1;
	return 0;
}

/* Open partition "<what>-<target>" for writing; it must hold part p. */
static int
open_dev(struct writer *w, const char *what, const struct update_part *p)
{
	char name[32], path[PATH_MAX];
	off_t size;
	int fd, r;

	snprintf(name, sizeof(name), "%s-%s", what, w->io->target);
	if ((r = w->io->part(name, path, sizeof(path))) < 0)
		return util_fail(w->err, sizeof(w->err), "partition %s: %s",
		    name, strerror(-r));
	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return util_fail(w->err, sizeof(w->err), "partition %s: %s",
		    name, strerror(errno));
	/* Block devices and the files tests stand in for them alike. */
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    update_part_fits(p, (uint64_t)size, w->err, sizeof(w->err)) < 0) {
		if (size < 0)
			util_fail(w->err, sizeof(w->err), "partition %s: %s",
			    name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Everything the write needs, opened and checked; nothing changed yet. */
static int
prepare(struct writer *w)
{
	char dir[PATH_MAX];
	int r;

	if ((w->dev[0] = open_dev(w, "root", w->part[0])) < 0 ||
	    (w->dev[1] = open_dev(w, "verity", w->part[1])) < 0)
		return -1;
	if (w->io->esp_mount != NULL && (r = w->io->esp_mount()) < 0)
		return util_fail(
		    w->err, sizeof(w->err), "ESP: %s", strerror(-r));
	snprintf(dir, sizeof(dir), "%s/%s", w->io->esp, ESP_DIR);
	if ((w->esp = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return util_fail(
		    w->err, sizeof(w->err), "ESP %s: %s", dir, strerror(errno));
	return 0;
}

/* Remove every UKI of the target slot: from here on it cannot boot. */
static int
forget_slot(struct writer *w)
{
	char version[INITCTL_VERSION_MAX], slot[2];
	struct dirent *de;
	DIR *d;
	int fd = dup(w->esp), r = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return util_fail(
		    w->err, sizeof(w->err), "ESP: %s", strerror(errno));
	}
	while ((de = readdir(d)) != NULL)
		if (init_uki_parse(
			de->d_name, version, sizeof(version), slot) &&
		    strcmp(slot, w->io->target) == 0 &&
		    unlinkat(w->esp, de->d_name, 0) < 0)
			r = util_fail(w->err, sizeof(w->err), "ESP: %s: %s",
			    de->d_name, strerror(errno));
	closedir(d);
	if (r == 0 && fsync(w->esp) < 0)
		r = util_fail(
		    w->err, sizeof(w->err), "ESP: %s", strerror(errno));
	if (r == 0 && w->io->bios)
		r = init_bios_forget(
		    w->io->esp, w->io->target, w->err, sizeof(w->err));
	return r;
}

static int
sync_fd(struct writer *w, int fd, const char *what)
{
	if (fsync(fd) == 0)
		return 0;
	return util_fail(
	    w->err, sizeof(w->err), "%s: fsync: %s", what, strerror(errno));
}

/* The new UKI under a temporary name, synced, renamed, directory synced. */
static int
install_uki(struct writer *w)
{
	char name[96], tmp[104];
	int fd, r;

	if (init_uki_name(name, sizeof(name), w->m.version, w->io->target) < 0)
		return util_fail(w->err, sizeof(w->err), "UKI name too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd =
	    openat(w->esp, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return util_fail(w->err, sizeof(w->err), "ESP: %s: %s", tmp,
		    strerror(errno));
	r = copy(w, 2, fd) < 0 || sync_fd(w, fd, "UKI") < 0 ? -1 : 0;
	close(fd);
	if (r == 0 && renameat(w->esp, tmp, w->esp, name) < 0)
		r = util_fail(
		    w->err, sizeof(w->err), "ESP: rename: %s", strerror(errno));
	if (r < 0) {
		unlinkat(w->esp, tmp, 0);
		return -1;
	}
	return sync_fd(w, w->esp, "ESP");
}

/* len bytes at off of in to a new file name of dfd: tmp, fsync, rename. */
static int
copy_range(struct writer *w, int in, const struct init_pe_section *s, int dfd,
    const char *name)
{
	char tmp[64], buf[COPY_CHUNK];
	uint64_t done = 0;
	ssize_t k = 0;
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return util_fail(w->err, sizeof(w->err), "ESP: %s: %s", tmp,
		    strerror(errno));
	while (r == 0 && done < s->size) {
		k = pread(in, buf, (size_t)MIN(sizeof(buf), s->size - done),
		    (off_t)(s->off + done));
		if (k <= 0 || write(fd, buf, (size_t)k) != k)
			r = util_fail(w->err, sizeof(w->err), "ESP: %s: %s",
			    tmp, k == 0 ? "short read" : strerror(errno));
		done += k > 0 ? (uint64_t)k : 0;
	}
	if (r == 0)
		r = sync_fd(w, fd, name);
	close(fd);
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = util_fail(w->err, sizeof(w->err), "ESP: rename %s: %s",
		    name, strerror(errno));
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	return r < 0 ? -1 : sync_fd(w, dfd, "ESP");
}

/* The .cmdline section of the UKI in: printable, one line, naming the
 * target slot (what syslinux.cfg's APPEND will say). */
static int
read_cmdline(struct writer *w, int in, const struct init_pe_section *s,
    char *out, size_t n)
{
	char slot[INITCTL_SLOT_MAX];
	size_t i, len = (size_t)s->size;

	if (s->size >= n || pread(in, out, len, (off_t)s->off) != (ssize_t)len)
		return util_fail(w->err, sizeof(w->err),
		    "UKI: .cmdline of %llu bytes", (unsigned long long)s->size);
	while (len > 0 &&
	    (out[len - 1] == '\0' || out[len - 1] == '\n' ||
		out[len - 1] == ' '))
		len--;
	out[len] = '\0';
	for (i = 0; i < len; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			return util_fail(w->err, sizeof(w->err),
			    "UKI: .cmdline is not one line of text");
	if (!init_slot_parse(out, slot, sizeof(slot)) ||
	    strcmp(slot, w->io->target) != 0)
		return util_fail(w->err, sizeof(w->err),
		    "UKI: .cmdline does not name outpost.slot=%s",
		    w->io->target);
	return 0;
}

/*
 * BIOS: the UKI (hashed while copied) to a file of ours on the ESP, its
 * .linux to /boot/linux-<target>, its .cmdline into the label; then the
 * tries file and boot-once (init_bios_add()).
 */
static int
install_bios(struct writer *w)
{
	struct init_pe_section lin, cmd;
	char path[PATH_MAX], name[16], cmdline[INIT_BIOS_CMDLINE_MAX];
	uint8_t head[INIT_PE_HEAD_MAX];
	int fd, boot, r = -1;
	ssize_t k;

	snprintf(path, sizeof(path), "%s/boot", w->io->esp);
	if ((boot = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return util_fail(w->err, sizeof(w->err), "ESP %s: %s", path,
		    strerror(errno));
	fd =
	    openat(boot, UKI_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		util_fail(w->err, sizeof(w->err), "ESP: %s: %s", UKI_TMP,
		    strerror(errno));
		goto out;
	}
	snprintf(name, sizeof(name), "linux-%s", w->io->target);
	if (copy(w, 2, fd) < 0 || (k = pread(fd, head, sizeof(head), 0)) < 0 ||
	    init_pe_section(head, (size_t)k, w->part[2]->size, ".linux", &lin,
		w->err, sizeof(w->err)) < 0 ||
	    init_pe_section(head, (size_t)k, w->part[2]->size, ".cmdline", &cmd,
		w->err, sizeof(w->err)) < 0 ||
	    read_cmdline(w, fd, &cmd, cmdline, sizeof(cmdline)) < 0 ||
	    copy_range(w, fd, &lin, boot, name) < 0)
		goto out;
	r = init_bios_add(w->io->esp, w->io->target, w->m.version, cmdline,
	    w->err, sizeof(w->err));
out:
	if (fd >= 0)
		close(fd);
	unlinkat(boot, UKI_TMP, 0);
	close(boot);
	return r;
}

static int
write_slot(struct writer *w)
{
	if (prepare(w) < 0 || forget_slot(w) < 0)
		return -1;
	phase(w, INITCTL_WRITING);
	if (copy(w, 0, w->dev[0]) < 0 || sync_fd(w, w->dev[0], "root") < 0 ||
	    copy(w, 1, w->dev[1]) < 0 || sync_fd(w, w->dev[1], "verity") < 0)
		return -1;
	return w->io->bios ? install_bios(w) : install_uki(w);
}

/* see init_int.h */
int
init_update_write(const struct init_update_io *io)
{
	struct writer w = {.io = io, .fd = -1, .esp = -1, .dev = {-1, -1}};
	int r = verify(&w) == 0 && write_slot(&w) == 0 ? 0 : -1;
	size_t i;

	if (r == 0)
		io->report(io->arg, INITCTL_WRITTEN, 100, w.m.version);
	else
		io->report(io->arg, INITCTL_FAILED, w.percent, w.err);
	for (i = 0; i < 2; i++)
		if (w.dev[i] >= 0)
			close(w.dev[i]);
	if (w.esp >= 0)
		close(w.esp);
	if (w.fd >= 0)
		close(w.fd);
	return r;
}
