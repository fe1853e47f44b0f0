/*
 * The connector's identity: checks and the renewal time.  See identity.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "connector/identity.h"
#include "lib/util.h"
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

/* The first PEM object's DER, collected by the decoder. */
struct leaf {
	uint8_t *der;
	size_t len, cap;
	bool in_cert, done, overflow;
};

static void
leaf_append(void *ctx, const void *p, size_t n)
{
	struct leaf *l = ctx;

	if (!l->in_cert || l->done)
		return;
	if (n > l->cap - l->len) {
		l->overflow = true;
		return;
	}
	memcpy(l->der + l->len, p, n);
	l->len += n;
}

/* Decode PEM up to the end of the first CERTIFICATE object. */
static bool
leaf_decode(struct leaf *l, const uint8_t *p, size_t n)
{
	br_pem_decoder_context pc;
	size_t used;

	br_pem_decoder_init(&pc);
	while (n > 0 && !l->done) {
		used = br_pem_decoder_push(&pc, p, n);
		p += used;
		n -= used;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			l->in_cert = strcmp(br_pem_decoder_name(&pc),
					 "CERTIFICATE") == 0;
			br_pem_decoder_setdest(&pc, leaf_append, l);
			break;
		case BR_PEM_END_OBJ:
			l->done = l->in_cert;
			break;
		case BR_PEM_ERROR:
			return false;
		default:
			break;
		}
	}
	return l->done && !l->overflow;
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
	struct leaf l = {.cap = 16384};
	br_x509_decoder_context dc;
	int r = -1;

	if ((l.der = malloc(l.cap)) == NULL) {
		snprintf(err, errlen, "identity: out of memory");
		return -1;
	}
	if (!leaf_decode(&l, pem, len)) {
		snprintf(err, errlen, "identity: no certificate in the chain");
		goto out;
	}
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, l.der, l.len);
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
	free(l.der);
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
