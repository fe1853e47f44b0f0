/*
 * tls_ident.c — our own identity: a certificate chain and its private key
 * (EC P-256/P-384 in SEC1 or PKCS#8, RSA >= 2048 in PKCS#1 or PKCS#8),
 * decoded with br_skey_decoder and checked against the leaf certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pem.h"
#include "lib/util.h"
#include "tls/tls_int.h"

static int
chain_add(const char *name, const uint8_t *der, size_t len, void *arg,
    char *err, size_t errlen)
{
	struct tls_chain *ch = arg;
	br_x509_certificate *c;

	if (strstr(name, "PRIVATE KEY") != NULL)
		return 0; /* a combined cert+key file: the key is read apart */
	if (strcmp(name, "CERTIFICATE") != 0) {
		snprintf(err, errlen, "TLS_CERT: unexpected PEM object \"%s\"",
		    name);
		return -1;
	}
	if (ch->n == TLS_CHAIN_MAX) {
		snprintf(err, errlen, "TLS_CERT: more than %d certificates",
		    TLS_CHAIN_MAX);
		return -1;
	}
	c = &ch->certs[ch->n];
	if ((c->data = malloc(len)) == NULL) {
		snprintf(err, errlen, "TLS_CERT: out of memory");
		return -1;
	}
	memcpy(c->data, der, len);
	c->data_len = len;
	ch->n++;
	return 0;
}

/* One private key being read: where it goes and what names it in errors. */
struct key_ctx {
	struct tls_key *k;
	const char *what;
};

/* Check type and strength of the key the decoder produced. */
static int
key_check(struct tls_key *k, const char *what, char *err, size_t errlen)
{
	const br_ec_private_key *ec;
	const br_rsa_private_key *rsa;

	k->type = br_skey_decoder_key_type(&k->dc);
	if (k->type == BR_KEYTYPE_RSA) {
		rsa = br_skey_decoder_get_rsa(&k->dc);
		if (rsa->n_bitlen < 2048) {
			snprintf(err, errlen,
			    "%s: RSA key of %u bits, 2048 required", what,
			    (unsigned)rsa->n_bitlen);
			return -1;
		}
		return 0;
	}
	if (k->type == BR_KEYTYPE_EC) {
		ec = br_skey_decoder_get_ec(&k->dc);
		if (ec->curve != BR_EC_secp256r1 &&
		    ec->curve != BR_EC_secp384r1) {
			snprintf(err, errlen,
			    "%s: EC curve %d unsupported (P-256, P-384)", what,
			    ec->curve);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "%s: key does not parse (BearSSL error %d)", what,
	    br_skey_decoder_last_error(&k->dc));
	return -1;
}

static int
key_add(const char *name, const uint8_t *der, size_t len, void *arg, char *err,
    size_t errlen)
{
	struct key_ctx *kc = arg;
	struct tls_key *k = kc->k;

	if (strcmp(name, "EC PARAMETERS") == 0 ||
	    strcmp(name, "CERTIFICATE") == 0)
		return 0; /* ecparam -genkey output; a combined cert+key file */
	if (strcmp(name, "PRIVATE KEY") != 0 &&
	    strcmp(name, "EC PRIVATE KEY") != 0 &&
	    strcmp(name, "RSA PRIVATE KEY") != 0) {
		snprintf(err, errlen, "%s: unsupported PEM object \"%s\"%s",
		    kc->what, name,
		    strstr(name, "ENCRYPTED") ? " (encrypted keys unsupported)"
					      : "");
		return -1;
	}
	if (k->type != 0) {
		snprintf(
		    err, errlen, "%s: more than one private key", kc->what);
		return -1;
	}
	br_skey_decoder_init(&k->dc);
	br_skey_decoder_push(&k->dc, der, len);
	return key_check(k, kc->what, err, errlen);
}

/* see tls_int.h */
int
tls_key_load(struct tls_key *k, const void *pem, size_t len, const char *what,
    char *err, size_t errlen)
{
	struct key_ctx kc = {.k = k, .what = what};

	memset(k, 0, sizeof(*k));
	if (pem_each(pem, len, what, key_add, &kc, err, errlen) < 0)
		goto fail;
	if (k->type == 0) {
		snprintf(err, errlen, "%s: no private key found", what);
		goto fail;
	}
	return 0;
fail:
	util_wipe(k, sizeof(*k));
	return -1;
}

/* The public half of our key, computed from the private key. */
static bool
key_matches(const struct tls_key *k, const br_x509_pkey *pk)
{
	const br_rsa_private_key *rsa;
	const br_ec_private_key *ec;
	uint8_t buf[BR_EC_KBUF_PUB_MAX_SIZE > 1024 ? BR_EC_KBUF_PUB_MAX_SIZE
						   : 1024];
	br_ec_public_key pub;
	const uint8_t *n;
	size_t len, nlen;

	if (pk->key_type != k->type)
		return false;
	if (k->type == BR_KEYTYPE_EC) {
		ec = br_skey_decoder_get_ec(&k->dc);
		len = br_ec_compute_pub(br_ec_get_default(), &pub, buf, ec);
		return len > 0 && pub.curve == pk->key.ec.curve &&
		    len == pk->key.ec.qlen &&
		    memcmp(buf, pk->key.ec.q, len) == 0;
	}
	rsa = br_skey_decoder_get_rsa(&k->dc);
	len = tls_rsa_modulus(NULL, rsa);
	if (len == 0 || len > sizeof(buf) || tls_rsa_modulus(buf, rsa) != len)
		return false;
	/* The certificate's modulus may carry leading zeros. */
	n = pk->key.rsa.n;
	nlen = pk->key.rsa.nlen;
	while (nlen > len && *n == 0) {
		n++;
		nlen--;
	}
	return nlen == len && memcmp(n, buf, len) == 0;
}

/* Decode the leaf; it must carry the public half of our key. */
static int
ident_check(struct tls_ident *id, char *err, size_t errlen)
{
	const br_x509_certificate *leaf = &id->chain.certs[0];
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;

	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, leaf->data, leaf->data_len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL) {
		snprintf(err, errlen,
		    "TLS_CERT: certificate does not parse (BearSSL error %d)",
		    br_x509_decoder_last_error(&dc));
		return -1;
	}
	if (!key_matches(&id->key, pk)) {
		snprintf(err, errlen,
		    "TLS_KEY: key does not match the TLS_CERT certificate");
		return -1;
	}
	id->issuer_type = br_x509_decoder_get_signer_key_type(&dc);
	if (id->issuer_type == 0)
		id->issuer_type = BR_KEYTYPE_EC;
	return 0;
}

/* see tls_int.h */
int
tls_ident_load(struct tls_ident *id, const void *cert, size_t cert_len,
    const void *key, size_t key_len, char *err, size_t errlen)
{
	memset(id, 0, sizeof(*id));
	id->chain.certs = calloc(TLS_CHAIN_MAX, sizeof(*id->chain.certs));
	if (id->chain.certs == NULL) {
		snprintf(err, errlen, "TLS_CERT: out of memory");
		return -1;
	}
	if (pem_each(cert, cert_len, "TLS_CERT", chain_add, &id->chain, err,
		errlen) < 0)
		goto fail;
	if (id->chain.n == 0) {
		snprintf(err, errlen, "TLS_CERT: no certificate found");
		goto fail;
	}
	if (tls_key_load(&id->key, key, key_len, "TLS_KEY", err, errlen) < 0)
		goto fail;
	if (ident_check(id, err, errlen) == 0)
		return 0;
fail:
	tls_ident_free(id);
	return -1;
}

/* see tls_int.h */
void
tls_ident_free(struct tls_ident *id)
{
	size_t i;

	for (i = 0; i < id->chain.n; i++)
		free(id->chain.certs[i].data);
	free(id->chain.certs);
	util_wipe(&id->key, sizeof(id->key));
	memset(id, 0, sizeof(*id));
}
