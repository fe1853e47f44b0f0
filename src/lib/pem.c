/*
 * pem.c — walk the objects of a PEM input with BearSSL's decoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "lib/pem.h"
#include "lib/util.h"

struct der_buf {
	uint8_t p[PEM_DER_MAX];
	size_t len;
	bool overflow;
};

static void
der_append(void *ctx, const void *src, size_t len)
{
	struct der_buf *d = ctx;

	if (len > sizeof(d->p) - d->len) {
		d->overflow = true;
		return;
	}
	memcpy(d->p + d->len, src, len);
	d->len += len;
}

/* One event from the decoder; returns 1 on an object, 0, or -1. */
static int
pem_event(br_pem_decoder_context *pc, struct der_buf *d, char *name,
    size_t namecap, bool *inobj)
{
	switch (br_pem_decoder_event(pc)) {
	case BR_PEM_BEGIN_OBJ:
		snprintf(name, namecap, "%s", br_pem_decoder_name(pc));
		d->len = 0;
		d->overflow = false;
		br_pem_decoder_setdest(pc, der_append, d);
		*inobj = true;
		return 0;
	case BR_PEM_END_OBJ:
		if (!*inobj)
			return -1;
		*inobj = false;
		return 1;
	case BR_PEM_ERROR:
		return -1;
	}
	return 0;
}

/* Hand one object to the callback, then wipe it (it may be a key). */
static int
pem_deliver(struct der_buf *d, const char *name, const char *what, pem_fn *fn,
    void *arg, char *err, size_t errlen)
{
	int rc;

	if (d->overflow) {
		snprintf(err, errlen, "%s: PEM object over %d bytes", what,
		    PEM_DER_MAX);
		rc = -1;
	} else {
		rc = fn(name, d->p, d->len, arg, err, errlen);
	}
	util_wipe(d->p, d->len);
	d->len = 0;
	return rc;
}

/* see pem.h */
int
pem_each(const void *p, size_t n, const char *what, pem_fn *fn, void *arg,
    char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct der_buf *d;
	const uint8_t *in = p;
	char name[128];
	bool inobj = false, tail = false;
	int count = 0, ev;
	size_t k;

	if ((d = malloc(sizeof(*d))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -1;
	}
	br_pem_decoder_init(&pc);
	/* A final newline makes sure the last END line is seen. */
	while (n > 0 || !tail) {
		if (n == 0) {
			in = (const uint8_t *)"\n";
			n = 1;
			tail = true;
		}
		k = br_pem_decoder_push(&pc, in, n);
		in += k;
		n -= k;
		ev = pem_event(&pc, d, name, sizeof(name), &inobj);
		if (ev < 0) {
			snprintf(err, errlen, "%s: invalid PEM", what);
			count = -1;
			break;
		}
		if (ev == 1) {
			if (pem_deliver(d, name, what, fn, arg, err, errlen)) {
				count = -1;
				break;
			}
			count++;
		}
	}
	if (count >= 0 && inobj) {
		snprintf(err, errlen, "%s: truncated PEM object", what);
		count = -1;
	}
	util_wipe(d, sizeof(*d));
	free(d);
	return count;
}

struct first_cert {
	uint8_t *der;
	size_t len;
};

static int
keep_first_cert(const char *name, const uint8_t *der, size_t len, void *arg,
    char *err, size_t errlen)
{
	struct first_cert *fc = arg;

	if (strcmp(name, "CERTIFICATE") != 0 || fc->der != NULL)
		return 0;
	if ((fc->der = malloc(len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(fc->der, der, len);
	fc->len = len;
	return 0;
}

/* see pem.h */
int
pem_cert(const void *pem, size_t n, const char *what, uint8_t **der,
    size_t *len, char *err, size_t errlen)
{
	struct first_cert fc = {NULL, 0};

	if (pem_each(pem, n, what, keep_first_cert, &fc, err, errlen) < 0) {
		free(fc.der);
		return -1;
	}
	if (fc.der == NULL) {
		snprintf(err, errlen, "%s: no certificate found", what);
		return -1;
	}
	*der = fc.der;
	*len = fc.len;
	return 0;
}
