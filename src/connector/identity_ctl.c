/*
 * The identity controller: choice at start, enrolment, recovery, renewal
 * and revocation.  Pairing is in identity_pair.c.  See identity_ctl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "connector/enroll_call.h"
#include "connector/health.h"
#include "connector/identity_ctl_int.h"
#include "grpc/grpc.h"
#include "connector/manager.h"
#include "lib/exit.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tls/pki.h"

#define CALL_TIMEOUT_MS 30000
#define RETRY_BASE_MS 2000
#define RETRY_CAP_MS 60000
#define TOKEN_MAX 512

static const char *const state_names[] = {"starting", "enrolling", "pairing",
    "running", "renewing", "needs_recovery"};

static const char *const result_labels[] = {
    "result=\"ok\"", "result=\"error\"", "result=\"revoked\""};

static int64_t
now_s(void)
{
	return util_wall_ms() / 1000;
}

/* see identity_ctl_int.h */
void
ic_set_state(struct identity_ctl *ic, enum ic_state s, const char *blocker)
{
	ic->state = s;
	ic->blocker = blocker;
	if (ic->health != NULL)
		health_set_blocker(ic->health, blocker);
}

/* see identity_ctl_int.h */
int64_t
ic_retry_ms(struct identity_ctl *ic)
{
	uint32_t rnd = 0;

	util_random(&rnd, sizeof(rnd));
	return backoff_next(&ic->backoff, rnd);
}

/* see identity_ctl_int.h */
void
ic_finish_once(struct identity_ctl *ic, int code)
{
	if (ic->mgr == NULL && ic->done != NULL) {
		identity_done_fn *done = ic->done;

		ic->done = NULL;
		done(ic, code);
	}
}

/* see identity_ctl_int.h */
void
ic_recovery(struct identity_ctl *ic, const char *reason, const char *action)
{
	snprintf(ic->action, sizeof(ic->action), "%s", action);
	log_error("identity: NEEDS RECOVERY (%s): %s", reason, action);
	rx_timer_stop(ic->loop, &ic->timer);
	if (ic->call != NULL)
		enroll_call_cancel(ic->call);
	ic_set_state(ic, IC_RECOVERY, reason);
	if (ic->mgr != NULL && ic->mgr_started && !ic->mgr->stopping)
		manager_stop(ic->mgr, NULL);
	ic_finish_once(ic, EXIT_PERMANENT);
}

static void
set_expiry_metric(struct identity_ctl *ic, int64_t not_after)
{
	metric_set(&ic->m_expiry, (double)not_after);
}

static void
schedule_renewal(struct identity_ctl *ic)
{
	int64_t wait = ic->cur.renew_at - now_s();

	wait = wait > 0 ? wait * 1000 : 0;
	log_info("identity: renewal in %lld s (certificate valid until %lld)",
	    (long long)(wait / 1000), (long long)ic->cur.not_after);
	rx_timer_start(ic->loop, &ic->timer, wait);
}

/* see identity_ctl_int.h */
int
ic_use(
    struct identity_ctl *ic, struct idstore_files *f, enum identity_source src)
{
	struct tls_client_config *tls = NULL;
	char err[256];

	if (ic->mgr != NULL &&
	    identity_tls(&tls, ic->ca, ic->ca_len, f, ic->mc->server_name, err,
		sizeof(err)) < 0) {
		log_error("identity: %s", err);
		return -1;
	}
	idstore_files_free(&ic->cur);
	ic->cur = *f;
	*f = (struct idstore_files){0};
	ic->have_cur = true;
	ic->source = src;
	ic->last_error[0] = '\0';
	backoff_reset(&ic->backoff);
	set_expiry_metric(ic, ic->cur.not_after);
	log_info("identity: %s, connector \"%s\", from %s",
	    src == IDENTITY_RENEW ? "renewed" : "in use", ic->cur.name,
	    identity_source_name(src));
	if (ic->mgr == NULL) {
		ic_finish_once(ic, 0);
		return 0;
	}
	manager_set_tls(ic->mgr, tls);
	ic_set_state(ic, IC_RUNNING, NULL);
	if (!ic->mgr_started) {
		ic->mgr_started = true;
		health_set_ready(ic->health, false, "connecting");
		manager_start(ic->mgr);
	}
	schedule_renewal(ic);
	return 0;
}

/* see identity_ctl_int.h */
void
ic_store(struct identity_ctl *ic, struct idstore_files *f)
{
	char err[256];

	if (ic->data_lost)
		log_warn("identity: /data is tmpfs (the data partition needs "
			 "recovery): the identity is lost at the next boot");
	if (ic->data_dir == NULL) {
		log_warn("identity: DATA_DIR is not set: the identity is kept "
			 "in memory only and a restart needs a new one");
		return;
	}
	if (idstore_save(ic->data_dir, f, err, sizeof(err)) < 0) {
		snprintf(ic->last_error, sizeof(ic->last_error), "%s", err);
		log_error(
		    "identity: %s (the identity is used from memory)", err);
		return;
	}
	log_info("identity: stored in %s/identity (generation %u)",
	    ic->data_dir, f->generation);
}

/* see identity_ctl_int.h */
int
ic_new_key(struct identity_ctl *ic)
{
	char err[256];
	struct buf b;

	pki_key_free(ic->key);
	ic->key = NULL;
	buf_init(&b, ic->csr, sizeof(ic->csr));
	if (identity_new_key(&ic->key, &b, ic->hostname, err, sizeof(err)) <
	    0) {
		log_error("identity: %s", err);
		return -1;
	}
	ic->csr_len = b.len;
	return 0;
}

/* see identity_ctl_int.h */
int
ic_take_identity(struct identity_ctl *ic, const struct enroll_result *r,
    const char *source, enum identity_source src)
{
	Outpost__V1__Identity *m;
	struct idstore_files f;
	char err[256];
	int rc;

	m = outpost__v1__identity__unpack(NULL, r->msg_len, r->msg);
	if (m == NULL) {
		log_error("identity: the edge's Identity does not decode");
		return -1;
	}
	rc = identity_from_edge(
	    &f, m, ic->key, source, ic->permille, err, sizeof(err));
	outpost__v1__identity__free_unpacked(m, NULL);
	if (rc < 0) {
		log_error("identity: %s", err);
		return -1;
	}
	pki_key_free(ic->key);
	ic->key = NULL;
	ic_store(ic, &f);
	rc = ic_use(ic, &f, src);
	idstore_files_free(&f);
	return rc;
}

/* see identity_ctl_int.h */
void
ic_note_failure(
    struct identity_ctl *ic, const char *what, const struct enroll_result *r)
{
	snprintf(ic->last_error, sizeof(ic->last_error), "%s: %s (%s)", what,
	    r->reason, r->detail);
	log_warn("identity: %s failed: %s (%s)", what, r->reason, r->detail);
}

/* --- enrolment with a token ----------------------------------------------- */

static void start_enroll(struct identity_ctl *ic);

static void
on_enrolled(struct enroll_call *c, const struct enroll_result *r, void *arg)
{
	struct identity_ctl *ic = arg;

	if (r->outcome == ENROLL_OK &&
	    ic_take_identity(ic, r, "enroll", IDENTITY_ENROLL) == 0) {
		util_wipe(ic->token, sizeof(ic->token));
		return;
	}
	if (r->outcome == ENROLL_OK) {
		ic_finish_once(ic, EXIT_TEMPORARY);
		return;
	}
	ic_note_failure(ic, "enrolment", r);
	if (r->outcome == ENROLL_STATUS &&
	    r->status == GRPC_STATUS_PERMISSION_DENIED) {
		ic_recovery(ic, "invalid_token",
		    "the edge refused ENROLLMENT_TOKEN (unknown, used or "
		    "expired): create a new one with `outpost-edge token "
		    "create NAME` and restart");
		return;
	}
	/* A certificate the edge's CA does not match is not going to change
	 * by itself: the once mode says so at once. */
	if (r->tls == TLS_R_UNKNOWN_CA || r->tls == TLS_R_HOSTNAME ||
	    r->tls == TLS_R_EXPIRED || r->tls == TLS_R_BAD_CERT)
		ic_finish_once(ic, EXIT_PERMANENT);
	else if (r->outcome == ENROLL_STATUS &&
	    r->status == GRPC_STATUS_INVALID_ARGUMENT)
		ic_finish_once(ic, EXIT_PERMANENT);
	else
		ic_finish_once(ic, EXIT_TEMPORARY);
	if (ic->mgr == NULL)
		return;
	ic_set_state(ic, IC_ENROLLING,
	    r->tls != TLS_R_NONE ? tls_reason_name(r->tls) : "enrolling");
	ic->retry = start_enroll;
	rx_timer_start(ic->loop, &ic->timer, ic_retry_ms(ic));
}

static void
start_enroll(struct identity_ctl *ic)
{
	Outpost__V1__EnrollRequest req = OUTPOST__V1__ENROLL_REQUEST__INIT;
	int r;

	ic_set_state(ic, IC_ENROLLING, "enrolling");
	if (ic_new_key(ic) < 0) {
		ic_recovery(ic, "needs_recovery", "no key could be generated");
		return;
	}
	req.token = ic->token;
	req.csr.data = ic->csr;
	req.csr.len = ic->csr_len;
	req.hostname = ic->hostname;
	req.version = OUTPOST_VERSION;
	log_info("identity: enrolling with the edge at %s", ic->mc->authority);
	r = enroll_call_start(ic->call, ic->anon, "Enroll", &req.base,
	    CALL_TIMEOUT_MS, on_enrolled, ic);
	if (r < 0) {
		log_error("identity: cannot start Enroll: %s", strerror(-r));
		ic->retry = start_enroll;
		rx_timer_start(ic->loop, &ic->timer, ic_retry_ms(ic));
	}
}

/* --- renewal and revocation ------------------------------------------------ */

static void start_renew(struct identity_ctl *ic);

static bool
expired(const struct identity_ctl *ic)
{
	return ic->cur.not_after <= now_s();
}

static void
renew_failed(struct identity_ctl *ic, const struct enroll_result *r)
{
	int64_t wait = ic_retry_ms(ic), left;

	metric_inc(&ic->m_renew[1]);
	ic_note_failure(ic, "renewal", r);
	if (expired(ic)) {
		ic_recovery(ic, "identity_expired",
		    "the certificate expired before it could be renewed: "
		    "enrol again (ENROLLMENT_TOKEN or PAIRING) and restart");
		return;
	}
	left = (ic->cur.not_after - now_s()) * 1000;
	ic->state = IC_RUNNING;
	ic->retry = start_renew;
	rx_timer_start(ic->loop, &ic->timer, wait < left ? wait : left);
}

static void
on_revoked(struct identity_ctl *ic)
{
	metric_inc(&ic->m_renew[2]);
	ic_recovery(ic, "revoked",
	    "the edge revoked this connector: remove DATA_DIR/identity and "
	    "enrol again (a new ENROLLMENT_TOKEN or PAIRING), then restart");
}

static void
on_renewed(struct enroll_call *c, const struct enroll_result *r, void *arg)
{
	struct identity_ctl *ic = arg;

	if (r->outcome == ENROLL_STATUS &&
	    r->status == GRPC_STATUS_PERMISSION_DENIED &&
	    strcmp(r->reason, "revoked") == 0) {
		on_revoked(ic);
		return;
	}
	if (r->outcome == ENROLL_OK &&
	    ic_take_identity(ic, r, "renew", IDENTITY_RENEW) == 0) {
		metric_inc(&ic->m_renew[0]);
		return;
	}
	renew_failed(ic, r);
}

static void
start_renew(struct identity_ctl *ic)
{
	Outpost__V1__RenewRequest req = OUTPOST__V1__RENEW_REQUEST__INIT;
	struct enroll_result fail = {.reason = "key"};
	int r;

	if (expired(ic)) {
		renew_failed(ic, &fail);
		return;
	}
	if (ic_new_key(ic) < 0) {
		renew_failed(ic, &fail);
		return;
	}
	ic->state = IC_RENEWING;
	req.csr.data = ic->csr;
	req.csr.len = ic->csr_len;
	log_info("identity: renewing the certificate of \"%s\"", ic->cur.name);
	r = enroll_call_start(ic->call, ic->mgr->tls, "Renew", &req.base,
	    CALL_TIMEOUT_MS, on_renewed, ic);
	if (r < 0) {
		snprintf(fail.reason, sizeof(fail.reason), "%s", strerror(-r));
		renew_failed(ic, &fail);
	}
}

/* The probe without a client certificate: an answer means revoked. */
static void
on_probed(struct enroll_call *c, const struct enroll_result *r, void *arg)
{
	struct identity_ctl *ic = arg;

	ic->probing = false;
	if (r->outcome != ENROLL_TRANSPORT && ic->state == IC_RUNNING) {
		log_warn("identity: the edge refuses our certificate but "
			 "accepts a connection without one");
		on_revoked(ic);
	}
	if (ic->state == IC_RUNNING && !rx_timer_active(&ic->timer))
		schedule_renewal(ic);
}

static void
on_refused(struct manager *m, void *arg)
{
	Outpost__V1__PairPollRequest req = OUTPOST__V1__PAIR_POLL_REQUEST__INIT;
	struct identity_ctl *ic = arg;

	if (ic->state != IC_RUNNING || ic->probing ||
	    ic->source == IDENTITY_CONFIG || enroll_call_active(ic->call))
		return;
	req.pairing_id = "";
	if (enroll_call_start(ic->call, ic->anon, "PairPoll", &req.base,
		CALL_TIMEOUT_MS, on_probed, ic) == 0)
		ic->probing = true;
}

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	struct identity_ctl *ic = container_of(t, struct identity_ctl, timer);
	void (*fn)(struct identity_ctl *) = ic->retry;

	ic->retry = NULL;
	if (enroll_call_active(ic->call)) {
		rx_timer_start(l, t, 1000); /* a probe is under way */
		ic->retry = fn;
		return;
	}
	if (fn != NULL)
		fn(ic);
	else if (ic->state == IC_RUNNING && ic->source != IDENTITY_CONFIG)
		start_renew(ic);
}

/* --- the choice at start --------------------------------------------------- */

/* 1: DATA_DIR; true when a usable identity is in use. */
static bool
try_store(struct identity_ctl *ic)
{
	struct idstore_files f;
	char err[256] = "";
	int r;

	if (ic->data_dir == NULL)
		return false;
	r = idstore_load(ic->data_dir, &f, err, sizeof(err));
	if (r == -ENOENT) {
		log_info("identity: none in %s", ic->data_dir);
		return false;
	}
	if (r == 0 && identity_check(&f, err, sizeof(err)) < 0)
		r = -EINVAL;
	if (r == 0 && f.not_after <= now_s()) {
		snprintf(err, sizeof(err), "the stored certificate expired");
		ic->stored_expired = true;
		r = -ETIME;
	}
	if (r < 0) {
		log_warn("identity: %s/identity is not usable: %s",
		    ic->data_dir, err);
		idstore_files_free(&f);
		return false;
	}
	r = ic_use(ic, &f, IDENTITY_STORE);
	idstore_files_free(&f);
	return r == 0;
}

static void
choose(struct identity_ctl *ic)
{
	if (try_store(ic))
		return;
	if (ic->have_config_cert) {
		log_info("identity: from TLS_CERT_* and TLS_KEY_*");
		ic->source = IDENTITY_CONFIG;
		ic_set_state(ic, IC_RUNNING, NULL);
		if (ic->mgr == NULL) {
			ic_finish_once(ic, 0);
			return;
		}
		ic->mgr_started = true;
		health_set_ready(ic->health, false, "connecting");
		manager_start(ic->mgr);
		return;
	}
	if (ic->token[0] != '\0') {
		start_enroll(ic);
		return;
	}
	if (ic->pairing) {
		ic_pair_start(ic);
		return;
	}
	if (ic->stored_expired) {
		ic_recovery(ic, "identity_expired",
		    "the stored certificate expired: set ENROLLMENT_TOKEN "
		    "(outpost-edge token create NAME) or PAIRING=true and "
		    "restart");
		return;
	}
	ic_recovery(ic, "needs_recovery",
	    "no identity in DATA_DIR: set ENROLLMENT_TOKEN (or "
	    "ENROLLMENT_TOKEN_FILE; from `outpost-edge token create NAME`), or "
	    "PAIRING=true, or TLS_CERT_FILE and TLS_KEY_FILE, and restart");
}

/* see identity_ctl.h */
void
identity_ctl_start(struct identity_ctl *ic)
{
	choose(ic);
}

/* --- /status and /metrics -------------------------------------------------- */

static void
status_extra(struct buf *b, void *arg)
{
	const struct identity_ctl *ic = arg;

	buf_adds(b, ",\"state\":");
	json_cstr(b,
	    ic_pair_recovering(ic) ? "needs_recovery" : state_names[ic->state]);
	buf_adds(b, ",\"identity\":{\"source\":");
	json_cstr(b, identity_source_name(ic->source));
	if (ic->have_cur) {
		buf_adds(b, ",\"name\":");
		json_cstr(b, ic->cur.name);
		buf_printf(b, ",\"not_after\":%lld,\"renew_at\":%lld",
		    (long long)ic->cur.not_after, (long long)ic->cur.renew_at);
	}
	ic_pair_status(ic, b);
	if (ic->last_error[0] != '\0') {
		buf_adds(b, ",\"last_error\":");
		json_cstr(b, ic->last_error);
	}
	if (ic->state == IC_RECOVERY || ic_pair_recovering(ic)) {
		buf_adds(b, ",\"reason\":");
		json_cstr(b, ic->blocker);
		buf_adds(b, ",\"action\":");
		json_cstr(b, ic->action);
	}
	buf_adds(b, "}");
}

static void
add_metrics(struct identity_ctl *ic, struct metrics *reg)
{
	size_t i;

	metric_family_init(&ic->f_expiry,
	    "outpost_identity_expiry_timestamp_seconds",
	    "When the connector's certificate expires (Unix time).",
	    METRIC_GAUGE, NULL, NULL);
	metric_init(&ic->m_expiry, NULL, NULL, NULL, 0);
	metric_family_add(&ic->f_expiry, &ic->m_expiry);
	metrics_add(reg, &ic->f_expiry);
	metric_family_init(&ic->f_renew, "outpost_identity_renewals_total",
	    "Certificate renewals by result.", METRIC_COUNTER, NULL, NULL);
	for (i = 0; i < nitems(ic->m_renew); i++) {
		metric_init(&ic->m_renew[i], result_labels[i], NULL, NULL, 0);
		metric_family_add(&ic->f_renew, &ic->m_renew[i]);
	}
	metrics_add(reg, &ic->f_renew);
}

/* --- setup ------------------------------------------------------------------ */

/* ENROLLMENT_TOKEN, or the contents of ENROLLMENT_TOKEN_FILE, trimmed. */
static int
read_token(
    struct identity_ctl *ic, const struct cfg *c, char *err, size_t errlen)
{
	const char *t = cfg_str(c, CFG_ENROLLMENT_TOKEN);
	const char *path = cfg_str(c, CFG_ENROLLMENT_TOKEN_FILE);
	char *p = NULL;
	size_t n = 0, i = 0;
	int r;

	if (t == NULL && path != NULL) {
		if ((r = idstore_read(path, &p, &n)) < 0) {
			snprintf(err, errlen, "ENROLLMENT_TOKEN_FILE: %s: %s",
			    path, strerror(-r));
			return -1;
		}
		t = p;
	}
	if (t != NULL) {
		while (
		    t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')
			i++;
		snprintf(ic->token, sizeof(ic->token), "%.*s",
		    (int)strcspn(t + i, " \t\r\n"), t + i);
	}
	if (p != NULL) {
		util_wipe(p, n);
		free(p);
	}
	return 0;
}

static int
read_ca(struct identity_ctl *ic, const struct cfg *c, char *err, size_t errlen)
{
	int r = cfg_secret(c, CFG_TLS_CA_BASE64, &ic->ca, &ic->ca_len);

	if (r < 0 && r != -ENOENT) {
		snprintf(err, errlen, "TLS_CA: %s", strerror(-r));
		return -1;
	}
	return 0;
}

static int
setup(struct identity_ctl *ic, const struct identity_ctl_conf *conf, char *err,
    size_t errlen)
{
	const struct cfg *c = conf->cfg;
	const char *dir = cfg_str(c, CFG_DATA_DIR), *ds;

	if (dir != NULL && (ic->data_dir = strdup(dir)) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	/* The appliance (its init sets OUTPOST_DATA_STATE) pairs unless
	 * told otherwise; elsewhere PAIRING must be asked for. */
	ic->pairing = cfg_is_set(c, CFG_PAIRING)
	    ? cfg_bool(c, CFG_PAIRING)
	    : getenv("OUTPOST_DATA_STATE") != NULL;
	ds = getenv("OUTPOST_DATA_STATE");
	ic->data_lost = ds != NULL && strcmp(ds, "needs_recovery") == 0;
	ic->permille = (unsigned)cfg_int(c, CFG_RENEW_AT);
	ic->have_config_cert = (cfg_is_set(c, CFG_TLS_CERT_BASE64) ||
				   cfg_is_set(c, CFG_TLS_CERT_FILE)) &&
	    (cfg_is_set(c, CFG_TLS_KEY_BASE64) ||
		cfg_is_set(c, CFG_TLS_KEY_FILE));
	if (gethostname(ic->hostname, sizeof(ic->hostname) - 1) < 0)
		snprintf(ic->hostname, sizeof(ic->hostname), "outpost");
	if (read_token(ic, c, err, errlen) < 0 ||
	    read_ca(ic, c, err, errlen) < 0)
		return -1;
	if (ic->mc->url.tls &&
	    identity_tls(&ic->anon, ic->ca, ic->ca_len, NULL,
		ic->mc->server_name, err, errlen) < 0)
		return -1;
	if ((ic->call = enroll_call_new(conf->net)) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	return 0;
}

/* see identity_ctl.h */
struct identity_ctl *
identity_ctl_new(const struct identity_ctl_conf *conf, char *err, size_t errlen)
{
	struct identity_ctl *ic = calloc(1, sizeof(*ic));

	if (ic == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ic->loop = conf->loop;
	ic->mc = conf->mc;
	ic->mgr = conf->mgr;
	ic->health = conf->health;
	ic->done = conf->done;
	rx_timer_init(&ic->timer, on_timer);
	backoff_init(&ic->backoff, RETRY_BASE_MS, RETRY_CAP_MS);
	if (setup(ic, conf, err, errlen) < 0) {
		identity_ctl_free(ic);
		return NULL;
	}
	if (ic->mgr != NULL) {
		ic->mgr->on_refused = on_refused;
		ic->mgr->refused_arg = ic;
	}
	if (ic->health != NULL) {
		add_metrics(ic, health_metrics(ic->health));
		health_set_extra(ic->health, status_extra, ic);
	}
	return ic;
}

/* see identity_ctl.h */
void
identity_ctl_free(struct identity_ctl *ic)
{
	if (ic == NULL)
		return;
	rx_timer_stop(ic->loop, &ic->timer);
	enroll_call_free(ic->call);
	if (ic->mgr != NULL)
		ic->mgr->on_refused = NULL;
	if (ic->health != NULL)
		health_set_extra(ic->health, NULL, ic);
	if (ic->anon != NULL)
		tls_client_config_free(ic->anon);
	pki_key_free(ic->key);
	idstore_files_free(&ic->cur);
	util_wipe(ic->token, sizeof(ic->token));
	if (ic->ca != NULL)
		util_wipe(ic->ca, ic->ca_len);
	free(ic->ca);
	free(ic->data_dir);
	free(ic);
}
