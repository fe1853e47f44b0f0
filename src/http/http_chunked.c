/*
 * The chunked transfer coding (RFC 9112 section 7.1), one byte of framing
 * at a time and data in whole slices.  Every line is bounded.
 */
#include "http/http.h"

enum {
	C_SIZE, /* hex digits of the chunk size */
	C_EXT, /* chunk extensions, skipped */
	C_SIZE_LF, /* LF after the size line */
	C_DATA,
	C_DATA_CR, /* CRLF after the data */
	C_DATA_LF,
	C_TRAILER, /* start of a trailer line or the final CRLF */
	C_TRAILER_LINE,
	C_TRAILER_LF,
	C_LAST_LF,
	C_DONE,
};

/* see http.h */
void
http_chunked_init(struct http_chunked *c, size_t max_line, uint64_t max_body)
{
	*c = (struct http_chunked){
	    .state = C_SIZE, .max_line = max_line, .max_body = max_body};
}

/* see http.h */
bool
http_chunked_done(const struct http_chunked *c)
{
	return c->state == C_DONE;
}

static int
hexval(uint8_t b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	if (b >= 'A' && b <= 'F')
		return b - 'A' + 10;
	return -1;
}

/* The size line has ended: account the chunk against the body limit. */
static int
size_done(struct http_chunked *c)
{
	if (c->max_body != 0 && c->remaining > c->max_body - c->total)
		return HTTP_ERROR_TOO_LARGE;
	c->total += c->remaining;
	c->state = c->remaining == 0 ? C_TRAILER : C_DATA;
	return 0;
}

static int
step_size(struct http_chunked *c, uint8_t b)
{
	int v = hexval(b);

	if (c->state == C_SIZE && v >= 0) {
		if (++c->digits > 15)
			return HTTP_ERROR_TOO_LARGE;
		c->remaining = c->remaining << 4 | (uint64_t)v;
		return 0;
	}
	if (c->digits == 0)
		return HTTP_ERROR;
	if (b == '\r') {
		c->state = C_SIZE_LF;
		return 0;
	}
	/* BWS, then ';' and extensions: any text up to CR. */
	if (b == ';' || c->ext) {
		if (b != '\t' && (b < ' ' || b == 0x7f))
			return HTTP_ERROR;
		c->ext = true;
	} else if (b != ' ' && b != '\t') {
		return HTTP_ERROR;
	}
	c->state = C_EXT;
	return 0;
}

static int
step_trailer(struct http_chunked *c, uint8_t b)
{
	if (++c->trailer > c->max_line * 8)
		return HTTP_ERROR_TOO_LARGE;
	if (c->state == C_TRAILER && b == '\r') {
		c->state = C_LAST_LF;
		return 0;
	}
	if (b == '\r') {
		c->state = C_TRAILER_LF;
		return 0;
	}
	if (b != '\t' && (b < ' ' || b == 0x7f))
		return HTTP_ERROR;
	if (++c->line > c->max_line)
		return HTTP_ERROR_TOO_LARGE;
	c->state = C_TRAILER_LINE;
	return 0;
}

/* Expect an LF, then move to 'next'. */
static int
step_lf(struct http_chunked *c, uint8_t b, int next)
{
	if (b != '\n')
		return HTTP_ERROR;
	c->state = next;
	c->line = 0;
	return 0;
}

static int
step(struct http_chunked *c, uint8_t b)
{
	switch (c->state) {
	case C_SIZE:
	case C_EXT:
		if (++c->line > c->max_line)
			return HTTP_ERROR_TOO_LARGE;
		return step_size(c, b);
	case C_SIZE_LF:
		if (b != '\n')
			return HTTP_ERROR;
		c->line = 0;
		return size_done(c);
	case C_DATA_CR:
		if (b != '\r')
			return HTTP_ERROR;
		c->state = C_DATA_LF;
		return 0;
	case C_DATA_LF:
		c->digits = 0;
		c->remaining = 0;
		c->ext = false;
		return step_lf(c, b, C_SIZE);
	case C_TRAILER:
	case C_TRAILER_LINE:
		return step_trailer(c, b);
	case C_TRAILER_LF:
		return step_lf(c, b, C_TRAILER);
	case C_LAST_LF:
		return step_lf(c, b, C_DONE);
	}
	return HTTP_ERROR;
}

/* see http.h */
long
http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len,
    const uint8_t **data, size_t *data_len)
{
	size_t i = 0, n;
	int r;

	*data = NULL;
	*data_len = 0;
	if (c->error != 0)
		return c->error;
	while (i < len && c->state != C_DONE) {
		if (c->state == C_DATA) {
			n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			*data = in + i;
			*data_len = n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = C_DATA_CR;
			return (long)(i + n);
		}
		if ((r = step(c, in[i])) != 0)
			return c->error = r;
		i++;
	}
	return (long)i;
}
