/*
 * identity_ctl_int.h — shared by identity_ctl.c (choice, enrolment,
 * renewal, revocation) and identity_pair.c (device pairing).
 */
#ifndef CONNECTOR_IDENTITY_CTL_INT_H
#define CONNECTOR_IDENTITY_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connector/backoff.h"
#include "connector/enroll_call.h"
#include "connector/identity.h"
#include "connector/identity_ctl.h"
#include "lib/buf.h"
#include "lib/metrics.h"
#include "tls/pki.h"

enum ic_state {
	IC_STARTING,
	IC_ENROLLING,
	IC_PAIRING,
	IC_RUNNING,
	IC_RENEWING,
	IC_RECOVERY,
};

#define IC_CODE_MAX 32
#define IC_PAIRING_ID_MAX 128

struct identity_ctl {
	struct rx_loop *loop;
	const struct manager_conf *mc;
	struct manager *mgr; /* NULL: once mode */
	struct health *health;
	identity_done_fn *done;
	bool mgr_started;

	/* Settings. */
	char *data_dir; /* NULL: nowhere to store */
	char token[512]; /* secret; "" when none */
	bool pairing;
	/* The appliance's data partition needs recovery (OUTPOST_DATA_STATE):
	 * /data is tmpfs, so pairing is guided recovery, not a first boot. */
	bool data_lost;
	unsigned permille; /* RENEW_AT */
	bool have_config_cert;
	uint8_t *ca; /* TLS_CA (PEM) or NULL: the system bundle */
	size_t ca_len;
	char hostname[256];

	/* State. */
	enum ic_state state;
	const char *blocker; /* readiness reason while not running */
	enum identity_source source;
	struct idstore_files cur; /* the identity in use */
	bool have_cur;
	bool stored_expired;
	char last_error[256];
	char action[320]; /* what the operator must do (recovery) */

	struct tls_client_config *anon; /* no client certificate */
	struct enroll_call *call;
	bool probing;
	struct pki_key *key; /* the key of the CSR in flight */
	uint8_t csr[PKI_DER_MAX];
	size_t csr_len;
	struct rx_timer timer; /* retry, poll or renewal */
	void (*retry)(struct identity_ctl *ic); /* what the timer does */
	struct backoff backoff;

	/* Pairing. */
	char pairing_id[IC_PAIRING_ID_MAX];
	char user_code[IC_CODE_MAX];
	int64_t pair_expires; /* Unix seconds */
	int64_t poll_ms;

	struct metric_family f_expiry, f_renew;
	struct metric m_expiry, m_renew[3]; /* ok, error, revoked */
};

void ic_set_state(
    struct identity_ctl *ic, enum ic_state s, const char *blocker);
int64_t ic_retry_ms(struct identity_ctl *ic);
void ic_finish_once(struct identity_ctl *ic, int code);

/* Guided recovery: reason (static) on /readyz, action in /status. */
void ic_recovery(
    struct identity_ctl *ic, const char *reason, const char *action);

/* A fresh key and CSR in ic->key / ic->csr.  0 or -1 (logged). */
int ic_new_key(struct identity_ctl *ic);

/* Store f (when DATA_DIR is set; a failure is logged and kept). */
void ic_store(struct identity_ctl *ic, struct idstore_files *f);

/* Put f (taken over) in use: the manager's TLS, renewal timer, state. */
int ic_use(
    struct identity_ctl *ic, struct idstore_files *f, enum identity_source src);

/* An Identity answer: convert with ic->key, store, use.  0 or -1. */
int ic_take_identity(struct identity_ctl *ic, const struct enroll_result *r,
    const char *source, enum identity_source src);

/* Record and log a failed call. */
void ic_note_failure(
    struct identity_ctl *ic, const char *what, const struct enroll_result *r);

/* identity_pair.c */
void ic_pair_start(struct identity_ctl *ic);
void ic_pair_status(const struct identity_ctl *ic, struct buf *b);
/* True while pairing is guided recovery (ic->data_lost): /status says
 * needs_recovery with ic->action. */
bool ic_pair_recovering(const struct identity_ctl *ic);

#endif
