/*
 * edge_enroll.c — the outpost.v1.Enrollment service on the tunnel port
 * (spec/enrollment.md), and who may call what on a connection:
 *
 *   Enroll, Pair, PairPoll      with or without a client certificate
 *   Renew, ConnectorService    only with a verified client certificate
 *   anything else without one   UNAUTHENTICATED client_certificate_required
 *
 * An Enrollment call rides on the stream memory of a struct edge_tunnel
 * (edge_tunnel_accept allocates it before the path is known) with a
 * struct edge_call of its own; its close goes back through the tunnel
 * code, which frees the stream.  Unary: one request message, answered
 * as soon as it is complete; errors carry grpc-message "reason[: detail]"
 * with the reasons of the spec's table.  Precise reasons go to the log,
 * tokens never do.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/outpost/v1/enrollment.pb-c.h"

#define CALL_MAX (32u << 10) /* a request: a CSR and a few strings */
#define SERVICE "/outpost.v1.Enrollment/"
#define SLACK_MS 250 /* PairPoll timing tolerance */

enum method { M_ENROLL, M_PAIR, M_POLL, M_RENEW, M_COUNT };

static const struct {
	const char *name;
	bool needs_cert;
} methods[M_COUNT] = {
    [M_ENROLL] = {"Enroll", false},
    [M_PAIR] = {"Pair", false},
    [M_POLL] = {"PairPoll", false},
    [M_RENEW] = {"Renew", true},
};

struct edge_call {
	enum method m;
	bool answered;
	struct grpc_reader rd;
	uint8_t buf[CALL_MAX];
};

static struct edge_id *
ident(const struct edge_tunnel *t)
{
	return t->c->e->conf->id;
}

static bool
verified(const struct edge_conn *c)
{
	return c->tls && tls_peer_verified(&c->tlsc);
}

/* End the call with status and "reason[: detail]". */
static void
fail(struct edge_tunnel *t, int status, const char *reason, const char *detail)
{
	char msg[H2_MESSAGE_MAX];

	snprintf(msg, sizeof(msg), "%s%s%s", reason, detail ? ": " : "",
	    detail ? detail : "");
	t->ended = true;
	if (t->call != NULL)
		t->call->answered = true;
	h2_stream_end_status(&t->hs, status, msg);
	edge_conn_kick(t->c);
}

static void
answer(struct edge_tunnel *t, const ProtobufCMessage *m)
{
	struct grpc_out *o = grpc_out_pack(m);

	if (o == NULL || h2_stream_respond(&t->hs) < 0 ||
	    h2_stream_send(&t->hs, o->data, o->len) != (long)o->len) {
		free(o);
		fail(t, GRPC_STATUS_INTERNAL, "internal", "answer too large");
		return;
	}
	free(o);
	t->call->answered = true;
	h2_stream_end_status(&t->hs, GRPC_STATUS_OK, NULL);
	edge_conn_kick(t->c);
}

/* The issued identity as the answer (and in the registry). */
static void
answer_identity(
    struct edge_tunnel *t, const char *name, const struct edge_cert *cert)
{
	const struct edge_id *id = ident(t);
	Outpost__V1__Identity m = OUTPOST__V1__IDENTITY__INIT;
	ProtobufCBinaryData chain = {cert->len, (uint8_t *)cert->der};

	m.n_certificate_chain = 1;
	m.certificate_chain = &chain;
	m.ca_certificate.len = id->ca_der_len;
	m.ca_certificate.data = id->ca_der;
	m.connector_name = (char *)name;
	m.not_after_unix = cert->not_after;
	answer(t, &m.base);
	if (edge_registry_enrolled(t->c->e, name, cert->not_after) < 0)
		log_warn("edge: connector %s: registry full", name);
}

/*
 * Issue for name from a DER CSR and answer; false when it failed (the
 * call is then answered with the error).  The revocation store learns
 * the serial before the certificate leaves.
 */
static bool
issue(struct edge_tunnel *t, const char *how, const char *name,
    const uint8_t *csr, size_t len)
{
	struct edge_id *id = ident(t);
	struct edge_cert *cert = malloc(sizeof(*cert));
	char err[256];
	bool bad;

	if (cert == NULL) {
		fail(t, GRPC_STATUS_RESOURCE_EXHAUSTED, "internal",
		    "out of memory");
		return false;
	}
	if (edge_ca_issue(id, csr, len, name, cert, &bad, err, sizeof(err)) <
	    0) {
		log_warn("edge: %s for %s from %s refused: %s%s", how, name,
		    t->c->addr, bad ? "bad CSR: " : "", err);
		fail(t,
		    bad ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_INTERNAL,
		    bad ? "bad_csr" : "internal", err);
		free(cert);
		return false;
	}
	if (edge_revoked_issued(id, name, cert->serial, sizeof(cert->serial),
		err, sizeof(err)) < 0) {
		log_error(
		    "edge: %s for %s: revocation store: %s", how, name, err);
		fail(t, GRPC_STATUS_UNAVAILABLE, "internal", "store");
		free(cert);
		return false;
	}
	answer_identity(t, name, cert);
	log_info("edge: connector %s: certificate issued (%s) to %s, valid "
		 "until %" PRId64,
	    name, how, t->c->addr, cert->not_after);
	free(cert);
	return true;
}

static void
do_enroll(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	struct edge_id *id = ident(t);
	Outpost__V1__EnrollRequest *rq;
	struct edge_token tk;
	char err[256];
	const char *why;
	int rc;

	if ((rq = outpost__v1__enroll_request__unpack(NULL, n, p)) == NULL) {
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_request",
		    "malformed EnrollRequest");
		return;
	}
	/* Claimed before the certificate is issued: of two replicas sharing
	 * the store, only one may answer with a certificate. */
	rc = edge_token_claim(
	    id, rq->token, strlen(rq->token), &tk, &why, err, sizeof(err));
	if (rc == -1) {
		log_warn("edge: enrolment from %s refused: token %s",
		    t->c->addr, why);
		fail(t, GRPC_STATUS_PERMISSION_DENIED, "invalid_token", NULL);
	} else if (rc < 0) {
		log_error("edge: token store: %s", err);
		fail(t, GRPC_STATUS_UNAVAILABLE, "internal", "store");
	} else if (!issue(t, "token", tk.name, rq->csr.data, rq->csr.len) &&
	    edge_token_unclaim(id, &tk, err, sizeof(err)) < 0) {
		/* Answered already: the token could not be put back. */
		log_error("edge: token store: %s", err);
	}
	util_wipe(&tk, sizeof(tk));
	util_wipe(rq->token, strlen(rq->token));
	outpost__v1__enroll_request__free_unpacked(rq, NULL);
}

/* The peer's address without its port. */
static void
peer_host(const struct edge_conn *c, char *out, size_t cap)
{
	const char *colon = strrchr(c->addr, ':');
	size_t n = colon != NULL ? (size_t)(colon - c->addr) : strlen(c->addr);

	snprintf(out, cap, "%.*s", (int)n, c->addr);
}

static void
do_pair(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	struct edge_id *id = ident(t);
	Outpost__V1__PairRequest *rq;
	Outpost__V1__PairResponse m = OUTPOST__V1__PAIR_RESPONSE__INIT;
	struct edge_pairing *pr;
	char addr[EDGE_ADDR_MAX], err[256];
	const char *why, *host;

	if ((rq = outpost__v1__pair_request__unpack(NULL, n, p)) == NULL) {
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_request",
		    "malformed PairRequest");
		return;
	}
	host = edge_name_valid(rq->hostname, strlen(rq->hostname))
	    ? rq->hostname
	    : "";
	peer_host(t->c, addr, sizeof(addr));
	if (edge_ca_check_csr(rq->csr.data, rq->csr.len, err, sizeof(err)) <
	    0) {
		log_warn(
		    "edge: pairing from %s refused: bad CSR: %s", addr, err);
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_csr", err);
	} else if ((pr = edge_pair_create(id, addr, host, rq->csr.data,
			rq->csr.len, &why)) == NULL) {
		log_warn("edge: pairing from %s refused: %s", addr, why);
		fail(t, GRPC_STATUS_RESOURCE_EXHAUSTED, why, NULL);
	} else {
		m.pairing_id = pr->id;
		m.user_code = pr->code;
		m.expires_unix = pr->expires;
		m.interval_seconds = (uint32_t)id->pair_interval_s;
		answer(t, &m.base);
		log_info("edge: pairing code %s requested from %s (hostname "
			 "%s): approve with `outpost-edge pair approve %s "
			 "--name NAME`",
		    pr->code, addr, host[0] ? host : "-", pr->code);
	}
	outpost__v1__pair_request__free_unpacked(rq, NULL);
}

/* One PairPoll on pairing pr (NULL: unknown). */
static void
poll_pairing(struct edge_tunnel *t, struct edge_pairing *pr)
{
	const struct edge_id *id = ident(t);
	int64_t now = util_mono_ms(), last;
	char name[EDGE_NAME_MAX];

	if (pr == NULL || pr->expires <= util_wall_ms() / 1000) {
		if (pr != NULL)
			edge_pair_drop(pr);
		fail(t, GRPC_STATUS_PERMISSION_DENIED, "expired_token", NULL);
		return;
	}
	if (pr->state == EDGE_P_DENIED) {
		edge_pair_drop(pr);
		fail(t, GRPC_STATUS_PERMISSION_DENIED, "access_denied", NULL);
		return;
	}
	last = pr->last_poll_ms;
	pr->last_poll_ms = now;
	if (now - last < id->pair_interval_s * 1000 - SLACK_MS) {
		fail(t, GRPC_STATUS_RESOURCE_EXHAUSTED, "slow_down", NULL);
		return;
	}
	if (pr->state == EDGE_P_PENDING) {
		fail(t, GRPC_STATUS_FAILED_PRECONDITION,
		    "authorization_pending", NULL);
		return;
	}
	snprintf(name, sizeof(name), "%s", pr->name);
	if (issue(t, "pairing", name, pr->csr, pr->csr_len))
		edge_pair_drop(pr);
}

static void
do_poll(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	Outpost__V1__PairPollRequest *rq;

	if ((rq = outpost__v1__pair_poll_request__unpack(NULL, n, p)) == NULL) {
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_request",
		    "malformed PairPollRequest");
		return;
	}
	poll_pairing(t, edge_pair_by_id(ident(t), rq->pairing_id));
	outpost__v1__pair_poll_request__free_unpacked(rq, NULL);
}

static void
do_renew(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	const struct edge_conn *c = t->c;
	Outpost__V1__RenewRequest *rq;
	const uint8_t *sn;
	size_t snlen = 0;

	sn = tls_peer_serial(&c->tlsc, &snlen);
	if (edge_is_revoked(ident(t), c->name, sn, snlen)) {
		log_warn("edge: renewal for %s from %s refused: revoked",
		    c->name, c->addr);
		fail(t, GRPC_STATUS_PERMISSION_DENIED, "revoked", NULL);
		return;
	}
	if ((rq = outpost__v1__renew_request__unpack(NULL, n, p)) == NULL) {
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_request",
		    "malformed RenewRequest");
		return;
	}
	issue(t, "renewal", c->name, rq->csr.data, rq->csr.len);
	outpost__v1__renew_request__free_unpacked(rq, NULL);
}

static void
dispatch(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	switch (t->call->m) {
	case M_ENROLL:
		do_enroll(t, p, n);
		break;
	case M_PAIR:
		do_pair(t, p, n);
		break;
	case M_POLL:
		do_poll(t, p, n);
		break;
	case M_RENEW:
	case M_COUNT:
		do_renew(t, p, n);
		break;
	}
}

static void
call_read(struct edge_tunnel *t)
{
	struct edge_call *k = t->call;
	const uint8_t *p, *msg;
	size_t n, used, len;
	int i, r;

	for (i = 0; i < 64 && !k->answered; i++) {
		if ((p = h2_stream_take(&t->hs, &n)) == NULL || n == 0)
			break;
		r = grpc_reader_feed(&k->rd, p, n, &used, &msg, &len);
		if (r == GRPC_ERROR) {
			fail(t, GRPC_STATUS_RESOURCE_EXHAUSTED, "bad_request",
			    grpc_error_name(grpc_reader_error(&k->rd)));
			return;
		}
		if (r == GRPC_MSG)
			dispatch(t, msg, len);
		h2_stream_ack(&t->hs, r == GRPC_MSG ? used : n);
	}
	if (!k->answered && h2_stream_eof(&t->hs))
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_request",
		    "no request message");
}

/* Which Enrollment method path names; -1: not one. */
static int
lookup(const char *path)
{
	size_t sl = strlen(SERVICE);
	int m;

	if (strncmp(path, SERVICE, sl) != 0)
		return -1;
	for (m = 0; m < M_COUNT; m++)
		if (strcmp(path + sl, methods[m].name) == 0)
			return m;
	return M_COUNT;
}

/* The request headers arrived: decide what this stream is. */
static void
route(struct edge_tunnel *t)
{
	int m = lookup(h2_stream_path(&t->hs));

	if (m < 0) {
		/* ConnectorService (or unknown): the tunnel code decides,
		 * but only for an authenticated TLS peer (h2c names by
		 * hostname, as before). */
		if (t->c->tls && !verified(t->c))
			fail(t, GRPC_STATUS_UNAUTHENTICATED,
			    "client_certificate_required", NULL);
		return;
	}
	if (m == M_COUNT) {
		fail(t, GRPC_STATUS_UNIMPLEMENTED, "unknown method", NULL);
		return;
	}
	if (methods[m].needs_cert && !verified(t->c)) {
		fail(t, GRPC_STATUS_UNAUTHENTICATED,
		    "client_certificate_required", NULL);
		return;
	}
	if (ident(t) == NULL) {
		fail(t, GRPC_STATUS_UNIMPLEMENTED, "enrollment_disabled",
		    "the edge has no EDGE_DATA_DIR");
		return;
	}
	if (h2_stream_error(&t->hs) != H2_SERR_NONE) {
		fail(t, GRPC_STATUS_INVALID_ARGUMENT, "bad_request",
		    h2_stream_error_name(h2_stream_error(&t->hs)));
		return;
	}
	if ((t->call = calloc(1, sizeof(*t->call))) == NULL) {
		fail(t, GRPC_STATUS_RESOURCE_EXHAUSTED, "internal",
		    "out of memory");
		return;
	}
	t->call->m = (enum method)m;
	grpc_reader_init(&t->call->rd, t->call->buf, sizeof(t->call->buf));
}

/* see edge_int.h */
void
edge_call_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct edge_tunnel *t = container_of(st, struct edge_tunnel, hs);

	if ((ev & H2_EV_HEADERS) && t->call == NULL && !t->accepted &&
	    !t->ended)
		route(t);
	if (t->call == NULL) {
		edge_tunnel_event(st, ev, arg);
		return;
	}
	if (ev & H2_EV_READ)
		call_read(t);
	if (ev & H2_EV_CLOSE) {
		free(t->call);
		t->call = NULL;
		edge_tunnel_event(st, H2_EV_CLOSE, arg);
	}
}
