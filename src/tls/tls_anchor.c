/*
 * tls_anchor.c — trust anchors from PEM certificates (CA file or the
 * system bundle), decoded with br_x509_decoder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pem.h"
#include "lib/util.h"
#include "tls/tls_int.h"

struct dn_buf {
	uint8_t p[1024];
	size_t len;
	bool overflow;
};

struct anchor_ctx {
	struct tls_anchors *a;
	const char *what;
	bool lenient;
	size_t skipped;
};

static void
dn_append(void *ctx, const void *src, size_t len)
{
	struct dn_buf *d = ctx;

	if (len > sizeof(d->p) - d->len) {
		d->overflow = true;
		return;
	}
	memcpy(d->p + d->len, src, len);
	d->len += len;
}

static void *
dup_bytes(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q != NULL)
		memcpy(q, p, n);
	return q;
}

/* Copy the public key out of the decoder into ta; false on ENOMEM. */
static bool
anchor_key(br_x509_trust_anchor *ta, const br_x509_pkey *pk)
{
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
		return ta->pkey.key.rsa.n != NULL && ta->pkey.key.rsa.e != NULL;
	}
	ta->pkey.key.ec.curve = pk->key.ec.curve;
	ta->pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
	ta->pkey.key.ec.qlen = pk->key.ec.qlen;
	return ta->pkey.key.ec.q != NULL;
}

static void
anchor_free(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		free(ta->pkey.key.rsa.n);
		free(ta->pkey.key.rsa.e);
	} else {
		free(ta->pkey.key.ec.q);
	}
}

/* One decoded certificate becomes one anchor (CA flag from the cert). */
static int
anchor_add(const char *name, const uint8_t *der, size_t len, void *arg,
    char *err, size_t errlen)
{
	struct anchor_ctx *x = arg;
	br_x509_decoder_context dc;
	br_x509_trust_anchor *ta;
	const br_x509_pkey *pk;
	struct dn_buf dn = {.len = 0};

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0)
		return 0; /* bundles may hold other objects */
	br_x509_decoder_init(&dc, dn_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || dn.overflow) {
		if (x->lenient) {
			x->skipped++;
			return 0;
		}
		snprintf(err, errlen,
		    "%s: certificate %zu does not parse "
		    "(BearSSL error %d)",
		    x->what, x->a->n + 1, br_x509_decoder_last_error(&dc));
		return -1;
	}
	if (x->a->n == TLS_ANCHORS_MAX) {
		snprintf(err, errlen, "%s: more than %d certificates", x->what,
		    TLS_ANCHORS_MAX);
		return -1;
	}
	ta = &x->a->ta[x->a->n];
	memset(ta, 0, sizeof(*ta));
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->dn.data = dup_bytes(dn.p, dn.len);
	ta->dn.len = dn.len;
	x->a->n++;
	if (ta->dn.data == NULL || !anchor_key(ta, pk)) {
		snprintf(err, errlen, "%s: out of memory", x->what);
		return -1;
	}
	return 0;
}

/* see tls_int.h */
int
tls_anchors_load(struct tls_anchors *a, const void *pem, size_t len,
    const char *what, bool lenient, char *err, size_t errlen)
{
	struct anchor_ctx x = {a, what, lenient, 0};

	a->n = 0;
	a->ta = calloc(TLS_ANCHORS_MAX, sizeof(*a->ta));
	if (a->ta == NULL) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -1;
	}
	if (pem_each(pem, len, what, anchor_add, &x, err, errlen) < 0) {
		tls_anchors_free(a);
		return -1;
	}
	if (a->n == 0) {
		snprintf(err, errlen, "%s: no usable certificate found", what);
		tls_anchors_free(a);
		return -1;
	}
	return 0;
}

/* see tls_int.h */
int
tls_anchors_load_file(
    struct tls_anchors *a, const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *p;
	int rc;

	if ((rc = util_read_file(path, TLS_BUNDLE_MAX, &p, &len)) < 0) {
		snprintf(err, errlen,
		    "no TLS_CA given and the system bundle %s cannot be read: "
		    "%s",
		    path, rc == -EFBIG ? "larger than 4 MiB" : strerror(-rc));
		return -1;
	}
	rc = tls_anchors_load(a, p, len, path, true, err, errlen);
	free(p);
	return rc;
}

/* see tls_int.h */
void
tls_anchors_free(struct tls_anchors *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		anchor_free(&a->ta[i]);
	free(a->ta);
	a->ta = NULL;
	a->n = 0;
}
