/*
 * redact_gzip.c — gzip bodies for redaction (see redact_int.h): decoded
 * with zlib under a bound, and encoded again once redacted.
 */
#include <stdlib.h>
#include <zlib.h>

#include "http/redact_int.h"

/* Grow *buf (capacity *cap) to hold more output, never past max. */
static bool
grow(uint8_t **buf, size_t *cap, size_t max)
{
	size_t n = *cap < max / 2 ? *cap * 2 : max;
	uint8_t *nb;

	if (n <= *cap || (nb = realloc(*buf, n)) == NULL)
		return false;
	*buf = nb;
	*cap = n;
	return true;
}

/* see redact_int.h */
enum redact_refusal
redact_gunzip(
    const uint8_t *in, size_t n, size_t max, uint8_t **out, size_t *out_len)
{
	size_t cap = n < max / 4 ? 4 * n + 1024 : max, len = 0;
	enum redact_refusal why = REDACT_OK;
	z_stream z = {0};
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (cap > max)
		cap = max;
	if ((buf = malloc(cap)) == NULL)
		return REDACT_NOMEM;
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return REDACT_NOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	while (why == REDACT_OK) {
		if (len == cap && !grow(&buf, &cap, max)) {
			why = cap >= max ? REDACT_TOO_LARGE : REDACT_NOMEM;
			break;
		}
		/* len, not total_out: inflateReset() zeroes that per member */
		z.next_out = buf + len;
		z.avail_out = (uInt)(cap - len);
		rc = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
		if (rc == Z_STREAM_END && z.avail_in == 0)
			break;
		if (rc == Z_STREAM_END) /* another member follows */
			rc = inflateReset(&z);
		if (rc == Z_MEM_ERROR)
			why = REDACT_NOMEM;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			why = REDACT_BAD_GZIP;
		else if (rc == Z_BUF_ERROR && z.avail_out > 0)
			why = REDACT_BAD_GZIP; /* truncated */
	}
	inflateEnd(&z);
	if (why != REDACT_OK) {
		free(buf);
		return why;
	}
	*out = buf;
	*out_len = len;
	return REDACT_OK;
}

/* see redact_int.h */
enum redact_refusal
redact_gzip(
    const uint8_t *in, size_t n, size_t max, uint8_t **out, size_t *out_len)
{
	z_stream z = {0};
	uint8_t *buf;
	uLong cap;
	int rc;

	*out = NULL;
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS,
		8, Z_DEFAULT_STRATEGY) != Z_OK)
		return REDACT_NOMEM;
	cap = deflateBound(&z, (uLong)n);
	if ((buf = malloc(cap)) == NULL) {
		deflateEnd(&z);
		return REDACT_NOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END || *out_len > max) {
		free(buf);
		return rc != Z_STREAM_END ? REDACT_NOMEM : REDACT_TOO_LARGE;
	}
	*out = buf;
	return REDACT_OK;
}
