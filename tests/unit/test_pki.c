/*
 * Unit tests: the pki module — DER lengths at every encoding boundary,
 * the strict reader, keys.  Usage: test_pki [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/util.h"
#include "tls/pki_int.h"

#define BIG (70 * 1000)

static uint8_t mem[BIG + 64];

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
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
