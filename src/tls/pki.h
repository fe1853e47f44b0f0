/*
 * pki.h — the PKI primitives identity is built on: key generation, PKCS#8
 * PEM, PKCS#10 requests (write, parse, verify), X.509 v3 leaf certificates
 * and self-signed CAs, and atomic file writes.  Crypto is BearSSL's; only
 * the DER encoding and the small DER reader are ours (pki_der.c).
 *
 * Setup-phase code: functions may allocate and block on files; nothing
 * keeps global state, nothing here logs.  Not for reactor callbacks on a
 * hot path (RSA key generation takes seconds).
 *
 * Conventions, for every function below:
 *  - Returns 0 on success, or a negative value with err (errlen bytes,
 *    caller-owned, always NUL-terminated when errlen > 0) naming what is
 *    wrong ("CSR: RSA key of 1024 bits, 2048 required").  err never
 *    contains key material.  err may be NULL only when errlen is 0.
 *  - Output goes to a caller-owned struct buf (lib/buf.h) and is appended
 *    after its current contents.  When the buffer is too small the
 *    function fails with "... does not fit"; out->len may then have grown
 *    but the output is not usable.  The sizes below bound every output.
 *  - Pointer arguments are required (non-NULL) unless marked "or NULL".
 *  - Times are Unix seconds (UTC).
 */
#ifndef TLS_PKI_H
#define TLS_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bearssl.h>

#include "lib/buf.h"

/* Upper bounds of outputs (bytes): size your buffers with these. */
#define PKI_KEY_PEM_MAX 4096 /* PKCS#8 PEM of an RSA-4096 key: ~3.3 KiB */
#define PKI_DER_MAX 8192 /* one CSR or certificate, DER */
#define PKI_PEM_MAX 12288 /* one CSR or certificate, PEM */

/* Input limits (longer values are refused with an error). */
#define PKI_NAME_MAX 256 /* one CN, URI or DNS name, NUL excluded */
#define PKI_SAN_MAX 8 /* URIs, and DNS names, in one request */
#define PKI_SERIAL_LEN 16 /* random serial: 128 bits */

enum pki_key_type {
	PKI_KEY_P256 = 1, /* ECDSA P-256, signs with SHA-256 (default) */
	PKI_KEY_P384, /* ECDSA P-384, signs with SHA-384 */
	PKI_KEY_RSA2048, /* RSA, e = 65537, PKCS#1 v1.5 with SHA-256 */
	PKI_KEY_RSA3072,
	PKI_KEY_RSA4096,
};

/*
 * "p256", "p384", "rsa2048", "rsa3072", "rsa4096" <-> the type.
 * pki_key_type_parse returns 0 for an unknown name; pki_key_type_name
 * returns "?" for an unknown value.
 */
enum pki_key_type pki_key_type_parse(const char *name);
const char *pki_key_type_name(enum pki_key_type type);

/* A private key (and its public half).  Opaque, heap-allocated. */
struct pki_key;

/*
 * Generate a key with BearSSL's generators (br_ec_keygen, br_rsa_keygen),
 * from an HMAC-DRBG seeded from getrandom(2).  Sets *out (free with
 * pki_key_free).  Fails on an unknown type, entropy failure or no memory.
 */
int pki_key_generate(
    enum pki_key_type type, struct pki_key **out, char *err, size_t errlen);

/*
 * Load a private key from PEM: PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY"
 * or PKCS#1 "RSA PRIVATE KEY" (the same decoder as TLS_KEY, tls_ident.c);
 * P-256/P-384 or RSA 2048..4096 bits with public exponent 65537, 3, 5,
 * 17 or 257.  Sets *out.  what names the input in errors ("--key",
 * "TLS_KEY").
 */
int pki_key_load(struct pki_key **out, const void *pem, size_t len,
    const char *what, char *err, size_t errlen);

/* Wipe the private material and free; NULL is a no-op. */
void pki_key_free(struct pki_key *key);

enum pki_key_type pki_key_type(const struct pki_key *key);

/*
 * The key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----", LF line ends),
 * appended to out (at most PKI_KEY_PEM_MAX bytes).  The caller should wipe
 * the buffer after use (util_wipe).
 */
int pki_key_pem(
    const struct pki_key *key, struct buf *out, char *err, size_t errlen);

/*
 * The public key as BearSSL sees it.  pk points into key: valid while
 * key lives, do not modify.
 */
void pki_key_public(const struct pki_key *key, br_x509_pkey *pk);

/*
 * A PKCS#10 certification request, DER, appended to out (at most
 * PKI_DER_MAX): subject CN = cn (cn NULL or "": empty subject), an
 * extensionRequest with subjectAltName uniformResourceIdentifier uris[0..]
 * and dNSName dns[0..] (nuris + ndns >= 1, each at most PKI_SAN_MAX;
 * URIs and DNS names 1..PKI_NAME_MAX bytes of printable ASCII without
 * spaces; cn 1..PKI_NAME_MAX bytes without control characters, UTF-8
 * allowed), signed by key: ECDSA-SHA256
 * (P-256), ECDSA-SHA384 (P-384) or RSA PKCS#1 v1.5 SHA-256.  uris/dns may
 * be NULL when their count is 0.
 */
int pki_csr_write(const struct pki_key *key, const char *cn,
    const char *const *uris, size_t nuris, const char *const *dns, size_t ndns,
    struct buf *out, char *err, size_t errlen);

/*
 * A parsed and verified request.  Caller-allocated (about 5 KiB: on the
 * heap or in a setup-phase frame); self-contained (copies, no pointers
 * into the DER), so the DER may be freed after parsing.  pkey points into
 * keybuf: never copy the struct by value (parse again instead).
 */
struct pki_csr {
	br_x509_pkey pkey; /* the requester's key; points into keybuf */
	char cn[PKI_NAME_MAX + 1]; /* first subject CN, "" when absent; may
				      hold UTF-8: escape before printing */
	char uri[PKI_SAN_MAX][PKI_NAME_MAX + 1]; /* requested URI SANs */
	size_t nuri;
	char dns[PKI_SAN_MAX][PKI_NAME_MAX + 1]; /* requested DNS SANs */
	size_t ndns;
	uint8_t keybuf[BR_X509_BUFSIZE_KEY]; /* private: key bytes */
};

/*
 * Parse a DER PKCS#10 request (strict DER, at most PKI_DER_MAX bytes) and
 * verify its self-signature with the key it carries (proof of possession):
 * ECDSA with SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384/512.  Refuses,
 * with a precise error: malformed DER, version other than 1, weak keys
 * (RSA < 2048 bits, EC other than P-256/P-384), unknown algorithms, a bad
 * signature, more than PKI_SAN_MAX names or names over PKI_NAME_MAX.
 * Fills *csr (also on error: then its contents are meaningless).
 */
int pki_csr_parse(
    const void *der, size_t len, struct pki_csr *csr, char *err, size_t errlen);

/* Extended key usages for pki_cert_issue (bits). */
#define PKI_EKU_CLIENT_AUTH 0x1u
#define PKI_EKU_SERVER_AUTH 0x2u

/* What to put in a leaf certificate. */
struct pki_issue {
	const struct pki_key *issuer_key; /* the CA's key */
	const uint8_t *issuer_cert; /* the CA's certificate, DER */
	size_t issuer_cert_len;
	const br_x509_pkey *subject_key; /* e.g. &csr.pkey */
	const char *cn; /* subject CN, or NULL/"" for an empty subject */
	const char *san_uri; /* SAN URI, e.g. spiffe://td/connector/name */
	int64_t not_before; /* the caller backdates for clock skew */
	int64_t not_after;
	unsigned eku; /* PKI_EKU_* bits; 0: no extKeyUsage */
};

/*
 * Issue an X.509 v3 leaf certificate, DER, appended to out (at most
 * PKI_DER_MAX): a random positive 128-bit serial (copied to serial when
 * not NULL), issuer = the CA certificate's subject, subject CN (or empty),
 * subjectAltName URI san_uri (critical when the subject is empty),
 * basicConstraints CA:FALSE (critical), keyUsage digitalSignature
 * (+ keyEncipherment for an RSA subject key) (critical), extKeyUsage
 * from eku, subjectKeyIdentifier (SHA-1 of the subject key) and
 * authorityKeyIdentifier (the CA's subjectKeyIdentifier, or SHA-1 of its
 * key when it has none).  Signed by issuer_key with ECDSA-SHA256/384 or
 * RSA-SHA256.  Fails when issuer_key does not match issuer_cert, on a
 * weak subject key, or when not_after <= not_before.
 */
int pki_cert_issue(const struct pki_issue *in, uint8_t *serial, struct buf *out,
    char *err, size_t errlen);

/*
 * A self-signed CA certificate for key, DER, appended to out (at most
 * PKI_DER_MAX): subject = issuer = CN cn (required, non-empty), random
 * serial, basicConstraints CA:TRUE (critical), keyUsage keyCertSign|cRLSign
 * (critical), subjectKeyIdentifier.
 */
int pki_ca_create(const struct pki_key *key, const char *cn, int64_t not_before,
    int64_t not_after, struct buf *out, char *err, size_t errlen);

/*
 * PEM-armour DER bytes: label is "CERTIFICATE", "CERTIFICATE REQUEST", ...
 * Appended to out (64-column lines, LF).
 */
int pki_pem(const char *label, const void *der, size_t len, struct buf *out,
    char *err, size_t errlen);

/*
 * Write a file atomically: a temporary file in the same directory
 * (mode `mode`, created O_EXCL), write, fsync, rename over path, fsync
 * the directory.  On failure path is untouched and the temporary file is
 * removed.  With excl, an existing path is an error ("exists") and is
 * never replaced (link(2) instead of rename(2)).  Returns 0 or -errno with
 * err naming the path and the step ("write FILE: No space left on
 * device").
 */
int pki_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, bool excl, char *err, size_t errlen);

#endif
