/*
 * update_stage.c — a downloaded bundle's way to init (update_ctl.h):
 * fsync, the whole file's sha256, the signature and policy
 * (update/update.h) against the running image's signing certificate,
 * the rename to .update, APPLY, then init's states.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connector/manager.h"
#include "connector/update_ctl_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "update/update.h"

#define CERT_MAX (64u << 10)

/* Signature, manifest and policy of the file at path: 0 or -1 (err). */
static int
verify(struct update_ctl *u, const char *path, char *err, size_t errlen)
{
	struct update_manifest man;
	char *pem = NULL;
	size_t pem_len = 0;
	int fd, r;

	r = util_read_file(u->cert, CERT_MAX, &pem, &pem_len);
	if (r < 0)
		return util_fail(err, errlen, "signing certificate %s: %s",
		    u->cert, strerror(-r));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		free(pem);
		return util_fail(err, errlen, "%s: %s", path, strerror(errno));
	}
	r = update_open(fd, pem, pem_len, &man, err, errlen);
	close(fd);
	free(pem);
	if (r < 0)
		return -1;
	if (strcmp(man.version, u->off_version) != 0)
		return util_fail(err, errlen,
		    "the bundle is version %s, the offer said %s", man.version,
		    u->off_version);
	return update_check(
	    &man, OUTPOST_VERSION, UPDATE_ARCH, u->downgrade, err, errlen);
}

/* see update_ctl_int.h */
void
upd_stage_clean(struct update_ctl *u, const char *keep)
{
	DIR *d = opendir(u->dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "outpost-", 8) != 0 ||
		    strcmp(e->d_name, keep) == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_info("update: removed %s/%s", u->dir, e->d_name);
	}
	closedir(d);
}

static void
apply(struct update_ctl *u, const char *name)
{
	char path[INITCTL_PATH_MAX], err[160];
	struct initctl_reply r;

	snprintf(path, sizeof(path), "%s%s", INITCTL_STAGE_DIR, name);
	if (initctl_client_call(
		u->ctl, INITCTL_APPLY, path, &r, err, sizeof(err)) < 0) {
		upd_fail(u, UPD_FAIL_APPLY, "init: %s", err);
		return;
	}
	if (r.result != 0) {
		upd_fail(u, UPD_FAIL_APPLY, "init refused: %s", r.reason);
		return;
	}
	log_info("update %s: handed to init as %s", u->off_version, path);
	upd_adopt(u, &r);
}

/* see update_ctl_int.h */
void
upd_stage(struct update_ctl *u)
{
	char part[320], staged[384], name[64], err[256];
	uint8_t sum[32];
	int r;

	u->state = INITCTL_VERIFYING;
	u->percent = 0;
	upd_changed(u);
	upd_part_path(u, part, sizeof(part));
	r = fsync(u->fd);
	close(u->fd);
	u->fd = -1;
	br_sha256_out(&u->hash, sum);
	if (r < 0) {
		(void)unlink(part);
		upd_fail(u, UPD_FAIL_WRITE, "fsync: %s", strerror(errno));
	} else if (!util_ct_eq(sum, u->off_sha, sizeof(sum))) {
		(void)unlink(part);
		upd_fail(u, UPD_FAIL_SHA256, "sha256 mismatch");
	} else if (verify(u, part, err, sizeof(err)) < 0) {
		(void)unlink(part);
		upd_fail(u, UPD_FAIL_VERIFY, "%s", err);
	} else {
		upd_staged_name(u, name, sizeof(name));
		snprintf(staged, sizeof(staged), "%s/%s", u->dir, name);
		if (rename(part, staged) < 0) {
			(void)unlink(part);
			upd_fail(
			    u, UPD_FAIL_WRITE, "rename: %s", strerror(errno));
			return;
		}
		upd_stage_clean(u, name);
		apply(u, name);
	}
	u->held = 0;
}

/* see update_ctl_int.h */
void
upd_poll_fire(struct rx_loop *l, struct rx_timer *t)
{
	struct update_ctl *u = container_of(t, struct update_ctl, poll);
	struct initctl_reply r;
	char err[160];

	(void)l;
	if (initctl_client_call(
		u->ctl, INITCTL_STATUS, NULL, &r, err, sizeof(err)) < 0) {
		log_warn("update: init's state: %s", err);
		rx_timer_start(u->loop, &u->poll, UPDATE_POLL_MS);
		return;
	}
	upd_adopt(u, &r);
}
