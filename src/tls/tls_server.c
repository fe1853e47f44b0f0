/*
 * tls_server.c — server configuration (the edge) and handshake start:
 * client certificate verified (required, or optional but verified when
 * presented), its SAN URIs, CN and serial exposed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "tls/tls_int.h"

/* id-at-commonName, and the SAN URI selector of br_name_element. */
static const unsigned char oid_cn[] = {3, 0x55, 0x04, 0x03};
static const unsigned char oid_uri[] = {0, 6};

/* see tls.h */
int
tls_server_config_new(struct tls_server_config **out,
    const struct tls_server_opts *o, char *err, size_t errlen)
{
	struct tls_server_config *cfg = calloc(1, sizeof(*cfg));

	*out = NULL;
	if (cfg == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	if (o->client_ca == NULL) {
		snprintf(err, errlen, "TLS client CA: required");
		free(cfg);
		return -1;
	}
	if (tls_anchors_load(&cfg->client_ca, o->client_ca, o->client_ca_len,
		"TLS client CA", false, err, errlen) != 0) {
		free(cfg);
		return -1;
	}
	if (tls_ident_load(&cfg->id, o->cert, o->cert ? o->cert_len : 0, o->key,
		o->key ? o->key_len : 0, err, errlen) != 0) {
		tls_anchors_free(&cfg->client_ca);
		free(cfg);
		return -1;
	}
	cfg->client_cert_optional = o->client_cert_optional;
	cfg->time = o->time;
	*out = cfg;
	return 0;
}

/* see tls.h */
void
tls_server_config_set_check(
    struct tls_server_config *cfg, tls_peer_check_fn *fn, void *arg)
{
	cfg->check = fn;
	cfg->check_arg = arg;
}

/* see tls.h */
void
tls_server_config_free(struct tls_server_config *cfg)
{
	if (cfg == NULL)
		return;
	tls_anchors_free(&cfg->client_ca);
	tls_ident_free(&cfg->id);
	free(cfg);
}

/* Ask the X.509 engine for the client's CN and first SAN URIs. */
static void
server_names(struct tls_conn *c)
{
	size_t i;

	for (i = 0; i < nitems(c->names); i++) {
		c->names[i].oid = i == 0 ? oid_cn : oid_uri;
		c->names[i].buf = c->peer[i];
		c->names[i].len = sizeof(c->peer[i]);
		c->names[i].status = 0;
		c->peer[i][0] = '\0';
	}
	br_x509_minimal_set_name_elements(&c->xc, c->names, nitems(c->names));
}

/* see tls.h */
int
tls_server_start(struct tls_conn *c, const struct tls_server_config *cfg)
{
	const struct tls_ident *id = &cfg->id;

	c->server = true;
	c->ready = false;
	c->reason = TLS_R_NONE;
	c->br_err = 0;
	c->host[0] = '\0';
	if (id->key.type == BR_KEYTYPE_RSA)
		br_ssl_server_init_full_rsa(&c->u.s, id->chain.certs,
		    id->chain.n, br_skey_decoder_get_rsa(&id->key.dc));
	else
		br_ssl_server_init_full_ec(&c->u.s, id->chain.certs,
		    id->chain.n, id->issuer_type,
		    br_skey_decoder_get_ec(&id->key.dc));
	c->eng = &c->u.s.eng;
	br_ssl_engine_set_default_rsavrfy(c->eng);
	br_ssl_engine_set_default_ecdsa(c->eng);
	br_x509_minimal_init_full(&c->xc, cfg->client_ca.ta, cfg->client_ca.n);
	br_x509_minimal_set_minrsa(&c->xc, 256);
	tls_x509_set_time(&c->xc, cfg->time);
	server_names(c);
	tls_x509_wrap(&c->xw, &c->xc, NULL, 0);
	c->xw.check = cfg->check;
	c->xw.check_arg = cfg->check_arg;
	br_ssl_engine_set_x509(c->eng, &c->xw.vtable);
	br_ssl_server_set_trust_anchor_names_alt(
	    &c->u.s, cfg->client_ca.ta, cfg->client_ca.n);
	if (tls_engine_setup(c) != 0)
		return -1;
	if (cfg->client_cert_optional) {
		c->xw.optional = c->eng;
		br_ssl_engine_add_flags(c->eng, BR_OPT_TOLERATE_NO_CLIENT_AUTH);
	}
	if (!br_ssl_server_reset(&c->u.s)) {
		tls_abort(c, TLS_R_INTERNAL);
		return -1;
	}
	return 0;
}

/* see tls.h */
bool
tls_peer_verified(const struct tls_conn *c)
{
	return c->server && c->xw.verified;
}

/* see tls.h */
const char *
tls_peer_uri(const struct tls_conn *c, size_t i)
{
	size_t k, seen = 0;

	if (!tls_peer_verified(c))
		return NULL;
	for (k = 1; k < nitems(c->names); k++)
		if (c->names[k].status == 1 && seen++ == i)
			return c->peer[k];
	return NULL;
}

/* see tls.h */
const char *
tls_peer_cn(const struct tls_conn *c)
{
	if (!tls_peer_verified(c) || c->names[0].status != 1)
		return "";
	return c->peer[0];
}

/* see tls.h */
const uint8_t *
tls_peer_serial(const struct tls_conn *c, size_t *len)
{
	if (!tls_peer_verified(c) || c->xw.ee_overflow)
		return NULL;
	return tls_cert_serial(c->xw.ee, c->xw.eelen, len);
}
