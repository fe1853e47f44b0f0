/*
 * pki_key.c — private keys: generation with BearSSL's generators, loading
 * through the TLS_KEY decoder (tls_ident.c), PKCS#8 PEM, the public half.
 * Generated keys go through PKCS#8 into the same decoder, so a key has one
 * representation whatever its origin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "tls/pki_int.h"

#define PKI_RSA_E 65537
#define PKI_PKCS8_MAX 2600 /* RSA-4096 PKCS#8 DER is ~2.4 KiB */

static const struct {
	const char *name;
	int curve; /* EC curve, or 0 for RSA */
	unsigned bits;
} key_types[] = {
    [PKI_KEY_P256] = {"p256", BR_EC_secp256r1, 256},
    [PKI_KEY_P384] = {"p384", BR_EC_secp384r1, 384},
    [PKI_KEY_RSA2048] = {"rsa2048", 0, 2048},
    [PKI_KEY_RSA3072] = {"rsa3072", 0, 3072},
    [PKI_KEY_RSA4096] = {"rsa4096", 0, 4096},
};

/* see pki.h */
enum pki_key_type
pki_key_type_parse(const char *name)
{
	size_t i;

	for (i = PKI_KEY_P256; i < nitems(key_types); i++)
		if (strcmp(name, key_types[i].name) == 0)
			return (enum pki_key_type)i;
	return 0;
}

/* see pki.h */
const char *
pki_key_type_name(enum pki_key_type type)
{
	if (type < PKI_KEY_P256 || (size_t)type >= nitems(key_types))
		return "?";
	return key_types[type].name;
}

/* see pki.h */
enum pki_key_type
pki_key_type(const struct pki_key *key)
{
	return key->type;
}

/* True when the big-endian x[0..n) is 2. */
static bool
is_two(const uint8_t *x, size_t n)
{
	uint8_t acc = x[n - 1] ^ 2;
	size_t i;

	for (i = 0; i + 1 < n; i++)
		acc |= x[i];
	return acc == 0;
}

/*
 * The public exponent of an RSA key.  BearSSL's br_rsa_compute_pubexp
 * only works for primes = 3 mod 4 (its own keygen's); keys from other
 * tools often are not.  So try the exponents in use: the right one makes
 * a public then private operation the identity.  0 when none fits.
 */
static uint32_t
rsa_pubexp(const br_rsa_private_key *sk, br_rsa_public_key *pk)
{
	static const uint32_t es[] = {PKI_RSA_E, 3, 5, 17, 257};
	uint8_t x[512], e[4];
	size_t i;

	if (pk->nlen > sizeof(x))
		return 0;
	for (i = 0; i < nitems(es); i++) {
		e[0] = (uint8_t)(es[i] >> 24);
		e[1] = (uint8_t)(es[i] >> 16);
		e[2] = (uint8_t)(es[i] >> 8);
		e[3] = (uint8_t)es[i];
		pk->e = e;
		pk->elen = 4;
		memset(x, 0, pk->nlen);
		x[pk->nlen - 1] = 2;
		if (br_rsa_public_get_default()(x, pk->nlen, pk) &&
		    br_rsa_private_get_default()(x, sk) &&
		    is_two(x, pk->nlen)) {
			pk->e = NULL;
			return es[i];
		}
	}
	pk->e = NULL;
	return 0;
}

/*
 * The public half of ec or rsa (one non-NULL) into pub; its bytes go to
 * buf (BR_X509_BUFSIZE_KEY).  0 or -1.
 */
static int
key_public(const br_ec_private_key *ec, const br_rsa_private_key *rsa,
    br_x509_pkey *pub, uint8_t *buf)
{
	br_rsa_public_key *rp = &pub->key.rsa;
	uint32_t ev;
	size_t i;

	if (ec != NULL) {
		pub->key_type = BR_KEYTYPE_EC;
		return br_ec_compute_pub(
			   br_ec_get_default(), &pub->key.ec, buf, ec) > 0
		    ? 0
		    : -1;
	}
	pub->key_type = BR_KEYTYPE_RSA;
	rp->n = buf;
	rp->nlen = tls_rsa_modulus(NULL, rsa);
	if (rp->nlen == 0 || rp->nlen + 4 > BR_X509_BUFSIZE_KEY ||
	    tls_rsa_modulus(buf, rsa) != rp->nlen ||
	    (ev = rsa_pubexp(rsa, rp)) == 0)
		return -1;
	for (i = 0; i < 4; i++)
		buf[rp->nlen + i] = (uint8_t)(ev >> (24 - 8 * i));
	rp->e = buf + rp->nlen;
	rp->elen = 4;
	while (rp->elen > 1 && rp->e[0] == 0) {
		rp->e++;
		rp->elen--;
	}
	return 0;
}

/* Fill the type and the public half from the decoded private key. */
static int
key_finish(struct pki_key *key, char *err, size_t errlen)
{
	const br_ec_private_key *ec = br_skey_decoder_get_ec(&key->k.dc);
	const br_rsa_private_key *rsa = br_skey_decoder_get_rsa(&key->k.dc);

	if (key_public(ec, rsa, &key->pub, key->pubbuf) < 0) {
		snprintf(err, errlen,
		    "key: cannot compute the public key (RSA exponents "
		    "supported: 65537, 3, 5, 17, 257)");
		return -1;
	}
	if (ec != NULL)
		key->type =
		    ec->curve == BR_EC_secp256r1 ? PKI_KEY_P256 : PKI_KEY_P384;
	else
		key->type = rsa->n_bitlen <= 2048 ? PKI_KEY_RSA2048
		    : rsa->n_bitlen <= 3072	  ? PKI_KEY_RSA3072
						  : PKI_KEY_RSA4096;
	return 0;
}

/*
 * PKCS#8 DER of an EC or RSA private key (exactly one non-NULL) whose
 * public half is pub.  Returns the length, 0 on failure.
 */
static size_t
key_pkcs8(const br_ec_private_key *ec, const br_rsa_private_key *rsa,
    const br_x509_pkey *pub, uint8_t der[PKI_PKCS8_MAX])
{
	const br_rsa_public_key *rp = &pub->key.rsa;
	uint8_t d[512];
	uint32_t ev = 0;
	size_t len = 0, dlen, i;

	if (ec != NULL) {
		len = br_encode_ec_pkcs8_der(NULL, ec, &pub->key.ec);
		return len > 0 && len <= PKI_PKCS8_MAX
		    ? br_encode_ec_pkcs8_der(der, ec, &pub->key.ec)
		    : 0;
	}
	for (i = 0; i < rp->elen; i++)
		ev = ev << 8 | rp->e[i];
	dlen = br_rsa_compute_privexp_get_default()(d, rsa, ev);
	if (dlen > 0)
		len = br_encode_rsa_pkcs8_der(NULL, rsa, rp, d, dlen);
	if (len > 0 && len <= PKI_PKCS8_MAX)
		len = br_encode_rsa_pkcs8_der(der, rsa, rp, d, dlen);
	else
		len = 0;
	util_wipe(d, sizeof(d));
	return len;
}

/* Generate the private key of one type into sk_ec or sk_rsa. */
static int
key_gen_raw(enum pki_key_type type, const br_prng_class **rng,
    br_ec_private_key *ec, br_rsa_private_key *rsa, uint8_t *kbuf)
{
	if (key_types[type].curve != 0)
		return br_ec_keygen(rng, br_ec_get_default(), ec, kbuf,
			   key_types[type].curve) > 0
		    ? 0
		    : -1;
	return br_rsa_keygen_get_default()(
		   rng, rsa, kbuf, NULL, NULL, key_types[type].bits, PKI_RSA_E)
	    ? 0
	    : -1;
}

/* Everything secret generate() handles, wiped in one place. */
struct keygen {
	br_hmac_drbg_context rng;
	uint8_t seed[32];
	br_ec_private_key ec;
	br_rsa_private_key rsa;
	uint8_t kbuf[BR_RSA_KBUF_PRIV_SIZE(4096)];
	br_x509_pkey pub;
	uint8_t pubbuf[BR_X509_BUFSIZE_KEY];
	uint8_t der[PKI_PKCS8_MAX];
};

/* see pki.h */
int
pki_key_generate(
    enum pki_key_type type, struct pki_key **out, char *err, size_t errlen)
{
	struct keygen *g = NULL;
	struct pki_key *key = NULL;
	const br_ec_private_key *ec;
	const br_rsa_private_key *rsa;
	size_t len;
	int rc = -1;

	if (type < PKI_KEY_P256 || (size_t)type >= nitems(key_types)) {
		snprintf(err, errlen, "keygen: unknown key type %d", type);
		return -1;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (key = calloc(1, sizeof(*key))) == NULL) {
		snprintf(err, errlen, "keygen: out of memory");
		goto done;
	}
	if (util_random(g->seed, sizeof(g->seed)) < 0) {
		snprintf(err, errlen, "keygen: getrandom failed");
		goto done;
	}
	br_hmac_drbg_init(&g->rng, &br_sha256_vtable, g->seed, sizeof(g->seed));
	ec = key_types[type].curve ? &g->ec : NULL;
	rsa = ec ? NULL : &g->rsa;
	if (key_gen_raw(type, &g->rng.vtable, &g->ec, &g->rsa, g->kbuf) < 0 ||
	    key_public(ec, rsa, &g->pub, g->pubbuf) < 0 ||
	    (len = key_pkcs8(ec, rsa, &g->pub, g->der)) == 0) {
		snprintf(err, errlen, "keygen: %s generation failed",
		    key_types[type].name);
		goto done;
	}
	br_skey_decoder_init(&key->k.dc);
	br_skey_decoder_push(&key->k.dc, g->der, len);
	key->k.type = br_skey_decoder_key_type(&key->k.dc);
	if (key->k.type == 0 || key_finish(key, err, errlen) < 0)
		goto done;
	*out = key;
	key = NULL;
	rc = 0;
done:
	if (g != NULL)
		util_wipe(g, sizeof(*g));
	free(g);
	pki_key_free(key);
	return rc;
}

/* see pki.h */
int
pki_key_load(struct pki_key **out, const void *pem, size_t len,
    const char *what, char *err, size_t errlen)
{
	struct pki_key *key = calloc(1, sizeof(*key));

	if (key == NULL) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -1;
	}
	if (tls_key_load(&key->k, pem, len, what, err, errlen) < 0 ||
	    key_finish(key, err, errlen) < 0) {
		pki_key_free(key);
		return -1;
	}
	*out = key;
	return 0;
}

/* see pki.h */
void
pki_key_free(struct pki_key *key)
{
	if (key == NULL)
		return;
	util_wipe(key, sizeof(*key));
	free(key);
}

/* see pki.h */
int
pki_key_pem(
    const struct pki_key *key, struct buf *out, char *err, size_t errlen)
{
	uint8_t der[PKI_PKCS8_MAX];
	size_t len;
	int rc;

	len = key_pkcs8(br_skey_decoder_get_ec(&key->k.dc),
	    br_skey_decoder_get_rsa(&key->k.dc), &key->pub, der);
	if (len == 0) {
		snprintf(err, errlen, "key: PKCS#8 encoding failed");
		return -1;
	}
	rc = pki_pem("PRIVATE KEY", der, len, out, err, errlen);
	util_wipe(der, sizeof(der));
	return rc;
}

/* see pki.h */
void
pki_key_public(const struct pki_key *key, br_x509_pkey *pk)
{
	*pk = key->pub;
}

/* see pki.h */
int
pki_pem(const char *label, const void *der, size_t len, struct buf *out,
    char *err, size_t errlen)
{
	size_t need = br_pem_encode(NULL, der, len, label, BR_PEM_LINE64);
	size_t room;
	uint8_t *p = buf_tail(out, &room);

	if (need >= room) {
		snprintf(err, errlen, "%s: PEM does not fit in %zu bytes",
		    label, room);
		return -1;
	}
	br_pem_encode(p, der, len, label, BR_PEM_LINE64);
	buf_commit(out, need);
	return 0;
}
