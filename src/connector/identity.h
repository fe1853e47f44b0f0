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

struct tls_client_config;

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

#endif
