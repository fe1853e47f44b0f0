/*
 * tls_client.c — client configuration and handshake start: the tunnel's
 * client (TLS 1.2, ALPN h2, client certificate) and the upstream client
 * (the executor's HTTPS, see tls.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "tls/tls_int.h"

/* see tls.h */
int
tls_client_config_new(struct tls_client_config **out,
    const struct tls_client_opts *o, char *err, size_t errlen)
{
	struct tls_client_config *cfg = calloc(1, sizeof(*cfg));
	int rc;

	*out = NULL;
	if (cfg == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	if (o->ca != NULL)
		rc = tls_anchors_load(&cfg->anchors, o->ca, o->ca_len, "TLS_CA",
		    false, err, errlen);
	else
		rc = tls_anchors_load_file(&cfg->anchors,
		    o->ca_bundle ? o->ca_bundle : TLS_SYSTEM_BUNDLE, err,
		    errlen);
	if (rc == 0 && (o->cert != NULL || o->key != NULL)) {
		rc =
		    tls_ident_load(&cfg->id, o->cert, o->cert ? o->cert_len : 0,
			o->key, o->key ? o->key_len : 0, err, errlen);
		cfg->have_id = rc == 0;
	}
	if (rc == 0 && o->server_name != NULL &&
	    strlen(o->server_name) >= sizeof(cfg->server_name)) {
		snprintf(err, errlen, "TLS_SERVER_NAME: too long");
		rc = -1;
	}
	if (rc != 0) {
		tls_client_config_free(cfg);
		return -1;
	}
	if (o->server_name != NULL)
		snprintf(cfg->server_name, sizeof(cfg->server_name), "%s",
		    o->server_name);
	cfg->time = o->time;
	*out = cfg;
	return 0;
}

/* see tls.h */
void
tls_client_config_free(struct tls_client_config *cfg)
{
	if (cfg == NULL)
		return;
	tls_anchors_free(&cfg->anchors);
	if (cfg->have_id)
		tls_ident_free(&cfg->id);
	free(cfg);
}

/* see tls.h */
size_t
tls_client_config_anchors(const struct tls_client_config *cfg)
{
	return cfg->anchors.n;
}

/* Our certificate and key. */
static void
client_identity(br_ssl_client_context *cc, const struct tls_ident *id)
{
	if (id->key.type == BR_KEYTYPE_RSA)
		br_ssl_client_set_single_rsa(cc, id->chain.certs, id->chain.n,
		    br_skey_decoder_get_rsa(&id->key.dc),
		    br_rsa_pkcs1_sign_get_default());
	else
		br_ssl_client_set_single_ec(cc, id->chain.certs, id->chain.n,
		    br_skey_decoder_get_ec(&id->key.dc), BR_KEYTYPE_SIGN,
		    id->issuer_type, br_ec_get_default(),
		    br_ecdsa_sign_asn1_get_default());
}

/* IP literal (v4 or v6, brackets allowed) into ip; returns its length. */
static size_t
host_ip(const char *host, uint8_t ip[16])
{
	char tmp[64];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET, host, ip) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, ip) == 1)
		return 16;
	return 0;
}

/* see tls.h */
int
tls_client_start(
    struct tls_conn *c, const struct tls_client_config *cfg, const char *host)
{
	uint8_t ip[16];
	size_t iplen;

	c->server = false;
	c->ready = false;
	c->reason = TLS_R_NONE;
	c->br_err = 0;
	if (cfg->server_name[0] != '\0')
		host = cfg->server_name;
	snprintf(c->host, sizeof(c->host), "%s", host ? host : "");
	iplen = host_ip(c->host, ip);
	br_ssl_client_init_full(
	    &c->u.c, &c->xc, cfg->anchors.ta, cfg->anchors.n);
	c->eng = &c->u.c.eng;
	br_x509_minimal_set_minrsa(&c->xc, 256);
	tls_x509_set_time(&c->xc, cfg->time);
	br_x509_minimal_set_name_elements(&c->xc, NULL, 0);
	tls_x509_wrap(&c->xw, &c->xc, ip, iplen);
	br_ssl_engine_set_x509(c->eng, &c->xw.vtable);
	if (cfg->have_id)
		client_identity(&c->u.c, &cfg->id);
	if (tls_engine_setup(c) != 0)
		return -1;
	if (c->host[0] == '\0') {
		/* Never a handshake without a name to verify. */
		tls_abort(c, TLS_R_HOSTNAME);
		return -1;
	}
	/* No SNI for IP literals (RFC 6066 3); the wrapper checks the IP. */
	if (!br_ssl_client_reset(&c->u.c, iplen ? NULL : c->host, 0)) {
		tls_abort(c, TLS_R_INTERNAL);
		return -1;
	}
	return 0;
}

/* --- upstream client -------------------------------------------------- */

#define TLS_UPSTREAM_ALPN_MAX 4

struct tls_upstream_config {
	struct tls_anchors anchors;
	bool verify;
	const char *alpn[TLS_UPSTREAM_ALPN_MAX];
	size_t nalpn;
	struct tls_ident id;
	bool have_id;
};

/* see tls.h */
int
tls_upstream_config_new(struct tls_upstream_config **out,
    const struct tls_upstream_opts *o, char *err, size_t errlen)
{
	struct tls_upstream_config *cfg = calloc(1, sizeof(*cfg));
	int rc = 0;

	*out = NULL;
	if (cfg == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	cfg->verify = o->verify;
	if (o->nalpn > TLS_UPSTREAM_ALPN_MAX) {
		snprintf(err, errlen, "TLS: more than %d ALPN names",
		    TLS_UPSTREAM_ALPN_MAX);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < o->nalpn; i++)
		cfg->alpn[cfg->nalpn++] = o->alpn[i];
	if (rc == 0 && o->verify && o->ca != NULL)
		rc = tls_anchors_load(&cfg->anchors, o->ca, o->ca_len,
		    o->ca_what ? o->ca_what : "TLS_CA", false, err, errlen);
	else if (rc == 0 && o->verify && access(TLS_SYSTEM_BUNDLE, R_OK) == 0)
		rc = tls_anchors_load_file(
		    &cfg->anchors, TLS_SYSTEM_BUNDLE, err, errlen);
	if (rc == 0 && (o->cert != NULL || o->key != NULL)) {
		rc =
		    tls_ident_load(&cfg->id, o->cert, o->cert ? o->cert_len : 0,
			o->key, o->key ? o->key_len : 0, err, errlen);
		cfg->have_id = rc == 0;
	}
	if (rc != 0) {
		tls_upstream_config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

/* see tls.h */
void
tls_upstream_config_free(struct tls_upstream_config *cfg)
{
	if (cfg == NULL)
		return;
	tls_anchors_free(&cfg->anchors);
	if (cfg->have_id)
		tls_ident_free(&cfg->id);
	free(cfg);
}

/* see tls.h */
size_t
tls_upstream_config_anchors(const struct tls_upstream_config *cfg)
{
	return cfg->anchors.n;
}

/* The verify-off engine: the first certificate's key, trusted as it is. */
static struct tls_x509_any *
any_of(const br_x509_class *const *ctx)
{
	return (struct tls_x509_any *)(void *)ctx;
}

static void
any_start_chain(const br_x509_class **ctx, const char *server_name)
{
	any_of(ctx)->ncert = 0;
	any_of(ctx)->ok = false;
}

static void
any_start_cert(const br_x509_class **ctx, uint32_t length)
{
	if (any_of(ctx)->ncert == 0)
		br_x509_decoder_init(&any_of(ctx)->dc, NULL, NULL);
}

static void
any_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	if (any_of(ctx)->ncert == 0)
		br_x509_decoder_push(&any_of(ctx)->dc, buf, len);
}

static void
any_end_cert(const br_x509_class **ctx)
{
	struct tls_x509_any *a = any_of(ctx);
	const br_x509_pkey *pk;

	if (a->ncert++ != 0)
		return;
	pk = br_x509_decoder_get_pkey(&a->dc);
	if (pk != NULL) {
		a->pkey = *pk; /* points into the decoder, which stays */
		a->ok = true;
	}
}

static unsigned
any_end_chain(const br_x509_class **ctx)
{
	return any_of(ctx)->ok ? 0 : BR_ERR_X509_UNSUPPORTED;
}

static const br_x509_pkey *
any_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509_any *a = any_of(ctx);

	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return a->ok ? &a->pkey : NULL;
}

static const br_x509_class any_class = {
    sizeof(struct tls_x509_any),
    any_start_chain,
    any_start_cert,
    any_append,
    any_end_cert,
    any_end_chain,
    any_get_pkey,
};

/* see tls.h */
br_ssl_engine_context *
tls_upstream_start(struct tls_upstream_conn *c,
    const struct tls_upstream_config *cfg, const char *host)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	uint8_t seed[32], ip[16];
	size_t iplen = host_ip(host, ip);

	br_ssl_client_init_full(
	    &c->sc, &c->x.min, cfg->anchors.ta, cfg->anchors.n);
	if (!cfg->verify) {
		c->x.any = (struct tls_x509_any){.vtable = &any_class};
		br_ssl_engine_set_x509(eng, &c->x.any.vtable);
	} else {
		tls_x509_set_time(&c->x.min, 0);
		tls_x509_wrap(&c->xw, &c->x.min, ip, iplen);
		br_ssl_engine_set_x509(eng, &c->xw.vtable);
	}
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof(c->iobuf), 1);
	if (cfg->have_id)
		client_identity(&c->sc, &cfg->id);
	/* BearSSL only reads the names (its prototype lacks the const). */
	if (cfg->nalpn > 0)
		br_ssl_engine_set_protocol_names(
		    eng, (const char **)(uintptr_t)cfg->alpn, cfg->nalpn);
	if (util_random(seed, sizeof(seed)) == 0)
		br_ssl_engine_inject_entropy(eng, seed, sizeof(seed));
	util_wipe(seed, sizeof(seed));
	/* No SNI for an IP literal (RFC 6066); the wrapper checks the IP.
	 * A failed reset leaves the engine closed. */
	br_ssl_client_reset(&c->sc, iplen > 0 ? NULL : host, 0);
	return eng;
}

/* see tls.h */
void
tls_upstream_wipe(struct tls_upstream_conn *c)
{
	util_wipe(c, sizeof(*c));
}
