/*
 * The identity store: generation directories under DATA_DIR/identity and
 * one symlink, `current`, replaced by rename(2).  See identity_store.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connector/identity_store.h"
#include "lib/util.h"

#define IDSTORE_DIR "identity"
#define IDSTORE_CURRENT "current"
#define IDSTORE_TMPLINK "current.tmp"
#define IDSTORE_META_MAX 1024
#define IDSTORE_GEN_NAME 24 /* "g" and the digits of a long */

static const char *const file_names[] = {"key.pem", "chain.pem", "ca.pem"};

static int
fail(char *err, size_t errlen, int e, const char *step, const char *what)
{
	snprintf(
	    err, errlen, "identity store: %s %s: %s", step, what, strerror(-e));
	return e;
}

static int
neg_errno(void)
{
	return errno != 0 ? -errno : -EIO;
}

/* "g<N>" → N, or 0 when the name is not a generation. */
static unsigned
gen_number(const char *name)
{
	unsigned long v;
	char *end;

	if (name[0] != 'g' || name[1] < '1' || name[1] > '9')
		return 0;
	errno = 0;
	v = strtoul(name + 1, &end, 10);
	if (*end != '\0' || errno != 0 || v > UINT32_MAX - 1)
		return 0;
	return (unsigned)v;
}

/* The generation `current` names: N, 0 when there is none, or -errno. */
static long
current_gen(int ifd)
{
	char target[IDSTORE_GEN_NAME + 1];
	ssize_t n = readlinkat(ifd, IDSTORE_CURRENT, target, sizeof(target));
	unsigned g;

	if (n < 0)
		return errno == ENOENT ? 0 : neg_errno();
	if ((size_t)n >= sizeof(target))
		return -EINVAL;
	target[n] = '\0';
	g = gen_number(target);
	return g == 0 ? -EINVAL : (long)g;
}

/* Remove directory name (one level of files) under ifd; errors ignored. */
static void
remove_gen(int ifd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd =
	    openat(ifd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	unlinkat(ifd, name, AT_REMOVEDIR);
}

/* Remove every generation but keep, and a stale temporary link. */
static void
remove_others(int ifd, unsigned keep)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(ifd);
	unsigned g;

	if (fd < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		g = gen_number(de->d_name);
		if (g != 0 && g != keep)
			remove_gen(ifd, de->d_name);
	}
	closedir(d);
	unlinkat(ifd, IDSTORE_TMPLINK, 0);
}

/* Create name in dfd with data, fsynced, mode 0600.  0 or -errno. */
static int
write_file(int dfd, const char *name, const void *data, size_t len)
{
	const char *p = data;
	ssize_t w;
	int fd, r = 0;

	fd = openat(dfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return neg_errno();
	while (len > 0 && r == 0) {
		w = write(fd, p, len);
		if (w < 0 && errno != EINTR)
			r = neg_errno();
		else if (w == 0)
			r = -EIO;
		else if (w > 0) {
			p += w;
			len -= (size_t)w;
		}
	}
	if (r == 0 && fsync(fd) < 0)
		r = neg_errno();
	if (close(fd) < 0 && r == 0)
		r = neg_errno();
	return r;
}

static int
meta_write(int gfd, const struct idstore_files *f)
{
	char meta[IDSTORE_META_MAX];
	int n;

	n = snprintf(meta, sizeof(meta),
	    "source=%s\nname=%s\nnot_after=%" PRId64 "\nrenew_at=%" PRId64 "\n",
	    f->source, f->name, f->not_after, f->renew_at);
	if (n < 0 || (size_t)n >= sizeof(meta))
		return -ENAMETOOLONG;
	return write_file(gfd, "meta", meta, (size_t)n);
}

/* Write the files of generation g into a new directory.  0 or -errno. */
static int
write_gen(int ifd, const char *gname, const struct idstore_files *f, char *err,
    size_t errlen)
{
	const char *data[] = {f->key, f->chain, f->ca};
	const size_t len[] = {f->key_len, f->chain_len, f->ca_len};
	int gfd, r = 0;
	size_t i;

	if (mkdirat(ifd, gname, 0700) < 0)
		return fail(err, errlen, neg_errno(), "mkdir", gname);
	gfd =
	    openat(ifd, gname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gfd < 0)
		return fail(err, errlen, neg_errno(), "open", gname);
	for (i = 0; i < nitems(file_names) && r == 0; i++)
		if ((r = write_file(gfd, file_names[i], data[i], len[i])) < 0)
			fail(err, errlen, r, "write", file_names[i]);
	if (r == 0 && (r = meta_write(gfd, f)) < 0)
		fail(err, errlen, r, "write", "meta");
	if (r == 0 && fsync(gfd) < 0)
		r = fail(err, errlen, neg_errno(), "fsync", gname);
	close(gfd);
	return r;
}

/* Point `current` at gname with one rename.  0 or -errno. */
static int
switch_current(int ifd, const char *gname, char *err, size_t errlen)
{
	unlinkat(ifd, IDSTORE_TMPLINK, 0);
	if (fsync(ifd) < 0)
		return fail(err, errlen, neg_errno(), "fsync", IDSTORE_DIR);
	if (symlinkat(gname, ifd, IDSTORE_TMPLINK) < 0)
		return fail(
		    err, errlen, neg_errno(), "symlink", IDSTORE_TMPLINK);
	if (renameat(ifd, IDSTORE_TMPLINK, ifd, IDSTORE_CURRENT) < 0)
		return fail(
		    err, errlen, neg_errno(), "rename", IDSTORE_CURRENT);
	if (fsync(ifd) < 0)
		return fail(err, errlen, neg_errno(), "fsync", IDSTORE_DIR);
	return 0;
}

/* Open (creating, 0700) DATA_DIR/identity.  fd or -errno. */
static int
open_identity_dir(const char *data_dir, bool create, char *err, size_t errlen)
{
	int dfd, ifd, r;
	const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

	dfd = open(data_dir, flags);
	if (dfd < 0)
		return fail(err, errlen, neg_errno(), "open", data_dir);
	if (create && mkdirat(dfd, IDSTORE_DIR, 0700) == 0 && fsync(dfd) < 0) {
		r = neg_errno();
		close(dfd);
		return fail(err, errlen, r, "fsync", data_dir);
	}
	ifd = openat(dfd, IDSTORE_DIR, flags | O_NOFOLLOW);
	r = ifd < 0 ? neg_errno() : 0;
	close(dfd);
	if (r < 0)
		return r == -ENOENT && !create
		    ? r
		    : fail(err, errlen, r, "open", IDSTORE_DIR);
	if (create && fchmod(ifd, 0700) < 0) {
		r = neg_errno();
		close(ifd);
		return fail(err, errlen, r, "chmod", IDSTORE_DIR);
	}
	return ifd;
}

/* see identity_store.h */
int
idstore_save(
    const char *data_dir, struct idstore_files *f, char *err, size_t errlen)
{
	char gname[IDSTORE_GEN_NAME];
	long cur;
	int ifd, r;

	if ((ifd = open_identity_dir(data_dir, true, err, errlen)) < 0)
		return ifd;
	if ((cur = current_gen(ifd)) < 0)
		cur = 0; /* a broken link is replaced below */
	snprintf(gname, sizeof(gname), "g%u", (unsigned)cur + 1);
	remove_gen(ifd, gname); /* an interrupted earlier save */
	r = write_gen(ifd, gname, f, err, errlen);
	if (r == 0)
		r = switch_current(ifd, gname, err, errlen);
	if (r < 0) {
		remove_gen(ifd, gname);
		unlinkat(ifd, IDSTORE_TMPLINK, 0);
	} else {
		f->generation = (unsigned)cur + 1;
		remove_others(ifd, f->generation);
	}
	close(ifd);
	return r;
}

/* Read name (at most IDSTORE_FILE_MAX bytes, never through a symlink)
 * into a heap buffer. */
static int
read_file(int dfd, const char *name, char **out, size_t *outlen)
{
	return util_read_file_at(
	    dfd, name, O_NOFOLLOW, IDSTORE_FILE_MAX, out, outlen);
}

/* see identity_store.h */
int
idstore_read(const char *path, char **out, size_t *len)
{
	return read_file(AT_FDCWD, path, out, len);
}

static int
load_gen(int gfd, struct idstore_files *f, char *err, size_t errlen)
{
	char **data[] = {&f->key, &f->chain, &f->ca};
	size_t *len[] = {&f->key_len, &f->chain_len, &f->ca_len};
	char *meta = NULL;
	size_t i, mlen = 0;
	int r;

	for (i = 0; i < nitems(file_names); i++)
		if ((r = read_file(gfd, file_names[i], data[i], len[i])) < 0)
			return fail(err, errlen, r, "read", file_names[i]);
	if ((r = read_file(gfd, "meta", &meta, &mlen)) < 0)
		return fail(err, errlen, r, "read", "meta");
	r = idstore_meta_parse(f, meta, mlen, err, errlen);
	free(meta);
	return r;
}

/* see identity_store.h */
int
idstore_load(
    const char *data_dir, struct idstore_files *f, char *err, size_t errlen)
{
	char gname[IDSTORE_GEN_NAME];
	long cur;
	int ifd, gfd, r;

	*f = (struct idstore_files){0};
	if ((ifd = open_identity_dir(data_dir, false, err, errlen)) < 0)
		return ifd;
	if ((cur = current_gen(ifd)) <= 0) {
		close(ifd);
		return cur == 0
		    ? -ENOENT
		    : fail(err, errlen, (int)cur, "read link", IDSTORE_CURRENT);
	}
	snprintf(gname, sizeof(gname), "g%ld", cur);
	gfd =
	    openat(ifd, gname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = gfd < 0 ? fail(err, errlen, neg_errno(), "open", gname) : 0;
	close(ifd);
	if (r < 0)
		return r;
	r = load_gen(gfd, f, err, errlen);
	close(gfd);
	if (r < 0)
		idstore_files_free(f);
	else
		f->generation = (unsigned)cur;
	return r;
}

/* One "key=value" line's value into out (cap bytes). */
static bool
meta_str(char *out, size_t cap, const char *v, size_t n)
{
	size_t i;

	if (n == 0 || n >= cap)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

static bool
meta_int(int64_t *out, const char *v, size_t n)
{
	char tmp[24];
	char *end;
	long long x;

	if (!meta_str(tmp, sizeof(tmp), v, n) || tmp[0] < '0' || tmp[0] > '9')
		return false;
	errno = 0;
	x = strtoll(tmp, &end, 10);
	if (*end != '\0' || errno != 0)
		return false;
	*out = x;
	return true;
}

/* One line; *seen collects the known keys found (bits). */
static bool
meta_line(struct idstore_files *f, const char *k, size_t klen, const char *v,
    size_t vlen, unsigned *seen)
{
	static const char *const keys[] = {
	    "source", "name", "not_after", "renew_at"};
	size_t i;

	for (i = 0; i < nitems(keys); i++)
		if (klen == strlen(keys[i]) && memcmp(k, keys[i], klen) == 0)
			break;
	if (i == nitems(keys))
		return true; /* a newer version's key */
	if (*seen & (1u << i))
		return false;
	*seen |= 1u << i;
	switch (i) {
	case 0:
		return meta_str(f->source, sizeof(f->source), v, vlen);
	case 1:
		return meta_str(f->name, sizeof(f->name), v, vlen);
	case 2:
		return meta_int(&f->not_after, v, vlen);
	default:
		return meta_int(&f->renew_at, v, vlen);
	}
}

/* see identity_store.h */
int
idstore_meta_parse(
    struct idstore_files *f, const char *p, size_t n, char *err, size_t errlen)
{
	const char *end = p + n, *nl, *eq;
	unsigned seen = 0, line = 0;

	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		eq = memchr(p, '=', (size_t)(nl - p));
		if (eq == NULL ||
		    !meta_line(f, p, (size_t)(eq - p), eq + 1,
			(size_t)(nl - eq - 1), &seen)) {
			snprintf(err, errlen,
			    "identity store: meta line %u is malformed", line);
			return -EINVAL;
		}
		p = nl + 1;
	}
	if (seen != 0xfu) {
		snprintf(err, errlen,
		    "identity store: meta lacks source, name, not_after or "
		    "renew_at");
		return -EINVAL;
	}
	return 0;
}

/* see identity_store.h */
void
idstore_files_free(struct idstore_files *f)
{
	if (f->key != NULL)
		util_wipe(f->key, f->key_len);
	free(f->key);
	free(f->chain);
	free(f->ca);
	*f = (struct idstore_files){0};
}
