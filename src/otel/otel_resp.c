/*
 * The collector's answer to one export, read whole so that the connection
 * can carry the next one: the head through the HTTP/1 parser (1xx interim
 * answers skipped), then the body as its framing says, bounded and
 * discarded.  No I/O, no allocation: the exporter feeds what the stream
 * holds.
 */
#include <string.h>

#include "lib/util.h"
#include "otel/otel_int.h"

#define OTEL_RESP_LINE 1024 /* status, header, chunk-size lines */
#define OTEL_RESP_HEADERS 32

/* see otel_int.h */
void
otel_resp_reset(struct otel_resp *r)
{
	r->state = OTEL_RESP_HEAD;
	r->status = 0;
	r->retry_ms = -1;
	r->idle_ms = 0;
	r->kind = HTTP_BODY_NONE;
	r->left = 0;
	r->len = 0;
}

/* Digits only, at most 6 of them; -1 otherwise. */
static int64_t
seconds(const char *v, size_t n)
{
	int64_t s = 0;
	size_t i;

	if (n == 0 || n > 6)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		s = s * 10 + (v[i] - '0');
	}
	return s;
}

/* Retry-After in seconds (an HTTP date is taken as "the default"). */
static int64_t
retry_after(const struct http_response *resp)
{
	const struct http_header *h =
	    http_header_find(resp->headers, resp->nheaders, "Retry-After");
	int64_t s = h != NULL ? seconds(h->value, h->value_len) : -1;

	return s < 0 ? -1 : MIN(s, OTEL_RETRY_AFTER_MAX_S) * 1000;
}

/* The rest a kept connection may take: "Keep-Alive: timeout=N" lowers it. */
static int64_t
idle_of(const struct http_response *resp)
{
	const struct http_header *h =
	    http_header_find(resp->headers, resp->nheaders, "Keep-Alive");
	const char *v, *end, *comma;
	int64_t s;

	if (h == NULL)
		return OTEL_IDLE_MS;
	end = h->value + h->value_len;
	for (v = h->value; v + 8 <= end; v++) {
		if (!http_token_eq(v, 8, "timeout="))
			continue;
		v += 8;
		comma = memchr(v, ',', (size_t)(end - v));
		s = seconds(v, (size_t)((comma != NULL ? comma : end) - v));
		if (s < 0)
			break;
		return MAX(
		    0, MIN(OTEL_IDLE_MS, s * 1000 - OTEL_IDLE_MARGIN_MS));
	}
	return OTEL_IDLE_MS;
}

/* The head is parsed: the status and the body's framing. */
static int
head_done(struct otel_resp *r, const struct http_response *resp)
{
	struct http_framing f;

	if (http_response_framing(resp, "POST", 4, &f) < 0)
		return -1;
	r->status = resp->status;
	r->retry_ms = retry_after(resp);
	r->idle_ms = f.keep_alive ? idle_of(resp) : 0;
	r->kind = f.kind;
	r->left = f.length;
	if (f.kind == HTTP_BODY_CHUNKED) {
		http_chunked_init(&r->ch, OTEL_RESP_LINE, OTEL_RESP_BODY_MAX);
		r->state = OTEL_RESP_BODY;
	} else if (f.kind == HTTP_BODY_LENGTH && f.length > 0 &&
	    f.length <= OTEL_RESP_BODY_MAX) {
		r->state = OTEL_RESP_BODY;
	} else {
		/* No body, one too large to read, or one the close ends:
		 * the connection cannot be reused for the latter two. */
		if (f.kind == HTTP_BODY_CLOSE || f.kind == HTTP_BODY_LENGTH)
			r->idle_ms = 0;
		r->state = OTEL_RESP_DONE;
	}
	return 0;
}

/* Head bytes: returns those of p taken, or -1. */
static long
feed_head(struct otel_resp *r, const uint8_t *p, size_t n)
{
	struct http_header h[OTEL_RESP_HEADERS];
	struct http_response resp = {.headers = h, .nheaders = nitems(h)};
	const struct http_limits lim = {.max_line = OTEL_RESP_LINE,
	    .max_headers = nitems(h),
	    .max_header_bytes = OTEL_RESP_MAX,
	    .max_total = OTEL_RESP_MAX};
	size_t old = r->len, k = MIN(n, sizeof(r->head) - r->len);
	int hl;

	memcpy(r->head + r->len, p, k);
	r->len += k;
	hl = http_parse_response(r->head, r->len, &resp, &lim);
	if (hl == HTTP_PARTIAL)
		return r->len < sizeof(r->head) ? (long)k : -1;
	if (hl < 0 || resp.status == 101)
		return -1;
	r->len = 0;
	if (resp.status >= 100 && resp.status < 200)
		return (long)((size_t)hl - old); /* interim: the next head */
	if (head_done(r, &resp) < 0)
		return -1;
	return (long)((size_t)hl - old);
}

/* Body bytes: returns those of p taken, or -1 (the answer ends). */
static long
feed_body(struct otel_resp *r, const uint8_t *p, size_t n)
{
	const uint8_t *data;
	size_t used = 0, dlen;
	long k;

	if (r->kind == HTTP_BODY_LENGTH) {
		used = (size_t)MIN((uint64_t)n, r->left);
		r->left -= used;
		if (r->left == 0)
			r->state = OTEL_RESP_DONE;
		return (long)used;
	}
	while (used < n && !http_chunked_done(&r->ch)) {
		k = http_chunked_feed(&r->ch, p + used, n - used, &data, &dlen);
		if (k < 0) {
			r->idle_ms = 0;
			r->state = OTEL_RESP_DONE;
			return -1;
		}
		used += (size_t)k;
	}
	if (http_chunked_done(&r->ch))
		r->state = OTEL_RESP_DONE;
	return (long)used;
}

/* see otel_int.h */
long
otel_resp_feed(struct otel_resp *r, const uint8_t *p, size_t n)
{
	size_t used = 0;
	long k;

	while (used < n && r->state != OTEL_RESP_DONE) {
		k = r->state == OTEL_RESP_HEAD
		    ? feed_head(r, p + used, n - used)
		    : feed_body(r, p + used, n - used);
		if (k < 0)
			return -1;
		used += (size_t)k;
	}
	return (long)used;
}

/* see otel_int.h */
void
otel_resp_eof(struct otel_resp *r)
{
	if (r->state == OTEL_RESP_BODY) {
		r->idle_ms = 0;
		r->state = OTEL_RESP_DONE;
	}
}
