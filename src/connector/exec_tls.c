/*
 * Upstream TLS for the executor: trust anchors (UPSTREAM_TLS_CA or the
 * system bundle) and the BearSSL client set up per connection, with an
 * X.509 engine that accepts any chain when verification is off.
 *
 * The tunnel's TLS client (tls.h) insists on TLS 1.2 with ALPN h2, which
 * an HTTP/1.1 upstream must not be offered, so connections are set up
 * here.  The parts that do apply come from the tls module: its anchor
 * loader and its X.509 wrapper that matches IP literals against iPAddress
 * SANs (BearSSL's minimal engine checks DNS names only).  They are
 * declared in the module's private header for now.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include "connector/exec_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

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

/* --- trust anchors ------------------------------------------------------ */

/* see exec_int.h */
int
exec_tls_load(struct exec *e, char *err, size_t errlen)
{
	struct tls_anchors a = {0};
	int rc = 0;

	if (!e->c.upstream_tls_verify)
		return 0;
	if (e->c.upstream_ca_pem != NULL) {
		rc = tls_anchors_load(&a, e->c.upstream_ca_pem,
		    e->c.upstream_ca_len, "UPSTREAM_TLS_CA", false, err,
		    errlen);
	} else if (access(TLS_SYSTEM_BUNDLE, R_OK) == 0) {
		rc = tls_anchors_load_file(&a, TLS_SYSTEM_BUNDLE, err, errlen);
	} else {
		/* Not fatal: http upstreams work; https ones fail as tls. */
		log_warn("upstream TLS: no system CA bundle; https upstreams "
			 "fail verification unless UPSTREAM_TLS_CA is set");
	}
	/* The caller's bytes are not kept. */
	e->c.upstream_ca_pem = NULL;
	e->c.upstream_ca_len = 0;
	if (rc < 0)
		return -EINVAL;
	e->tas = a.ta;
	e->ntas = a.n;
	return 0;
}

/* see exec_int.h */
void
exec_tls_free(struct exec *e)
{
	struct tls_anchors a = {.ta = e->tas, .n = e->ntas};

	if (a.ta != NULL)
		tls_anchors_free(&a);
	e->tas = NULL;
	e->ntas = 0;
}

/* --- per connection ------------------------------------------------------ */

/* The address of an IP-literal host into ip; its length, or 0. */
static size_t
ip_literal(const char *host, uint8_t ip[16])
{
	if (inet_pton(AF_INET, host, ip) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, ip) == 1)
		return 16;
	return 0;
}

/* see exec_int.h */
void
exec_tls_setup(struct exec *e, struct exec_conn *c)
{
	struct exec_tls *t = c->t;
	uint8_t seed[32], ip[16];
	size_t iplen = ip_literal(c->host, ip);

	br_ssl_client_init_full(&t->sc, &t->x.min, e->tas, e->ntas);
	if (!e->c.upstream_tls_verify) {
		t->x.nv = (struct exec_noverify){.vtable = &nv_class};
		br_ssl_engine_set_x509(&t->sc.eng, &t->x.nv.vtable);
	} else {
		tls_x509_set_time(&t->x.min, 0);
		tls_x509_wrap(&t->xw, &t->x.min, ip, iplen);
		br_ssl_engine_set_x509(&t->sc.eng, &t->xw.vtable);
	}
	br_ssl_engine_set_buffer(&t->sc.eng, t->iobuf, sizeof(t->iobuf), 1);
	if (util_random(seed, sizeof(seed)) == 0)
		br_ssl_engine_inject_entropy(&t->sc.eng, seed, sizeof(seed));
	util_wipe(seed, sizeof(seed));
	/* No SNI for an IP literal (RFC 6066); the wrapper checks the IP.
	 * A failed reset leaves the engine closed: the stream reports tls. */
	br_ssl_client_reset(&t->sc, iplen > 0 ? NULL : c->host, 0);
}
