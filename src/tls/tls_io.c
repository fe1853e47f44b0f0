/*
 * tls_io.c — the engine's four buffers, its state, and typed errors.
 */
#include <string.h>

#include "lib/util.h"
#include "tls/tls_int.h"

static const char *alpn_h2[] = {"h2"};

/*
 * ECDHE with AEAD only: what HTTP/2 over TLS 1.2 allows (RFC 9113 9.2.2)
 * and what gRPC peers (OpenSSL, BoringSSL, Go) offer.
 */
static const uint16_t suites[] = {
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};

/* see tls_int.h */
int
tls_engine_setup(struct tls_conn *c)
{
	uint8_t seed[32];

	br_ssl_engine_set_versions(c->eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(c->eng, suites, nitems(suites));
	br_ssl_engine_set_buffer(c->eng, c->iobuf, sizeof(c->iobuf), 1);
	br_ssl_engine_set_protocol_names(c->eng, alpn_h2, nitems(alpn_h2));
	br_ssl_engine_add_flags(c->eng, BR_OPT_FAIL_ON_ALPN_MISMATCH);
	if (util_random(seed, sizeof(seed)) != 0) {
		tls_abort(c, TLS_R_INTERNAL);
		return -1;
	}
	br_ssl_engine_inject_entropy(c->eng, seed, sizeof(seed));
	util_wipe(seed, sizeof(seed));
	return 0;
}

/* The handshake just completed: insist on h2 and, as a server, a cert. */
static void
tls_check_ready(struct tls_conn *c)
{
	const char *p = br_ssl_engine_get_selected_protocol(c->eng);

	if (p == NULL || strcmp(p, "h2") != 0)
		tls_abort(c, TLS_R_NO_ALPN);
	else if (c->server && !c->xw.verified && c->xw.optional == NULL)
		tls_abort(c, TLS_R_NO_CLIENT_CERT);
	else
		c->ready = true;
}

/* Fold the engine state into ready / reason after every engine call. */
static unsigned
tls_update(struct tls_conn *c)
{
	unsigned st;
	int e;

	if (c->reason != TLS_R_NONE)
		return BR_SSL_CLOSED;
	st = br_ssl_engine_current_state(c->eng);
	if (st & BR_SSL_CLOSED) {
		e = br_ssl_engine_last_error(c->eng);
		if (e != BR_ERR_OK) {
			c->br_err = e;
			c->reason = tls_reason_from_br(e, c->server, c->ready);
		}
		return st;
	}
	if (!c->ready && (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))) {
		tls_check_ready(c);
		if (c->reason != TLS_R_NONE)
			return BR_SSL_CLOSED;
	}
	return st;
}

/* see tls.h */
br_ssl_engine_context *
tls_engine(struct tls_conn *c)
{
	return c->eng;
}

/* see tls.h */
unsigned
tls_want(struct tls_conn *c)
{
	unsigned st = tls_update(c), want = 0;

	if (st & BR_SSL_CLOSED)
		return 0;
	if (st & BR_SSL_RECVREC)
		want |= TLS_WANT_READ;
	if (st & BR_SSL_SENDREC)
		want |= TLS_WANT_WRITE;
	return want;
}

/* see tls.h */
bool
tls_ready(struct tls_conn *c)
{
	tls_update(c);
	return c->ready && c->reason == TLS_R_NONE;
}

/* see tls.h */
bool
tls_closed(struct tls_conn *c)
{
	return (tls_update(c) & BR_SSL_CLOSED) != 0;
}

/* see tls.h */
bool
tls_failed(struct tls_conn *c)
{
	tls_update(c);
	return c->reason != TLS_R_NONE;
}

/* see tls.h */
uint8_t *
tls_recv_buf(struct tls_conn *c, size_t *room)
{
	*room = 0;
	if (tls_update(c) & BR_SSL_CLOSED)
		return NULL;
	return br_ssl_engine_recvrec_buf(c->eng, room);
}

/* see tls.h */
void
tls_recv_commit(struct tls_conn *c, size_t n)
{
	if (n > 0)
		br_ssl_engine_recvrec_ack(c->eng, n);
	tls_update(c);
}

/* see tls.h */
const uint8_t *
tls_send_take(struct tls_conn *c, size_t *len)
{
	*len = 0;
	if (c->reason != TLS_R_NONE)
		return NULL;
	return br_ssl_engine_sendrec_buf(c->eng, len);
}

/* see tls.h */
void
tls_send_ack(struct tls_conn *c, size_t n)
{
	if (n > 0)
		br_ssl_engine_sendrec_ack(c->eng, n);
	tls_update(c);
}

/* see tls.h */
const uint8_t *
tls_app_take(struct tls_conn *c, size_t *len)
{
	*len = 0;
	if (!tls_ready(c))
		return NULL;
	return br_ssl_engine_recvapp_buf(c->eng, len);
}

/* see tls.h */
void
tls_app_ack(struct tls_conn *c, size_t n)
{
	if (n > 0)
		br_ssl_engine_recvapp_ack(c->eng, n);
	tls_update(c);
}

/* see tls.h */
uint8_t *
tls_app_buf(struct tls_conn *c, size_t *room)
{
	*room = 0;
	if (!tls_ready(c))
		return NULL;
	return br_ssl_engine_sendapp_buf(c->eng, room);
}

/* see tls.h */
void
tls_app_commit(struct tls_conn *c, size_t n)
{
	if (n > 0) {
		br_ssl_engine_sendapp_ack(c->eng, n);
		br_ssl_engine_flush(c->eng, 0);
	}
	tls_update(c);
}

/* see tls.h */
void
tls_eof(struct tls_conn *c)
{
	if (tls_update(c) & BR_SSL_CLOSED)
		return;
	tls_abort(c, c->ready ? TLS_R_CLOSED : TLS_R_HANDSHAKE_CLOSED);
}

/* see tls.h */
void
tls_close(struct tls_conn *c)
{
	br_ssl_engine_close(c->eng);
	tls_update(c);
}

/* see tls.h */
void
tls_abort(struct tls_conn *c, enum tls_reason reason)
{
	if (c->reason == TLS_R_NONE) {
		c->reason = reason;
		c->br_err = br_ssl_engine_last_error(c->eng);
	}
}

/* see tls.h */
void
tls_wipe(struct tls_conn *c)
{
	util_wipe(c, sizeof(*c));
}

/* see tls.h */
enum tls_reason
tls_reason(const struct tls_conn *c)
{
	return c->reason;
}

/* see tls.h */
int
tls_br_error(const struct tls_conn *c)
{
	return c->br_err;
}
