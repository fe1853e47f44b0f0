/*
 * identity_ctl.h — where the connector's identity comes from, and keeping
 * it valid (issue 12 items 4, 5, 7, 8; spec/enrollment.md).
 *
 * At start the identity is chosen in this order, logged and shown in
 * /status ("identity" member, and "state"):
 *   1. a valid identity in DATA_DIR/identity (identity_store.h);
 *   2. TLS_CERT_* / TLS_KEY_* (the manager's own configuration);
 *   3. ENROLLMENT_TOKEN (or ENROLLMENT_TOKEN_FILE): a new key, a CSR,
 *      Enroll without a client certificate, the answer stored;
 *   4. PAIRING: Pair, the user code in the log and /status, PairPoll at
 *      the interval the edge asks (slow_down adds 5 s), the answer stored;
 *   5. otherwise guided recovery: /readyz 503 "needs_recovery", /status
 *      "state":"needs_recovery" with what the operator must do.  The
 *      health port stays up; nothing exits.
 * Under the appliance's init with a data partition that needs recovery
 * (OUTPOST_DATA_STATE=needs_recovery: /data is tmpfs), pairing in step 4 is
 * guided recovery too: /readyz "needs_recovery", /status
 * "state":"needs_recovery" with the user code and the action, and the
 * console line reads "NEEDS RECOVERY: PAIRING CODE ...".  An approved code
 * runs the connector until the next boot (the identity is on tmpfs).
 * A stored, enrolled or paired identity is renewed at RENEW_AT (Renew over
 * mTLS, a new key each time), stored, and swapped into the manager
 * without dropping work (manager_set_tls).  Failures retry with backoff;
 * an identity that expires first becomes needs_recovery
 * "identity_expired"; Renew answering "revoked", or the edge refusing our
 * certificate at the handshake while it accepts a connection without one,
 * becomes needs_recovery "revoked" and the tunnels stop.
 *
 * Metrics: outpost_identity_expiry_timestamp_seconds,
 * outpost_identity_renewals_total{result="ok"|"error"|"revoked"}.
 *
 * A start-up object on the reactor.  With a NULL manager it runs once
 * (`outpost enroll`): it stops after the identity is stored, or after the
 * first failure, and reports an exit code through the done callback.
 */
#ifndef CONNECTOR_IDENTITY_CTL_H
#define CONNECTOR_IDENTITY_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "rx/rx.h"

struct cfg;
struct health;
struct manager;
struct manager_conf;
struct identity_ctl;

/* Once mode: the result as a process exit code (0, 100, 111). */
typedef void identity_done_fn(struct identity_ctl *ic, int code);

struct identity_ctl_conf {
	struct rx_loop *loop;
	const struct cfg *cfg; /* read during identity_ctl_new() only */
	/* The Enrollment calls' connections (enroll_call.h): the controller,
	 * DNS, the egress proxy.  mgr, or in once mode one never started. */
	struct manager *net;
	const struct manager_conf *mc; /* controller URL and limits */
	struct manager *mgr; /* NULL: once mode */
	struct health *health; /* NULL in once mode */
	identity_done_fn *done; /* once mode */
};

/* Read the settings (token, DATA_DIR, CA, ...).  NULL with err filled. */
struct identity_ctl *identity_ctl_new(
    const struct identity_ctl_conf *conf, char *err, size_t errlen);

/* Choose and act (see above); call once the clock can be trusted. */
void identity_ctl_start(struct identity_ctl *ic);

/* Cancel calls and timers, wipe secrets, free.  NULL is a no-op. */
void identity_ctl_free(struct identity_ctl *ic);

#endif
