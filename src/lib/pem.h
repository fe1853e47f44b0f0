/*
 * pem.h — the objects of a PEM text, decoded by BearSSL's PEM decoder.
 *
 * The one PEM reader of the tree: TLS identities and anchors (tls/), the
 * connector's identity checks and the update bundle's signing certificate
 * (update/, which init links and which may not include tls/) all read PEM
 * through it.  Nothing is kept: each object's DER is wiped after its
 * callback returns (it may be a private key).
 */
#ifndef LIB_PEM_H
#define LIB_PEM_H

#include <stddef.h>
#include <stdint.h>

/* The largest DER object accepted (a larger one is an error). */
#define PEM_DER_MAX (64 * 1024)

/*
 * Called for each PEM object with its name and DER bytes (wiped after the
 * call).  Returns 0 to go on, -1 to stop (the callback filled err).
 */
typedef int pem_fn(const char *name, const uint8_t *der, size_t len, void *arg,
    char *err, size_t errlen);

/*
 * Decode every PEM object in p.  Returns the number of objects, or -1 with
 * err filled ("what" names the input, e.g. "TLS_CA": "TLS_CA: invalid PEM",
 * "... truncated PEM object", "... PEM object over 65536 bytes").
 */
int pem_each(const void *p, size_t n, const char *what, pem_fn *fn, void *arg,
    char *err, size_t errlen);

/*
 * The first CERTIFICATE of PEM input as DER: heap memory (*der, *len) the
 * caller frees.  0, or -1 with err naming what ("EDGE_CA_CERT_FILE: no
 * certificate found").  Other PEM objects (a key) are skipped.
 */
int pem_cert(const void *pem, size_t n, const char *what, uint8_t **der,
    size_t *len, char *err, size_t errlen);

#endif
