/* The privilege drop: see privdrop.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/privdrop.h"

/* linux/capability.h (musl ships no kernel headers). */
#define CAP_SETGID 6
#define CAP_SETUID 7
#define CAP_SETPCAP 8
#define CAP_SYS_TIME 25
#define CAP_VERSION_3 0x20080522U
/* Capability numbers are below 64 in every kernel ABI (two u32 words). */
#define CAP_MAX 64
/* DATA_DIR/identity/<generation>/<file>: deeper is not ours. */
#define GIVE_DEPTH 4

struct caps {
	uint64_t eff, prm, inh;
};

static int
fail(char *err, size_t errlen, int e, const char *what)
{
	snprintf(err, errlen, "privileges: %s: %s", what, strerror(e));
	return -e;
}

/* see privdrop.h */
int
privdrop_parse_user(const char *s, uid_t *uid, gid_t *gid)
{
	unsigned long long v[2];
	const char *p = s;
	char *end;

	for (int i = 0; i < 2; i++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno != 0 || v[i] >= UINT32_MAX ||
		    *end != (i == 0 ? ':' : '\0'))
			return -EINVAL;
		p = end + 1;
	}
	*uid = (uid_t)v[0];
	*gid = (gid_t)v[1];
	return 0;
}

/* capget(2) or capset(2) (nr) of this process, ABI version 3. */
static int
caps_call(long nr, struct caps *c)
{
	struct {
		uint32_t version;
		int pid;
	} h = {CAP_VERSION_3, 0};
	struct {
		uint32_t eff, prm, inh;
	} d[2] = {{(uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh},
	    {(uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32),
		(uint32_t)(c->inh >> 32)}};

	if (syscall(nr, &h, d) < 0)
		return -errno;
	c->eff = d[0].eff | (uint64_t)d[1].eff << 32;
	c->prm = d[0].prm | (uint64_t)d[1].prm << 32;
	c->inh = d[0].inh | (uint64_t)d[1].inh << 32;
	return 0;
}

/* Every capability the kernel knows, except `keep`, out of the bounding set. */
static int
drop_bounding(uint64_t keep)
{
	for (int c = 0; c < CAP_MAX; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break; /* past the kernel's last capability */
		if (r == 1 && !(keep >> c & 1) &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

/* Root's entries under dfd (the directory itself included) to uid:gid;
 * dfd is closed. */
static int
give_tree(int dfd, uid_t uid, gid_t gid, int depth)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (fstat(dfd, &st) < 0 ||
	    (st.st_uid == 0 && fchown(dfd, uid, gid) < 0))
		r = -errno;
	if (r < 0 || depth == 0 || (d = fdopendir(dfd)) == NULL) {
		r = r < 0 || depth == 0 ? r : -errno;
		close(dfd);
		return r;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			r = sub < 0 ? -errno
				    : give_tree(sub, uid, gid, depth - 1);
		} else if (S_ISREG(st.st_mode) && st.st_uid == 0 &&
		    fchownat(
			dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	closedir(d);
	return r;
}

static int
give_data_dir(const struct privdrop_conf *conf, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	char what[300];
	int fd, r;

	if (conf->data_dir == NULL)
		return 0;
	fd = open(
	    conf->data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* created later, by the target user */
	snprintf(what, sizeof(what), "%s %s: chown to %u:%u", conf->data_key,
	    conf->data_dir, (unsigned)uid, (unsigned)gid);
	if (fd < 0)
		return fail(err, errlen, errno, what);
	r = give_tree(fd, uid, gid, GIVE_DEPTH);
	return r < 0 ? fail(err, errlen, -r, what) : 0;
}

/*
 * Whether uid 0 here is the root of a user namespace that is an
 * unprivileged id outside (rootless runc or podman): the process already
 * is that host user.  Without /proc it counts as real root.
 */
static bool
userns_root(void)
{
	unsigned long in, out, n;
	FILE *f = fopen("/proc/self/uid_map", "re");
	bool r = false;

	if (f == NULL)
		return false;
	while (fscanf(f, "%lu %lu %lu", &in, &out, &n) == 3)
		if (in == 0) {
			r = out != 0;
			break;
		}
	fclose(f);
	return r;
}

/* Steps 2–3 of privdrop.h (root only). */
static int
change_ids(uid_t uid, gid_t gid, uint64_t keep, char *err, size_t errlen)
{
	if (drop_bounding(keep) < 0)
		return fail(err, errlen, errno, "bounding set");
	if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, errno, "PR_SET_KEEPCAPS");
	if (setgroups(0, NULL) < 0)
		return fail(err, errlen, errno, "setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return fail(err, errlen, errno, "setresgid");
	if (setresuid(uid, uid, uid) < 0)
		return fail(err, errlen, errno, "setresuid");
	return 0;
}

/*
 * Steps 4–5: what is left of the capabilities, then no_new_privs.
 * capset(2) only when something is left to drop: a systemd unit's
 * SystemCallFilter=~@privileged refuses it even to a process without
 * capabilities (deploy/systemd/outpost.service).
 */
static int
drop_caps(uint64_t keep, char *err, size_t errlen)
{
	struct caps c = {0}, want = {keep, keep, 0};
	int r;

	if ((r = caps_call(SYS_capget, &c)) < 0)
		return fail(err, errlen, -r, "capget");
	if ((c.eff != keep || c.prm != keep || c.inh != 0) &&
	    (r = caps_call(SYS_capset, &want)) < 0)
		return fail(err, errlen, -r, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail(err, errlen, errno, "ambient capabilities");
	if (keep != 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return fail(err, errlen, errno, "PR_SET_KEEPCAPS");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, errno, "no_new_privs");
	return 0;
}

/* Step 6, identity part: nothing of root is left to return to. */
static int
verify_ids(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return fail(err, errlen, errno, "getresuid");
	if (r != uid || e != uid || s != uid || rg != gid || eg != gid ||
	    sg != gid || getgroups(0, NULL) != 0)
		return fail(err, errlen, EPERM, "ids differ from OUTPOST_USER");
	if (uid != 0 && (setuid(0) == 0 || setgid(0) == 0))
		return fail(err, errlen, EPERM, "root could be regained");
	return 0;
}

/* Step 6, file part.  The data directory only when the ids changed here:
 * started unprivileged, what start-up found of it stands (the identity
 * store already said, and falls back or refuses by its own rules). */
static int
verify_files(
    const struct privdrop_conf *conf, bool changed, char *err, size_t errlen)
{
	char what[300];

	if (changed && conf->data_dir != NULL &&
	    access(conf->data_dir, R_OK | W_OK | X_OK) < 0 && errno != ENOENT) {
		snprintf(what, sizeof(what),
		    "%s %s: not writable as uid %u (chown it to OUTPOST_USER; "
		    "every directory above it must be searchable)",
		    conf->data_key, conf->data_dir, (unsigned)getuid());
		return fail(err, errlen, errno, what);
	}
	for (const char *const *f = conf->reread; f && *f; f++) {
		if (access(*f, R_OK) == 0)
			continue;
		snprintf(what, sizeof(what),
		    "%s: not readable as uid %u, and it is read again while "
		    "running",
		    *f, (unsigned)getuid());
		return fail(err, errlen, errno, what);
	}
	return 0;
}

static int
verify_caps(uint64_t keep, char *err, size_t errlen)
{
	struct caps c = {0};
	int r;

	if ((r = caps_call(SYS_capget, &c)) < 0)
		return fail(err, errlen, -r, "capget");
	if (c.eff != keep || c.prm != keep || c.inh != 0)
		return fail(err, errlen, EPERM, "capabilities left");
	return 0;
}

static void
report(bool was_root, bool rootless, uint64_t keep)
{
	const char *cap = keep != 0 ? "CAP_SYS_TIME" : "none";

	if (getuid() == 0 && rootless)
		log_info("privileges: uid 0 of a user namespace that is an "
			 "unprivileged user outside; ids left as they are "
			 "(capabilities: %s)",
		    cap);
	else if (getuid() == 0)
		log_warn("privileges: ALLOW_ROOT=true: the loop runs AS ROOT "
			 "(uid 0; capabilities: %s); give it an OUTPOST_USER",
		    cap);
	else
		log_info("privileges: uid %u gid %u, capabilities: %s%s",
		    (unsigned)getuid(), (unsigned)getgid(), cap,
		    was_root ? " (dropped from root)"
			     : " (started unprivileged: OUTPOST_USER not "
			       "applied)");
}

/* see privdrop.h */
int
privdrop_start(const struct privdrop_conf *conf, char *err, size_t errlen)
{
	uid_t r, e, s, uid;
	gid_t gid;
	struct caps now = {0};
	uint64_t keep;
	bool root, change, rootless;
	int rc;

	if (privdrop_parse_user(conf->user, &uid, &gid) < 0)
		return fail(err, errlen, EINVAL, "OUTPOST_USER: not uid:gid");
	if ((uid == 0 || gid == 0) && !conf->allow_root)
		return fail(err, errlen, EPERM,
		    "OUTPOST_USER: uid or gid 0 needs ALLOW_ROOT=true");
	if (getresuid(&r, &e, &s) < 0 || (rc = caps_call(SYS_capget, &now)) < 0)
		return fail(err, errlen, errno, "getresuid/capget");
	root = r == 0 || e == 0 || s == 0;
	/* Rootless: uid 0 of a user namespace with no changing ids (one id
	 * mapped, no CAP_SETUID/CAP_SETGID): the ids stay, as with ALLOW_ROOT
	 * and 0:0; the rest applies. */
	rootless = root && userns_root() &&
	    (~now.eff >> CAP_SETUID & 1 || ~now.eff >> CAP_SETGID & 1);
	change = root && !rootless && (uid != 0 || gid != 0);
	keep = conf->sys_time ? now.prm & (1ULL << CAP_SYS_TIME) : 0;
	if (change && uid != 0 &&
	    (rc = give_data_dir(conf, uid, gid, err, errlen)) < 0)
		return rc;
	if (change && (rc = change_ids(uid, gid, keep, err, errlen)) < 0)
		return rc;
	if (!change && (now.eff >> CAP_SETPCAP & 1) && drop_bounding(keep) < 0)
		return fail(err, errlen, errno, "bounding set");
	if ((rc = drop_caps(keep, err, errlen)) < 0 ||
	    (change && (rc = verify_ids(uid, gid, err, errlen)) < 0) ||
	    (rc = verify_caps(keep, err, errlen)) < 0 ||
	    (rc = verify_files(conf, change, err, errlen)) < 0)
		return rc;
	if (getuid() == 0 && !conf->allow_root && !rootless)
		return fail(err, errlen, EPERM,
		    "running as root without "
		    "ALLOW_ROOT=true");
	report(root, rootless, keep);
	return 0;
}
