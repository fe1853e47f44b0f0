/*
 * update_ctl.c — the update controller's state and the offers (see
 * update_ctl.h); the Fetch call is update_fetch.c's, the hand-over
 * update_stage.c's, the reports update_report.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/manager.h"
#include "connector/update_ctl_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "update/update.h"

void
upd_changed(struct update_ctl *u)
{
	unsigned i;

	for (i = 0; i < INITCTL__STATES; i++)
		metric_set(&u->m_state[i], i == u->state ? 1 : 0);
	upd_report_want(u, -1);
}

void
upd_fail(struct update_ctl *u, enum upd_fail why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->reason, sizeof(u->reason), fmt, ap);
	va_end(ap);
	if (why < UPD_FAIL__N)
		metric_inc(&u->m_fail[why]);
	log_warn("update %s: failed: %s", u->off_version, u->reason);
	u->state = INITCTL_FAILED;
	u->percent = 0;
	upd_changed(u);
}

void
upd_part_path(const struct update_ctl *u, char *out, size_t n)
{
	snprintf(out, n, "%s/outpost-%s.part", u->dir, u->off_version);
}

void
upd_staged_name(const struct update_ctl *u, char *out, size_t n)
{
	snprintf(out, n, "outpost-%s.update", u->off_version);
}

void
upd_adopt(struct update_ctl *u, const struct initctl_reply *r)
{
	enum initctl_state s = r->state; /* one of init's (decoded) */

	if (s != u->state || r->percent != u->percent ||
	    strcmp(r->reason, u->reason) != 0 ||
	    strcmp(r->other_version, u->other_version) != 0) {
		u->state = s;
		u->percent = r->percent;
		snprintf(u->reason, sizeof(u->reason), "%s", r->reason);
		snprintf(u->other_version, sizeof(u->other_version), "%s",
		    r->other_version);
		upd_changed(u);
	}
	snprintf(u->slot, sizeof(u->slot), "%s", r->slot);
	if (r->version[0] != '\0')
		snprintf(u->version, sizeof(u->version), "%s", r->version);
	/* A trial too: init marks it good (or reboots) on its own. */
	if ((s == INITCTL_VERIFYING || s == INITCTL_WRITING ||
		s == INITCTL_TRIAL) &&
	    !rx_timer_active(&u->poll))
		rx_timer_start(u->loop, &u->poll, UPDATE_POLL_MS);
}

/* --- offers ------------------------------------------------------------- */

/* Why the offer cannot apply here, or NULL; text in err. */
static const char *
refusal(const struct update_ctl *u, const Outpost__V1__UpdateOffer *o,
    char *err, size_t errlen)
{
	if (o->sha256.len != 32)
		snprintf(
		    err, errlen, "sha256 is %zu bytes, not 32", o->sha256.len);
	else if (strlen(o->version) > UPDATE_VERSION_LEN ||
	    !update_version_valid(o->version))
		snprintf(err, errlen, "version is not dotted numbers");
	else if (strcmp(o->arch, UPDATE_ARCH) != 0)
		snprintf(err, errlen, "for arch %.16s, this is %s", o->arch,
		    UPDATE_ARCH);
	else if (!u->downgrade &&
	    update_version_cmp(o->version, OUTPOST_VERSION) <= 0)
		snprintf(err, errlen,
		    "version %s is not newer than %s (UPDATE_ALLOW_DOWNGRADE)",
		    o->version, OUTPOST_VERSION);
	else if (o->size == 0 || o->size > u->max_bytes)
		snprintf(err, errlen,
		    "size %llu bytes is over UPDATE_MAX_BYTES (%llu)",
		    (unsigned long long)o->size,
		    (unsigned long long)u->max_bytes);
	else
		return NULL;
	return err;
}

/*
 * Why an offer changes nothing now, or NULL: init is busy with an update,
 * or this version was applied already (by an earlier run of this process:
 * the edge sends its offer again on every tunnel).  A version that was
 * rolled back is not tried again (it would roll back again).
 */
static const char *
ignored(const struct update_ctl *u, const Outpost__V1__UpdateOffer *o)
{
	bool running = strcmp(o->version, OUTPOST_VERSION) == 0;
	bool other = strcmp(o->version, u->other_version) == 0;

	if (u->state == INITCTL_VERIFYING || u->state == INITCTL_WRITING)
		return "init is busy with an update";
	if (running && (u->state == INITCTL_TRIAL || u->state == INITCTL_GOOD))
		return "it is the running version";
	if (other && u->state == INITCTL_WRITTEN)
		return "it is written, waiting for the reboot";
	if (other && u->state == INITCTL_ROLLED_BACK)
		return "it was rolled back";
	return NULL;
}

static bool
same_offer(const struct update_ctl *u, const Outpost__V1__UpdateOffer *o)
{
	return u->have_offer && o->sha256.len == 32 &&
	    strcmp(o->version, u->off_version) == 0 &&
	    memcmp(o->sha256.data, u->off_sha, 32) == 0;
}

/* see update_ctl.h */
void
update_ctl_offer(struct update_ctl *u, struct tunnel_slot *t,
    const Outpost__V1__UpdateOffer *o)
{
	char err[160];

	const char *why;

	if (u == NULL || same_offer(u, o))
		return;
	if ((why = ignored(u, o)) != NULL) {
		log_info("tunnel %u: update offer %.31s ignored: %s", t->index,
		    o->version, why);
		return;
	}
	upd_fetch_stop(u, true);
	u->have_offer = true;
	snprintf(u->off_version, sizeof(u->off_version), "%.*s",
	    UPDATE_VERSION_LEN, o->version);
	u->off_size = o->size;
	memset(u->off_sha, 0, sizeof(u->off_sha));
	if (o->sha256.len == 32)
		memcpy(u->off_sha, o->sha256.data, 32);
	if (refusal(u, o, err, sizeof(err)) != NULL) {
		log_warn("tunnel %u: update offer refused: %s", t->index, err);
		snprintf(u->reason, sizeof(u->reason), "%.127s", err);
		u->state = INITCTL_FAILED;
		u->percent = 0;
		upd_changed(u);
		return;
	}
	log_info("tunnel %u: update %s offered (%llu bytes)", t->index,
	    u->off_version, (unsigned long long)u->off_size);
	u->state = INITCTL_OFFERED;
	u->percent = 0;
	u->reason[0] = '\0';
	backoff_reset(&u->backoff);
	upd_changed(u);
	upd_fetch_kick(u);
}

/* init's REBOOT: 0 when init took it, else -1 with the reason in err. */
static int
ask_reboot(struct update_ctl *u, char *err, size_t errlen)
{
	struct initctl_reply r;

	if (initctl_client_call(u->ctl, INITCTL_REBOOT, NULL, &r, err, errlen) <
	    0)
		return -1;
	if (r.result != 0)
		return util_fail(
		    err, errlen, "init refused the reboot: %s", r.reason);
	return 0;
}

/* see update_ctl.h */
void
update_ctl_reboot(struct update_ctl *u, struct tunnel_slot *t,
    const Outpost__V1__UpdateReboot *r)
{
	char err[INITCTL_REASON_MAX];

	if (u == NULL)
		return;
	if (u->state != INITCTL_WRITTEN)
		snprintf(err, sizeof(err),
		    "reboot into %.31s refused: the update state is %s",
		    r->version, initctl_state_name(u->state));
	else if (strcmp(r->version, u->other_version) != 0)
		snprintf(err, sizeof(err),
		    "reboot into %.31s refused: the written update is %s",
		    r->version, u->other_version);
	else if (ask_reboot(u, err, sizeof(err)) == 0) {
		log_info("tunnel %u: rebooting into update %s (asked by the "
			 "edge)",
		    t->index, u->other_version);
		return;
	}
	log_warn("tunnel %u: %s", t->index, err);
	snprintf(u->reason, sizeof(u->reason), "%s", err);
	upd_changed(u);
}

/* see update_ctl_int.h */
uint32_t
upd_rnd(void)
{
	uint32_t r = 0;

	(void)util_random(&r, sizeof(r));
	return r;
}

/* see update_ctl.h */
void
update_ctl_tunnel_opened(struct update_ctl *u, struct tunnel_slot *t)
{
	if (u != NULL)
		upd_report_want(u, (int)(t - u->m->slots));
}

/* see update_ctl.h */
void
update_ctl_poke(struct update_ctl *u)
{
	if (u == NULL)
		return;
	if (u->m->stopping) {
		upd_fetch_stop(u, false);
		upd_report_stop(u);
		rx_timer_stop(u->loop, &u->poll);
		return;
	}
	upd_fetch_kick(u);
}

/* --- setup ---------------------------------------------------------------- */

static void
read_init(struct update_ctl *u)
{
	struct initctl_reply r;
	char err[160];

	snprintf(u->version, sizeof(u->version), "%s", OUTPOST_VERSION);
	if (initctl_client_call(
		u->ctl, INITCTL_STATUS, NULL, &r, err, sizeof(err)) < 0) {
		log_warn("update: init's state: %s", err);
		return;
	}
	upd_adopt(u, &r);
}

/* see update_ctl.h */
struct update_ctl *
update_ctl_new(struct manager *m, const struct cfg *c)
{
	const char *data = cfg_str(c, CFG_DATA_DIR);
	struct update_ctl *u;
	char err[160];
	int fd = initctl_client_fd(err, sizeof(err));

	if (fd < 0 || data == NULL) {
		log_info("update: no updates here (%s)",
		    fd < 0 ? err : "DATA_DIR is not set");
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		goto nomem;
	u->m = m;
	u->loop = m->loop;
	u->ctl = fd;
	u->fd = -1;
	snprintf(u->dir, sizeof(u->dir), "%s/update", data);
	snprintf(u->cert, sizeof(u->cert), "%s",
	    cfg_str(c, CFG_UPDATE_SIGNING_CERT));
	u->max_bytes = (uint64_t)cfg_int(c, CFG_UPDATE_MAX_BYTES);
	u->downgrade = cfg_bool(c, CFG_UPDATE_ALLOW_DOWNGRADE);
	backoff_init(&u->backoff, m->conf.reconnect_ms, m->conf.max_backoff_ms);
	rx_timer_init(&u->poll, upd_poll_fire);
	if (upd_fetch_init(u) < 0 || upd_report_init(u) < 0) {
		update_ctl_free(u);
		goto nomem;
	}
	read_init(u);
	/* A bundle init is not working on is of no more use. */
	if (u->state != INITCTL_VERIFYING && u->state != INITCTL_WRITING &&
	    u->state != INITCTL_WRITTEN)
		upd_stage_clean(u, "");
	upd_changed(u);
	return u;
nomem:
	log_error("update: out of memory: no updates");
	return NULL;
}

/* see update_ctl.h */
void
update_ctl_free(struct update_ctl *u)
{
	if (u == NULL)
		return;
	upd_fetch_stop(u, false);
	rx_timer_stop(u->loop, &u->poll);
	rx_timer_stop(u->loop, &u->retry);
	rx_defer_cancel(u->loop, &u->kick);
	conn_call_free(&u->fetch);
	conn_call_free(&u->report);
	free(u->report_want);
	free(u->report_off);
	free(u);
}
