/*
 * The BIOS path of updates (issue #21), the ESP's side: syslinux.cfg, the
 * tries file and ldlinux.sys's boot-once, read and written on a mounted
 * ESP with blocking I/O (init at boot, the writer child).  Every file but
 * ldlinux.sys is replaced atomically; ldlinux.sys is written in place,
 * because ldlinux itself writes its ADV by sector number.  See init_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/util.h"

#define TRIES_MAX 64

static int
bios_dir(const char *esp, char *why, size_t n)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", esp, INIT_BIOS_DIR);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return util_fail(why, n, "ESP %s: %s", path, strerror(errno));
	return fd;
}

/* The parsers' shapes, for read_parsed(). */
static bool
parse_cfg(const char *s, size_t len, void *out)
{
	return init_bios_cfg_parse(s, len, out);
}

static bool
parse_tries(const char *s, size_t len, void *out)
{
	return init_tries_parse(s, len, out);
}

/*
 * The file name of dfd (at most max bytes) through parse into out: 1, 0
 * when there is no such file, or -1 with why (bad: what parse refused).
 */
static int
read_parsed(int dfd, const char *name, size_t max,
    bool (*parse)(const char *, size_t, void *), void *out, const char *bad,
    char *why, size_t n)
{
	char *text;
	size_t len;
	bool ok;
	int r;

	r = util_read_file_at(dfd, name, O_NOFOLLOW, max, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return util_fail(why, n, "ESP: %s/%s: %s", INIT_BIOS_DIR, name,
		    strerror(-r));
	ok = parse(text, len, out);
	free(text);
	if (!ok)
		return util_fail(
		    why, n, "ESP: %s/%s: %s", INIT_BIOS_DIR, name, bad);
	return 1;
}

static int
read_cfg(int dfd, struct init_bios_cfg *c, char *why, size_t n)
{
	int r = read_parsed(dfd, INIT_BIOS_CFG, INIT_BIOS_CFG_MAX, parse_cfg, c,
	    "a line is too long", why, n);

	if (r == 0)
		return util_fail(why, n, "ESP: %s/%s: %s", INIT_BIOS_DIR,
		    INIT_BIOS_CFG, strerror(ENOENT));
	return r < 0 ? -1 : 0;
}

/* see init_int.h */
int
init_bios_read(const char *esp, struct init_bios_cfg *c, struct init_tries *t,
    bool *have, char *why, size_t n)
{
	int dfd, r;

	if ((dfd = bios_dir(esp, why, n)) < 0)
		return -1;
	if ((r = read_cfg(dfd, c, why, n)) == 0)
		r = read_parsed(dfd, INIT_BIOS_TRIES, TRIES_MAX, parse_tries, t,
		    "not \"<slot> <version> <left>\"", why, n);
	close(dfd);
	*have = r == 1;
	return r < 0 ? -1 : 0;
}

/* see init_int.h */
int
init_bios_write(int dfd, const char *name, const void *data, size_t len,
    char *why, size_t n)
{
	char tmp[64];
	ssize_t w;
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp))
		return util_fail(why, n, "ESP: %s: name too long", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return util_fail(why, n, "ESP: %s: %s", tmp, strerror(errno));
	w = write(fd, data, len);
	if (w < 0 || (size_t)w != len || fsync(fd) < 0)
		r = util_fail(why, n, "ESP: %s: %s", tmp,
		    w >= 0 && (size_t)w != len ? "short write"
					       : strerror(errno));
	close(fd);
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = util_fail(
		    why, n, "ESP: rename %s: %s", name, strerror(errno));
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	if (fsync(dfd) < 0)
		return util_fail(why, n, "ESP: fsync: %s", strerror(errno));
	return 0;
}

/* see init_int.h */
int
init_bios_once(const char *esp, const char *label, char *why, size_t n)
{
	uint8_t adv[INIT_ADV_BYTES];
	char path[PATH_MAX], old[8];
	struct stat st;
	off_t at;
	int fd, r = -1;

	snprintf(path, sizeof(path), "%s/%s/%s", esp, INIT_BIOS_DIR,
	    INIT_BIOS_LDLINUX);
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return util_fail(why, n, "ESP: %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < 2 * INIT_ADV_BYTES) {
		util_fail(why, n, "ESP: %s: not ldlinux.sys", path);
		goto out;
	}
	at = st.st_size - INIT_ADV_BYTES;
	if (pread(fd, adv, sizeof(adv), at) != (ssize_t)sizeof(adv) ||
	    init_adv_get(adv, INIT_ADV_BOOTONCE, old, sizeof(old)) < 0) {
		util_fail(why, n, "ESP: %s: no syslinux ADV at its end", path);
		goto out;
	}
	if (init_adv_set(adv, INIT_ADV_BOOTONCE, label, strlen(label)) < 0) {
		util_fail(why, n, "ESP: %s: the ADV is full", path);
		goto out;
	}
	if (pwrite(fd, adv, sizeof(adv), at) != (ssize_t)sizeof(adv) ||
	    fsync(fd) < 0) {
		util_fail(why, n, "ESP: %s: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	close(fd);
	return r;
}

/*
 * syslinux.cfg changed and written: l NULL, DEFAULT slot (whose label
 * must be there); else slot's label replaced by *l (slot must not be
 * DEFAULT).  Then the tries file removed when drop_tries.
 */
static int
cfg_edit(const char *esp, const char *slot, const struct init_bios_label *l,
    bool drop_tries, char *why, size_t n)
{
	char text[INIT_BIOS_CFG_MAX];
	struct init_bios_cfg c;
	int dfd, len, r = -1;

	if ((dfd = bios_dir(esp, why, n)) < 0)
		return -1;
	if (read_cfg(dfd, &c, why, n) < 0)
		goto out;
	if (l == NULL && !init_bios_label(&c, slot)->present) {
		util_fail(why, n, "ESP: syslinux.cfg has no label %s", slot);
		goto out;
	}
	if (l != NULL && strcmp(c.dflt, slot) == 0) {
		util_fail(why, n, "slot %s is syslinux's DEFAULT", slot);
		goto out;
	}
	if (l == NULL)
		snprintf(c.dflt, sizeof(c.dflt), "%s", slot);
	else
		*init_bios_label(&c, slot) = *l;
	if ((len = init_bios_cfg_format(&c, text, sizeof(text))) < 0) {
		util_fail(why, n, "ESP: syslinux.cfg too long");
		goto out;
	}
	if (init_bios_write(dfd, INIT_BIOS_CFG, text, (size_t)len, why, n) < 0)
		goto out;
	if (drop_tries && unlinkat(dfd, INIT_BIOS_TRIES, 0) < 0 &&
	    errno != ENOENT) {
		util_fail(
		    why, n, "ESP: %s: %s", INIT_BIOS_TRIES, strerror(errno));
		goto out;
	}
	r = fsync(dfd) < 0
	    ? util_fail(why, n, "ESP: fsync: %s", strerror(errno))
	    : 0;
out:
	close(dfd);
	return r;
}

/* see init_int.h */
int
init_bios_mark_good(const char *esp, const char *slot, char *why, size_t n)
{
	return cfg_edit(esp, slot, NULL, true, why, n);
}

/* see init_int.h */
int
init_bios_arm(const char *esp, const struct init_tries *t, char *why, size_t n)
{
	struct init_tries next = *t;
	char text[TRIES_MAX];
	int dfd, len, r;

	if (next.left == 0)
		return util_fail(why, n, "no try left to arm");
	next.left--;
	if ((len = init_tries_format(&next, text, sizeof(text))) < 0)
		return util_fail(why, n, "tries file too long");
	if ((dfd = bios_dir(esp, why, n)) < 0)
		return -1;
	r = init_bios_write(dfd, INIT_BIOS_TRIES, text, (size_t)len, why, n);
	close(dfd);
	if (r < 0)
		return -1;
	return init_bios_once(esp, t->slot, why, n);
}

/* see init_int.h */
int
init_bios_forget(const char *esp, const char *slot, char *why, size_t n)
{
	static const struct init_bios_label none;

	/* The boot-once first: it could name the label about to go. */
	if (init_bios_once(esp, "", why, n) < 0)
		return -1;
	return cfg_edit(esp, slot, &none, true, why, n);
}

/* see init_int.h */
int
init_bios_add(const char *esp, const char *slot, const char *version,
    const char *cmdline, char *why, size_t n)
{
	struct init_bios_label l = {.present = true};
	struct init_tries t = {.left = INIT_UKI_TRIES - 1};
	char text[TRIES_MAX];
	int dfd, len, r;

	if ((size_t)snprintf(l.version, sizeof(l.version), "%s", version) >=
		sizeof(l.version) ||
	    (size_t)snprintf(l.cmdline, sizeof(l.cmdline), "%s", cmdline) >=
		sizeof(l.cmdline))
		return util_fail(why, n, "version or command line too long");
	snprintf(t.slot, sizeof(t.slot), "%s", slot);
	snprintf(t.version, sizeof(t.version), "%s", version);
	if ((len = init_tries_format(&t, text, sizeof(text))) < 0)
		return util_fail(why, n, "tries file too long");
	if (cfg_edit(esp, slot, &l, false, why, n) < 0 ||
	    (dfd = bios_dir(esp, why, n)) < 0)
		return -1;
	r = init_bios_write(dfd, INIT_BIOS_TRIES, text, (size_t)len, why, n);
	close(dfd);
	if (r < 0)
		return -1;
	return init_bios_once(esp, slot, why, n);
}
