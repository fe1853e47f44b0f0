/*
 * pki_cert.c — X.509 v3 certificates (RFC 5280): leaf certificates for
 * requesters, issued by a CA key, and self-signed CA certificates.
 */
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "tls/pki_int.h"

#define PKI_NAME_DER_MAX 1024 /* a Name we write: one CN */
#define PKI_TIME_MIN (-631152000LL) /* 1950-01-01: UTCTime's first */
#define PKI_TIME_MAX 253402300799LL /* 9999-12-31 23:59:59 */

/* What one certificate says; see cert_write(). */
struct cert_spec {
	const struct pki_key *signer;
	struct der issuer; /* the issuer's Name, DER */
	const char *cn; /* subject CN; NULL or "": empty subject */
	const br_x509_pkey *pk; /* subject key */
	int64_t not_before, not_after;
	bool ca;
	const char *san_uri; /* leaf: the SAN URI */
	unsigned eku; /* leaf: PKI_EKU_* */
	const uint8_t *aki; /* leaf: the issuer's key identifier */
	size_t akilen;
};

/* One extension whose value is the DER bytes p[0..n). */
static void
ext_put(struct buf *b, const char *oid, size_t oidlen, bool critical,
    const void *p, size_t n)
{
	size_t os, ext = pki_ext_begin(b, oid, oidlen, critical, &os);

	buf_add(b, p, n);
	pki_ext_end(b, ext, os);
}

#define EXT_PUT(b, oid, crit, lit) \
	ext_put(b, oid, sizeof(oid) - 1, crit, lit, sizeof(lit) - 1)

static void
ext_eku_put(struct buf *b, unsigned eku)
{
	size_t os, ext, seq;

	ext = pki_ext_begin(
	    b, OID_EXT_KEY_USAGE, sizeof(OID_EXT_KEY_USAGE) - 1, false, &os);
	seq = der_begin(b, DER_SEQUENCE);
	if (eku & PKI_EKU_SERVER_AUTH)
		DER_PUT_OID(b, OID_SERVER_AUTH);
	if (eku & PKI_EKU_CLIENT_AUTH)
		DER_PUT_OID(b, OID_CLIENT_AUTH);
	der_end(b, seq);
	pki_ext_end(b, ext, os);
}

/* The key identifiers: SKI of the subject, AKI of the issuer (leaf). */
static void
ext_key_ids_put(struct buf *b, const struct cert_spec *s)
{
	uint8_t id[20];
	size_t os, ext, seq;

	pki_key_id(s->pk, id);
	ext = pki_ext_begin(b, OID_SKI, sizeof(OID_SKI) - 1, false, &os);
	der_put(b, DER_OCTET_STRING, id, sizeof(id));
	pki_ext_end(b, ext, os);
	if (s->aki == NULL)
		return;
	ext = pki_ext_begin(b, OID_AKI, sizeof(OID_AKI) - 1, false, &os);
	seq = der_begin(b, DER_SEQUENCE);
	der_put(b, DER_CTX_PRIM(0), s->aki, s->akilen);
	der_end(b, seq);
	pki_ext_end(b, ext, os);
}

/* extensions [3] { Extensions } */
static void
cert_exts_put(struct buf *b, const struct cert_spec *s)
{
	size_t tag = der_begin(b, DER_CTX(3)), seq = der_begin(b, DER_SEQUENCE);
	bool empty = s->cn == NULL || s->cn[0] == '\0';

	if (s->ca) {
		/* CA:TRUE; keyCertSign | cRLSign */
		EXT_PUT(b, OID_BASIC_CONSTRAINTS, true, "\x30\x03\x01\x01\xff");
		EXT_PUT(b, OID_KEY_USAGE, true, "\x03\x02\x01\x06");
	} else {
		/* CA:FALSE; digitalSignature (+ keyEncipherment for RSA) */
		EXT_PUT(b, OID_BASIC_CONSTRAINTS, true, "\x30\x00");
		if (s->pk->key_type == BR_KEYTYPE_RSA)
			EXT_PUT(b, OID_KEY_USAGE, true, "\x03\x02\x05\xa0");
		else
			EXT_PUT(b, OID_KEY_USAGE, true, "\x03\x02\x07\x80");
		if (s->eku != 0)
			ext_eku_put(b, s->eku);
		/* RFC 5280 4.2.1.6: critical when the subject is empty. */
		pki_san_put(b, &s->san_uri, 1, NULL, 0, empty);
	}
	ext_key_ids_put(b, s);
	der_end(b, seq);
	der_end(b, tag);
}

/* TBSCertificate */
static void
cert_tbs_put(struct buf *b, const struct cert_spec *s, const uint8_t *serial)
{
	size_t tbs = der_begin(b, DER_SEQUENCE), v, validity;

	v = der_begin(b, DER_CTX(0));
	der_put(b, DER_INTEGER, "\x02", 1); /* v3 */
	der_end(b, v);
	der_put_uint(b, serial, PKI_SERIAL_LEN);
	pki_sigalg_put(b, s->signer);
	buf_add(b, s->issuer.p, s->issuer.len);
	validity = der_begin(b, DER_SEQUENCE);
	der_put_time(b, s->not_before);
	der_put_time(b, s->not_after);
	der_end(b, validity);
	pki_name_put(b, s->cn);
	pki_spki_put(b, s->pk);
	cert_exts_put(b, s);
	der_end(b, tbs);
}

/* Write the signed certificate s to out; serial (or NULL) gets its serial. */
static int
cert_write(const struct cert_spec *s, uint8_t *serial, struct buf *out,
    char *err, size_t errlen)
{
	uint8_t sn[PKI_SERIAL_LEN];
	size_t outer, tbs;
	char why[128];

	if (s->not_after <= s->not_before) {
		snprintf(err, errlen, "certificate: not_after <= not_before");
		return -1;
	}
	if (s->not_before < PKI_TIME_MIN || s->not_after > PKI_TIME_MAX) {
		snprintf(err, errlen,
		    "certificate: validity outside the years 1950-9999");
		return -1;
	}
	if (util_random(sn, sizeof(sn)) < 0) {
		snprintf(err, errlen, "certificate: getrandom failed");
		return -1;
	}
	sn[PKI_SERIAL_LEN - 1] |= 1; /* never zero (RFC 5280 4.1.2.2) */
	outer = der_begin(out, DER_SEQUENCE);
	tbs = out->len;
	cert_tbs_put(out, s, sn);
	if (pki_sign_append(s->signer, out, tbs, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "certificate: %s", why);
		return -1;
	}
	der_end(out, outer);
	if (out->overflow) {
		snprintf(err, errlen, "certificate: does not fit in %zu bytes",
		    out->cap);
		return -1;
	}
	if (serial != NULL)
		memcpy(serial, sn, sizeof(sn));
	return 0;
}

/* What a leaf needs from its CA certificate. */
struct issuer {
	struct der subject; /* Name, DER */
	br_x509_pkey pk;
	uint8_t keybuf[BR_X509_BUFSIZE_KEY];
	uint8_t id[20]; /* subjectKeyIdentifier */
	size_t idlen;
};

/* The subjectKeyIdentifier among the [3] extensions, if any. */
static int
issuer_ski_get(struct der exts, struct issuer *is)
{
	struct der seq, oid, v, id;

	if (der_take(&exts, DER_SEQUENCE, &seq) < 0)
		return -1;
	while (seq.len > 0) {
		if (pki_ext_next(&seq, &oid, &v) < 0)
			return -1;
		if (!DER_IS_OID(&oid, OID_SKI))
			continue;
		if (der_take(&v, DER_OCTET_STRING, &id) < 0 || id.len == 0 ||
		    id.len > sizeof(is->id))
			return -1;
		memcpy(is->id, id.p, id.len);
		is->idlen = id.len;
	}
	return 0;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, sig } */
static int
issuer_get(
    const uint8_t *der, size_t len, struct issuer *is, char *err, size_t errlen)
{
	struct der in = {der, len}, cert, tbs, v, spki, exts = {NULL, 0};
	uint8_t tag;

	if (der_take(&in, DER_SEQUENCE, &cert) < 0 || in.len != 0 ||
	    der_take(&cert, DER_SEQUENCE, &tbs) < 0 ||
	    (der_peek(&tbs, DER_CTX(0)) &&
		der_take(&tbs, DER_CTX(0), &v) < 0) ||
	    der_take(&tbs, DER_INTEGER, &v) < 0 ||
	    der_take(&tbs, DER_SEQUENCE, &v) < 0 ||
	    der_take(&tbs, DER_SEQUENCE, &v) < 0 ||
	    der_take(&tbs, DER_SEQUENCE, &v) < 0 ||
	    der_next(&tbs, &tag, &v, &is->subject) < 0 || tag != DER_SEQUENCE ||
	    der_take(&tbs, DER_SEQUENCE, &spki) < 0)
		goto bad;
	while (tbs.len > 0) {
		if (der_next(&tbs, &tag, &v, NULL) < 0)
			goto bad;
		if (tag == DER_CTX(3))
			exts = v;
	}
	if (pki_spki_get(
		&spki, &is->pk, is->keybuf, "CA certificate", err, errlen) < 0)
		return -1;
	if (exts.p != NULL && issuer_ski_get(exts, is) < 0)
		goto bad;
	if (is->idlen == 0) {
		pki_key_id(&is->pk, is->id);
		is->idlen = 20;
	}
	return 0;
bad:
	snprintf(err, errlen, "CA certificate: not a DER X.509 certificate");
	return -1;
}

/* BearSSL's reading: the certificate must be a CA's. */
static int
issuer_is_ca(const uint8_t *der, size_t len, char *err, size_t errlen)
{
	br_x509_decoder_context dc;

	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, der, len);
	if (br_x509_decoder_get_pkey(&dc) == NULL) {
		snprintf(err, errlen,
		    "CA certificate: does not parse (BearSSL error %d)",
		    br_x509_decoder_last_error(&dc));
		return -1;
	}
	if (!br_x509_decoder_isCA(&dc)) {
		snprintf(err, errlen, "CA certificate: not a CA (CA:FALSE)");
		return -1;
	}
	return 0;
}

/* True when a and b are the same public key. */
static bool
pkey_equal(const br_x509_pkey *a, const br_x509_pkey *b)
{
	if (a->key_type != b->key_type)
		return false;
	if (a->key_type == BR_KEYTYPE_EC)
		return a->key.ec.curve == b->key.ec.curve &&
		    der_is(&(struct der){a->key.ec.q, a->key.ec.qlen},
			b->key.ec.q, b->key.ec.qlen);
	return der_is(&(struct der){a->key.rsa.n, a->key.rsa.nlen},
		   b->key.rsa.n, b->key.rsa.nlen) &&
	    der_is(&(struct der){a->key.rsa.e, a->key.rsa.elen}, b->key.rsa.e,
		b->key.rsa.elen);
}

/*
 * The subject key must be one we accept from a CSR: write its SPKI and
 * read it back through the same checks.
 */
static int
subject_key_check(const br_x509_pkey *pk, char *err, size_t errlen)
{
	uint8_t mem[PKI_DER_MAX / 4], keybuf[BR_X509_BUFSIZE_KEY];
	br_x509_pkey back;
	struct buf b;
	struct der in, spki;

	if (pk->key_type != BR_KEYTYPE_EC && pk->key_type != BR_KEYTYPE_RSA) {
		snprintf(err, errlen, "subject key: unsupported key type");
		return -1;
	}
	buf_init(&b, mem, sizeof(mem));
	pki_spki_put(&b, pk);
	in = (struct der){b.p, b.len};
	if (b.overflow || der_take(&in, DER_SEQUENCE, &spki) < 0) {
		snprintf(err, errlen, "subject key: too large");
		return -1;
	}
	return pki_spki_get(&spki, &back, keybuf, "subject key", err, errlen);
}

/* see pki.h */
int
pki_cert_issue(const struct pki_issue *in, uint8_t *serial, struct buf *out,
    char *err, size_t errlen)
{
	struct issuer is;
	struct cert_spec s = {
	    .signer = in->issuer_key,
	    .cn = in->cn,
	    .pk = in->subject_key,
	    .not_before = in->not_before,
	    .not_after = in->not_after,
	    .san_uri = in->san_uri,
	    .eku = in->eku,
	};

	memset(&is, 0, sizeof(is));
	if (in->san_uri == NULL ||
	    !pki_name_ok(in->san_uri, strlen(in->san_uri), false)) {
		snprintf(err, errlen,
		    "certificate: SAN URI must be 1-%d printable ASCII bytes",
		    PKI_NAME_MAX);
		return -1;
	}
	if (in->cn != NULL && in->cn[0] != '\0' &&
	    !pki_name_ok(in->cn, strlen(in->cn), true)) {
		snprintf(err, errlen, "certificate: CN must be 1-%d bytes",
		    PKI_NAME_MAX);
		return -1;
	}
	if (subject_key_check(in->subject_key, err, errlen) < 0 ||
	    issuer_is_ca(in->issuer_cert, in->issuer_cert_len, err, errlen) <
		0 ||
	    issuer_get(in->issuer_cert, in->issuer_cert_len, &is, err, errlen) <
		0)
		return -1;
	if (!pkey_equal(&is.pk, &in->issuer_key->pub)) {
		snprintf(
		    err, errlen, "CA key does not match the CA certificate");
		return -1;
	}
	s.issuer = is.subject;
	s.aki = is.id;
	s.akilen = is.idlen;
	return cert_write(&s, serial, out, err, errlen);
}

/* see pki.h */
int
pki_ca_create(const struct pki_key *key, const char *cn, int64_t not_before,
    int64_t not_after, struct buf *out, char *err, size_t errlen)
{
	uint8_t mem[PKI_NAME_DER_MAX];
	struct buf name;
	struct cert_spec s = {
	    .signer = key,
	    .cn = cn,
	    .pk = &key->pub,
	    .not_before = not_before,
	    .not_after = not_after,
	    .ca = true,
	};

	if (cn == NULL || !pki_name_ok(cn, strlen(cn), true)) {
		snprintf(
		    err, errlen, "CA: CN must be 1-%d bytes", PKI_NAME_MAX);
		return -1;
	}
	buf_init(&name, mem, sizeof(mem));
	pki_name_put(&name, cn);
	s.issuer = (struct der){name.p, name.len};
	return cert_write(&s, NULL, out, err, errlen);
}
