/*
 * tls_int.h — declarations shared by the tls module's files.
 */
#ifndef TLS_TLS_INT_H
#define TLS_TLS_INT_H

#include "tls/tls.h"

/* The X.509 error a refused peer check ends the handshake with (the
 * last code of BearSSL's X.509 range, unused by BearSSL itself). */
#define TLS_BR_ERR_REVOKED 63

/* Upper bounds for setup-time inputs. */
#define TLS_BUNDLE_MAX (4 * 1024 * 1024)
#define TLS_ANCHORS_MAX 1024
#define TLS_CHAIN_MAX 8

struct tls_anchors {
	br_x509_trust_anchor *ta;
	size_t n;
};

struct tls_chain {
	br_x509_certificate *certs;
	size_t n;
};

struct tls_key {
	int type; /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC; 0 when none */
	br_skey_decoder_context dc; /* holds the key material */
};

/* Identity: a chain and its key, with the issuer's key type. */
struct tls_ident {
	struct tls_chain chain;
	struct tls_key key;
	unsigned issuer_type;
};

struct tls_client_config {
	struct tls_anchors anchors;
	struct tls_ident id;
	bool have_id;
	char server_name[TLS_HOST_MAX];
	int64_t time;
};

struct tls_server_config {
	struct tls_anchors client_ca;
	struct tls_ident id;
	bool client_cert_optional;
	tls_peer_check_fn *check;
	void *check_arg;
	int64_t time;
};

/* Trust anchors from PEM; lenient skips certificates BearSSL can't use
 * (for the system bundle).  0 or -1 with err. */
int tls_anchors_load(struct tls_anchors *a, const void *pem, size_t len,
    const char *what, bool lenient, char *err, size_t errlen);
int tls_anchors_load_file(
    struct tls_anchors *a, const char *path, char *err, size_t errlen);
void tls_anchors_free(struct tls_anchors *a);

/*
 * One private key from PEM (PKCS#8, SEC1 or PKCS#1; EC P-256/P-384 or
 * RSA >= 2048 bits) into k.  0, or -1 with err ("what: ...") and k wiped.
 */
int tls_key_load(struct tls_key *k, const void *pem, size_t len,
    const char *what, char *err, size_t errlen);

/*
 * The modulus of an RSA private key (br_rsa_compute_modulus).  BearSSL
 * 0.6's default (i31) returns 0 for 4096-bit keys, its scratch buffer
 * being two words short; the i15 code handles every supported size.
 */
#define tls_rsa_modulus br_rsa_i15_compute_modulus

/* Chain + key, checked against each other.  0 or -1 with err. */
int tls_ident_load(struct tls_ident *id, const void *cert, size_t cert_len,
    const void *key, size_t key_len, char *err, size_t errlen);
void tls_ident_free(struct tls_ident *id);

/* Point the wrapper at inner; ip/iplen: IP literal to require (or 0). */
void tls_x509_wrap(struct tls_x509 *w, br_x509_minimal_context *inner,
    const uint8_t *ip, size_t iplen);

/* True when the DER certificate has an iPAddress SAN equal to ip. */
bool tls_san_has_ip(
    const uint8_t *der, size_t len, const uint8_t *ip, size_t iplen);

/* Set the X.509 validation time from Unix seconds (0: now). */
void tls_x509_set_time(br_x509_minimal_context *xc, int64_t unix_s);

/* Common engine setup: TLS 1.2 only, buffer, ALPN h2, entropy. 0 or -1. */
int tls_engine_setup(struct tls_conn *c);

/* Map a BearSSL error code to a reason. */
enum tls_reason tls_reason_from_br(int err, bool server, bool ready);

#endif
