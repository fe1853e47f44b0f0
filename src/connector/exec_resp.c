/*
 * The response side: the head is gathered into one bounded buffer and
 * parsed (interim 1xx answers skipped), the body accumulated up to the
 * limit by Content-Length, chunked coding or connection close, redacted
 * (http/redact.h) and the HttpResponse handed to the job's owner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connector/exec_int.h"
#include "http/hop.h"
#include "http/redact.h"
#include "lib/utf8.h"
#include "lib/util.h"

static Connector__V1__Header **headers_build(
    struct job *job, size_t *count, char *clen);

static enum exec_resp_state
fail(enum exec_reason *r, const char **detail, enum exec_reason why,
    const char *text)
{
	*r = why;
	*detail = text;
	return RESP_FAIL;
}

/* see exec_int.h */
void
exec_resp_reset(struct job *job)
{
	free(job->rbuf);
	free(job->fields);
	free(job->body);
	job->rbuf = NULL;
	job->rcap = 0;
	job->fields = NULL;
	job->body = NULL;
	job->rlen = job->rhead = job->nfields = job->rfed = 0;
	job->body_len = job->body_cap = 0;
	job->body_left = job->resp_bytes = 0;
	job->status = 0;
	job->keep_alive = false;
	job->body_kind = HTTP_BODY_NONE;
}

/* Capacity for at least need bytes: doubling, never past the bound. */
static size_t
body_grow(size_t cap, size_t need, size_t bound)
{
	if (cap == 0)
		cap = EXEC_BODY_FIRST;
	while (cap < need && cap <= bound / 2)
		cap *= 2;
	if (cap < need || cap > bound)
		cap = bound;
	return cap;
}

static const char *
too_large(const struct job *job)
{
	return job->sink != NULL
	    ? "response body over MAX_STREAMED_RESPONSE_SIZE_MB"
	    : "response body over MAX_RESPONSE_BODY_SIZE";
}

/* Streamed: the bytes go to the sink (n is within its room). */
static enum exec_resp_state
stream_add(struct job *job, const uint8_t *p, size_t n, enum exec_reason *r,
    const char **detail)
{
	if (n > job->e->c.max_streamed_body - job->streamed)
		return fail(r, detail, EXEC_TOO_LARGE, too_large(job));
	if (!job->sink->data(job_public(job), p, n))
		return fail(
		    r, detail, EXEC_OVERLOADED, "cannot deliver the response");
	job->streamed += n;
	exec_job_touch(job);
	return RESP_MORE;
}

/* Of n bytes, how many may be decoded now: all, or (streamed) as many as
 * the sink has room for. */
static size_t
feed_room(struct job *job, size_t n)
{
	size_t room;

	if (job->sink == NULL)
		return n;
	room = job->sink->room(job_public(job));
	return n < room ? n : room;
}

/*
 * Append decoded body bytes.  A Content-Length body was allocated whole;
 * others grow geometrically up to the limit, never holding a byte past it.
 */
static enum exec_resp_state
body_add(struct job *job, const uint8_t *p, size_t n, enum exec_reason *r,
    const char **detail)
{
	size_t max = job->e->c.max_response_body, bound = max, cap;
	uint8_t *nb;

	if (n == 0)
		return RESP_MORE;
	if (job->sink != NULL)
		return stream_add(job, p, n, r, detail);
	if (n > max - job->body_len)
		return fail(r, detail, EXEC_TOO_LARGE, too_large(job));
	if (job->body_kind == HTTP_BODY_LENGTH)
		bound = job->body_len + (size_t)job->body_left;
	if (job->body_len + n > job->body_cap) {
		cap = body_grow(job->body_cap, job->body_len + n, bound);
		if ((nb = realloc(job->body, cap)) == NULL)
			return fail(
			    r, detail, EXEC_OVERLOADED, "out of memory");
		job->body = nb;
		job->body_cap = cap;
	}
	memcpy(job->body + job->body_len, p, n);
	job->body_len += n;
	return RESP_MORE;
}

static enum exec_resp_state
chunked_feed(struct job *job, const uint8_t *p, size_t n, size_t *used,
    enum exec_reason *r, const char **detail)
{
	struct http_chunked *c = &job->chunked;
	const uint8_t *data;
	size_t in, dlen;
	long k;

	*used = 0;
	/* Each step decodes at most its input: within the sink's room. */
	while (*used < n && !http_chunked_done(c)) {
		if ((in = feed_room(job, n - *used)) == 0)
			break;
		k = http_chunked_feed(c, p + *used, in, &data, &dlen);
		if (k == HTTP_ERROR_TOO_LARGE && c->remaining > 0)
			return fail(r, detail, EXEC_TOO_LARGE, too_large(job));
		if (k < 0)
			return fail(r, detail, EXEC_BAD_RESPONSE,
			    "malformed chunked body");
		*used += (size_t)k;
		if (body_add(job, data, dlen, r, detail) == RESP_FAIL)
			return RESP_FAIL;
	}
	return http_chunked_done(c) ? RESP_DONE : RESP_MORE;
}

/* Body bytes p[0..n); *used says how many belonged to this response. */
static enum exec_resp_state
body_feed(struct job *job, const uint8_t *p, size_t n, size_t *used,
    enum exec_reason *r, const char **detail)
{
	size_t k;

	switch (job->body_kind) {
	case HTTP_BODY_LENGTH:
		k = n < job->body_left ? n : (size_t)job->body_left;
		k = feed_room(job, k);
		*used = k;
		if (body_add(job, p, k, r, detail) == RESP_FAIL)
			return RESP_FAIL;
		job->body_left -= k;
		return job->body_left == 0 ? RESP_DONE : RESP_MORE;
	case HTTP_BODY_CHUNKED:
		return chunked_feed(job, p, n, used, r, detail);
	case HTTP_BODY_CLOSE:
		*used = feed_room(job, n);
		return body_add(job, p, *used, r, detail);
	default:
		*used = 0;
		return RESP_DONE;
	}
}

/*
 * Whether the whole response is in with its head (no body, or a
 * Content-Length body already read behind it, within both body limits):
 * streaming it would only add a Deliver call, so it is answered buffered,
 * which a controller accepts for any request (spec/streaming.md).
 */
static bool
whole_with_head(const struct job *job, const struct http_framing *f)
{
	if (job->status == 101)
		return false;
	if (f->kind == HTTP_BODY_NONE)
		return true;
	return f->kind == HTTP_BODY_LENGTH &&
	    f->length <= job->rlen - job->rhead &&
	    f->length <= job->e->c.max_response_body &&
	    f->length <= job->e->c.max_streamed_body;
}

/* Framing of the final head; prepares the body. */
static enum exec_resp_state
head_done(struct job *job, const struct http_response *resp,
    enum exec_reason *r, const char **detail)
{
	const char *m = job->req->method;
	struct http_framing f;
	uint64_t max;

	if (http_response_framing(resp, m, strlen(m), &f) < 0)
		return fail(r, detail, EXEC_BAD_RESPONSE, "ambiguous framing");
	job->status = resp->status;
	if (job->sink != NULL && whole_with_head(job, &f))
		job->sink = NULL;
	max = job->sink != NULL ? job->e->c.max_streamed_body
				: job->e->c.max_response_body;
	/* The fields point into rbuf, which no longer moves. */
	job->fields = malloc(resp->nheaders * sizeof(*job->fields) + 1);
	if (job->fields == NULL)
		return fail(r, detail, EXEC_OVERLOADED, "out of memory");
	memcpy(
	    job->fields, resp->headers, resp->nheaders * sizeof(*job->fields));
	job->nfields = resp->nheaders;
	job->keep_alive = f.keep_alive && resp->status != 101;
	job->body_kind = resp->status == 101 ? HTTP_BODY_NONE : f.kind;
	if (job->body_kind == HTTP_BODY_LENGTH) {
		if (f.length > max)
			return fail(r, detail, EXEC_TOO_LARGE, too_large(job));
		job->body_left = f.length;
		if (job->sink != NULL)
			return RESP_MORE;
		/* One allocation of the declared size (within the limit);
		 * its pages become resident only as the bytes arrive. */
		if ((job->body = malloc((size_t)f.length)) == NULL)
			return fail(
			    r, detail, EXEC_OVERLOADED, "out of memory");
		job->body_cap = (size_t)f.length;
	} else if (job->body_kind == HTTP_BODY_CHUNKED) {
		http_chunked_init(&job->chunked, EXEC_CHUNK_LINE, max);
	}
	return RESP_MORE;
}

static void
head_limits(const struct exec *e, struct http_limits *lim)
{
	size_t max = e->c.max_response_head;

	lim->max_line = max < 8192 ? max : 8192;
	lim->max_headers = EXEC_MAX_RESPONSE_HEADERS;
	lim->max_header_bytes = max;
	lim->max_total = max;
}

/* Parse rbuf; skip interim answers; on the final head, prepare the body. */
static enum exec_resp_state
head_parse(struct job *job, enum exec_reason *r, const char **detail)
{
	struct http_header fields[EXEC_MAX_RESPONSE_HEADERS];
	struct http_response resp;
	struct http_limits lim;
	int n;

	head_limits(job->e, &lim);
	for (;;) {
		resp = (struct http_response){
		    .headers = fields, .nheaders = EXEC_MAX_RESPONSE_HEADERS};
		n = http_parse_response(job->rbuf, job->rlen, &resp, &lim);
		if (n == HTTP_PARTIAL)
			return RESP_MORE;
		if (n == HTTP_ERROR_TOO_LARGE || n == HTTP_ERROR_LINE)
			return fail(r, detail, EXEC_TOO_LARGE,
			    "response head over limit");
		if (n < 0)
			return fail(r, detail, EXEC_BAD_RESPONSE,
			    "malformed response head");
		if (resp.status >= 200 || resp.status == 101) {
			job->rhead = (size_t)n;
			return head_done(job, &resp, r, detail);
		}
		memmove(job->rbuf, job->rbuf + n, job->rlen - (size_t)n);
		job->rlen -= (size_t)n;
	}
}

/* Streamed: the head to the sink, before any body byte. */
static enum exec_resp_state
stream_head(struct job *job, enum exec_reason *r, const char **detail)
{
	Connector__V1__HttpResponse resp = CONNECTOR__V1__HTTP_RESPONSE__INIT;
	size_t n = 0;

	if (exec_proxy_refused(job))
		return fail(r, detail, EXEC_PROXY, exec_proxy_detail(407));
	resp.headers = headers_build(job, &n, NULL);
	resp.http_status = job->status;
	resp.n_headers = n;
	if (!job->sink->head(job_public(job), &resp))
		return fail(
		    r, detail, EXEC_OVERLOADED, "cannot deliver the response");
	job->streaming = true;
	exec_job_touch(job);
	return RESP_MORE;
}

/*
 * Streamed: the head went to the sink and every byte after it was fed, so
 * the head buffer and its fields are not read again; given back, so that
 * a response waiting for its upstream's next bytes holds neither (#20).
 * rhead stays: the head was parsed.
 */
static void
head_release(struct job *job)
{
	if (!job->streaming || exec_resp_pending(job))
		return;
	free(job->rbuf);
	free(job->fields);
	job->rbuf = NULL;
	job->fields = NULL;
	job->rcap = job->nfields = 0;
}

/* Bytes after the head are the body's first: all of them, or (streamed)
 * as many as the sink takes now, the rest on the next feed. */
static enum exec_resp_state
rest_feed(struct job *job, enum exec_reason *r, const char **detail)
{
	size_t off = job->rhead + job->rfed, used;
	enum exec_resp_state st;

	st = body_feed(
	    job, (uint8_t *)job->rbuf + off, job->rlen - off, &used, r, detail);
	job->rfed += used;
	if (st == RESP_DONE && job->rhead + job->rfed < job->rlen)
		job->keep_alive = false; /* extra bytes: not reusable */
	head_release(job);
	return st;
}

/* Whether the body is read by length_read() or stream_body_read(), not
 * through the input buffer. */
static bool
read_direct(const struct job *job)
{
	if (job->sink == NULL)
		return job->body_kind == HTTP_BODY_LENGTH;
	return job->body_kind == HTTP_BODY_LENGTH ||
	    job->body_kind == HTTP_BODY_CLOSE;
}

/* Move stream bytes into the head buffer; then parse what is there. */
static enum exec_resp_state
head_feed(
    struct job *job, struct stream *s, enum exec_reason *r, const char **detail)
{
	size_t max = job->e->c.max_response_head, n, k;
	enum exec_resp_state st;
	const uint8_t *p;
	char *grown;

	/* The head buffer starts small and doubles up to the bound: most
	 * heads fit in the first allocation. */
	if (job->rlen == job->rcap) {
		job->rcap = job->rcap == 0 ? MIN(EXEC_HEAD_FIRST, max)
					   : MIN(2 * job->rcap, max);
		if ((grown = realloc(job->rbuf, job->rcap)) == NULL)
			return fail(
			    r, detail, EXEC_OVERLOADED, "out of memory");
		job->rbuf = grown;
	}
	p = stream_peek(s, &n);
	k = n < job->rcap - job->rlen ? n : job->rcap - job->rlen;
	memcpy(job->rbuf + job->rlen, p, k);
	job->rlen += k;
	stream_consume(s, k);
	/* A head can only end, or go wrong, with a line: parse again only
	 * when one ended (no quadratic work for a trickling upstream), or
	 * when the buffer is full and must be judged. */
	if (memchr(job->rbuf + job->rlen - k, '\n', k) == NULL &&
	    job->rlen < max)
		return RESP_MORE;
	if ((st = head_parse(job, r, detail)) != RESP_MORE || job->rhead == 0)
		return st;
	if (job->sink != NULL &&
	    (st = stream_head(job, r, detail)) != RESP_MORE)
		return st;
	if (job->sink != NULL && read_direct(job))
		return RESP_MORE; /* in stream_body_read()'s first part */
	return rest_feed(job, r, detail);
}

/*
 * A buffered Content-Length body is read straight into its buffer, which
 * was allocated whole: for a plaintext upstream the socket's bytes land
 * there without a staging copy (net/stream.h stream_read()).
 */
static enum exec_resp_state
length_read(struct job *job, struct stream *s)
{
	size_t k;

	while (job->body_left > 0 &&
	    (k = stream_read(
		 s, job->body + job->body_len, (size_t)job->body_left)) > 0) {
		job->body_len += k;
		job->body_left -= k;
		job->resp_bytes += k;
	}
	return job->body_left == 0 ? RESP_DONE : RESP_MORE;
}

/* Of the body bytes read with the head, up to want into dst. */
static size_t
pending_take(struct job *job, uint8_t *dst, size_t want)
{
	size_t off = job->rhead + job->rfed, k;

	if (!exec_resp_pending(job))
		return 0;
	k = MIN(job->rlen - off, want);
	memcpy(dst, job->rbuf + off, k);
	job->rfed += k;
	return k;
}

/*
 * A streamed Content-Length or close-delimited body: the bytes read with
 * the head, what the connection's small input buffer holds and then the
 * socket's go into the executor's scratch, never more than the sink takes
 * now (so all of it is taken), and on as one part: one read and one part
 * per EXEC_READ_MAX bytes instead of per EXEC_IN_BUF (and the head's
 * leftovers are not a part of their own).  Bounded to a few rounds per
 * wakeup, so one fast upstream does not hold the loop.
 */
static enum exec_resp_state
stream_body_read(
    struct job *job, struct stream *s, enum exec_reason *r, const char **detail)
{
	enum exec_resp_state st = RESP_MORE;
	size_t want, k, m, used;
	unsigned i;

	for (i = 0; i < EXEC_READ_ROUNDS && st == RESP_MORE; i++) {
		want = feed_room(job, sizeof(job->e->scratch));
		if (job->body_kind == HTTP_BODY_LENGTH && want > job->body_left)
			want = (size_t)job->body_left;
		for (k = pending_take(job, job->e->scratch, want); k < want;
		     k += m)
			if ((m = stream_read(
				 s, job->e->scratch + k, want - k)) == 0)
				break;
		if (k == 0)
			break;
		job->resp_bytes += k;
		st = body_feed(job, job->e->scratch, k, &used, r, detail);
	}
	if (st == RESP_DONE && exec_resp_pending(job))
		job->keep_alive = false; /* extra bytes: not reusable */
	head_release(job);
	return st;
}

/*
 * Streamed: the bytes read with the head, before any later one, for as
 * long as the sink takes some.  One that takes none has said so through
 * room() (0) and resumes the job once it has room again; one that took
 * only part would not, so it is asked again until it takes none.
 */
static enum exec_resp_state
pending_feed(struct job *job, enum exec_reason *r, const char **detail)
{
	enum exec_resp_state st;
	size_t fed;

	do {
		fed = job->rfed;
		st = rest_feed(job, r, detail);
	} while (st == RESP_MORE && exec_resp_pending(job) && job->rfed != fed);
	return st;
}

/* see exec_int.h */
enum exec_resp_state
exec_resp_feed(
    struct job *job, struct stream *s, enum exec_reason *r, const char **detail)
{
	enum exec_resp_state st = RESP_MORE;
	const uint8_t *p;
	size_t n, used;

	while (st == RESP_MORE) {
		if (exec_resp_pending(job)) {
			if (job->sink != NULL && read_direct(job))
				break; /* stream_body_read() takes them */
			st = pending_feed(job, r, detail);
			if (exec_resp_pending(job))
				return st;
			continue;
		}
		if ((p = stream_peek(s, &n)) == NULL || n == 0)
			break;
		job->resp_bytes += n;
		if (job->rhead == 0) {
			if (job->rlen == job->e->c.max_response_head)
				return fail(r, detail, EXEC_TOO_LARGE,
				    "response head over limit");
			st = head_feed(job, s, r, detail);
			continue;
		}
		if (read_direct(job))
			break;
		st = body_feed(job, p, n, &used, r, detail);
		stream_consume(s, used);
		if (used == 0 && st == RESP_MORE)
			break; /* streamed: the sink is full */
	}
	if (st != RESP_MORE || job->rhead == 0 || !read_direct(job))
		return st;
	return job->sink == NULL ? length_read(job, s)
				 : stream_body_read(job, s, r, detail);
}

/* see exec_int.h */
bool
exec_resp_pending(const struct job *job)
{
	return job->rhead != 0 && job->rhead + job->rfed < job->rlen;
}

/* see exec_int.h */
enum exec_resp_state
exec_resp_eof(struct job *job, enum exec_reason *r, const char **detail)
{
	if (job->rhead == 0 && job->resp_bytes == 0)
		return fail(r, detail, EXEC_RESET,
		    "connection closed before a response");
	if (job->rhead == 0)
		return fail(r, detail, EXEC_BAD_RESPONSE,
		    "connection closed inside the response head");
	if (job->body_kind == HTTP_BODY_CLOSE) {
		job->keep_alive = false;
		return RESP_DONE;
	}
	return fail(
	    r, detail, EXEC_BAD_RESPONSE, "connection closed inside the body");
}

/* see exec.h */
void
exec_set_redaction(struct exec *e, struct redact_live *l)
{
	e->redact = l;
}

/*
 * The kept fields as protobuf Headers in e->resp_hdr: the strings are the
 * head buffer's own bytes, NUL-terminated in place (each name is followed
 * by ':' and each value by CR or whitespace, so nothing is overwritten).
 * clen, when not NULL, is a redacted body's Content-Length, and the
 * response says X-Traversal-Redacted: true (the one slot past the fields).
 */
static Connector__V1__Header **
headers_build(struct job *job, size_t *count, char *clen)
{
	static char redacted[] = "X-Traversal-Redacted", yes[] = "true";
	struct http_header *h = job->fields;
	Connector__V1__Header *hs = job->e->resp_hdr;
	Connector__V1__Header **ptrs = job->e->resp_hdrp;
	struct hop_filter f;
	size_t i, n = 0;

	hop_init(&f);
	for (i = 0; i < job->nfields; i++)
		hop_note(
		    &f, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
	for (i = 0; i < job->nfields; i++) {
		if (hop_drop(&f, h[i].name, h[i].name_len))
			continue;
		connector__v1__header__init(&hs[n]);
		hs[n].key = (char *)h[i].name;
		hs[n].value = clen != NULL && h[i].name_len == 14 &&
			strncasecmp(h[i].name, "content-length", 14) == 0
		    ? clen
		    : (char *)h[i].value;
		ptrs[n] = &hs[n];
		n++;
	}
	if (clen != NULL) {
		connector__v1__header__init(&hs[n]);
		hs[n].key = redacted;
		hs[n].value = yes;
		ptrs[n] = &hs[n];
		n++;
	}
	for (i = 0; i < job->nfields; i++) {
		((char *)h[i].name)[h[i].name_len] = '\0';
		((char *)h[i].value)[h[i].value_len] = '\0';
		/* proto3 strings must be UTF-8 (see lib/utf8.h). */
		utf8_scrub((char *)h[i].value, h[i].value_len);
	}
	*count = n;
	return ptrs;
}

/*
 * The rules for this body: -1 refused (the detail in e->redact_detail),
 * 0 unchanged, 1 redacted (the redaction replaced job->body).
 */
static int
redact_body(struct job *job)
{
	struct exec *e = job->e;
	struct redact_result res;
	int rc = 0;

	if (e->redact == NULL)
		return 0;
	if (redact_live_response(e->redact, job->host, job->status, job->fields,
		job->nfields, job->body, job->body_len, &res) != REDACT_OK) {
		snprintf(e->redact_detail, sizeof(e->redact_detail),
		    "%s: %.127s", redact_refusal_name(res.refusal), res.detail);
		rc = -1;
	} else if (res.changed) {
		free(job->body);
		job->body = res.out;
		job->body_len = res.out_len;
		res.out = NULL;
		rc = 1;
	}
	redact_result_free(&res);
	return rc;
}

/* see exec_int.h */
void
exec_resp_deliver(struct job *job)
{
	Connector__V1__HttpResponse resp = CONNECTOR__V1__HTTP_RESPONSE__INIT;
	exec_done_fn *done = job->done;
	char *rbuf = job->rbuf, clen[24];
	uint8_t *body;
	size_t n = 0;
	int redacted = redact_body(job);

	if (redacted < 0) {
		exec_resp_reset(job);
		done(job_public(job), EXEC_REDACTION, job->e->redact_detail,
		    NULL);
		return;
	}
	snprintf(clen, sizeof(clen), "%zu", job->body_len);
	body = job->body;
	resp.headers = headers_build(job, &n, redacted ? clen : NULL);
	resp.http_status = job->status;
	resp.n_headers = n;
	resp.body.len = job->body_len;
	resp.body.data = job->body_len > 0 ? body : NULL;
	/* The job is finished before its owner sees it (it may be reused). */
	job->rbuf = NULL;
	job->body = NULL;
	exec_resp_reset(job);
	done(job_public(job), EXEC_OK, NULL, &resp);
	free(body);
	free(rbuf);
}
