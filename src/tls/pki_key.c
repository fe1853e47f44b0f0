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

/* Fill the type and the public half from the decoded private key. */
static int
key_finish(struct pki_key *key, char *err, size_t errlen)
{
	const br_ec_private_key *ec = br_skey_decoder_get_ec(&key->k.dc);
	const br_rsa_private_key *rsa = br_skey_decoder_get_rsa(&key->k.dc);
	br_ec_public_key pub;
	br_rsa_public_key *rp = &key->pub.key.rsa;
	uint8_t *e;
	uint32_t ev;

	key->pub.key_type = (unsigned char)key->k.type;
	if (ec != NULL) {
		key->type =
		    ec->curve == BR_EC_secp256r1 ? PKI_KEY_P256 : PKI_KEY_P384;
		if (br_ec_compute_pub(
			br_ec_get_default(), &pub, key->pubbuf, ec) == 0)
			goto fail;
		key->pub.key.ec = pub;
		return 0;
	}
	key->type = rsa->n_bitlen <= 2048 ? PKI_KEY_RSA2048
	    : rsa->n_bitlen <= 3072	  ? PKI_KEY_RSA3072
					  : PKI_KEY_RSA4096;
	rp->n = key->pubbuf;
	rp->nlen = tls_rsa_modulus(NULL, rsa);
	ev = br_rsa_compute_pubexp_get_default()(rsa);
	if (rp->nlen == 0 || rp->nlen + 4 > sizeof(key->pubbuf) || ev == 0 ||
	    tls_rsa_modulus(rp->n, rsa) != rp->nlen)
		goto fail;
	e = key->pubbuf + rp->nlen;
	e[0] = (uint8_t)(ev >> 24);
	e[1] = (uint8_t)(ev >> 16);
	e[2] = (uint8_t)(ev >> 8);
	e[3] = (uint8_t)ev;
	rp->e = e;
	rp->elen = 4;
	while (rp->elen > 1 && rp->e[0] == 0) {
		rp->e++;
		rp->elen--;
	}
	return 0;
fail:
	snprintf(err, errlen, "key: cannot compute the public key");
	return -1;
}

/*
 * PKCS#8 DER of an EC or RSA private key (exactly one non-NULL), the
 * public parts recomputed.  Returns the length, 0 on failure.
 */
static size_t
key_pkcs8(const br_ec_private_key *ec, const br_rsa_private_key *rsa,
    uint8_t der[PKI_PKCS8_MAX])
{
	uint8_t pubbuf[BR_EC_KBUF_PUB_MAX_SIZE], n[512], d[512];
	br_ec_public_key ecpub;
	br_rsa_public_key rpub;
	uint8_t e[4];
	uint32_t ev;
	size_t len = 0, dlen;

	if (ec != NULL) {
		if (br_ec_compute_pub(br_ec_get_default(), &ecpub, pubbuf, ec))
			len = br_encode_ec_pkcs8_der(NULL, ec, &ecpub);
		if (len > 0 && len <= PKI_PKCS8_MAX)
			return br_encode_ec_pkcs8_der(der, ec, &ecpub);
		return 0;
	}
	ev = br_rsa_compute_pubexp_get_default()(rsa);
	e[0] = (uint8_t)(ev >> 24);
	e[1] = (uint8_t)(ev >> 16);
	e[2] = (uint8_t)(ev >> 8);
	e[3] = (uint8_t)ev;
	rpub = (br_rsa_public_key){.n = n, .e = e, .elen = 4};
	rpub.nlen = tls_rsa_modulus(NULL, rsa);
	if (ev == 0 || rpub.nlen == 0 || rpub.nlen > sizeof(n))
		return 0;
	tls_rsa_modulus(n, rsa);
	dlen = br_rsa_compute_privexp_get_default()(d, rsa, ev);
	if (dlen > 0)
		len = br_encode_rsa_pkcs8_der(NULL, rsa, &rpub, d, dlen);
	if (len > 0 && len <= PKI_PKCS8_MAX)
		len = br_encode_rsa_pkcs8_der(der, rsa, &rpub, d, dlen);
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
	uint8_t der[PKI_PKCS8_MAX];
};

/* see pki.h */
int
pki_key_generate(
    enum pki_key_type type, struct pki_key **out, char *err, size_t errlen)
{
	struct keygen *g = NULL;
	struct pki_key *key = NULL;
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
	if (key_gen_raw(type, &g->rng.vtable, &g->ec, &g->rsa, g->kbuf) < 0 ||
	    (len = key_pkcs8(key_types[type].curve ? &g->ec : NULL,
		 key_types[type].curve ? NULL : &g->rsa, g->der)) == 0) {
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
	    br_skey_decoder_get_rsa(&key->k.dc), der);
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
