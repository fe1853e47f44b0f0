/*
 * edge_ca.c — the edge's certificate authority: loaded from
 * EDGE_CA_CERT_FILE / EDGE_CA_KEY_FILE or generated once (P-256) into
 * EDGE_DATA_DIR/ca.pem, and the leaf certificates it issues to
 * connectors: the CSR's key (signature verified), SAN
 * spiffe://<trust domain>/connector/<name>, clientAuth, backdated 5
 * minutes.  The encoding is pki.h's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edge/edge_id.h"
#include "lib/pem.h"
#include "lib/util.h"
#include "tls/tls.h"

#define BACKDATE_S 300
#define CA_YEARS 10
#define CA_FILE "ca.pem"

/* see edge_id.h */
int
edge_ca_check_csr(const uint8_t *csr, size_t len, char *err, size_t errlen)
{
	struct pki_csr *p = malloc(sizeof(*p));
	int rc;

	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = pki_csr_parse(csr, len, p, err, errlen);
	free(p);
	return rc < 0 ? -1 : 0;
}

/* Issue for subject key pk: the certificate into out. */
static int
issue(const struct edge_id *id, const br_x509_pkey *pk, const char *name,
    struct edge_cert *out, char *err, size_t errlen)
{
	char uri[sizeof(id->trust_domain) + EDGE_NAME_MAX + 32];
	int64_t now = util_wall_ms() / 1000;
	struct pki_issue in = {
	    .issuer_key = id->ca_key,
	    .issuer_cert = id->ca_der,
	    .issuer_cert_len = id->ca_der_len,
	    .subject_key = pk,
	    .cn = name,
	    .san_uri = uri,
	    .not_before = now - BACKDATE_S,
	    .not_after = now + id->lifetime_s,
	    .eku = PKI_EKU_CLIENT_AUTH,
	};
	struct buf b;

	snprintf(uri, sizeof(uri), "spiffe://%s/connector/%s", id->trust_domain,
	    name);
	buf_init(&b, out->der, sizeof(out->der));
	if (pki_cert_issue(&in, out->serial, &b, err, errlen) < 0)
		return -1;
	out->len = b.len;
	out->not_after = in.not_after;
	return 0;
}

/* see edge_id.h */
int
edge_ca_issue(const struct edge_id *id, const uint8_t *csr, size_t len,
    const char *name, struct edge_cert *out, bool *bad, char *err,
    size_t errlen)
{
	struct pki_csr *p = malloc(sizeof(*p));
	int rc;

	*bad = false;
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (pki_csr_parse(csr, len, p, err, errlen) < 0) {
		*bad = true;
		free(p);
		return -1;
	}
	rc = issue(id, &p->pkey, name, out, err, errlen);
	free(p);
	return rc;
}

static int
read_named(const char *what, const char *path, uint8_t **p, size_t *n,
    char *err, size_t errlen)
{
	int rc = edge_file_read(path, p, n);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s: %s", what, path, strerror(-rc));
		return -1;
	}
	return 0;
}

static void
wipe_free(uint8_t *p, size_t n)
{
	if (p != NULL)
		util_wipe(p, n);
	free(p);
}

/* The CA from PEM text (certificate and key may be the same text). */
static int
ca_parse(struct edge_id *id, const char *cert_what, const uint8_t *cp,
    size_t cn, const char *key_what, const uint8_t *kp, size_t kn, char *err,
    size_t errlen)
{
	struct buf b;

	if (pem_cert(cp, cn, cert_what, &id->ca_der, &id->ca_der_len, err,
		errlen) < 0 ||
	    pki_key_load(&id->ca_key, kp, kn, key_what, err, errlen) < 0)
		return -1;
	if ((id->ca_pem = malloc(PKI_PEM_MAX)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	buf_init(&b, id->ca_pem, PKI_PEM_MAX);
	if (pki_pem(
		"CERTIFICATE", id->ca_der, id->ca_der_len, &b, err, errlen) < 0)
		return -1;
	id->ca_pem_len = b.len;
	return 0;
}

/* The CA from its PEM files (one file may hold both). */
static int
ca_read(struct edge_id *id, const char *cert_what, const char *cert_path,
    const char *key_what, const char *key_path, char *err, size_t errlen)
{
	uint8_t *cp = NULL, *kp = NULL;
	size_t cn = 0, kn = 0;
	int rc = -1;

	if (read_named(cert_what, cert_path, &cp, &cn, err, errlen) == 0 &&
	    read_named(key_what, key_path, &kp, &kn, err, errlen) == 0)
		rc = ca_parse(
		    id, cert_what, cp, cn, key_what, kp, kn, err, errlen);
	wipe_free(cp, cn);
	wipe_free(kp, kn);
	return rc;
}

/*
 * Generate a P-256 CA into path (never replacing one); path NULL
 * (check-config): the same CA in memory only, put in use in id.
 */
static int
ca_generate(struct edge_id *id, const char *path, char *err, size_t errlen)
{
	static uint8_t mem[PKI_DER_MAX + PKI_PEM_MAX + PKI_KEY_PEM_MAX];
	uint8_t der[PKI_DER_MAX];
	struct pki_key *key = NULL;
	int64_t now = util_wall_ms() / 1000;
	char cn[300];
	struct buf d, out;
	int rc = -1;

	snprintf(cn, sizeof(cn), "outpost-edge CA %s", id->trust_domain);
	buf_init(&d, der, sizeof(der));
	buf_init(&out, mem, sizeof(mem));
	if (pki_key_generate(PKI_KEY_P256, &key, err, errlen) < 0)
		return -1;
	if (pki_ca_create(key, cn, now - BACKDATE_S,
		now + CA_YEARS * 365 * 86400LL, &d, err, errlen) == 0 &&
	    pki_pem("CERTIFICATE", d.p, d.len, &out, err, errlen) == 0 &&
	    pki_key_pem(key, &out, err, errlen) == 0)
		rc = path != NULL
		    ? pki_write_file_atomic(
			  path, out.p, out.len, 0600, true, err, errlen)
		    : ca_parse(id, "generated CA", out.p, out.len,
			  "generated CA", out.p, out.len, err, errlen);
	util_wipe(mem, sizeof(mem));
	pki_key_free(key);
	return rc < 0 ? -1 : 0;
}

/* Issue to the CA's own key once: proves that key and certificate match. */
static int
ca_selftest(
    const struct edge_id *id, const char *what, char *err, size_t errlen)
{
	struct edge_cert *c = malloc(sizeof(*c));
	br_x509_pkey pk;
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pki_key_public(id->ca_key, &pk);
	rc = issue(id, &pk, "selftest", c, err, errlen);
	free(c);
	if (rc < 0) {
		snprintf(err, errlen,
		    "%s: the key does not match the CA "
		    "certificate (or cannot sign)",
		    what);
		return -1;
	}
	return 0;
}

/* check: a CA not generated yet is made in memory only (run writes it). */
static int
ca_load(struct edge_id *id, const struct cfg *c, bool check, char *err,
    size_t errlen)
{
	const char *cert = cfg_str(c, CFG_EDGE_CA_CERT_FILE);
	const char *key = cfg_str(c, CFG_EDGE_CA_KEY_FILE);
	char path[EDGE_ID_PATH_MAX + 16];
	struct stat st;

	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen, "%s: required with %s",
		    cert == NULL ? "EDGE_CA_CERT_FILE" : "EDGE_CA_KEY_FILE",
		    cert == NULL ? "EDGE_CA_KEY_FILE" : "EDGE_CA_CERT_FILE");
		return -1;
	}
	if (cert != NULL) {
		if (ca_read(id, "EDGE_CA_CERT_FILE", cert, "EDGE_CA_KEY_FILE",
			key, err, errlen) < 0)
			return -1;
		return ca_selftest(id, "EDGE_CA_KEY_FILE", err, errlen);
	}
	snprintf(path, sizeof(path), "%s/%s", id->dir, CA_FILE);
	if (stat(path, &st) < 0 && errno == ENOENT) {
		if (ca_generate(id, check ? NULL : path, err, errlen) < 0)
			return -1;
		if (check)
			return ca_selftest(id, "generated CA", err, errlen);
	}
	if (ca_read(id, "EDGE_DATA_DIR CA", path, "EDGE_DATA_DIR CA", path, err,
		errlen) < 0)
		return -1;
	return ca_selftest(id, "EDGE_DATA_DIR CA", err, errlen);
}

/* check: a directory that does not exist yet is fine (run creates it). */
static int
data_dir(
    struct edge_id *id, const char *dir, bool check, char *err, size_t errlen)
{
	struct stat st;

	if (strlen(dir) >= sizeof(id->dir) - 16) {
		snprintf(err, errlen, "EDGE_DATA_DIR: path too long");
		return -1;
	}
	snprintf(id->dir, sizeof(id->dir), "%s", dir);
	if (check && stat(dir, &st) < 0 && errno == ENOENT)
		return 0;
	if (!check && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(
		    err, errlen, "EDGE_DATA_DIR: %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(
		    err, errlen, "EDGE_DATA_DIR: %s: not a directory", dir);
		return -1;
	}
	return 0;
}

/* The CA, tokens and revocations; for run under the directory's lock, so
 * replicas starting together generate one CA (check writes nothing). */
static int
stores_load(struct edge_id *id, const struct cfg *c, bool check, char *err,
    size_t errlen)
{
	int fd = -1, rc;

	if (!check && (fd = edge_store_lock(id, err, errlen)) < 0)
		return -1;
	rc = ca_load(id, c, check, err, errlen) < 0 ||
		edge_tokens_load(id, err, errlen) < 0 ||
		edge_revoked_load(id, err, errlen) < 0
	    ? -1
	    : 0;
	edge_store_unlock(fd);
	return rc;
}

/* see edge_id.h */
int
edge_id_load(struct edge_id **out, const struct cfg *c, bool check, char *err,
    size_t errlen)
{
	const char *dir = cfg_str(c, CFG_EDGE_DATA_DIR);
	struct edge_id *id;

	*out = NULL;
	if (dir == NULL) {
		if (cfg_str(c, CFG_EDGE_CA_CERT_FILE) == NULL &&
		    cfg_str(c, CFG_EDGE_CA_KEY_FILE) == NULL)
			return 0;
		snprintf(err, errlen,
		    "EDGE_CA_CERT_FILE: needs EDGE_DATA_DIR (tokens and "
		    "revocations are kept there)");
		return -1;
	}
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(id->trust_domain, sizeof(id->trust_domain), "%s",
	    cfg_str(c, CFG_EDGE_TRUST_DOMAIN));
	id->lifetime_s = cfg_int(c, CFG_EDGE_CERT_LIFETIME) / 1000;
	id->pair_ttl_s = cfg_int(c, CFG_EDGE_PAIRING_TTL) / 1000;
	id->pair_interval_s = cfg_int(c, CFG_EDGE_PAIRING_INTERVAL) / 1000;
	if (data_dir(id, dir, check, err, errlen) < 0 ||
	    stores_load(id, c, check, err, errlen) < 0) {
		edge_id_free(id);
		return -1;
	}
	*out = id;
	return 0;
}

/* see edge_id.h */
void
edge_id_free(struct edge_id *id)
{
	size_t i;

	if (id == NULL)
		return;
	pki_key_free(id->ca_key);
	free(id->ca_der);
	free(id->ca_pem);
	if (id->tokens != NULL)
		util_wipe(id->tokens, EDGE_TOKENS_MAX * sizeof(*id->tokens));
	free(id->tokens);
	free(id->revoked);
	for (i = 0; i < EDGE_PAIRINGS_MAX; i++)
		free(id->pairs[i].csr);
	free(id);
}
