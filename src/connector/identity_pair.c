/*
 * Device pairing (RFC 8628 style, spec/enrollment.md): Pair with a CSR,
 * show the user code, PairPoll at the interval the edge asks until the
 * operator approves (`outpost-edge pair approve CODE --name NAME`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/identity_ctl_int.h"
#include "connector/manager.h"
#include "lib/exit.h"
#include "grpc/grpc.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define PAIR_TIMEOUT_MS 30000
#define PAIR_MIN_INTERVAL_MS 1000
#define PAIR_SLOW_DOWN_MS 5000 /* RFC 8628 3.5 */

static void poll_once(struct identity_ctl *ic);

static void
again_later(
    struct identity_ctl *ic, void (*fn)(struct identity_ctl *), int64_t ms)
{
	ic->retry = fn;
	rx_timer_start(ic->loop, &ic->timer, ms);
}

static void
on_polled(struct enroll_call *c, const struct enroll_result *r, void *arg)
{
	struct identity_ctl *ic = arg;

	if (r->outcome == ENROLL_OK) {
		ic->user_code[0] = '\0';
		if (ic_take_identity(ic, r, "pair", IDENTITY_PAIR) < 0)
			again_later(ic, ic_pair_start, ic_retry_ms(ic));
		return;
	}
	if (r->outcome == ENROLL_STATUS &&
	    strcmp(r->reason, "authorization_pending") == 0) {
		again_later(ic, poll_once, ic->poll_ms);
		return;
	}
	if (r->outcome == ENROLL_STATUS &&
	    strcmp(r->reason, "slow_down") == 0) {
		ic->poll_ms += PAIR_SLOW_DOWN_MS;
		again_later(ic, poll_once, ic->poll_ms);
		return;
	}
	ic_note_failure(ic, "pairing", r);
	if (r->outcome == ENROLL_STATUS) {
		/* access_denied, expired_token or another refusal: a new
		 * code after a pause. */
		log_warn("pairing: code %s is no longer valid (%s); asking for "
			 "a new one",
		    ic->user_code, r->reason);
		ic->user_code[0] = '\0';
		again_later(ic, ic_pair_start, ic_retry_ms(ic));
		return;
	}
	if (util_wall_ms() / 1000 >= ic->pair_expires) {
		ic->user_code[0] = '\0';
		again_later(ic, ic_pair_start, ic_retry_ms(ic));
		return;
	}
	again_later(ic, poll_once, ic_retry_ms(ic));
}

static void
poll_once(struct identity_ctl *ic)
{
	Outpost__V1__PairPollRequest req = OUTPOST__V1__PAIR_POLL_REQUEST__INIT;

	req.pairing_id = ic->pairing_id;
	if (enroll_call_start(ic->call, ic->anon, "PairPoll", &req.base,
		PAIR_TIMEOUT_MS, on_polled, ic) < 0)
		again_later(ic, poll_once, ic_retry_ms(ic));
}

/* A printable code and id, bounded; false otherwise. */
static bool
copy_printable(char *out, size_t cap, const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= cap)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	memcpy(out, s, n + 1);
	return true;
}

static void
show_code(struct identity_ctl *ic)
{
	log_warn("pairing: code %s, valid until %lld: approve it on the edge "
		 "with `outpost-edge pair approve %s --name NAME` (or POST "
		 "/v1/pairings/%s/approve)",
	    ic->user_code, (long long)ic->pair_expires, ic->user_code,
	    ic->user_code);
	/* `outpost enroll` on a terminal, and the appliance, whose stderr
	 * is the console the operator reads: one plain line as well. */
	if (ic->mgr == NULL || getenv("OUTPOST_DATA_STATE") != NULL) {
		fprintf(stderr,
		    "outpost: %sPAIRING CODE %s: approve on the edge with "
		    "`outpost-edge pair approve %s --name NAME`\n",
		    ic->data_lost ? "NEEDS RECOVERY: " : "", ic->user_code,
		    ic->user_code);
		fflush(stderr);
	}
}

static void
on_paired(struct enroll_call *c, const struct enroll_result *r, void *arg)
{
	struct identity_ctl *ic = arg;
	Outpost__V1__PairResponse *m = NULL;

	if (r->outcome == ENROLL_OK)
		m = outpost__v1__pair_response__unpack(
		    NULL, r->msg_len, r->msg);
	if (m == NULL ||
	    !copy_printable(
		ic->user_code, sizeof(ic->user_code), m->user_code) ||
	    !copy_printable(
		ic->pairing_id, sizeof(ic->pairing_id), m->pairing_id)) {
		if (m != NULL)
			log_error(
			    "pairing: the edge's PairResponse is unusable");
		else
			ic_note_failure(ic, "pairing", r);
		ic->user_code[0] = '\0';
		if (m != NULL)
			outpost__v1__pair_response__free_unpacked(m, NULL);
		if (ic->mgr == NULL && r->outcome != ENROLL_OK) {
			ic_finish_once(ic, EXIT_TEMPORARY);
			return;
		}
		again_later(ic, ic_pair_start, ic_retry_ms(ic));
		return;
	}
	ic->pair_expires = m->expires_unix;
	ic->poll_ms = (int64_t)m->interval_seconds * 1000;
	if (ic->poll_ms < PAIR_MIN_INTERVAL_MS)
		ic->poll_ms = PAIR_MIN_INTERVAL_MS;
	outpost__v1__pair_response__free_unpacked(m, NULL);
	show_code(ic);
	again_later(ic, poll_once, ic->poll_ms);
}

/* see identity_ctl_int.h */
void
ic_pair_start(struct identity_ctl *ic)
{
	Outpost__V1__PairRequest req = OUTPOST__V1__PAIR_REQUEST__INIT;

	ic_set_state(
	    ic, IC_PAIRING, ic->data_lost ? "needs_recovery" : "pairing");
	if (ic->data_lost)
		snprintf(ic->action, sizeof(ic->action),
		    "the data partition is missing or unusable (/data is "
		    "tmpfs): approve the pairing code with `outpost-edge pair "
		    "approve CODE --name NAME` to run until the next boot, and "
		    "restore the data partition to keep the identity");
	if (ic_new_key(ic) < 0) {
		ic_recovery(ic, "needs_recovery", "no key could be generated");
		return;
	}
	req.csr.data = ic->csr;
	req.csr.len = ic->csr_len;
	req.hostname = ic->hostname;
	req.version = OUTPOST_VERSION;
	log_info(
	    "pairing: asking the edge at %s for a code", ic->mc->authority);
	if (enroll_call_start(ic->call, ic->anon, "Pair", &req.base,
		PAIR_TIMEOUT_MS, on_paired, ic) < 0)
		again_later(ic, ic_pair_start, ic_retry_ms(ic));
}

/* see identity_ctl_int.h */
bool
ic_pair_recovering(const struct identity_ctl *ic)
{
	return ic->data_lost && ic->state == IC_PAIRING;
}

/* see identity_ctl_int.h */
void
ic_pair_status(const struct identity_ctl *ic, struct buf *b)
{
	if (ic->state != IC_PAIRING || ic->user_code[0] == '\0')
		return;
	buf_adds(b, ",\"user_code\":");
	json_cstr(b, ic->user_code);
	buf_printf(b, ",\"pairing_expires\":%lld,\"approve\":",
	    (long long)ic->pair_expires);
	buf_printf(
	    b, "\"outpost-edge pair approve %s --name NAME\"", ic->user_code);
}
