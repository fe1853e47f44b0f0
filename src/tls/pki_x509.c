/*
 * pki_x509.c — the pieces PKCS#10 requests and certificates share:
 * names, SubjectPublicKeyInfo (write and read), key identifiers, and
 * signatures (make with our key, check with BearSSL's verifiers).
 */
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "tls/pki_int.h"

#define PKI_SIG_MAX 512 /* RSA-4096; ECDSA P-384 ASN.1 is ~104 */
#define PKI_RSA_MAX_BITS 4096 /* BR_MAX_RSA_SIZE */

/* Signature algorithms we make and check. */
struct sigalg {
	const char *oid;
	size_t oidlen;
	unsigned key_type; /* BR_KEYTYPE_* */
	const br_hash_class *hash;
	const unsigned char *hash_oid; /* RSA PKCS#1 DigestInfo OID */
};

#define SIGALG(oid, kt, h, hoid) \
	{ \
		oid, sizeof(oid) - 1, kt, h, hoid \
	}

static const struct sigalg sigalgs[] = {
    SIGALG(OID_ECDSA_SHA256, BR_KEYTYPE_EC, &br_sha256_vtable, NULL),
    SIGALG(OID_ECDSA_SHA384, BR_KEYTYPE_EC, &br_sha384_vtable, NULL),
    SIGALG(OID_ECDSA_SHA512, BR_KEYTYPE_EC, &br_sha512_vtable, NULL),
    SIGALG(
	OID_RSA_SHA256, BR_KEYTYPE_RSA, &br_sha256_vtable, BR_HASH_OID_SHA256),
    SIGALG(
	OID_RSA_SHA384, BR_KEYTYPE_RSA, &br_sha384_vtable, BR_HASH_OID_SHA384),
    SIGALG(
	OID_RSA_SHA512, BR_KEYTYPE_RSA, &br_sha512_vtable, BR_HASH_OID_SHA512),
};

/* The algorithm our key signs with: ECDSA-SHA256/384, RSA-SHA256. */
static const struct sigalg *
sigalg_of(const struct pki_key *key)
{
	if (key->type == PKI_KEY_P256)
		return &sigalgs[0];
	if (key->type == PKI_KEY_P384)
		return &sigalgs[1];
	return &sigalgs[3];
}

static void
hash_of(const br_hash_class *h, const void *p, size_t n, uint8_t *out)
{
	br_hash_compat_context hc;

	h->init(&hc.vtable);
	h->update(&hc.vtable, p, n);
	h->out(&hc.vtable, out);
}

/* see pki_int.h */
void
pki_sigalg_put(struct buf *b, const struct pki_key *key)
{
	const struct sigalg *a = sigalg_of(key);
	size_t pos = der_begin(b, DER_SEQUENCE);

	der_put(b, DER_OID, a->oid, a->oidlen);
	if (a->key_type == BR_KEYTYPE_RSA)
		der_put(b, DER_NULL, NULL, 0); /* RFC 4055: NULL parameters */
	der_end(b, pos);
}

/* Sign n bytes at p; returns the signature length, 0 on failure. */
static size_t
sign_bytes(const struct pki_key *key, const uint8_t *p, size_t n,
    uint8_t sig[PKI_SIG_MAX])
{
	const struct sigalg *a = sigalg_of(key);
	const br_rsa_private_key *rsa;
	uint8_t hash[64];

	hash_of(a->hash, p, n, hash);
	if (a->key_type == BR_KEYTYPE_EC)
		return br_ecdsa_sign_asn1_get_default()(br_ec_get_default(),
		    a->hash, hash, br_skey_decoder_get_ec(&key->k.dc), sig);
	rsa = br_skey_decoder_get_rsa(&key->k.dc);
	if ((rsa->n_bitlen + 7) / 8 > PKI_SIG_MAX ||
	    !br_rsa_pkcs1_sign_get_default()(a->hash_oid, hash,
		(a->hash->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK,
		rsa, sig))
		return 0;
	return (rsa->n_bitlen + 7) / 8;
}

/* see pki_int.h */
int
pki_sign_append(const struct pki_key *key, struct buf *b, size_t tbs, char *err,
    size_t errlen)
{
	uint8_t sig[PKI_SIG_MAX];
	size_t len, pos;

	if (b->overflow) {
		snprintf(
		    err, errlen, "output does not fit in %zu bytes", b->cap);
		return -1;
	}
	if ((len = sign_bytes(key, b->p + tbs, b->len - tbs, sig)) == 0) {
		snprintf(err, errlen, "signing failed");
		return -1;
	}
	pki_sigalg_put(b, key);
	pos = der_begin(b, DER_BIT_STRING);
	buf_add(b, "", 1); /* no unused bits */
	buf_add(b, sig, len);
	der_end(b, pos);
	return 0;
}

/* see pki_int.h */
int
pki_verify(const br_x509_pkey *pk, const struct der *alg, const struct der *tbs,
    const struct der *sig, const char *what, char *err, size_t errlen)
{
	struct der in = *alg, oid;
	const struct sigalg *a = NULL;
	uint8_t hash[64], got[64];
	size_t i, hlen;
	bool ok;

	if (der_take(&in, DER_OID, &oid) < 0)
		goto bad;
	for (i = 0; i < nitems(sigalgs); i++)
		if (der_is(&oid, sigalgs[i].oid, sigalgs[i].oidlen))
			a = &sigalgs[i];
	if (a == NULL || a->key_type != pk->key_type) {
		snprintf(
		    err, errlen, "%s: unsupported signature algorithm", what);
		return -1;
	}
	/* ECDSA has no parameters; RSA NULL (or none, RFC 4055). */
	if (in.len != 0 &&
	    (a->key_type == BR_KEYTYPE_EC ||
		der_take(&in, DER_NULL, &oid) < 0 || oid.len != 0 ||
		in.len != 0))
		goto bad;
	hlen = (a->hash->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK;
	hash_of(a->hash, tbs->p, tbs->len, hash);
	if (a->key_type == BR_KEYTYPE_EC)
		ok = br_ecdsa_vrfy_asn1_get_default()(br_ec_get_default(), hash,
		    hlen, &pk->key.ec, sig->p, sig->len);
	else
		ok = br_rsa_pkcs1_vrfy_get_default()(sig->p, sig->len,
			 a->hash_oid, hlen, &pk->key.rsa, got) &&
		    memcmp(got, hash, hlen) == 0;
	if (!ok) {
		snprintf(err, errlen, "%s: bad signature", what);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: malformed signature algorithm", what);
	return -1;
}

/* RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER } */
static void
rsa_pub_put(struct buf *b, const br_rsa_public_key *rsa)
{
	size_t pos = der_begin(b, DER_SEQUENCE);

	der_put_uint(b, rsa->n, rsa->nlen);
	der_put_uint(b, rsa->e, rsa->elen);
	der_end(b, pos);
}

/* see pki_int.h */
void
pki_spki_put(struct buf *b, const br_x509_pkey *pk)
{
	size_t pos = der_begin(b, DER_SEQUENCE), alg, bits;

	alg = der_begin(b, DER_SEQUENCE);
	if (pk->key_type == BR_KEYTYPE_EC) {
		DER_PUT_OID(b, OID_EC);
		if (pk->key.ec.curve == BR_EC_secp256r1)
			DER_PUT_OID(b, OID_P256);
		else
			DER_PUT_OID(b, OID_P384);
	} else {
		DER_PUT_OID(b, OID_RSA);
		der_put(b, DER_NULL, NULL, 0);
	}
	der_end(b, alg);
	bits = der_begin(b, DER_BIT_STRING);
	buf_add(b, "", 1);
	if (pk->key_type == BR_KEYTYPE_EC)
		buf_add(b, pk->key.ec.q, pk->key.ec.qlen);
	else
		rsa_pub_put(b, &pk->key.rsa);
	der_end(b, bits);
	der_end(b, pos);
}

/* see pki_int.h */
void
pki_key_id(const br_x509_pkey *pk, uint8_t id[20])
{
	uint8_t mem[BR_X509_BUFSIZE_KEY + 16];
	struct buf b;

	if (pk->key_type == BR_KEYTYPE_EC) {
		hash_of(&br_sha1_vtable, pk->key.ec.q, pk->key.ec.qlen, id);
		return;
	}
	buf_init(&b, mem, sizeof(mem));
	rsa_pub_put(&b, &pk->key.rsa);
	hash_of(&br_sha1_vtable, b.p, b.len, id);
}

/* Bits in a big-endian magnitude without leading zeros. */
static unsigned
uint_bits(const struct der *m)
{
	unsigned bits = (unsigned)(m->len - 1) * 8;
	uint8_t top = m->p[0];

	while (top != 0) {
		bits++;
		top >>= 1;
	}
	return bits;
}

static int
spki_rsa(struct der bits, br_x509_pkey *pk, uint8_t *keybuf, const char *what,
    char *err, size_t errlen)
{
	struct der seq, n, e;
	unsigned nbits;

	if (der_take(&bits, DER_SEQUENCE, &seq) < 0 || bits.len != 0 ||
	    der_take(&seq, DER_INTEGER, &n) < 0 || der_uint(&n, &n) < 0 ||
	    der_take(&seq, DER_INTEGER, &e) < 0 || der_uint(&e, &e) < 0 ||
	    seq.len != 0 || e.len > 4 || !(e.p[e.len - 1] & 1)) {
		snprintf(err, errlen, "%s: malformed RSA public key", what);
		return -1;
	}
	nbits = uint_bits(&n);
	if (nbits < 2048 || nbits > PKI_RSA_MAX_BITS) {
		snprintf(err, errlen, "%s: RSA key of %u bits, %s", what, nbits,
		    nbits < 2048 ? "2048 required" : "over 4096 unsupported");
		return -1;
	}
	memcpy(keybuf, n.p, n.len);
	memcpy(keybuf + n.len, e.p, e.len);
	pk->key_type = BR_KEYTYPE_RSA;
	pk->key.rsa = (br_rsa_public_key){
	    .n = keybuf, .nlen = n.len, .e = keybuf + n.len, .elen = e.len};
	return 0;
}

static int
spki_ec(struct der params, struct der bits, br_x509_pkey *pk, uint8_t *keybuf,
    const char *what, char *err, size_t errlen)
{
	struct der curve;
	size_t qlen;
	int id;

	if (der_take(&params, DER_OID, &curve) < 0 || params.len != 0) {
		snprintf(err, errlen, "%s: EC key without a named curve", what);
		return -1;
	}
	if (DER_IS_OID(&curve, OID_P256)) {
		id = BR_EC_secp256r1;
		qlen = 65;
	} else if (DER_IS_OID(&curve, OID_P384)) {
		id = BR_EC_secp384r1;
		qlen = 97;
	} else {
		snprintf(err, errlen,
		    "%s: EC curve unsupported (P-256 or P-384 required)", what);
		return -1;
	}
	if (bits.len != qlen || bits.p[0] != 0x04) {
		snprintf(err, errlen,
		    "%s: EC public key is not an uncompressed point", what);
		return -1;
	}
	memcpy(keybuf, bits.p, qlen);
	pk->key_type = BR_KEYTYPE_EC;
	pk->key.ec = (br_ec_public_key){.curve = id, .q = keybuf, .qlen = qlen};
	return 0;
}

/* see pki_int.h */
int
pki_spki_get(const struct der *spki, br_x509_pkey *pk, uint8_t *keybuf,
    const char *what, char *err, size_t errlen)
{
	struct der in = *spki, alg, oid, bits;

	if (der_take(&in, DER_SEQUENCE, &alg) < 0 ||
	    der_take(&alg, DER_OID, &oid) < 0 ||
	    der_take(&in, DER_BIT_STRING, &bits) < 0 || in.len != 0 ||
	    bits.len < 2 || bits.p[0] != 0) {
		snprintf(err, errlen, "%s: malformed public key", what);
		return -1;
	}
	bits.p++;
	bits.len--;
	if (DER_IS_OID(&oid, OID_EC))
		return spki_ec(alg, bits, pk, keybuf, what, err, errlen);
	if (DER_IS_OID(&oid, OID_RSA)) {
		if (alg.len != 0 && !der_is(&alg, "\x05\x00", 2)) {
			snprintf(err, errlen,
			    "%s: RSA key with parameters unsupported", what);
			return -1;
		}
		return spki_rsa(bits, pk, keybuf, what, err, errlen);
	}
	snprintf(err, errlen,
	    "%s: key algorithm unsupported (EC P-256/P-384 or RSA)", what);
	return -1;
}

/* see pki_int.h */
void
pki_name_put(struct buf *b, const char *cn)
{
	size_t name = der_begin(b, DER_SEQUENCE), rdn, atv;

	if (cn != NULL && cn[0] != '\0') {
		rdn = der_begin(b, DER_SET);
		atv = der_begin(b, DER_SEQUENCE);
		DER_PUT_OID(b, OID_CN);
		der_put(b, DER_UTF8, cn, strlen(cn));
		der_end(b, atv);
		der_end(b, rdn);
	}
	der_end(b, name);
}

/* see pki_int.h */
size_t
pki_ext_begin(
    struct buf *b, const char *oid, size_t oidlen, bool critical, size_t *os)
{
	size_t ext = der_begin(b, DER_SEQUENCE);

	der_put(b, DER_OID, oid, oidlen);
	if (critical)
		der_put(b, DER_BOOLEAN, "\xff", 1);
	*os = der_begin(b, DER_OCTET_STRING);
	return ext;
}

/* see pki_int.h */
void
pki_ext_end(struct buf *b, size_t ext, size_t os)
{
	der_end(b, os);
	der_end(b, ext);
}

/* see pki_int.h */
int
pki_ext_next(struct der *exts, struct der *oid, struct der *value)
{
	struct der ext, crit;

	if (der_take(exts, DER_SEQUENCE, &ext) < 0 ||
	    der_take(&ext, DER_OID, oid) < 0 ||
	    (der_peek(&ext, DER_BOOLEAN) &&
		der_take(&ext, DER_BOOLEAN, &crit) < 0) ||
	    der_take(&ext, DER_OCTET_STRING, value) < 0 || ext.len != 0)
		return -1;
	return 0;
}

/* see pki_int.h */
void
pki_san_put(struct buf *b, const char *const *uris, size_t nuris,
    const char *const *dns, size_t ndns, bool critical)
{
	size_t os,
	    ext = pki_ext_begin(b, OID_SAN, sizeof(OID_SAN) - 1, critical, &os);
	size_t names = der_begin(b, DER_SEQUENCE), i;

	for (i = 0; i < nuris; i++)
		der_put(b, DER_CTX_PRIM(6), uris[i], strlen(uris[i]));
	for (i = 0; i < ndns; i++)
		der_put(b, DER_CTX_PRIM(2), dns[i], strlen(dns[i]));
	der_end(b, names);
	pki_ext_end(b, ext, os);
}

/* see pki_int.h */
bool
pki_name_ok(const char *s, size_t n, bool text)
{
	size_t i;
	uint8_t c;

	if (n == 0 || n > PKI_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		c = (uint8_t)s[i];
		if (c < 0x20 || c == 0x7f || (c == ' ' && !text) ||
		    (c > 0x7f && !text))
			return false;
	}
	return true;
}
