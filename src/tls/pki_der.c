/*
 * pki_der.c — the DER writer (BearSSL reads X.509 but writes none of it)
 * and a strict, zero-copy DER reader for what BearSSL does not read
 * (PKCS#10 requests, SubjectPublicKeyInfo, certificate extensions).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tls/pki_int.h"

/* see pki_int.h */
size_t
der_len_size(size_t len)
{
	size_t n = 1;

	if (len < 0x80)
		return 1;
	while (len > 0) {
		n++;
		len >>= 8;
	}
	return n;
}

/* Write the length field of a len-byte value at p (der_len_size bytes). */
static void
der_len_write(uint8_t *p, size_t len)
{
	size_t n = der_len_size(len), i;

	if (n == 1) {
		p[0] = (uint8_t)len;
		return;
	}
	p[0] = (uint8_t)(0x80 | (n - 1));
	for (i = n - 1; i > 0; i--) {
		p[i] = (uint8_t)len;
		len >>= 8;
	}
}

/* see pki_int.h */
size_t
der_begin(struct buf *b, uint8_t tag)
{
	uint8_t hdr[2] = {tag, 0};

	buf_add(b, hdr, sizeof(hdr));
	return b->len; /* contents start here, after a 1-byte length */
}

/* see pki_int.h */
void
der_end(struct buf *b, size_t pos)
{
	size_t len, extra;

	if (b->overflow || pos > b->len)
		return;
	len = b->len - pos;
	extra = der_len_size(len) - 1;
	if (extra > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memmove(b->p + pos + extra, b->p + pos, len);
	der_len_write(b->p + pos - 1, len);
	b->len += extra;
}

/* see pki_int.h */
void
der_put(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	size_t pos = der_begin(b, tag);

	buf_add(b, p, n);
	der_end(b, pos);
}

/* see pki_int.h */
void
der_put_uint(struct buf *b, const uint8_t *p, size_t n)
{
	size_t pos;

	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	pos = der_begin(b, DER_INTEGER);
	if (n == 0 || p[0] & 0x80)
		buf_add(b, "", 1);
	buf_add(b, p, n);
	der_end(b, pos);
}

/* see pki_int.h */
void
der_put_time(struct buf *b, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[24];
	int year, n;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1950) {
		b->overflow = true; /* unrepresentable: fail the whole output */
		return;
	}
	year = tm.tm_year + 1900;
	n = snprintf(s, sizeof(s), "%0*d%02d%02d%02d%02d%02dZ",
	    year < 2050 ? 2 : 4, year < 2050 ? year % 100 : year, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	der_put(b, year < 2050 ? DER_UTCTIME : DER_GENTIME, s, (size_t)n);
}

/* Read a length field; 0 or -1 (not DER). */
static int
der_len_read(struct der *in, size_t *len)
{
	size_t n, i, v = 0;
	uint8_t c;

	if (in->len == 0)
		return -1;
	c = in->p[0];
	in->p++;
	in->len--;
	if (c < 0x80) {
		*len = c;
		return 0;
	}
	n = c & 0x7f;
	/* Indefinite (0x80), too long, or a leading zero: not minimal. */
	if (n == 0 || n > 4 || n > in->len || in->p[0] == 0)
		return -1;
	for (i = 0; i < n; i++)
		v = v << 8 | in->p[i];
	in->p += n;
	in->len -= n;
	if (v < 0x80)
		return -1;
	*len = v;
	return 0;
}

/* see pki_int.h */
int
der_next(struct der *in, uint8_t *tag, struct der *val, struct der *raw)
{
	struct der r = *in;
	size_t len;

	if (r.len < 2 || (r.p[0] & 0x1f) == 0x1f)
		return -1;
	*tag = r.p[0];
	r.p++;
	r.len--;
	if (der_len_read(&r, &len) < 0 || len > r.len)
		return -1;
	val->p = r.p;
	val->len = len;
	if (raw != NULL) {
		raw->p = in->p;
		raw->len = (size_t)(r.p - in->p) + len;
	}
	in->len -= (size_t)(r.p - in->p) + len;
	in->p = r.p + len;
	return 0;
}

/* see pki_int.h */
int
der_take(struct der *in, uint8_t tag, struct der *val)
{
	struct der r = *in;
	uint8_t t;

	if (der_next(&r, &t, val, NULL) < 0 || t != tag)
		return -1;
	*in = r;
	return 0;
}

/* see pki_int.h */
bool
der_peek(const struct der *in, uint8_t tag)
{
	return in->len > 0 && in->p[0] == tag;
}

/* see pki_int.h */
int
der_uint(const struct der *val, struct der *mag)
{
	if (val->len == 0 || val->p[0] & 0x80)
		return -1; /* empty or negative */
	*mag = *val;
	if (mag->len > 1 && mag->p[0] == 0) {
		if (!(mag->p[1] & 0x80))
			return -1; /* not minimal */
		mag->p++;
		mag->len--;
	}
	return 0;
}

/* see pki_int.h */
bool
der_is(const struct der *d, const void *p, size_t n)
{
	return d->len == n && memcmp(d->p, p, n) == 0;
}
