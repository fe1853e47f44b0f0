/*
 * pki_csr.c — PKCS#10 certification requests (RFC 2986): write one with
 * a subjectAltName extension request, and parse and verify one.
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE {
 *       version INTEGER (0), subject Name, subjectPKInfo SPKI,
 *       attributes [0] IMPLICIT SET OF Attribute },
 *     signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }
 */
#include <stdio.h>
#include <string.h>

#include "tls/pki_int.h"

/* Check the names a request is to carry; 0 or -1 with err. */
static int
csr_names_check(const char *cn, const char *const *uris, size_t nuris,
    const char *const *dns, size_t ndns, char *err, size_t errlen)
{
	size_t i;

	if (nuris + ndns == 0 || nuris > PKI_SAN_MAX || ndns > PKI_SAN_MAX) {
		snprintf(err, errlen,
		    "CSR: between 1 and %d URIs and DNS names each required",
		    PKI_SAN_MAX);
		return -1;
	}
	if (cn != NULL && cn[0] != '\0' && !pki_name_ok(cn, strlen(cn), true)) {
		snprintf(err, errlen,
		    "CSR: CN must be 1-%d bytes without control characters",
		    PKI_NAME_MAX);
		return -1;
	}
	for (i = 0; i < nuris + ndns; i++) {
		const char *s = i < nuris ? uris[i] : dns[i - nuris];

		if (!pki_name_ok(s, strlen(s), false)) {
			snprintf(err, errlen,
			    "CSR: %s %zu must be 1-%d printable ASCII bytes "
			    "without spaces",
			    i < nuris ? "URI" : "DNS name",
			    (i < nuris ? i : i - nuris) + 1, PKI_NAME_MAX);
			return -1;
		}
	}
	return 0;
}

/* attributes [0] { extensionRequest { Extensions { subjectAltName } } } */
static void
csr_attrs_put(struct buf *b, const char *const *uris, size_t nuris,
    const char *const *dns, size_t ndns)
{
	size_t attrs = der_begin(b, DER_CTX(0));
	size_t attr = der_begin(b, DER_SEQUENCE), set, exts;

	DER_PUT_OID(b, OID_EXT_REQUEST);
	set = der_begin(b, DER_SET);
	exts = der_begin(b, DER_SEQUENCE);
	pki_san_put(b, uris, nuris, dns, ndns, false);
	der_end(b, exts);
	der_end(b, set);
	der_end(b, attr);
	der_end(b, attrs);
}

/* see pki.h */
int
pki_csr_write(const struct pki_key *key, const char *cn,
    const char *const *uris, size_t nuris, const char *const *dns, size_t ndns,
    struct buf *out, char *err, size_t errlen)
{
	size_t outer, tbs, info;
	char why[128];

	if (csr_names_check(cn, uris, nuris, dns, ndns, err, errlen) < 0)
		return -1;
	outer = der_begin(out, DER_SEQUENCE);
	tbs = out->len;
	info = der_begin(out, DER_SEQUENCE);
	der_put(out, DER_INTEGER, "", 1); /* version 1 (0) */
	pki_name_put(out, cn);
	pki_spki_put(out, &key->pub);
	csr_attrs_put(out, uris, nuris, dns, ndns);
	der_end(out, info);
	if (pki_sign_append(key, out, tbs, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "CSR: %s", why);
		return -1;
	}
	der_end(out, outer);
	if (out->overflow) {
		snprintf(
		    err, errlen, "CSR: does not fit in %zu bytes", out->cap);
		return -1;
	}
	return 0;
}

/* Copy a name's bytes into a NUL-terminated slot; 0 or -1. */
static int
name_copy(char *dst, const struct der *v, bool text)
{
	if (!pki_name_ok((const char *)v->p, v->len, text) ||
	    memchr(v->p, 0, v->len) != NULL)
		return -1;
	memcpy(dst, v->p, v->len);
	dst[v->len] = '\0';
	return 0;
}

/* GeneralNames: keep URIs and DNS names, skip the other kinds. */
static int
csr_san_get(struct der names, struct pki_csr *csr, char *err, size_t errlen)
{
	struct der seq, v;
	uint8_t tag;

	if (der_take(&names, DER_SEQUENCE, &seq) < 0 || names.len != 0)
		goto bad;
	while (seq.len > 0) {
		if (der_next(&seq, &tag, &v, NULL) < 0)
			goto bad;
		if (tag == DER_CTX_PRIM(6) || tag == DER_CTX_PRIM(2)) {
			size_t *n =
			    tag == DER_CTX_PRIM(6) ? &csr->nuri : &csr->ndns;
			char(*slot)[PKI_NAME_MAX + 1] =
			    tag == DER_CTX_PRIM(6) ? csr->uri : csr->dns;

			if (*n == PKI_SAN_MAX) {
				snprintf(err, errlen,
				    "CSR: more than %d %s names", PKI_SAN_MAX,
				    tag == DER_CTX_PRIM(6) ? "URI" : "DNS");
				return -1;
			}
			if (name_copy(slot[*n], &v, false) < 0) {
				snprintf(err, errlen,
				    "CSR: SAN name not 1-%d printable bytes",
				    PKI_NAME_MAX);
				return -1;
			}
			(*n)++;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "CSR: malformed subjectAltName");
	return -1;
}

/* Extensions ::= SEQUENCE OF Extension; only subjectAltName matters. */
static int
csr_exts_get(struct der exts, struct pki_csr *csr, char *err, size_t errlen)
{
	struct der seq, oid, v;

	if (der_take(&exts, DER_SEQUENCE, &seq) < 0 || exts.len != 0)
		goto bad;
	while (seq.len > 0) {
		if (pki_ext_next(&seq, &oid, &v) < 0)
			goto bad;
		if (DER_IS_OID(&oid, OID_SAN) &&
		    csr_san_get(v, csr, err, errlen) < 0)
			return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "CSR: malformed extension request");
	return -1;
}

/* attributes: SET OF Attribute { type OID, values SET }. */
static int
csr_attrs_get(struct der attrs, struct pki_csr *csr, char *err, size_t errlen)
{
	struct der attr, oid, values;

	while (attrs.len > 0) {
		if (der_take(&attrs, DER_SEQUENCE, &attr) < 0 ||
		    der_take(&attr, DER_OID, &oid) < 0 ||
		    der_take(&attr, DER_SET, &values) < 0 || attr.len != 0) {
			snprintf(err, errlen, "CSR: malformed attribute");
			return -1;
		}
		if (DER_IS_OID(&oid, OID_EXT_REQUEST) &&
		    csr_exts_get(values, csr, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The first CN of a Name, if any. */
static int
csr_cn_get(struct der name, struct pki_csr *csr, char *err, size_t errlen)
{
	struct der rdn, atv, oid, v;
	uint8_t tag;

	while (name.len > 0) {
		if (der_take(&name, DER_SET, &rdn) < 0)
			goto bad;
		while (rdn.len > 0) {
			if (der_take(&rdn, DER_SEQUENCE, &atv) < 0 ||
			    der_take(&atv, DER_OID, &oid) < 0 ||
			    der_next(&atv, &tag, &v, NULL) < 0 || atv.len != 0)
				goto bad;
			if (!DER_IS_OID(&oid, OID_CN) || csr->cn[0] != '\0')
				continue;
			if ((tag != DER_UTF8 && tag != DER_PRINTABLE &&
				tag != DER_IA5) ||
			    name_copy(csr->cn, &v, true) < 0) {
				snprintf(err, errlen,
				    "CSR: subject CN not 1-%d bytes of text",
				    PKI_NAME_MAX);
				return -1;
			}
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "CSR: malformed subject");
	return -1;
}

/* certificationRequestInfo's contents. */
static int
csr_info_get(struct der info, struct pki_csr *csr, char *err, size_t errlen)
{
	struct der version, name, spki, attrs = {NULL, 0};
	uint8_t tag;

	if (der_take(&info, DER_INTEGER, &version) < 0 ||
	    !der_is(&version, "", 1)) {
		snprintf(err, errlen, "CSR: version is not 1");
		return -1;
	}
	if (der_take(&info, DER_SEQUENCE, &name) < 0 ||
	    der_next(&info, &tag, &spki, NULL) < 0 || tag != DER_SEQUENCE ||
	    (info.len > 0 && der_take(&info, DER_CTX(0), &attrs) < 0) ||
	    info.len != 0) {
		snprintf(err, errlen, "CSR: malformed request info");
		return -1;
	}
	if (pki_spki_get(&spki, &csr->pkey, csr->keybuf, "CSR", err, errlen) <
	    0)
		return -1;
	if (csr_cn_get(name, csr, err, errlen) < 0)
		return -1;
	return csr_attrs_get(attrs, csr, err, errlen);
}

/* see pki.h */
int
pki_csr_parse(
    const void *der, size_t len, struct pki_csr *csr, char *err, size_t errlen)
{
	struct der in = {der, len}, req, tbs, info, alg, sig;
	uint8_t tag;

	memset(csr, 0, sizeof(*csr));
	if (len > PKI_DER_MAX) {
		snprintf(err, errlen, "CSR: over %d bytes", PKI_DER_MAX);
		return -1;
	}
	if (der_take(&in, DER_SEQUENCE, &req) < 0 || in.len != 0 ||
	    der_next(&req, &tag, &info, &tbs) < 0 || tag != DER_SEQUENCE ||
	    der_take(&req, DER_SEQUENCE, &alg) < 0 ||
	    der_take(&req, DER_BIT_STRING, &sig) < 0 || req.len != 0 ||
	    sig.len < 2 || sig.p[0] != 0) {
		snprintf(err, errlen, "CSR: not a DER PKCS#10 request");
		return -1;
	}
	if (csr_info_get(info, csr, err, errlen) < 0)
		return -1;
	sig.p++;
	sig.len--;
	return pki_verify(&csr->pkey, &alg, &tbs, &sig, "CSR", err, errlen);
}
