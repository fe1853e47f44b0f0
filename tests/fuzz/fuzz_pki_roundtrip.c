/*
 * Fuzz target: the pki writers checked by our own readers.  The input is
 * split at '\n' into a CN, then URIs and DNS names (a line starting with
 * '.' is a DNS name); the first byte picks the key type and validity.
 *  - pki_csr_write accepts exactly the names pki_name_ok accepts, and
 *    pki_csr_parse gives back the same names and key, signature valid;
 *  - the parsed key gets a certificate (pki_cert_issue) that BearSSL's
 *    X.509 decoder reads back with the same key;
 *  - the DER writer nests values of every length, read back exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "tls/pki_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINES (2 * PKI_SAN_MAX + 1)

static struct pki_key *keys[2];
static uint8_t ca[PKI_DER_MAX];
static size_t calen;

static void
setup(void)
{
	struct buf b;
	char err[256];

	if (pki_key_generate(PKI_KEY_P256, &keys[0], err, sizeof(err)) < 0 ||
	    pki_key_generate(PKI_KEY_RSA2048, &keys[1], err, sizeof(err)) < 0)
		abort();
	buf_init(&b, ca, sizeof(ca));
	if (pki_ca_create(keys[0], "fuzz CA", 1700000000, 1900000000, &b, err,
		sizeof(err)) < 0)
		abort();
	calen = b.len;
}

struct names {
	char line[LINES][PKI_NAME_MAX + 8];
	const char *cn, *uris[PKI_SAN_MAX], *dns[PKI_SAN_MAX];
	size_t nuris, ndns;
	bool valid;
};

static void
name_add(struct names *nm, const char **slot, const char *s)
{
	*slot = s;
	if (!pki_name_ok(s, strlen(s), false))
		nm->valid = false;
}

/* Split the input; names that are too many or too long end the input. */
static void
names_split(const uint8_t *p, size_t n, struct names *nm)
{
	size_t i = 0, len;
	const uint8_t *nl;
	char *s;

	memset(nm, 0, sizeof(*nm));
	nm->valid = true;
	while (n > 0 && i < LINES) {
		nl = memchr(p, '\n', n);
		len = nl ? (size_t)(nl - p) : n;
		s = nm->line[i++];
		memcpy(s, p, MIN(len, PKI_NAME_MAX + 1));
		if (i == 1)
			nm->cn = s;
		else if (s[0] == '.' && nm->ndns < PKI_SAN_MAX)
			name_add(nm, &nm->dns[nm->ndns++], s + 1);
		else if (s[0] != '.' && nm->nuris < PKI_SAN_MAX)
			name_add(nm, &nm->uris[nm->nuris++], s);
		len += nl ? 1 : 0;
		p += len;
		n -= len;
	}
	if (nm->cn != NULL && nm->cn[0] != '\0' &&
	    !pki_name_ok(nm->cn, strlen(nm->cn), true))
		nm->valid = false;
	if (nm->nuris + nm->ndns == 0)
		nm->valid = false;
}

static void
issue_check(const struct pki_key *k, const struct pki_csr *csr, uint8_t sel)
{
	static uint8_t out[PKI_DER_MAX];
	br_x509_decoder_context dc;
	const br_x509_pkey *got;
	struct pki_issue in = {
	    .issuer_key = keys[0],
	    .issuer_cert = ca,
	    .issuer_cert_len = calen,
	    .subject_key = &csr->pkey,
	    .cn = csr->cn,
	    .san_uri = csr->nuri > 0 ? csr->uri[0] : "spiffe://fuzz/x",
	    .not_before = 1700000000 + (int64_t)sel * 86400 * 100,
	    .not_after = 1700000000 + (int64_t)sel * 86400 * 200 + 1,
	    .eku = sel & 3,
	};
	struct buf b;
	char err[256];

	buf_init(&b, out, sizeof(out));
	if (pki_cert_issue(&in, NULL, &b, err, sizeof(err)) < 0)
		__builtin_trap();
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, b.p, b.len);
	got = br_x509_decoder_get_pkey(&dc);
	if (got == NULL || got->key_type != k->pub.key_type)
		__builtin_trap();
}

static void
csr_roundtrip(const struct names *nm, uint8_t sel)
{
	static uint8_t der[PKI_DER_MAX];
	static struct pki_csr csr;
	const struct pki_key *k = keys[sel & 1];
	struct buf b;
	char err[256];
	size_t i;
	int rc;

	buf_init(&b, der, sizeof(der));
	rc = pki_csr_write(k, nm->cn, nm->uris, nm->nuris, nm->dns, nm->ndns,
	    &b, err, sizeof(err));
	if ((rc == 0) != nm->valid)
		__builtin_trap();
	if (rc < 0)
		return;
	if (pki_csr_parse(b.p, b.len, &csr, err, sizeof(err)) < 0 ||
	    strcmp(csr.cn, nm->cn ? nm->cn : "") != 0 ||
	    csr.nuri != nm->nuris || csr.ndns != nm->ndns)
		__builtin_trap();
	for (i = 0; i < nm->nuris; i++)
		if (strcmp(csr.uri[i], nm->uris[i]) != 0)
			__builtin_trap();
	for (i = 0; i < nm->ndns; i++)
		if (strcmp(csr.dns[i], nm->dns[i]) != 0)
			__builtin_trap();
	issue_check(k, &csr, sel >> 1);
}

/*
 * Nested DER: each input byte (up to 8) opens a SEQUENCE holding
 * byte * FILL filler bytes, all closed at the end; the reader must walk
 * it back.  Lengths reach every encoding size up to 3 bytes.
 */
#define FILL 256
static void
der_nesting(const uint8_t *p, size_t n)
{
	static uint8_t mem[1 << 20], fill[255 * FILL];
	size_t pos[8], depth = MIN(n, nitems(pos)), i;
	struct der in, val;
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	for (i = 0; i < depth; i++) {
		pos[i] = der_begin(&b, DER_SEQUENCE);
		buf_add(&b, fill, (size_t)p[i] * FILL);
	}
	while (depth-- > 0)
		der_end(&b, pos[depth]);
	if (b.overflow)
		__builtin_trap();
	in = (struct der){b.p, b.len};
	for (i = 0; i < MIN(n, nitems(pos)); i++) {
		if (der_take(&in, DER_SEQUENCE, &val) < 0 || in.len != 0 ||
		    val.len < (size_t)p[i] * FILL)
			__builtin_trap();
		in = (struct der){
		    val.p + (size_t)p[i] * FILL, val.len - (size_t)p[i] * FILL};
	}
	if (in.len != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct names nm;

	if (keys[0] == NULL)
		setup();
	if (size < 1)
		return 0;
	if (data[0] == 0xff) {
		der_nesting(data + 1, size - 1);
		return 0;
	}
	names_split(data + 1, size - 1, &nm);
	csr_roundtrip(&nm, data[0]);
	return 0;
}
