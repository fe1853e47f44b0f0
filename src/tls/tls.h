/*
 * tls.h — TLS 1.2 over BearSSL, sans-I/O, client and server roles.
 *
 * Two kinds of object:
 *
 *  - struct tls_client_config / struct tls_server_config: opaque, built once
 *    in the setup phase from PEM bytes (trust anchors, certificate chain,
 *    private key), heap-allocated, read-only afterwards, shared by any
 *    number of connections.  Anything that does not parse is an error with
 *    a message naming what failed (never the secret); there is no fallback
 *    to other roots.  Free with *_config_free(), which wipes the key.
 *
 *  - struct tls_conn: one connection, caller-allocated and embedded
 *    (TLS_CONN_SIZE bytes, including BearSSL's bidirectional I/O buffer).
 *    It never allocates and never touches a socket: the caller moves
 *    ciphertext with tls_recv_buf/tls_recv_commit (network → engine) and
 *    tls_send_take/tls_send_ack (engine → network), and plaintext with
 *    tls_app_take/tls_app_ack (peer → application) and
 *    tls_app_buf/tls_app_commit (application → peer).  After each call,
 *    tls_want() says what the engine needs next, so the caller can set its
 *    reactor interest.  The config must outlive the connection.
 *
 * The handshake deadline belongs to the caller: when it passes before
 * tls_ready(), call tls_abort(c, TLS_R_HANDSHAKE_TIMEOUT).
 *
 * Errors are sticky: once tls_failed() is true, tls_reason() gives a typed
 * reason and tls_reason_name() its stable string for logs and /readyz
 * ("unknown_ca", "expired", "hostname", "no_alpn", ...).  Only
 * tls_*_start() resets a connection.  Nothing here may be called from
 * another thread; everything may be called from reactor callbacks.
 */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#define TLS_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define TLS_HOST_MAX 256
#define TLS_PEER_URIS 4 /* SAN URIs kept from a client certificate */
#define TLS_PEER_NAME_MAX 256 /* longest URI / CN kept */
#define TLS_EE_MAX 8192 /* end-entity certificate kept for IP checks */

/* What the engine wants next (bits of tls_want()). */
#define TLS_WANT_READ 0x1u /* room for ciphertext: read the socket */
#define TLS_WANT_WRITE 0x2u /* ciphertext to send: write the socket */

enum tls_reason {
	TLS_R_NONE = 0,
	TLS_R_BAD_CERT, /* peer certificate invalid or unsupported */
	TLS_R_UNKNOWN_CA, /* peer chain does not reach a trust anchor */
	TLS_R_EXPIRED, /* peer certificate outside its validity */
	TLS_R_HOSTNAME, /* server certificate does not name the host */
	TLS_R_NO_ALPN, /* "h2" was not negotiated */
	TLS_R_HANDSHAKE_TIMEOUT, /* set by the caller through tls_abort() */
	TLS_R_PEER_REJECTED, /* the peer refused our certificate */
	TLS_R_NO_CLIENT_CERT, /* server: the client sent no certificate */
	TLS_R_PROTOCOL_VERSION, /* no common TLS version */
	TLS_R_HANDSHAKE, /* other handshake failure (ciphers, alert) */
	TLS_R_PROTOCOL, /* malformed records, bad MAC, ... */
	TLS_R_CLOSED, /* peer closed without close_notify */
	TLS_R_HANDSHAKE_CLOSED, /* peer closed during the handshake (often: it
				   rejected our certificate) */
	TLS_R_INTERNAL, /* misuse or unexpected engine state */
	TLS_R_REVOKED, /* server: the peer check refused the certificate */
};

struct tls_client_opts {
	/* Trust anchors (PEM, one or more CERTIFICATE blocks).  NULL: the
	 * system bundle (ca_bundle, default TLS_SYSTEM_BUNDLE). */
	const void *ca;
	size_t ca_len;
	const char *ca_bundle;
	/* Client certificate chain (leaf first, then intermediates) and its
	 * key, PEM.  Both NULL: no client certificate. */
	const void *cert;
	size_t cert_len;
	const void *key;
	size_t key_len;
	/* SNI and certificate name to check instead of the dialled host. */
	const char *server_name;
	/* Validation time in Unix seconds; 0: the wall clock (tests only). */
	int64_t time;
};

struct tls_server_opts {
	const void *cert; /* server chain, PEM */
	size_t cert_len;
	const void *key;
	size_t key_len;
	const void *client_ca; /* client certificates must chain to it */
	size_t client_ca_len;
	/* A client may connect without a certificate (tls_peer_verified()
	 * then says false); one it does send is still verified, and a bad
	 * one still fails the handshake with its typed reason. */
	bool client_cert_optional;
	int64_t time;
};

struct tls_client_config;
struct tls_server_config;

/*
 * Load a client configuration.  Returns 0 and sets *out, or -1 with err
 * filled ("TLS_CA: no certificate found", "TLS_KEY: RSA key under 2048
 * bits", ...).  Keys: EC P-256/P-384 (SEC1 or PKCS#8) and RSA >= 2048 bits
 * (PKCS#1 or PKCS#8); the key must match the first certificate.
 */
int tls_client_config_new(struct tls_client_config **out,
    const struct tls_client_opts *o, char *err, size_t errlen);
void tls_client_config_free(struct tls_client_config *cfg);

/* Number of trust anchors loaded (for logs). */
size_t tls_client_config_anchors(const struct tls_client_config *cfg);

int tls_server_config_new(struct tls_server_config **out,
    const struct tls_server_opts *o, char *err, size_t errlen);
void tls_server_config_free(struct tls_server_config *cfg);

struct tls_conn;

/*
 * Server: called during the handshake once a client chain has verified
 * (tls_peer_uri(), tls_peer_cn() and tls_peer_serial() work on c then).
 * Return false to refuse the certificate: the handshake fails with
 * TLS_R_REVOKED.  Called from inside the engine: it must not call any
 * tls_* function on c but those three.
 */
typedef bool tls_peer_check_fn(const struct tls_conn *c, void *arg);

/* Install the check (NULL: none) for connections started afterwards. */
void tls_server_config_set_check(
    struct tls_server_config *cfg, tls_peer_check_fn *fn, void *arg);

/* Private: the wrapper X.509 engine (hostname/IP check, EE capture). */
struct tls_x509 {
	const br_x509_class *vtable;
	br_x509_minimal_context *inner;
	br_ssl_engine_context *optional; /* server, cert optional: its engine */
	tls_peer_check_fn *check; /* server: after a verified chain */
	void *check_arg;
	bool verified; /* a chain was presented and verified */
	unsigned depth; /* certificates started so far */
	uint8_t ip[16]; /* IP literal to match; iplen 0: none */
	size_t iplen;
	uint8_t ee[TLS_EE_MAX]; /* the end-entity certificate */
	size_t eelen;
	bool ee_overflow;
};

struct tls_conn {
	/* Private: use the functions below. */
	union {
		br_ssl_client_context c;
		br_ssl_server_context s;
	} u;
	br_ssl_engine_context *eng;
	br_x509_minimal_context xc;
	struct tls_x509 xw;
	br_name_element names[TLS_PEER_URIS + 1];
	char peer[TLS_PEER_URIS + 1][TLS_PEER_NAME_MAX];
	bool server;
	bool ready; /* handshake done and ALPN checked */
	enum tls_reason reason;
	int br_err; /* BearSSL error code behind the reason */
	char host[TLS_HOST_MAX];
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

#define TLS_CONN_SIZE sizeof(struct tls_conn)

/*
 * Start a client handshake to host (a DNS name or an IP literal; the
 * config's server_name overrides it for SNI and verification).  IP literals
 * are matched against iPAddress SANs and are not sent as SNI.  Returns 0,
 * or -1 with the sticky reason set (TLS_R_HOSTNAME when there is no name
 * at all: verification is never skipped).
 */
int tls_client_start(
    struct tls_conn *c, const struct tls_client_config *cfg, const char *host);

/*
 * Start a server handshake, ALPN h2: a client certificate is required
 * unless the config says client_cert_optional.
 */
int tls_server_start(struct tls_conn *c, const struct tls_server_config *cfg);

/*
 * The BearSSL engine, for the reactor's stream pump (net/stream.h), which
 * moves records between it and the socket.  Call tls_ready()/tls_failed()
 * after pumping so that readiness and typed reasons are folded in.
 */
br_ssl_engine_context *tls_engine(struct tls_conn *c);

/* TLS_WANT_READ and/or TLS_WANT_WRITE; 0 when the connection is over. */
unsigned tls_want(struct tls_conn *c);

/* True once the handshake completed and "h2" was negotiated. */
bool tls_ready(struct tls_conn *c);

/* True once the engine is closed (cleanly or not). */
bool tls_closed(struct tls_conn *c);

/* True when the connection ended with an error (see tls_reason). */
bool tls_failed(struct tls_conn *c);

/* Ciphertext from the network: room to read into, then commit n bytes. */
uint8_t *tls_recv_buf(struct tls_conn *c, size_t *room);
void tls_recv_commit(struct tls_conn *c, size_t n);

/* Ciphertext for the network: bytes to write, then ack n written. */
const uint8_t *tls_send_take(struct tls_conn *c, size_t *len);
void tls_send_ack(struct tls_conn *c, size_t n);

/* Plaintext from the peer: take, then ack n consumed. */
const uint8_t *tls_app_take(struct tls_conn *c, size_t *len);
void tls_app_ack(struct tls_conn *c, size_t n);

/* Plaintext to the peer: room to write into, then commit n (flushed). */
uint8_t *tls_app_buf(struct tls_conn *c, size_t *room);
void tls_app_commit(struct tls_conn *c, size_t n);

/*
 * The transport reached end-of-file (read returned 0).  Before a clean
 * close this is an error: TLS_R_HANDSHAKE_CLOSED during the handshake,
 * TLS_R_CLOSED after it.
 */
void tls_eof(struct tls_conn *c);

/* Send close_notify; the engine closes once the peer answers. */
void tls_close(struct tls_conn *c);

/*
 * Erase the connection (session keys, buffered plaintext) once it is over;
 * call it before freeing or reusing the memory.  The next use must start
 * with tls_client_start() or tls_server_start().
 */
void tls_wipe(struct tls_conn *c);

/* Fail the connection with reason (e.g. TLS_R_HANDSHAKE_TIMEOUT). */
void tls_abort(struct tls_conn *c, enum tls_reason reason);

enum tls_reason tls_reason(const struct tls_conn *c);

/* The BearSSL error code behind the reason (for debug logs). */
int tls_br_error(const struct tls_conn *c);

/* "bad_cert", "unknown_ca", "expired", "hostname", "no_alpn", ... */
const char *tls_reason_name(enum tls_reason r);

/* Shorthand: tls_reason_name(tls_reason(c)). */
const char *tls_error_reason(const struct tls_conn *c);

/* Static text for a BearSSL error code an operator can act on ("tls:
 * certificate not trusted", ...), for a stream's tls_err. */
const char *tls_br_detail(int br_err);

/*
 * Server, after tls_ready() (or inside the peer check): whether the
 * client presented a certificate that verified; its i-th SAN URI (NULL
 * past the last, and without a verified certificate), its subject CN
 * ("" when absent) and its serial number (the DER INTEGER's content
 * bytes, *len set; NULL when unknown).
 */
bool tls_peer_verified(const struct tls_conn *c);
const char *tls_peer_uri(const struct tls_conn *c, size_t i);
const char *tls_peer_cn(const struct tls_conn *c);
const uint8_t *tls_peer_serial(const struct tls_conn *c, size_t *len);

/*
 * The serial number of a DER certificate: its content bytes (into the
 * certificate) and *len.  NULL when the DER does not parse that far.
 */
const uint8_t *tls_cert_serial(const uint8_t *der, size_t len, size_t *slen);

/*
 * --- Upstream client: HTTPS from the executor to internal services ------
 *
 * Unlike tls_client_config (the tunnel: TLS 1.2 only, ALPN h2, a client
 * certificate), an upstream connection uses BearSSL's full client profile
 * (TLS 1.0 to 1.2), offers the ALPN names given (none: plain HTTP/1.1),
 * and checks the server's chain against the anchors given, or the system
 * bundle, or not at all.  SNI and the name check use the host; for an IP
 * literal no SNI is sent and the certificate must carry that address as
 * an iPAddress SAN.  With verify off the chain is not checked at all (the
 * server key still drives the key exchange).
 */
struct tls_upstream_opts {
	bool verify;
	/* Trust anchors, PEM; NULL: the system bundle, when readable (no
	 * bundle: no anchors, and every verified handshake fails). */
	const void *ca;
	size_t ca_len;
	const char *ca_what; /* names ca in errors ("UPSTREAM_TLS_CA") */
	/* A client certificate chain and its key, PEM (as for
	 * tls_client_opts); both NULL: none. */
	const void *cert;
	size_t cert_len;
	const void *key;
	size_t key_len;
	const char *const *alpn; /* protocol names offered; NULL: none */
	size_t nalpn;
};

struct tls_upstream_config;

/* Load the config (setup phase); 0, or -1 with err naming ca_what. */
int tls_upstream_config_new(struct tls_upstream_config **out,
    const struct tls_upstream_opts *o, char *err, size_t errlen);
void tls_upstream_config_free(struct tls_upstream_config *cfg);

/* Trust anchors loaded: 0 with verify on means no https upstream works. */
size_t tls_upstream_config_anchors(const struct tls_upstream_config *cfg);

/* Private: the X.509 engine used with verify off (the first
 * certificate's key is taken and trusted). */
struct tls_x509_any {
	const br_x509_class *vtable;
	br_x509_decoder_context dc;
	br_x509_pkey pkey;
	unsigned ncert;
	bool ok;
};

/* One upstream connection, caller-allocated and reusable: every field is
 * private.  The config must outlive it. */
struct tls_upstream_conn {
	br_ssl_client_context sc;
	union {
		br_x509_minimal_context min;
		struct tls_x509_any any;
	} x;
	struct tls_x509 xw; /* around x.min: IP-literal hosts */
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/*
 * Reset c for a handshake to host (a DNS name or an IP literal) and
 * return its engine for the stream pump (net/stream.h).  Never fails: an
 * engine that could not be reset is closed, and the stream reports it as
 * a TLS error.  Handshake failures are BearSSL error codes in the engine.
 */
br_ssl_engine_context *tls_upstream_start(struct tls_upstream_conn *c,
    const struct tls_upstream_config *cfg, const char *host);

/* Erase session keys and buffered plaintext before reusing or freeing. */
void tls_upstream_wipe(struct tls_upstream_conn *c);

#endif
