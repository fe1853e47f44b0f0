/*
 * Upstream TLS for the executor: trust anchors (UPSTREAM_TLS_CA or the
 * system bundle) and the BearSSL client set up per connection, with an
 * X.509 engine that accepts any chain when verification is off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connector/exec_int.h"
#include "lib/log.h"
#include "lib/util.h"

#define EXEC_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define EXEC_BUNDLE_MAX (4u << 20)

/* --- no verification: take the first certificate's key, trust it ------ */

static struct exec_noverify *
nv_of(const br_x509_class **ctx)
{
	return (struct exec_noverify *)(void *)ctx;
}

static void
nv_start_chain(const br_x509_class **ctx, const char *server_name)
{
	nv_of(ctx)->ncert = 0;
	nv_of(ctx)->ok = false;
}

static void
nv_start_cert(const br_x509_class **ctx, uint32_t length)
{
	if (nv_of(ctx)->ncert == 0)
		br_x509_decoder_init(&nv_of(ctx)->dc, NULL, NULL);
}

static void
nv_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	if (nv_of(ctx)->ncert == 0)
		br_x509_decoder_push(&nv_of(ctx)->dc, buf, len);
}

static void
nv_end_cert(const br_x509_class **ctx)
{
	struct exec_noverify *nv = nv_of(ctx);
	const br_x509_pkey *pk;

	if (nv->ncert++ != 0)
		return;
	pk = br_x509_decoder_get_pkey(&nv->dc);
	if (pk != NULL) {
		nv->pkey = *pk; /* points into the decoder, which stays */
		nv->ok = true;
	}
}

static unsigned
nv_end_chain(const br_x509_class **ctx)
{
	return nv_of(ctx)->ok ? 0 : BR_ERR_X509_UNSUPPORTED;
}

static const br_x509_pkey *
nv_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct exec_noverify *nv = (struct exec_noverify *)(void *)ctx;

	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return nv->ok ? &nv->pkey : NULL;
}

static const br_x509_class nv_class = {
    sizeof(struct exec_noverify),
    nv_start_chain,
    nv_start_cert,
    nv_append,
    nv_end_cert,
    nv_end_chain,
    nv_get_pkey,
};

/* --- trust anchors from PEM ------------------------------------------- */

struct grow {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void
grow_add(void *ctx, const void *buf, size_t len)
{
	struct grow *g = ctx;
	size_t cap;
	uint8_t *np;

	if (g->oom)
		return;
	if (g->len + len > g->cap) {
		cap = g->cap > 0 ? g->cap : 1024;
		while (cap < g->len + len)
			cap *= 2;
		if ((np = realloc(g->p, cap)) == NULL) {
			g->oom = true;
			return;
		}
		g->p = np;
		g->cap = cap;
	}
	memcpy(g->p + g->len, buf, len);
	g->len += len;
}

static void *
dup_bytes(const void *p, size_t n)
{
	void *q = malloc(n > 0 ? n : 1);

	if (q != NULL && n > 0)
		memcpy(q, p, n);
	return q;
}

/* Copy the decoded key into ta (which owns the copies): 0 or -errno. */
static int
ta_key(br_x509_trust_anchor *ta, const br_x509_pkey *pk)
{
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
		ta->pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		return ta->pkey.key.rsa.n != NULL && ta->pkey.key.rsa.e != NULL
		    ? 0
		    : -ENOMEM;
	}
	if (pk->key_type == BR_KEYTYPE_EC) {
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
		ta->pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		return ta->pkey.key.ec.q != NULL ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

static void
ta_free(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		free(ta->pkey.key.rsa.n);
		free(ta->pkey.key.rsa.e);
	} else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
		free(ta->pkey.key.ec.q);
	}
}

/* One DER certificate into a new trust anchor; -EINVAL if it does not
 * parse (unsupported key types in a system bundle are skipped by the
 * caller, never in a configured CA). */
static int
ta_add(struct exec *e, const uint8_t *der, size_t len)
{
	br_x509_decoder_context dc;
	struct grow dn = {0};
	br_x509_trust_anchor ta = {0}, *nt;
	const br_x509_pkey *pk;
	int rc;

	br_x509_decoder_init(&dc, grow_add, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || dn.oom) {
		free(dn.p);
		return dn.oom ? -ENOMEM : -EINVAL;
	}
	ta.dn.data = dn.p;
	ta.dn.len = dn.len;
	ta.flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	if ((rc = ta_key(&ta, pk)) == 0 &&
	    (nt = realloc(e->tas, (e->ntas + 1) * sizeof(*nt))) == NULL)
		rc = -ENOMEM;
	if (rc < 0) {
		ta_free(&ta);
		return rc;
	}
	e->tas = nt;
	e->tas[e->ntas++] = ta;
	return 0;
}

static int
pem_push(struct exec *e, br_pem_decoder_context *pc, struct grow *der,
    const uint8_t *pem, size_t len, bool strict, bool *inobj, bool *cert)
{
	size_t n;
	int rc = 0;

	while (len > 0 && rc == 0) {
		n = br_pem_decoder_push(pc, pem, len);
		pem += n;
		len -= n;
		switch (br_pem_decoder_event(pc)) {
		case BR_PEM_BEGIN_OBJ:
			*cert =
			    strcmp(br_pem_decoder_name(pc), "CERTIFICATE") == 0;
			der->len = 0;
			*inobj = true;
			br_pem_decoder_setdest(
			    pc, *cert ? grow_add : NULL, der);
			break;
		case BR_PEM_END_OBJ:
			if (*cert &&
			    (rc = ta_add(e, der->p, der->len)) == -EINVAL &&
			    !strict)
				rc = 0;
			*inobj = *cert = false;
			break;
		case BR_PEM_ERROR:
			rc = -EINVAL;
			break;
		}
	}
	return rc;
}

/* Every CERTIFICATE object of a PEM text; returns 0 or -errno. */
static int
pem_load(struct exec *e, const uint8_t *pem, size_t len, bool strict)
{
	br_pem_decoder_context pc;
	struct grow der = {0};
	bool inobj = false, cert = false;
	int rc = 0;

	br_pem_decoder_init(&pc);
	/* A final newline lets a text without one end its last object. */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		if (pass == 1) {
			pem = (const uint8_t *)"\n";
			len = 1;
		}
		rc = pem_push(e, &pc, &der, pem, len, strict, &inobj, &cert);
	}
	free(der.p);
	if (rc == 0 && (inobj || der.oom))
		rc = der.oom ? -ENOMEM : -EINVAL;
	return rc;
}
static int
bundle_read(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	uint8_t *p;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    (size_t)st.st_size > EXEC_BUNDLE_MAX) {
		close(fd);
		return -EINVAL;
	}
	if ((p = malloc((size_t)st.st_size)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, p + got, (size_t)st.st_size - got);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	*len = got;
	return 0;
}

static int
system_load(struct exec *e, char *err, size_t errlen)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc;

	if (bundle_read(EXEC_SYSTEM_BUNDLE, &pem, &len) < 0) {
		/* Not fatal: http upstreams work; https ones fail as tls. */
		log_warn("upstream TLS: no system CA bundle; https upstreams "
			 "fail verification unless UPSTREAM_TLS_CA is set");
		return 0;
	}
	rc = pem_load(e, pem, len, false);
	free(pem);
	if (rc < 0)
		snprintf(
		    err, errlen, "upstream TLS: system CA bundle unusable");
	return rc;
}

/* see exec_int.h */
int
exec_tls_load(struct exec *e, char *err, size_t errlen)
{
	int rc;

	if (!e->c.upstream_tls_verify)
		return 0;
	if (e->c.upstream_ca_pem == NULL)
		return system_load(e, err, errlen);
	rc = pem_load(e, e->c.upstream_ca_pem, e->c.upstream_ca_len, true);
	if (rc == 0 && e->ntas == 0)
		rc = -EINVAL;
	if (rc < 0)
		snprintf(err, errlen, "UPSTREAM_TLS_CA: %s",
		    rc == -ENOMEM
			? "out of memory"
			: "not a PEM certificate list BearSSL can use");
	/* The caller's bytes are not kept. */
	e->c.upstream_ca_pem = NULL;
	e->c.upstream_ca_len = 0;
	return rc;
}

/* see exec_int.h */
void
exec_tls_free(struct exec *e)
{
	size_t i;

	for (i = 0; i < e->ntas; i++)
		ta_free(&e->tas[i]);
	free(e->tas);
	e->tas = NULL;
	e->ntas = 0;
}

static bool
ip_literal(const char *host)
{
	uint8_t a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

/* see exec_int.h */
void
exec_tls_setup(struct exec *e, struct exec_conn *c)
{
	struct exec_tls *t = c->t;
	uint8_t seed[32];

	br_ssl_client_init_full(&t->sc, &t->x.min, e->tas, e->ntas);
	if (!e->c.upstream_tls_verify) {
		t->x.nv = (struct exec_noverify){.vtable = &nv_class};
		br_ssl_engine_set_x509(&t->sc.eng, &t->x.nv.vtable);
	}
	br_ssl_engine_set_buffer(&t->sc.eng, t->iobuf, sizeof(t->iobuf), 1);
	if (util_random(seed, sizeof(seed)) == 0)
		br_ssl_engine_inject_entropy(&t->sc.eng, seed, sizeof(seed));
	util_wipe(seed, sizeof(seed));
	/* A failed reset leaves the engine closed: the stream reports tls. */
	br_ssl_client_reset(&t->sc, ip_literal(c->host) ? NULL : c->host, 0);
}
