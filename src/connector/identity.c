/*
 * The connector's identity: checks and the renewal time.  See identity.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "connector/identity.h"
#include "lib/buf.h"
#include "lib/pem.h"
#include "lib/util.h"
#include "tls/pki.h"
#include "tls/tls.h"

/* BearSSL counts days from 1 January of year 0; Unix time from 1970. */
#define BR_UNIX_EPOCH_DAYS 719528

static const char *const source_names[] = {
    "none", "data_dir", "config", "enrollment", "pairing", "renewal"};

/* see identity.h */
const char *
identity_source_name(enum identity_source s)
{
	return (unsigned)s < nitems(source_names) ? source_names[s] : "?";
}

static int64_t
br_time(uint32_t days, uint32_t seconds)
{
	return ((int64_t)days - BR_UNIX_EPOCH_DAYS) * 86400 + seconds;
}

/* see identity.h */
int
identity_leaf_validity(const void *pem, size_t len, int64_t *not_before,
    int64_t *not_after, char *err, size_t errlen)
{
	br_x509_decoder_context dc;
	uint8_t *der;
	size_t dlen;
	int r = -1;

	if (pem_cert(pem, len, "identity", &der, &dlen, err, errlen) < 0)
		return -1;
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, der, dlen);
	if (br_x509_decoder_get_pkey(&dc) == NULL) {
		snprintf(err, errlen,
		    "identity: certificate does not parse (BearSSL error %d)",
		    br_x509_decoder_last_error(&dc));
		goto out;
	}
	*not_before = br_time(dc.notbefore_days, dc.notbefore_seconds);
	*not_after = br_time(dc.notafter_days, dc.notafter_seconds);
	r = 0;
out:
	free(der);
	return r;
}

/* see identity.h */
int
identity_check(const struct idstore_files *f, char *err, size_t errlen)
{
	struct tls_client_opts o = {.cert = f->chain,
	    .cert_len = f->chain_len,
	    .key = f->key,
	    .key_len = f->key_len,
	    .ca = f->ca_len > 0 ? f->ca : f->chain,
	    .ca_len = f->ca_len > 0 ? f->ca_len : f->chain_len};
	struct tls_client_config *cfg;

	if (tls_client_config_new(&cfg, &o, err, errlen) < 0)
		return -1;
	tls_client_config_free(cfg);
	return 0;
}

/* see identity.h */
int64_t
identity_renew_at(
    int64_t now, int64_t not_after, unsigned permille, uint32_t rnd)
{
	int64_t left = not_after - now, at, jitter;

	if (left <= 0)
		return now;
	at = now + left / 1000 * permille + left % 1000 * permille / 1000;
	jitter = left / 20 * (int64_t)(rnd % 1001) / 1000;
	return at - jitter > now ? at - jitter : now;
}

/* see identity.h */
int
identity_new_key(struct pki_key **key, struct buf *csr, const char *hostname,
    char *err, size_t errlen)
{
	const char *name = hostname[0] != '\0' ? hostname : "outpost";

	if (pki_key_generate(PKI_KEY_P256, key, err, errlen) < 0)
		return -1;
	if (pki_csr_write(*key, name, NULL, 0, &name, 1, csr, err, errlen) == 0)
		return 0;
	pki_key_free(*key);
	*key = NULL;
	return -1;
}

/* PEM of every DER certificate, concatenated into heap memory. */
static int
pem_all(char **out, size_t *outlen, const ProtobufCBinaryData *der, size_t n,
    char *err, size_t errlen)
{
	size_t cap = n * PKI_PEM_MAX + 1, i;
	struct buf b;
	char *p = malloc(cap);

	if (p == NULL) {
		snprintf(err, errlen, "identity: out of memory");
		return -1;
	}
	buf_init(&b, p, cap);
	for (i = 0; i < n; i++)
		if (pki_pem("CERTIFICATE", der[i].data, der[i].len, &b, err,
			errlen) < 0) {
			free(p);
			return -1;
		}
	p[b.len] = '\0';
	*out = p;
	*outlen = b.len;
	return 0;
}

static int
key_pem(char **out, size_t *outlen, const struct pki_key *key, char *err,
    size_t errlen)
{
	struct buf b;
	char *p = malloc(PKI_KEY_PEM_MAX + 1);

	if (p == NULL) {
		snprintf(err, errlen, "identity: out of memory");
		return -1;
	}
	buf_init(&b, p, PKI_KEY_PEM_MAX);
	if (pki_key_pem(key, &b, err, errlen) < 0) {
		util_wipe(p, PKI_KEY_PEM_MAX);
		free(p);
		return -1;
	}
	p[b.len] = '\0';
	*out = p;
	*outlen = b.len;
	return 0;
}

/* see identity.h */
int
identity_from_edge(struct idstore_files *f, const Outpost__V1__Identity *m,
    const struct pki_key *key, const char *source, unsigned permille, char *err,
    size_t errlen)
{
	int64_t nb, na, now = util_wall_ms() / 1000;
	uint32_t rnd = 0;

	*f = (struct idstore_files){0};
	if (m->n_certificate_chain == 0 || m->connector_name == NULL ||
	    m->connector_name[0] == '\0' ||
	    strlen(m->connector_name) >= sizeof(f->name)) {
		snprintf(err, errlen,
		    "identity: the edge's answer lacks a certificate or a name");
		return -1;
	}
	if (pem_all(&f->chain, &f->chain_len, m->certificate_chain,
		m->n_certificate_chain, err, errlen) < 0 ||
	    pem_all(&f->ca, &f->ca_len, &m->ca_certificate,
		m->ca_certificate.len > 0, err, errlen) < 0 ||
	    key_pem(&f->key, &f->key_len, key, err, errlen) < 0 ||
	    identity_leaf_validity(
		f->chain, f->chain_len, &nb, &na, err, errlen) < 0 ||
	    identity_check(f, err, errlen) < 0) {
		idstore_files_free(f);
		return -1;
	}
	snprintf(f->source, sizeof(f->source), "%s", source);
	snprintf(f->name, sizeof(f->name), "%s", m->connector_name);
	f->not_after = m->not_after_unix > 0 ? m->not_after_unix : na;
	util_random(&rnd, sizeof(rnd));
	f->renew_at = identity_renew_at(now, f->not_after, permille, rnd);
	return 0;
}

/* see identity.h */
int
identity_tls(struct tls_client_config **out, const void *ca, size_t calen,
    const struct idstore_files *f, const char *server_name, char *err,
    size_t errlen)
{
	struct tls_client_opts o = {
	    .ca = ca, .ca_len = calen, .server_name = server_name};

	if (f != NULL) {
		o.cert = f->chain;
		o.cert_len = f->chain_len;
		o.key = f->key;
		o.key_len = f->key_len;
	}
	return tls_client_config_new(out, &o, err, errlen);
}
