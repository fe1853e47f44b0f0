/*
 * Fuzz target: the pki module's DER readers — PKCS#10 requests
 * (pki_csr_parse: structure, SPKI, names, signature check) and, with the
 * first byte odd, a CA certificate as pki_cert_issue reads it (subject,
 * key, subjectKeyIdentifier).  Anything may be rejected; nothing may
 * crash, leak or read out of bounds, and what is accepted is bounded.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/pki_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pki_key *key;

/* Accepted names are NUL-terminated within their slots. */
static void
check_csr(const struct pki_csr *csr)
{
	size_t i;

	if (csr->nuri > PKI_SAN_MAX || csr->ndns > PKI_SAN_MAX ||
	    memchr(csr->cn, 0, sizeof(csr->cn)) == NULL)
		__builtin_trap();
	for (i = 0; i < csr->nuri; i++)
		if (memchr(csr->uri[i], 0, sizeof(csr->uri[i])) == NULL)
			__builtin_trap();
	for (i = 0; i < csr->ndns; i++)
		if (memchr(csr->dns[i], 0, sizeof(csr->dns[i])) == NULL)
			__builtin_trap();
}

static void
issue_from(const uint8_t *der, size_t len)
{
	static uint8_t out[PKI_DER_MAX];
	struct pki_issue in = {
	    .issuer_key = key,
	    .issuer_cert = der,
	    .issuer_cert_len = len,
	    .san_uri = "spiffe://fuzz/connector/x",
	    .not_before = 1700000000,
	    .not_after = 1700003600,
	};
	br_x509_pkey pub;
	struct buf b;
	char err[256];

	pki_key_public(key, &pub);
	in.subject_key = &pub;
	buf_init(&b, out, sizeof(out));
	(void)pki_cert_issue(&in, NULL, &b, err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pki_csr csr;
	uint8_t *copy;
	char err[256];

	if (key == NULL &&
	    pki_key_generate(PKI_KEY_P256, &key, err, sizeof(err)) < 0)
		abort();
	if (size < 1)
		return 0;
	/* An exact-size copy, so ASan sees any read past the end. */
	if ((copy = malloc(size - 1 + 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		issue_from(copy, size - 1);
	else if (pki_csr_parse(copy, size - 1, &csr, err, sizeof(err)) == 0)
		check_csr(&csr);
	free(copy);
	return 0;
}
