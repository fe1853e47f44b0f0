/*
 * pki_int.h — the pki files' shared pieces: the DER writer and reader
 * (pki_der.c), OIDs, and the key's internals (pki_key.c).
 */
#ifndef TLS_PKI_INT_H
#define TLS_PKI_INT_H

#include "tls/pki.h"
#include "tls/tls_int.h"

/* DER tags used here. */
#define DER_BOOLEAN 0x01
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_UTF8 0x0c
#define DER_PRINTABLE 0x13
#define DER_IA5 0x16
#define DER_UTCTIME 0x17
#define DER_GENTIME 0x18
#define DER_SEQUENCE 0x30
#define DER_SET 0x31
#define DER_CTX(n) (0xa0 | (n)) /* [n] constructed */
#define DER_CTX_PRIM(n) (0x80 | (n)) /* [n] primitive */

/*
 * OIDs: the content octets, as string literals (use with DER_PUT_OID and
 * DER_IS_OID, which take their size without the literal's NUL).
 */
#define OID_CN "\x55\x04\x03"
#define OID_SKI "\x55\x1d\x0e"
#define OID_KEY_USAGE "\x55\x1d\x0f"
#define OID_SAN "\x55\x1d\x11"
#define OID_BASIC_CONSTRAINTS "\x55\x1d\x13"
#define OID_AKI "\x55\x1d\x23"
#define OID_EXT_KEY_USAGE "\x55\x1d\x25"
#define OID_SERVER_AUTH "\x2b\x06\x01\x05\x05\x07\x03\x01"
#define OID_CLIENT_AUTH "\x2b\x06\x01\x05\x05\x07\x03\x02"
#define OID_EXT_REQUEST "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"
#define OID_RSA "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
#define OID_RSA_SHA256 "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"
#define OID_RSA_SHA384 "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c"
#define OID_RSA_SHA512 "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d"
#define OID_EC "\x2a\x86\x48\xce\x3d\x02\x01"
#define OID_P256 "\x2a\x86\x48\xce\x3d\x03\x01\x07"
#define OID_P384 "\x2b\x81\x04\x00\x22"
#define OID_ECDSA_SHA256 "\x2a\x86\x48\xce\x3d\x04\x03\x02"
#define OID_ECDSA_SHA384 "\x2a\x86\x48\xce\x3d\x04\x03\x03"
#define OID_ECDSA_SHA512 "\x2a\x86\x48\xce\x3d\x04\x03\x04"

#define DER_PUT_OID(b, oid) der_put(b, DER_OID, oid, sizeof(oid) - 1)
#define DER_IS_OID(d, oid) der_is(d, oid, sizeof(oid) - 1)

/* --- writer: appends to a struct buf; overflow is sticky (buf.h) --- */

/* Bytes the length field of a len-byte value takes (1..5). */
size_t der_len_size(size_t len);

/*
 * Open a constructed value (SEQUENCE, SET, [n], or an OCTET/BIT STRING
 * that wraps DER); returns the position to hand to der_end(), which
 * writes the length once the contents are known.  Nest freely.
 */
size_t der_begin(struct buf *b, uint8_t tag);
void der_end(struct buf *b, size_t pos);

/* One primitive value with contents p[0..n). */
void der_put(struct buf *b, uint8_t tag, const void *p, size_t n);

/* A non-negative INTEGER from big-endian bytes (leading zeros dropped). */
void der_put_uint(struct buf *b, const uint8_t *p, size_t n);

/* UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
void der_put_time(struct buf *b, int64_t t);

/* --- reader: strict DER, zero-copy views into the input --- */

struct der {
	const uint8_t *p;
	size_t len;
};

/*
 * Take the next value off in: its tag, contents (val) and the whole
 * encoding (raw; may be NULL).  Refuses indefinite or non-minimal
 * lengths, high tag numbers and values running past the input.  0 or -1.
 */
int der_next(struct der *in, uint8_t *tag, struct der *val, struct der *raw);

/* der_next that also requires the tag. */
int der_take(struct der *in, uint8_t tag, struct der *val);

/* True when the next value in in has this tag (in not consumed). */
bool der_peek(const struct der *in, uint8_t tag);

/* A non-negative INTEGER's magnitude (minimal, leading zero dropped). */
int der_uint(const struct der *val, struct der *mag);

bool der_is(const struct der *d, const void *p, size_t n);

/* --- keys --- */

struct pki_key {
	enum pki_key_type type;
	struct tls_key k; /* the private key (BearSSL's decoder holds it) */
	br_x509_pkey pub;
	uint8_t pubbuf[BR_X509_BUFSIZE_KEY];
};

/* AlgorithmIdentifier of the signatures key makes. */
void pki_sigalg_put(struct buf *b, const struct pki_key *key);

/*
 * Sign the bytes in b from position tbs to the end, then append the
 * AlgorithmIdentifier and the BIT STRING signature: the tail of a
 * CertificationRequest or Certificate.  0 or -1 with err.
 */
int pki_sign_append(const struct pki_key *key, struct buf *b, size_t tbs,
    char *err, size_t errlen);

/* SubjectPublicKeyInfo of pk (RSA or EC P-256/P-384). */
void pki_spki_put(struct buf *b, const br_x509_pkey *pk);

/*
 * Read a SubjectPublicKeyInfo into pk (bytes copied to keybuf, which must
 * hold BR_X509_BUFSIZE_KEY).  Refuses weak or unknown keys.  0 or -1.
 */
int pki_spki_get(const struct der *spki, br_x509_pkey *pk, uint8_t *keybuf,
    const char *what, char *err, size_t errlen);

/* Key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2). */
void pki_key_id(const br_x509_pkey *pk, uint8_t id[20]);

/*
 * An Extension: pki_ext_begin writes its OID and criticality and opens
 * the extnValue OCTET STRING (position in *os); write the value, then
 * pki_ext_end(b, returned position, *os).
 */
size_t pki_ext_begin(
    struct buf *b, const char *oid, size_t oidlen, bool critical, size_t *os);
void pki_ext_end(struct buf *b, size_t ext, size_t os);

/*
 * Take one Extension { extnID, critical DEFAULT FALSE, extnValue } off
 * exts (the SEQUENCE OF's contents): its OID and the extnValue contents.
 * 0 or -1 (malformed).
 */
int pki_ext_next(struct der *exts, struct der *oid, struct der *value);

/* The subjectAltName extension with URIs and DNS names. */
void pki_san_put(struct buf *b, const char *const *uris, size_t nuris,
    const char *const *dns, size_t ndns, bool critical);

/* Append a Name with one CN (cn NULL or "": the empty Name). */
void pki_name_put(struct buf *b, const char *cn);

/*
 * A name of 1..PKI_NAME_MAX bytes without control characters: printable
 * ASCII without spaces (URIs, DNS names), or with text also spaces and
 * UTF-8 bytes (a CN).
 */
bool pki_name_ok(const char *s, size_t n, bool text);

/*
 * Check sig (BIT STRING contents after the unused-bits byte) over tbs with
 * pk; alg is the AlgorithmIdentifier's contents.  ECDSA or RSA PKCS#1
 * v1.5 with SHA-256/384/512.  0, or -1 with err ("what: bad signature").
 */
int pki_verify(const br_x509_pkey *pk, const struct der *alg,
    const struct der *tbs, const struct der *sig, const char *what, char *err,
    size_t errlen);

#endif
