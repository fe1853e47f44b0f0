/*
 * Unit tests: the pki module — DER lengths at every encoding boundary,
 * the strict reader, keys, requests and certificates.  Requests made by
 * openssl are parsed, and what we write is checked by openssl (`openssl
 * verify`, `openssl x509 -text`): the independent peer, shelled out to as
 * test_tls_openssl does.  Usage: test_pki [name-filter]
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "tls/pki_int.h"

#define BIG (70 * 1000)

static uint8_t mem[BIG + 64];
static char dir[64];

static int
group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/outpost-test-pki-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run a shell command in the test directory; its exit status. */
static int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[2048];
	int n;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "cd %s && ", dir);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A file of the test directory into p (cap bytes); its length. */
static size_t
slurp(const char *name, uint8_t *p, size_t cap)
{
	char path[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(p, 1, cap, f);
	fclose(f);
	assert_true(n < cap);
	return n;
}

static void
spew(const char *name, const void *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* True when the text file contains s. */
static bool
file_has(const char *name, const char *s)
{
	static uint8_t text[64 * 1024];
	size_t n = slurp(name, text, sizeof(text) - 1);

	text[n] = 0;
	return strstr((char *)text, s) != NULL;
}

/* The header bytes a len-byte OCTET STRING must start with. */
static size_t
expected_header(size_t len, uint8_t *h)
{
	h[0] = DER_OCTET_STRING;
	if (len < 128) {
		h[1] = (uint8_t)len;
		return 2;
	}
	if (len < 256) {
		h[1] = 0x81;
		h[2] = (uint8_t)len;
		return 3;
	}
	if (len < 65536) {
		h[1] = 0x82;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		return 4;
	}
	h[1] = 0x83;
	h[2] = (uint8_t)(len >> 16);
	h[3] = (uint8_t)(len >> 8);
	h[4] = (uint8_t)len;
	return 5;
}

static const size_t boundaries[] = {
    0, 1, 127, 128, 129, 255, 256, 257, 65535, 65536};

/* der_put at each boundary: exact header, then read back by der_next. */
static void
der_lengths_put(void **state)
{
	static uint8_t content[BIG];
	uint8_t h[8], tag;
	struct der in, val, raw;
	struct buf b;
	size_t i, n, hl;

	for (i = 0; i < BIG; i++)
		content[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < nitems(boundaries); i++) {
		n = boundaries[i];
		buf_init(&b, mem, sizeof(mem));
		der_put(&b, DER_OCTET_STRING, content, n);
		assert_false(b.overflow);
		hl = expected_header(n, h);
		assert_int_equal(der_len_size(n) + 1, hl);
		assert_int_equal(b.len, hl + n);
		assert_memory_equal(b.p, h, hl);
		assert_memory_equal(b.p + hl, content, n);
		in = (struct der){b.p, b.len};
		assert_int_equal(der_next(&in, &tag, &val, &raw), 0);
		assert_int_equal(tag, DER_OCTET_STRING);
		assert_int_equal(val.len, n);
		assert_ptr_equal(val.p, b.p + hl);
		assert_int_equal(raw.len, b.len);
		assert_int_equal(in.len, 0);
	}
}

/*
 * A constructed value whose contents cross each boundary only after
 * nested values were written: der_end must move them.
 */
static void
der_lengths_nested(void **state)
{
	static uint8_t content[BIG];
	uint8_t h[8];
	struct der in, outer, inner;
	struct buf b;
	size_t i, n, pos, hl;

	for (i = 0; i < nitems(boundaries); i++) {
		n = boundaries[i];
		if (n < 2)
			continue;
		buf_init(&b, mem, sizeof(mem));
		pos = der_begin(&b, DER_SEQUENCE);
		/* inner OCTET STRING header + contents = n bytes in all */
		hl = n - 2 < 128 ? 2 : n - 3 < 256 ? 3 : n - 4 < 65536 ? 4 : 5;
		der_put(&b, DER_OCTET_STRING, content, n - hl);
		der_end(&b, pos);
		assert_false(b.overflow);
		expected_header(n, h);
		assert_int_equal(b.p[0], DER_SEQUENCE);
		in = (struct der){b.p, b.len};
		assert_int_equal(der_take(&in, DER_SEQUENCE, &outer), 0);
		assert_int_equal(outer.len, n);
		assert_memory_equal(b.p + 1, h + 1, der_len_size(n));
		assert_int_equal(der_take(&outer, DER_OCTET_STRING, &inner), 0);
		assert_int_equal(inner.len, n - hl);
		assert_int_equal(outer.len, 0);
	}
}

/* The writer never writes past the capacity; overflow is sticky. */
static void
der_writer_overflow(void **state)
{
	uint8_t small[130], content[200] = {0};
	struct buf b;
	size_t pos;

	buf_init(&b, small, sizeof(small));
	der_put(&b, DER_OCTET_STRING, content, 127); /* 129 bytes: fits */
	assert_false(b.overflow);
	buf_init(&b, small, sizeof(small));
	pos = der_begin(&b, DER_SEQUENCE);
	buf_add(&b, content, 128); /* fits, but its length needs 1 more byte */
	der_end(&b, pos);
	assert_true(b.overflow);
}

static int
read_one(const uint8_t *p, size_t n)
{
	struct der in = {p, n}, val;
	uint8_t tag;

	return der_next(&in, &tag, &val, NULL);
}

/* Strict DER: no indefinite, non-minimal, overlong or high-tag forms. */
static void
der_reader_strict(void **state)
{
	static const uint8_t ok[] = {0x04, 0x81, 0x80};
	uint8_t v[300] = {0};

	assert_int_equal(read_one((const uint8_t *)"\x04\x00", 2), 0);
	assert_int_equal(read_one((const uint8_t *)"\x04\x01", 2), -1);
	assert_int_equal(read_one((const uint8_t *)"\x30\x80\x00\x00", 4), -1);
	assert_int_equal(read_one((const uint8_t *)"\x04\x81\x05xxxxx", 8), -1);
	memcpy(v, "\x04\x82\x00\x80", 4); /* 128 in two bytes */
	assert_int_equal(read_one(v, 4 + 128), -1);
	assert_int_equal(read_one((const uint8_t *)"\x1f\x01\x00", 3), -1);
	assert_int_equal(read_one((const uint8_t *)"\x04\x85\x01\x00\x00\x00"
						   "\x00",
			     7),
	    -1);
	memcpy(v, ok, sizeof(ok));
	assert_int_equal(read_one(v, 3 + 128), 0);
	assert_int_equal(read_one(v, 3 + 127), -1);
	assert_int_equal(read_one(NULL, 0), -1);
}

/* INTEGER: minimal, non-negative, leading zero stripped. */
static void
der_integers(void **state)
{
	static const uint8_t big[] = {0x80, 0x01};
	static const uint8_t zero[] = {0, 0, 0};
	uint8_t m[16];
	struct buf b;
	struct der in, val, mag;

	buf_init(&b, m, sizeof(m));
	der_put_uint(&b, big, sizeof(big));
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.p, "\x02\x03\x00\x80\x01", 5);
	in = (struct der){b.p, b.len};
	assert_int_equal(der_take(&in, DER_INTEGER, &val), 0);
	assert_int_equal(der_uint(&val, &mag), 0);
	assert_int_equal(mag.len, 2);
	assert_memory_equal(mag.p, big, 2);
	buf_init(&b, m, sizeof(m));
	der_put_uint(&b, zero, sizeof(zero));
	assert_memory_equal(b.p, "\x02\x01\x00", 3);
	val = (struct der){(const uint8_t *)"\x00\x01", 2};
	assert_int_equal(der_uint(&val, &mag), -1);
	val = (struct der){(const uint8_t *)"\xff", 1};
	assert_int_equal(der_uint(&val, &mag), -1);
}

/* Times: UTCTime until 2049, GeneralizedTime from 2050. */
static void
der_times(void **state)
{
	uint8_t m[32];
	struct buf b;

	buf_init(&b, m, sizeof(m));
	der_put_time(&b, 1700000000); /* 2023-11-14 22:13:20 */
	assert_int_equal(b.len, 15);
	assert_memory_equal(b.p,
	    "\x17\x0d"
	    "231114221320Z",
	    15);
	buf_init(&b, m, sizeof(m));
	der_put_time(&b, 2524608000LL); /* 2050-01-01 00:00:00 */
	assert_memory_equal(b.p,
	    "\x18\x0f"
	    "20500101000000Z",
	    17);
	buf_init(&b, m, sizeof(m));
	der_put_time(&b, 2524607999LL);
	assert_memory_equal(b.p,
	    "\x17\x0d"
	    "491231235959Z",
	    15);
}

/* Keys: every type generates, reports its type and exports as PEM. */
static void
key_types_roundtrip(void **state)
{
	static const enum pki_key_type types[] = {
	    PKI_KEY_P256, PKI_KEY_P384, PKI_KEY_RSA2048};
	static uint8_t pem[PKI_KEY_PEM_MAX];
	struct pki_key *k, *k2;
	br_x509_pkey a, b2;
	char err[256];
	struct buf b;
	size_t i;

	for (i = 0; i < nitems(types); i++) {
		assert_int_equal(
		    pki_key_generate(types[i], &k, err, sizeof(err)), 0);
		assert_int_equal(pki_key_type(k), types[i]);
		buf_init(&b, pem, sizeof(pem));
		assert_int_equal(pki_key_pem(k, &b, err, sizeof(err)), 0);
		assert_int_equal(
		    pki_key_load(&k2, b.p, b.len, "test", err, sizeof(err)), 0);
		assert_int_equal(pki_key_type(k2), types[i]);
		pki_key_public(k, &a);
		pki_key_public(k2, &b2);
		assert_int_equal(a.key_type, b2.key_type);
		if (a.key_type == BR_KEYTYPE_EC)
			assert_memory_equal(
			    a.key.ec.q, b2.key.ec.q, a.key.ec.qlen);
		else
			assert_memory_equal(
			    a.key.rsa.n, b2.key.rsa.n, a.key.rsa.nlen);
		pki_key_free(k);
		pki_key_free(k2);
	}
	assert_int_equal(pki_key_generate(0, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown key type"));
	assert_int_equal(pki_key_type_parse("rsa1024"), 0);
	assert_string_equal(pki_key_type_name(PKI_KEY_RSA4096), "rsa4096");
}

static void
spki_of(const br_x509_pkey *pk, struct buf *b, uint8_t *m, size_t cap)
{
	buf_init(b, m, cap);
	pki_spki_put(b, pk);
	assert_false(b->overflow);
}

/* Our requests parse back with their names and key. */
static void
csr_roundtrip_own(void **state)
{
	static const enum pki_key_type types[] = {
	    PKI_KEY_P256, PKI_KEY_P384, PKI_KEY_RSA2048};
	const char *uris[] = {"spiffe://td/connector/a", "urn:x"};
	const char *dns[] = {"a.example"};
	static uint8_t der[PKI_DER_MAX], m1[1024], m2[1024];
	static struct pki_csr csr;
	struct pki_key *k;
	br_x509_pkey pub;
	struct buf b, s1, s2;
	char err[256];
	size_t i;

	for (i = 0; i < nitems(types); i++) {
		assert_int_equal(
		    pki_key_generate(types[i], &k, err, sizeof(err)), 0);
		buf_init(&b, der, sizeof(der));
		assert_int_equal(pki_csr_write(k, "conn a", uris, 2, dns, 1, &b,
				     err, sizeof(err)),
		    0);
		assert_int_equal(
		    pki_csr_parse(b.p, b.len, &csr, err, sizeof(err)), 0);
		assert_string_equal(csr.cn, "conn a");
		assert_int_equal(csr.nuri, 2);
		assert_string_equal(csr.uri[0], uris[0]);
		assert_string_equal(csr.uri[1], uris[1]);
		assert_int_equal(csr.ndns, 1);
		assert_string_equal(csr.dns[0], dns[0]);
		pki_key_public(k, &pub);
		spki_of(&pub, &s1, m1, sizeof(m1));
		spki_of(&csr.pkey, &s2, m2, sizeof(m2));
		assert_int_equal(s1.len, s2.len);
		assert_memory_equal(s1.p, s2.p, s1.len);
		/* Without CN: an empty subject. */
		buf_init(&b, der, sizeof(der));
		assert_int_equal(pki_csr_write(k, NULL, uris, 1, NULL, 0, &b,
				     err, sizeof(err)),
		    0);
		assert_int_equal(
		    pki_csr_parse(b.p, b.len, &csr, err, sizeof(err)), 0);
		assert_string_equal(csr.cn, "");
		pki_key_free(k);
	}
}

/* Bad names are refused before anything is written. */
static void
csr_write_refusals(void **state)
{
	const char *bad[] = {"has space"}, *ok[] = {"spiffe://td/x"};
	uint8_t der[64];
	struct pki_key *k;
	struct buf b;
	char err[256];

	assert_int_equal(
	    pki_key_generate(PKI_KEY_P256, &k, err, sizeof(err)), 0);
	buf_init(&b, der, sizeof(der));
	assert_int_equal(
	    pki_csr_write(k, NULL, NULL, 0, NULL, 0, &b, err, sizeof(err)), -1);
	assert_int_equal(
	    pki_csr_write(k, NULL, bad, 1, NULL, 0, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "URI 1"));
	assert_int_equal(
	    pki_csr_write(k, "x\ny", ok, 1, NULL, 0, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CN"));
	/* Too small an output buffer: an error, not a truncated request. */
	assert_int_equal(
	    pki_csr_write(k, NULL, ok, 1, NULL, 0, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not fit"));
	pki_key_free(k);
}

/* Make a DER request with openssl; the key goes to key.pem. */
static int
openssl_csr(const char *newkey, const char *out)
{
	return sh("openssl req -new -newkey %s -nodes -keyout key.pem "
		  "-subj /CN=ossl -addext "
		  "subjectAltName=URI:spiffe://td/connector/o,DNS:o.example "
		  "-outform DER -out %s 2>/dev/null && openssl pkey -in "
		  "key.pem -pubout -outform DER -out pub.der",
	    newkey, out);
}

/* openssl's requests (P-256, P-384, RSA-2048/4096) parse; the key matches. */
static void
csr_openssl_accepted(void **state)
{
	static const char *newkeys[] = {"ec -pkeyopt ec_paramgen_curve:P-256",
	    "ec -pkeyopt ec_paramgen_curve:P-384", "rsa:2048", "rsa:4096"};
	static uint8_t der[PKI_DER_MAX], pub[2048], m[2048];
	static struct pki_csr csr;
	struct buf b;
	char err[256];
	size_t i, n, pn;

	for (i = 0; i < nitems(newkeys); i++) {
		assert_int_equal(openssl_csr(newkeys[i], "req.der"), 0);
		n = slurp("req.der", der, sizeof(der));
		assert_int_equal(
		    pki_csr_parse(der, n, &csr, err, sizeof(err)), 0);
		assert_string_equal(csr.cn, "ossl");
		assert_int_equal(csr.nuri, 1);
		assert_string_equal(csr.uri[0], "spiffe://td/connector/o");
		assert_string_equal(csr.dns[0], "o.example");
		pn = slurp("pub.der", pub, sizeof(pub));
		spki_of(&csr.pkey, &b, m, sizeof(m));
		assert_int_equal(b.len, pn);
		assert_memory_equal(b.p, pub, pn);
	}
}

/* RSA-1024 and other curves are refused with a reason. */
static void
csr_openssl_weak_refused(void **state)
{
	static uint8_t der[PKI_DER_MAX];
	static struct pki_csr csr;
	char err[256];
	size_t n;

	assert_int_equal(openssl_csr("rsa:1024", "weak.der"), 0);
	n = slurp("weak.der", der, sizeof(der));
	assert_int_equal(pki_csr_parse(der, n, &csr, err, sizeof(err)), -1);
	assert_string_equal(err, "CSR: RSA key of 1024 bits, 2048 required");
	assert_int_equal(
	    openssl_csr("ec -pkeyopt ec_paramgen_curve:P-521", "p521.der"), 0);
	n = slurp("p521.der", der, sizeof(der));
	assert_int_equal(pki_csr_parse(der, n, &csr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "EC curve unsupported"));
}

/* A flipped byte in the signature or in the signed part is refused. */
static void
csr_tampered_refused(void **state)
{
	static uint8_t der[PKI_DER_MAX];
	static struct pki_csr csr;
	char err[256];
	size_t n, i;
	uint8_t *cn;

	assert_int_equal(openssl_csr("rsa:2048", "t.der"), 0);
	n = slurp("t.der", der, sizeof(der));
	der[n - 10] ^= 0x01; /* inside the RSA signature */
	assert_int_equal(pki_csr_parse(der, n, &csr, err, sizeof(err)), -1);
	assert_string_equal(err, "CSR: bad signature");
	der[n - 10] ^= 0x01;
	assert_int_equal(pki_csr_parse(der, n, &csr, err, sizeof(err)), 0);
	cn = memmem(der, n, "ossl", 4);
	assert_non_null(cn);
	cn[0] = 'O'; /* the CN, inside the signed info */
	assert_int_equal(pki_csr_parse(der, n, &csr, err, sizeof(err)), -1);
	assert_string_equal(err, "CSR: bad signature");
	cn[0] = 'o';
	assert_int_equal(
	    openssl_csr("ec -pkeyopt ec_paramgen_curve:P-256", "e.der"), 0);
	n = slurp("e.der", der, sizeof(der));
	der[n - 3] ^= 0x40; /* inside the ECDSA signature's s */
	assert_int_equal(pki_csr_parse(der, n, &csr, err, sizeof(err)), -1);
	assert_string_equal(err, "CSR: bad signature");
	der[n - 3] ^= 0x40;
	/* Every truncation and trailing garbage: refused, never read past. */
	for (i = 0; i < n; i++)
		assert_int_equal(
		    pki_csr_parse(der, i, &csr, err, sizeof(err)), -1);
	der[n] = 0;
	assert_int_equal(pki_csr_parse(der, n + 1, &csr, err, sizeof(err)), -1);
}

#define DAY 86400

/* PEM-armour der into a file of the test directory. */
static void
spew_pem(const char *name, const char *label, const struct buf *der)
{
	static uint8_t pm[PKI_PEM_MAX];
	struct buf pem;
	char err[128];

	buf_init(&pem, pm, sizeof(pm));
	assert_int_equal(
	    pki_pem(label, der->p, der->len, &pem, err, sizeof(err)), 0);
	spew(name, pem.p, pem.len);
}

/* Issue for a request made with subject key type st; openssl checks. */
static void
issue_and_verify(
    struct pki_key *ca, const struct buf *cader, enum pki_key_type st)
{
	static uint8_t der[PKI_DER_MAX], leaf[PKI_DER_MAX];
	static struct pki_csr csr;
	const char *uris[] = {"spiffe://ignored/by/issuer"};
	uint8_t serial[PKI_SERIAL_LEN], serial2[PKI_SERIAL_LEN];
	struct pki_key *k;
	struct buf b, lb;
	char err[256];
	int64_t now = time(NULL);
	struct pki_issue in = {
	    .issuer_key = ca,
	    .issuer_cert = cader->p,
	    .issuer_cert_len = cader->len,
	    .subject_key = &csr.pkey,
	    .cn = "conn-1",
	    .san_uri = "spiffe://example.org/connector/conn-1",
	    .not_before = now - 300,
	    .not_after = now + DAY,
	    .eku = PKI_EKU_CLIENT_AUTH,
	};

	assert_int_equal(pki_key_generate(st, &k, err, sizeof(err)), 0);
	buf_init(&b, der, sizeof(der));
	assert_int_equal(
	    pki_csr_write(k, NULL, uris, 1, NULL, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(pki_csr_parse(b.p, b.len, &csr, err, sizeof(err)), 0);
	buf_init(&lb, leaf, sizeof(leaf));
	assert_int_equal(pki_cert_issue(&in, serial, &lb, err, sizeof(err)), 0);
	spew_pem("leaf.pem", "CERTIFICATE", &lb);
	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(pki_key_pem(k, &b, err, sizeof(err)), 0);
	spew("leafkey.pem", b.p, b.len);
	assert_int_equal(sh("openssl verify -x509_strict -purpose sslclient "
			    "-CAfile ca.pem leaf.pem >/dev/null"),
	    0);
	assert_int_equal(
	    sh("openssl x509 -in leaf.pem -noout -text >leaf.txt"), 0);
	assert_true(file_has("leaf.txt", "TLS Web Client Authentication"));
	assert_true(
	    file_has("leaf.txt", "URI:spiffe://example.org/connector/conn-1"));
	assert_true(file_has("leaf.txt", "CA:FALSE"));
	assert_true(file_has("leaf.txt", "Subject: CN = conn-1"));
	assert_true(file_has("leaf.txt", "Digital Signature"));
	/* The certificate carries the requester's key. */
	assert_int_equal(sh("openssl x509 -in leaf.pem -noout -pubkey >a.pub "
			    "&& openssl pkey -in leafkey.pem -pubout >b.pub "
			    "&& cmp -s a.pub b.pub"),
	    0);
	/* A fresh serial each time, positive (top bit is sign: encoded). */
	buf_init(&lb, leaf, sizeof(leaf));
	assert_int_equal(
	    pki_cert_issue(&in, serial2, &lb, err, sizeof(err)), 0);
	assert_memory_not_equal(serial, serial2, sizeof(serial));
	pki_key_free(k);
}

/* CAs of ours (P-256, RSA-2048) issue leaves openssl verifies. */
static void
cert_issue_openssl_verify(void **state)
{
	static uint8_t cam[PKI_DER_MAX];
	static const enum pki_key_type cas[] = {PKI_KEY_P256, PKI_KEY_RSA2048};
	struct pki_key *ca;
	struct buf cb;
	char err[256];
	int64_t now = time(NULL);
	size_t i;

	for (i = 0; i < nitems(cas); i++) {
		assert_int_equal(
		    pki_key_generate(cas[i], &ca, err, sizeof(err)), 0);
		buf_init(&cb, cam, sizeof(cam));
		assert_int_equal(pki_ca_create(ca, "outpost test CA", now - DAY,
				     now + 365 * DAY, &cb, err, sizeof(err)),
		    0);
		spew_pem("ca.pem", "CERTIFICATE", &cb);
		assert_int_equal(
		    sh("openssl x509 -in ca.pem -noout -text >ca.txt"), 0);
		assert_true(file_has("ca.txt", "CA:TRUE"));
		assert_true(file_has("ca.txt", "Certificate Sign, CRL Sign"));
		assert_true(file_has("ca.txt", "Subject Key Identifier"));
		assert_int_equal(
		    sh("openssl verify -x509_strict -CAfile ca.pem "
		       "ca.pem >/dev/null"),
		    0);
		issue_and_verify(ca, &cb, PKI_KEY_P384);
		issue_and_verify(ca, &cb, PKI_KEY_RSA2048);
		pki_key_free(ca);
	}
}

/* A CA made by openssl (EDGE_CA_*_FILE) issues through its files. */
static void
cert_issue_openssl_ca(void **state)
{
	static uint8_t pem[8192], der[PKI_DER_MAX];
	struct pki_key *ca;
	struct buf cb;
	char err[256];
	size_t n;

	assert_int_equal(
	    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	       "-nodes -keyout cakey.pem -subj '/O=Elsewhere/CN=Ext CA' "
	       "-addext keyUsage=critical,keyCertSign,cRLSign "
	       "-days 2 -out ca.pem 2>/dev/null && openssl x509 -in ca.pem "
	       "-outform DER -out ca.der"),
	    0);
	n = slurp("cakey.pem", pem, sizeof(pem));
	assert_int_equal(pki_key_load(&ca, pem, n, "CA", err, sizeof(err)), 0);
	n = slurp("ca.der", der, sizeof(der));
	cb = (struct buf){.p = der, .len = n, .cap = sizeof(der)};
	issue_and_verify(ca, &cb, PKI_KEY_P256);
	pki_key_free(ca);
}

/* Wrong CA key, a non-CA issuer, bad validity: refused with reasons. */
static void
cert_issue_refusals(void **state)
{
	static uint8_t cam[PKI_DER_MAX], out[PKI_DER_MAX];
	struct pki_key *ca, *other;
	br_x509_pkey pub;
	struct buf cb, ob;
	char err[256];
	struct pki_issue in = {
	    .subject_key = &pub,
	    .san_uri = "spiffe://td/connector/x",
	    .not_before = 1700000000,
	    .not_after = 1700003600,
	};

	assert_int_equal(
	    pki_key_generate(PKI_KEY_P256, &ca, err, sizeof(err)), 0);
	assert_int_equal(
	    pki_key_generate(PKI_KEY_P256, &other, err, sizeof(err)), 0);
	pki_key_public(other, &pub);
	buf_init(&cb, cam, sizeof(cam));
	assert_int_equal(pki_ca_create(ca, "CA", 1700000000, 1800000000, &cb,
			     err, sizeof(err)),
	    0);
	in.issuer_cert = cb.p;
	in.issuer_cert_len = cb.len;
	in.issuer_key = other;
	buf_init(&ob, out, sizeof(out));
	assert_int_equal(pki_cert_issue(&in, NULL, &ob, err, sizeof(err)), -1);
	assert_string_equal(err, "CA key does not match the CA certificate");
	in.issuer_key = ca;
	in.not_after = in.not_before;
	assert_int_equal(pki_cert_issue(&in, NULL, &ob, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not_after"));
	in.not_after = 253402300800LL; /* year 10000 */
	assert_int_equal(pki_cert_issue(&in, NULL, &ob, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1950-9999"));
	in.not_after = in.not_before + 3600;
	assert_int_equal(pki_cert_issue(&in, NULL, &ob, err, sizeof(err)), 0);
	/* The leaf just issued cannot issue. */
	in.issuer_cert = ob.p;
	in.issuer_cert_len = ob.len;
	in.issuer_key = other;
	buf_init(&cb, cam, sizeof(cam));
	assert_int_equal(pki_cert_issue(&in, NULL, &cb, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a CA"));
	pki_key_free(ca);
	pki_key_free(other);
}

/*
 * An RSA-4096 key matches its certificate in the TLS identity loader
 * (BearSSL's default modulus code cannot compute 4096-bit moduli), and
 * pki_key_load reads the same key.
 */
static void
rsa4096_identity_loads(void **state)
{
	static uint8_t cert[16384], key[16384];
	struct tls_ident id;
	struct pki_key *k;
	char err[256];
	size_t cn, kn;

	assert_int_equal(sh("openssl req -x509 -newkey rsa:4096 -nodes -keyout "
			    "k4096.pem -subj /CN=big -days 1 -out c4096.pem "
			    "2>/dev/null"),
	    0);
	cn = slurp("c4096.pem", cert, sizeof(cert));
	kn = slurp("k4096.pem", key, sizeof(key));
	assert_int_equal(
	    tls_ident_load(&id, cert, cn, key, kn, err, sizeof(err)), 0);
	tls_ident_free(&id);
	assert_int_equal(pki_key_load(&k, key, kn, "k", err, sizeof(err)), 0);
	assert_int_equal(pki_key_type(k), PKI_KEY_RSA4096);
	pki_key_free(k);
}

/*
 * RSA keys made by openssl (primes not = 3 mod 4, which BearSSL's
 * exponent recovery needs) load, and export as the same key.  Four keys:
 * all four passing by luck would be a 1 in 256 chance.
 */
static void
rsa_openssl_keys_load(void **state)
{
	static uint8_t key[8192];
	struct pki_key *k;
	char err[256];
	struct buf b;
	size_t n, i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(sh("openssl genpkey -algorithm rsa -pkeyopt "
				    "rsa_keygen_bits:2048 -out r.pem "
				    "2>/dev/null"),
		    0);
		n = slurp("r.pem", key, sizeof(key));
		assert_int_equal(
		    pki_key_load(&k, key, n, "r.pem", err, sizeof(err)), 0);
		buf_init(&b, mem, sizeof(mem));
		assert_int_equal(pki_key_pem(k, &b, err, sizeof(err)), 0);
		spew("r2.pem", b.p, b.len);
		assert_int_equal(sh("openssl pkey -check -noout -in r2.pem "
				    ">/dev/null && openssl pkey -pubout -in "
				    "r.pem >a.pub && openssl pkey -pubout -in "
				    "r2.pem >b.pub && cmp -s a.pub b.pub"),
		    0);
		pki_key_free(k);
	}
}

/* Atomic writes: mode, replace or refuse, nothing left behind. */
static void
file_write_atomic(void **state)
{
	char path[128], err[256];
	uint8_t back[16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/atomic/f", dir);
	assert_int_equal(sh("mkdir atomic"), 0);
	assert_int_equal(
	    pki_write_file_atomic(path, "one", 3, 0600, true, err, sizeof(err)),
	    0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(
	    pki_write_file_atomic(path, "two", 3, 0600, true, err, sizeof(err)),
	    -EEXIST);
	assert_non_null(strstr(err, "refusing to replace"));
	assert_int_equal(slurp("atomic/f", back, sizeof(back)), 3);
	assert_memory_equal(back, "one", 3);
	assert_int_equal(pki_write_file_atomic(
			     path, "three", 5, 0640, false, err, sizeof(err)),
	    0);
	assert_int_equal(slurp("atomic/f", back, sizeof(back)), 5);
	assert_memory_equal(back, "three", 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* Only the file: no temporary left by either call. */
	assert_int_equal(sh("test \"$(ls -A atomic)\" = f"), 0);
	snprintf(path, sizeof(path), "%s/missing/f", dir);
	assert_int_equal(
	    pki_write_file_atomic(path, "x", 1, 0600, false, err, sizeof(err)),
	    -ENOENT);
	assert_non_null(strstr(err, "missing/f"));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(der_lengths_put),
	    cmocka_unit_test(der_lengths_nested),
	    cmocka_unit_test(der_writer_overflow),
	    cmocka_unit_test(der_reader_strict),
	    cmocka_unit_test(der_integers),
	    cmocka_unit_test(der_times),
	    cmocka_unit_test(key_types_roundtrip),
	    cmocka_unit_test(csr_roundtrip_own),
	    cmocka_unit_test(csr_write_refusals),
	    cmocka_unit_test(csr_openssl_accepted),
	    cmocka_unit_test(csr_openssl_weak_refused),
	    cmocka_unit_test(csr_tampered_refused),
	    cmocka_unit_test(cert_issue_openssl_verify),
	    cmocka_unit_test(cert_issue_openssl_ca),
	    cmocka_unit_test(cert_issue_refusals),
	    cmocka_unit_test(rsa4096_identity_loads),
	    cmocka_unit_test(rsa_openssl_keys_load),
	    cmocka_unit_test(file_write_atomic),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
