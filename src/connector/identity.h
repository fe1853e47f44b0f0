/*
 * identity.h — the connector's own certificate and key: checks on a
 * stored or configured identity, the renewal time, and the choice made at
 * start (identity_source).
 *
 * Setup-phase and once-per-renewal code: functions may allocate, and
 * never log.  Errors: -1 (or -errno where stated) with err naming what is
 * wrong, never key material.
 */
#ifndef CONNECTOR_IDENTITY_H
#define CONNECTOR_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "connector/identity_store.h"
#include "proto/outpost/v1/enrollment.pb-c.h"

struct tls_client_config;
struct pki_key;
struct buf;

/* Where the identity in use came from (logged and shown in /status). */
enum identity_source {
	IDENTITY_NONE = 0, /* nothing yet: enrolling, pairing or recovery */
	IDENTITY_STORE, /* DATA_DIR/identity */
	IDENTITY_CONFIG, /* TLS_CERT_* and TLS_KEY_* */
	IDENTITY_ENROLL, /* enrolled with ENROLLMENT_TOKEN in this run */
	IDENTITY_PAIR, /* paired in this run */
	IDENTITY_RENEW, /* renewed in this run */
};

/* "none", "data_dir", "config", "enrollment", "pairing", "renewal". */
const char *identity_source_name(enum identity_source s);

/*
 * Validity of the first certificate of a PEM chain, in Unix seconds.
 * 0, or -1 with err ("identity: no certificate", "... does not parse").
 */
int identity_leaf_validity(const void *pem, size_t len, int64_t *not_before,
    int64_t *not_after, char *err, size_t errlen);

/*
 * Check that f's key matches its leaf certificate and that every PEM
 * object parses: the tunnel's TLS configuration is built the same way
 * (tls_client_config_new), so what passes here can be used.  Trust
 * anchors for the check are f's CA when present, else the chain itself.
 * 0 or -1 with err.
 */
int identity_check(const struct idstore_files *f, char *err, size_t errlen);

/*
 * When to renew: now + permille/1000 of the time left until not_after,
 * made up to 5 % of that time earlier by rnd (jitter, so that connectors
 * enrolled together do not renew together).  Never before now.
 */
int64_t identity_renew_at(
    int64_t now, int64_t not_after, unsigned permille, uint32_t rnd);

/*
 * A fresh P-256 key (*key, free with pki_key_free) and a PKCS#10 request
 * for it in csr (DER, capacity PKI_DER_MAX), subject and DNS name
 * hostname (the edge ignores both and names the connector itself).
 * 0 or -1 with err.
 */
int identity_new_key(struct pki_key **key, struct buf *csr,
    const char *hostname, char *err, size_t errlen);

/*
 * The edge's answer (Identity, DER) and our key as the files to store:
 * chain and CA as PEM, the key as PKCS#8 PEM, name, not_after (from the
 * answer, else the leaf), renew_at (identity_renew_at with permille).
 * f is filled with heap memory (idstore_files_free).  0 or -1 with err.
 */
int identity_from_edge(struct idstore_files *f, const Outpost__V1__Identity *m,
    const struct pki_key *key, const char *source, unsigned permille, char *err,
    size_t errlen);

/*
 * A TLS client configuration trusting ca (PEM; NULL: the system bundle),
 * checking server_name, presenting f's certificate and key (f NULL: no
 * client certificate, for Enroll, Pair and PairPoll).  0 or -1 with err.
 */
int identity_tls(struct tls_client_config **out, const void *ca, size_t calen,
    const struct idstore_files *f, const char *server_name, char *err,
    size_t errlen);

#endif
