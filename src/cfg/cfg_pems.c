/*
 * cfg_pems.c — the one identity loader: a TLS identity's certificate,
 * key and CA bytes read from their settings, whether X_BASE64/X_FILE
 * pairs (the connector) or PATH settings (the edge).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/util.h"
#include "tls/tls.h"

/* One setting's bytes; -ENOENT when unset. */
static int
pem_read(const struct cfg *c, enum cfg_key k, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (cfg_defs[k].type == CFG_T_B64)
		return cfg_secret(c, k, out, len);
	if (cfg_defs[k].type != CFG_T_PATH)
		return -EINVAL;
	if (c->slot[k].str == NULL)
		return -ENOENT;
	return cfg_secret_read(c->slot[k].str, out, len);
}

/* "KEY: path: error" (or "KEY: error" for a base64 value). */
static int
pem_fail(const struct cfg *c, enum cfg_key k, int rc, char *err, size_t errlen)
{
	const char *name = cfg_key_name(k);

	if (cfg_defs[k].type == CFG_T_PATH)
		snprintf(err, errlen, "%s: %s: %s", name, c->slot[k].str,
		    strerror(-rc));
	else
		snprintf(err, errlen, "%.*s: %s",
		    (int)(strlen(name) - strlen("_BASE64")), name,
		    strerror(-rc));
	return rc;
}

/* see cfg.h */
int
cfg_pems_load(const struct cfg *c, enum cfg_key cert, enum cfg_key key,
    enum cfg_key ca, struct cfg_pems *p, char *err, size_t errlen)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = pem_read(c, cert, &p->cert, &p->cert_len)) < 0 ||
	    (rc = pem_read(c, key, &p->key, &p->key_len)) < 0) {
		if (rc != -ENOENT)
			pem_fail(
			    c, p->cert == NULL ? cert : key, rc, err, errlen);
		cfg_pems_free(p);
		return rc;
	}
	if (ca < CFG__COUNT && (rc = pem_read(c, ca, &p->ca, &p->ca_len)) < 0 &&
	    rc != -ENOENT) {
		pem_fail(c, ca, rc, err, errlen);
		cfg_pems_free(p);
		return rc;
	}
	return 0;
}

/* see cfg.h */
void
cfg_pems_free(struct cfg_pems *p)
{
	if (p->key != NULL)
		util_wipe(p->key, p->key_len);
	free(p->cert);
	free(p->key);
	free(p->ca);
	memset(p, 0, sizeof(*p));
}

/* see cfg.h */
void
cfg_pems_tls_opts(const struct cfg_pems *p, struct tls_client_opts *client,
    struct tls_server_opts *server)
{
	if (client != NULL) {
		client->cert = p->cert;
		client->cert_len = p->cert_len;
		client->key = p->key;
		client->key_len = p->key_len;
		client->ca = p->ca;
		client->ca_len = p->ca_len;
	}
	if (server != NULL) {
		server->cert = p->cert;
		server->cert_len = p->cert_len;
		server->key = p->key;
		server->key_len = p->key_len;
	}
}
