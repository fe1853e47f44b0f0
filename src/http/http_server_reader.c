/*
 * http_server_reader.c — the request reader (see http_server_reader.h).
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_server_reader.h"
#include "lib/util.h"

/* Room past the head limit: the framing of a chunk being decoded, or the
 * first body bytes that arrive with a head. */
#define SLACK 256

static enum http_reader_state
fail(struct http_reader *r, int status)
{
	r->state = HTTP_RD_ERROR;
	r->status = status;
	return r->state;
}

/* see http_server_reader.h */
void
http_reader_init(struct http_reader *r, const struct http_limits *lim,
    size_t max_body, struct http_header *hdrs)
{
	*r = (struct http_reader){
	    .limits = *lim, .max_body = max_body, .hdrs = hdrs};
}

/* see http_server_reader.h */
void
http_reader_free(struct http_reader *r)
{
	size_t raw = r->max_raw;

	free(r->p);
	http_reader_init(r, &r->limits, r->max_body, r->hdrs);
	r->max_raw = raw;
}

/* The most the buffer may hold in the current state. */
static size_t
bound(const struct http_reader *r)
{
	switch (r->state) {
	case HTTP_RD_HEAD:
		return r->limits.max_total + SLACK;
	case HTTP_RD_BODY:
		if (r->chunked)
			return r->head_len + r->max_body + r->limits.max_line +
			    SLACK;
		return r->head_len + r->body_len;
	default:
		return r->cap; /* no growth */
	}
}

/* Resize to cap bytes (cap >= len); false when out of memory. */
static bool
resize(struct http_reader *r, size_t cap)
{
	uint8_t *p;

	if ((p = realloc(r->p, cap)) == NULL)
		return false;
	r->p = p;
	r->cap = cap;
	return true;
}

/* see http_server_reader.h */
uint8_t *
http_reader_room(struct http_reader *r, size_t *room)
{
	size_t max = bound(r), cap;

	*room = 0;
	if (r->state == HTTP_RD_READY || r->state == HTTP_RD_ERROR)
		return NULL;
	if (r->len == r->cap && r->cap < max) {
		cap = r->cap == 0 ? HTTP_READER_FIRST : 2 * r->cap;
		if (!resize(r, MIN(cap, max))) {
			fail(r, 500);
			return NULL;
		}
	}
	if (r->len >= MIN(r->cap, max))
		return NULL;
	*room = MIN(r->cap, max) - r->len;
	return r->p + r->len;
}

/* Origin-form ("/...") or OPTIONS "*" only. */
static bool
target_ok(const struct http_request *q)
{
	return q->target[0] == '/' ||
	    (q->target_len == 1 && q->target[0] == '*');
}

/* HTTP/1.1 needs exactly one Host (RFC 9112 3.2). */
static bool
host_ok(const struct http_request *q)
{
	size_t i, n = 0;

	for (i = 0; i < q->nheaders; i++)
		n += http_token_eq(
		    q->headers[i].name, q->headers[i].name_len, "host");
	return q->minor_version == 0 ? n <= 1 : n == 1;
}

static void
chunked_init(struct http_reader *r, struct http_chunked *dec)
{
	/* The decoder's 0 means unbounded; ours means none. */
	http_chunked_init(
	    dec, r->limits.max_line, r->max_body > 0 ? r->max_body : 1);
}

/*
 * Chunked framing bytes that arrived with the head are judged at once, so
 * a malformed request is 400 whatever its route says (on a scratch
 * decoder: nothing is decoded or moved before the body is admitted).
 */
static int
chunked_precheck(struct http_reader *r)
{
	const uint8_t *d;
	struct http_chunked dec;
	size_t at = r->head_len, dl;
	long n;

	chunked_init(r, &dec);
	while (at < r->len && !http_chunked_done(&dec)) {
		n = http_chunked_feed(&dec, r->p + at, r->len - at, &d, &dl);
		if (n < 0)
			return n == HTTP_ERROR_TOO_LARGE ? 413 : 400;
		at += (size_t)n;
	}
	return 0;
}

/* A complete head: check it and learn how much body follows. */
static enum http_reader_state
head_done(struct http_reader *r)
{
	const struct http_header *e;
	struct http_framing f;
	int st;

	if (http_request_framing(&r->req, &f) < 0 || !target_ok(&r->req) ||
	    !host_ok(&r->req))
		return fail(r, 400);
	r->keep_alive = f.keep_alive;
	r->over = false;
	if (f.kind == HTTP_BODY_LENGTH && f.length > r->max_body) {
		if (f.length > r->max_raw)
			return fail(r, 413);
		r->over = true; /* only a raw_body route takes it */
	}
	r->chunked = f.kind == HTTP_BODY_CHUNKED;
	r->body_len = f.kind == HTTP_BODY_LENGTH ? (size_t)f.length : 0;
	r->has_body = r->chunked || r->body_len > 0;
	if (r->chunked && (st = chunked_precheck(r)) != 0)
		return fail(r, st);
	e = http_header_find(r->req.headers, r->req.nheaders, "expect");
	r->expect_continue =
	    e != NULL && http_token_eq(e->value, e->value_len, "100-continue");
	return r->state = HTTP_RD_READY;
}

static void
parse_head(struct http_reader *r, int *res)
{
	r->req = (struct http_request){
	    .headers = r->hdrs, .nheaders = r->limits.max_headers};
	*res =
	    http_parse_request((const char *)r->p, r->len, &r->req, &r->limits);
}

/*
 * The head parser starts over on every call.  A peer that sends its head
 * a byte at a time must not make that quadratic: parse again only when a
 * line has ended since the last try, when the head has doubled, or when
 * it is over max_total.  Lines are bounded by max_headers, so the work
 * per head is O(max_headers * max_total).
 */
static bool
worth_parsing(const struct http_reader *r)
{
	size_t from = r->parsed;

	if (from == 0 || r->len >= 2 * from || r->len > r->limits.max_total)
		return true;
	return memchr(r->p + from, '\n', r->len - from) != NULL;
}

static enum http_reader_state
step_head(struct http_reader *r)
{
	int n;

	if (r->len == 0 || !worth_parsing(r))
		return r->state;
	parse_head(r, &n);
	if (n == HTTP_PARTIAL) {
		r->parsed = r->len;
		return r->state;
	}
	if (n < 0)
		return fail(r, http_error_status(n));
	r->head_len = (size_t)n;
	return head_done(r);
}

/*
 * Decode a chunked body in place: the buffer holds the head, the body
 * decoded so far (body_len bytes), then raw bytes from 'raw' on.  Data
 * moves down over the framing it followed, so when the body is complete
 * it sits where a Content-Length body would, followed by whatever the
 * peer pipelined.
 */
static enum http_reader_state
step_chunked(struct http_reader *r)
{
	size_t end = r->head_len + r->body_len, dl;
	const uint8_t *d;
	long n;

	while (r->raw < r->len && !http_chunked_done(&r->dec)) {
		n = http_chunked_feed(
		    &r->dec, r->p + r->raw, r->len - r->raw, &d, &dl);
		if (n < 0)
			return fail(r, n == HTTP_ERROR_TOO_LARGE ? 413 : 400);
		if (dl > 0)
			memmove(r->p + end, d, dl);
		end += dl;
		r->raw += (size_t)n;
	}
	r->body_len = end - r->head_len;
	if (r->body_len > r->max_body)
		return fail(r, 413);
	memmove(r->p + end, r->p + r->raw, r->len - r->raw);
	r->len -= r->raw - end;
	r->raw = end;
	if (http_chunked_done(&r->dec))
		r->state = HTTP_RD_DONE;
	return r->state;
}

static enum http_reader_state
step_body(struct http_reader *r)
{
	if (r->chunked)
		return step_chunked(r);
	if (r->len >= r->head_len + r->body_len)
		r->state = HTTP_RD_DONE;
	return r->state;
}

/* see http_server_reader.h */
enum http_reader_state
http_reader_feed(struct http_reader *r, size_t n)
{
	r->len += n;
	if (r->state == HTTP_RD_HEAD)
		return step_head(r);
	if (r->state == HTTP_RD_BODY)
		return step_body(r);
	return r->state;
}

/* see http_server_reader.h */
enum http_reader_state
http_reader_read_body(struct http_reader *r)
{
	if (r->state != HTTP_RD_READY)
		return r->state;
	r->state = HTTP_RD_BODY;
	if (r->chunked) {
		chunked_init(r, &r->dec);
		r->raw = r->head_len;
	}
	return step_body(r);
}

/* see http_server_reader.h */
bool
http_reader_wants(const struct http_reader *r)
{
	if (r->state == HTTP_RD_READY || r->state == HTTP_RD_ERROR)
		return false;
	return r->len < (r->state == HTTP_RD_DONE ? r->cap : bound(r));
}

/* see http_server_reader.h */
bool
http_reader_body_pending(const struct http_reader *r)
{
	return r->state == HTTP_RD_BODY;
}

/* see http_server_reader.h */
bool
http_reader_started(const struct http_reader *r)
{
	return r->len > 0 || r->state != HTTP_RD_HEAD;
}

/* see http_server_reader.h */
const struct http_request *
http_reader_request(struct http_reader *r)
{
	int n;

	/* The buffer may have moved since the head was parsed. */
	if (r->state == HTTP_RD_READY || r->state == HTTP_RD_DONE)
		parse_head(r, &n);
	return &r->req;
}

/* see http_server_reader.h */
const uint8_t *
http_reader_body(const struct http_reader *r, size_t *len)
{
	*len = r->state == HTTP_RD_DONE ? r->body_len : 0;
	return *len > 0 ? r->p + r->head_len : NULL;
}

/* see http_server_reader.h */
int
http_reader_status(const struct http_reader *r)
{
	return r->state == HTTP_RD_ERROR ? r->status : 0;
}

/* see http_server_reader.h */
void
http_reader_next(struct http_reader *r)
{
	size_t used = r->head_len + r->body_len;

	if (r->state != HTTP_RD_DONE)
		return;
	memmove(r->p, r->p + used, r->len - used);
	r->len -= used;
	/* Return what this request needed: a buffer that grew for a body
	 * shrinks back to the first size (or to what is left). */
	if (r->cap > HTTP_READER_FIRST && r->cap > 2 * r->len)
		resize(r, MAX(r->len, (size_t)HTTP_READER_FIRST));
	r->state = HTTP_RD_HEAD;
	r->parsed = r->head_len = r->body_len = r->raw = 0;
	r->chunked = r->expect_continue = r->has_body = false;
	r->keep_alive = false;
}
