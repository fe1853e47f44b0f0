/*
 * tls_reason.c — BearSSL error codes to the typed reasons of tls.h.
 */
#include "lib/util.h"
#include "tls/tls_int.h"

/* A fatal alert the peer sent us. */
static enum tls_reason
reason_from_alert(int alert)
{
	switch (alert) {
	case 42: /* bad_certificate */
	case 43: /* unsupported_certificate */
	case 44: /* certificate_revoked */
	case 45: /* certificate_expired */
	case 46: /* certificate_unknown */
	case 48: /* unknown_ca */
	case 49: /* access_denied */
	case 116: /* certificate_required */
		return TLS_R_PEER_REJECTED;
	case 70: /* protocol_version */
		return TLS_R_PROTOCOL_VERSION;
	case 120: /* no_application_protocol */
		return TLS_R_NO_ALPN;
	}
	return TLS_R_HANDSHAKE;
}

/* An X.509 validation error about the peer's chain. */
static enum tls_reason
reason_from_x509(int err, bool server)
{
	switch (err) {
	case BR_ERR_X509_NOT_TRUSTED:
		return TLS_R_UNKNOWN_CA;
	case BR_ERR_X509_EXPIRED:
		return TLS_R_EXPIRED;
	case BR_ERR_X509_BAD_SERVER_NAME:
		return TLS_R_HOSTNAME;
	case TLS_BR_ERR_REVOKED:
		return TLS_R_REVOKED;
	case BR_ERR_X509_EMPTY_CHAIN:
		return server ? TLS_R_NO_CLIENT_CERT : TLS_R_BAD_CERT;
	}
	return TLS_R_BAD_CERT;
}

/* see tls_int.h */
enum tls_reason
tls_reason_from_br(int err, bool server, bool ready)
{
	if (err >= BR_ERR_RECV_FATAL_ALERT && err < BR_ERR_SEND_FATAL_ALERT)
		return reason_from_alert(err - BR_ERR_RECV_FATAL_ALERT);
	if (err == BR_ERR_SEND_FATAL_ALERT + 120)
		return TLS_R_NO_ALPN;
	if (err >= BR_ERR_X509_OK && err < BR_ERR_RECV_FATAL_ALERT)
		return reason_from_x509(err, server);
	switch (err) {
	case BR_ERR_NO_CLIENT_AUTH:
		return TLS_R_NO_CLIENT_CERT;
	case BR_ERR_BAD_VERSION:
	case BR_ERR_UNSUPPORTED_VERSION:
		return TLS_R_PROTOCOL_VERSION;
	case BR_ERR_IO:
		return TLS_R_CLOSED;
	}
	return ready ? TLS_R_PROTOCOL : TLS_R_HANDSHAKE;
}

static const char *const reason_names[] = {
    [TLS_R_NONE] = "none",
    [TLS_R_BAD_CERT] = "bad_cert",
    [TLS_R_UNKNOWN_CA] = "unknown_ca",
    [TLS_R_EXPIRED] = "expired",
    [TLS_R_HOSTNAME] = "hostname",
    [TLS_R_NO_ALPN] = "no_alpn",
    [TLS_R_HANDSHAKE_TIMEOUT] = "handshake_timeout",
    [TLS_R_PEER_REJECTED] = "peer_rejected",
    [TLS_R_NO_CLIENT_CERT] = "no_client_cert",
    [TLS_R_PROTOCOL_VERSION] = "protocol_version",
    [TLS_R_HANDSHAKE] = "handshake",
    [TLS_R_PROTOCOL] = "protocol",
    [TLS_R_CLOSED] = "closed",
    [TLS_R_HANDSHAKE_CLOSED] = "handshake_closed",
    [TLS_R_INTERNAL] = "internal",
    [TLS_R_REVOKED] = "revoked",
};

/* see tls.h */
const char *
tls_reason_name(enum tls_reason r)
{
	if ((size_t)r >= nitems(reason_names) || reason_names[r] == NULL)
		return "unknown";
	return reason_names[r];
}

/* see tls.h */
const char *
tls_error_reason(const struct tls_conn *c)
{
	return tls_reason_name(c->reason);
}

/* see tls.h */
const char *
tls_br_detail(int err)
{
	switch (err) {
	case BR_ERR_X509_NOT_TRUSTED:
		return "tls: certificate not trusted";
	case BR_ERR_X509_BAD_SERVER_NAME:
		return "tls: certificate does not match the host name";
	case BR_ERR_X509_EXPIRED:
		return "tls: certificate expired or not yet valid";
	case BR_ERR_BAD_VERSION:
	case BR_ERR_BAD_CIPHER_SUITE:
	case BR_ERR_UNSUPPORTED_VERSION:
		return "tls: no common protocol version or cipher suite";
	default:
		if (err >= BR_ERR_RECV_FATAL_ALERT)
			return "tls: the server sent a fatal alert";
		return "tls: handshake or record error";
	}
}
