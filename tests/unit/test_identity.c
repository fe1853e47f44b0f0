/* Unit tests: identity checks, the renewal time, the edge's answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "connector/identity.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tls/pki.h"

#define NB 1700000000
#define NA 1900000000

/* A key and a self-signed certificate for it (DER). */
static struct pki_key *
make_cert(uint8_t *der, size_t *len)
{
	struct pki_key *k = NULL;
	char err[256];
	struct buf b;

	assert_int_equal(
	    pki_key_generate(PKI_KEY_P256, &k, err, sizeof(err)), 0);
	buf_init(&b, der, PKI_DER_MAX);
	assert_int_equal(
	    pki_ca_create(k, "test", NB, NA, &b, err, sizeof(err)), 0);
	*len = b.len;
	return k;
}

static void
renew_at_bounds(void **state)
{
	uint32_t r;

	/* 2/3 of 900 s left, minus up to 5 % of it. */
	for (r = 0; r < 5000; r += 37) {
		int64_t at = identity_renew_at(1000, 1900, 666, r);
		assert_true(at <= 1000 + 599);
		assert_true(at >= 1000 + 599 - 45);
	}
	assert_int_equal(identity_renew_at(1000, 1900, 666, 0), 1599);
	assert_int_equal(identity_renew_at(1000, 900, 666, 7), 1000);
	assert_int_equal(identity_renew_at(1000, 1000, 500, 7), 1000);
}

static void
leaf_validity_from_pem(void **state)
{
	uint8_t der[PKI_DER_MAX], pem[PKI_PEM_MAX];
	struct pki_key *k;
	int64_t nb = 0, na = 0;
	char err[256];
	struct buf b;
	size_t len;

	k = make_cert(der, &len);
	buf_init(&b, pem, sizeof(pem));
	assert_int_equal(
	    pki_pem("CERTIFICATE", der, len, &b, err, sizeof(err)), 0);
	assert_int_equal(
	    identity_leaf_validity(b.p, b.len, &nb, &na, err, sizeof(err)), 0);
	assert_int_equal(nb, NB);
	assert_int_equal(na, NA);
	assert_int_equal(
	    identity_leaf_validity("junk", 4, &nb, &na, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no certificate"));
	pki_key_free(k);
}

static void
from_edge_checks_the_key(void **state)
{
	uint8_t der[PKI_DER_MAX];
	struct pki_key *k, *other = NULL;
	ProtobufCBinaryData chain;
	Outpost__V1__Identity m = OUTPOST__V1__IDENTITY__INIT;
	struct idstore_files f;
	char err[256];
	size_t len;

	k = make_cert(der, &len);
	chain.data = der;
	chain.len = len;
	m.n_certificate_chain = 1;
	m.certificate_chain = &chain;
	m.ca_certificate = chain;
	m.connector_name = "alpha";
	m.not_after_unix = NA;
	assert_int_equal(
	    identity_from_edge(&f, &m, k, "enroll", 666, err, sizeof(err)), 0);
	assert_string_equal(f.name, "alpha");
	assert_string_equal(f.source, "enroll");
	assert_int_equal(f.not_after, NA);
	assert_true(f.renew_at < NA);
	assert_non_null(strstr(f.key, "BEGIN PRIVATE KEY"));
	assert_non_null(strstr(f.chain, "BEGIN CERTIFICATE"));
	assert_int_equal(identity_check(&f, err, sizeof(err)), 0);
	idstore_files_free(&f);
	/* Someone else's key does not match the certificate. */
	assert_int_equal(
	    pki_key_generate(PKI_KEY_P256, &other, err, sizeof(err)), 0);
	assert_int_equal(
	    identity_from_edge(&f, &m, other, "enroll", 666, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "does not match"));
	assert_null(f.key);
	/* No name, no certificate: refused. */
	m.connector_name = "";
	assert_int_equal(
	    identity_from_edge(&f, &m, k, "enroll", 666, err, sizeof(err)), -1);
	pki_key_free(other);
	pki_key_free(k);
}

static void
source_names(void **state)
{
	assert_string_equal(identity_source_name(IDENTITY_STORE), "data_dir");
	assert_string_equal(identity_source_name(IDENTITY_PAIR), "pairing");
	assert_string_equal(
	    identity_source_name((enum identity_source)99), "?");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(renew_at_bounds),
	    cmocka_unit_test(leaf_validity_from_pem),
	    cmocka_unit_test(from_edge_checks_the_key),
	    cmocka_unit_test(source_names),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
