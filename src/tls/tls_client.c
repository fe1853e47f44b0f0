/*
 * tls_client.c — client configuration and handshake start.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Our certificate and key, when configured. */
static void
client_identity(struct tls_conn *c, const struct tls_client_config *cfg)
{
	const struct tls_ident *id = &cfg->id;

	if (!cfg->have_id)
		return;
	if (id->key.type == BR_KEYTYPE_RSA)
		br_ssl_client_set_single_rsa(&c->u.c, id->chain.certs,
		    id->chain.n, br_skey_decoder_get_rsa(&id->key.dc),
		    br_rsa_pkcs1_sign_get_default());
	else
		br_ssl_client_set_single_ec(&c->u.c, id->chain.certs,
		    id->chain.n, br_skey_decoder_get_ec(&id->key.dc),
		    BR_KEYTYPE_SIGN, id->issuer_type, br_ec_get_default(),
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
	client_identity(c, cfg);
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
