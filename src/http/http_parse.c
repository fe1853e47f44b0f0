/*
 * Request and response heads.  A cursor walks the caller's buffer and
 * never dereferences 'end'; every path that reaches it reports
 * HTTP_PARTIAL, or a limit error when the bytes seen already break one.
 */
#include <string.h>

#include "http/http.h"

struct cur {
	const char *buf; /* start of the message */
	const char *p;
	const char *end;
	const struct http_limits *lim;
};

/* RFC 9110 5.6.2; '-' (in most field names) tested before the search. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '-')
		return true;
	return c != 0 && strchr("!#$%&'*+.^_`|~", c) != NULL;
}

/* Field values and reason phrases: HTAB, SP, VCHAR, obs-text. */
static bool
is_text(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

#define NO_HEADERS ((size_t)-1)

/*
 * The head so far is incomplete: is it already over a limit?  hdr_start is
 * the offset of the header section, or NO_HEADERS while in the first line.
 */
static int
partial(const struct cur *c, size_t hdr_start)
{
	size_t len = (size_t)(c->end - c->buf);

	if (len > c->lim->max_total)
		return HTTP_ERROR_TOO_LARGE;
	if (hdr_start != NO_HEADERS &&
	    len - hdr_start > c->lim->max_header_bytes)
		return HTTP_ERROR_TOO_LARGE;
	return HTTP_PARTIAL;
}

/* Expect CRLF at the cursor: 0, HTTP_PARTIAL or HTTP_ERROR. */
static int
eat_crlf(struct cur *c)
{
	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p != '\r')
		return HTTP_ERROR;
	if (c->p + 1 == c->end)
		return HTTP_PARTIAL;
	if (c->p[1] != '\n')
		return HTTP_ERROR;
	c->p += 2;
	return 0;
}

/* "HTTP/1.x": 0, HTTP_PARTIAL or HTTP_ERROR. */
static int
eat_version(struct cur *c, int *minor)
{
	static const char lit[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < sizeof(lit) - 1; i++, c->p++) {
		if (c->p == c->end)
			return HTTP_PARTIAL;
		if (*c->p != lit[i])
			return HTTP_ERROR;
	}
	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p < '0' || *c->p > '9')
		return HTTP_ERROR;
	*minor = *c->p++ - '0';
	return 0;
}

/* One "name: value" CRLF line into h. */
static int
eat_field(struct cur *c, struct http_header *h)
{
	const char *vend;

	h->name = c->p;
	while (c->p < c->end && is_tchar((unsigned char)*c->p))
		c->p++;
	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p != ':' || c->p == h->name)
		return HTTP_ERROR;
	h->name_len = (size_t)(c->p++ - h->name);
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	h->value = vend = c->p;
	for (; c->p < c->end && *c->p != '\r'; c->p++) {
		if (!is_text((unsigned char)*c->p))
			return HTTP_ERROR;
		if (*c->p != ' ' && *c->p != '\t')
			vend = c->p + 1;
	}
	h->value_len = (size_t)(vend - h->value);
	return eat_crlf(c);
}

/* The header section up to and including the empty line. */
static int
eat_headers(struct cur *c, struct http_header *h, size_t *nh)
{
	size_t start = (size_t)(c->p - c->buf), cap = *nh, n = 0;
	int r;

	if (cap > c->lim->max_headers)
		cap = c->lim->max_headers;
	for (;;) {
		if ((size_t)(c->p - c->buf) - start >
			c->lim->max_header_bytes ||
		    (size_t)(c->p - c->buf) > c->lim->max_total)
			return HTTP_ERROR_TOO_LARGE;
		if (c->p < c->end && *c->p == '\r')
			break;
		if (c->p == c->end)
			return partial(c, start);
		if (n == cap)
			return HTTP_ERROR_TOO_LARGE;
		if ((r = eat_field(c, &h[n])) != 0)
			return r == HTTP_PARTIAL ? partial(c, start) : r;
		n++;
	}
	if ((r = eat_crlf(c)) != 0)
		return r == HTTP_PARTIAL ? partial(c, start) : r;
	if ((size_t)(c->p - c->buf) - start > c->lim->max_header_bytes ||
	    (size_t)(c->p - c->buf) > c->lim->max_total)
		return HTTP_ERROR_TOO_LARGE;
	*nh = n;
	return (int)(c->p - c->buf);
}

/* A token followed by SP: the method. */
static int
eat_method(struct cur *c, struct http_request *req)
{
	req->method = c->p;
	while (c->p < c->end && is_tchar((unsigned char)*c->p))
		c->p++;
	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p != ' ' || c->p == req->method)
		return HTTP_ERROR;
	req->method_len = (size_t)(c->p++ - req->method);
	return 0;
}

/* Visible ASCII followed by SP: the request target. */
static int
eat_target(struct cur *c, struct http_request *req)
{
	req->target = c->p;
	while (c->p<c->end && * c->p> ' ' && *c->p < 0x7f)
		c->p++;
	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p != ' ' || c->p == req->target)
		return HTTP_ERROR;
	req->target_len = (size_t)(c->p++ - req->target);
	return 0;
}

static int
eat_request_line(struct cur *c, struct http_request *req)
{
	const char *start;
	int r;

	/* RFC 9112 2.2: ignore empty lines before the request line. */
	while (c->end - c->p >= 2 && c->p[0] == '\r' && c->p[1] == '\n' &&
	    (size_t)(c->p - c->buf) < c->lim->max_line)
		c->p += 2;
	if (c->end - c->p == 1 && *c->p == '\r')
		return HTTP_PARTIAL;
	start = c->p;
	if ((r = eat_method(c, req)) == 0 && (r = eat_target(c, req)) == 0 &&
	    (r = eat_version(c, &req->minor_version)) == 0)
		r = eat_crlf(c);
	if (r == 0 && (size_t)(c->p - start) - 2 > c->lim->max_line)
		return HTTP_ERROR_LINE;
	/* The line so far may end in the CR of its CRLF. */
	if (r == HTTP_PARTIAL &&
	    (size_t)(c->end - start) > c->lim->max_line + 1)
		return HTTP_ERROR_LINE;
	return r;
}

/* see http.h */
int
http_parse_request(const char *buf, size_t len, struct http_request *req,
    const struct http_limits *lim)
{
	struct cur c = {.buf = buf, .p = buf, .end = buf + len, .lim = lim};
	int r;

	if ((r = eat_request_line(&c, req)) != 0)
		return r == HTTP_PARTIAL ? partial(&c, NO_HEADERS) : r;
	return eat_headers(&c, req->headers, &req->nheaders);
}

static int
eat_status(struct cur *c, struct http_response *resp)
{
	int i;

	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p++ != ' ')
		return HTTP_ERROR;
	resp->status = 0;
	for (i = 0; i < 3; i++, c->p++) {
		if (c->p == c->end)
			return HTTP_PARTIAL;
		if (*c->p < '0' || *c->p > '9')
			return HTTP_ERROR;
		resp->status = resp->status * 10 + (*c->p - '0');
	}
	return resp->status < 100 ? HTTP_ERROR : 0;
}

/* Optional " reason" up to CR (a missing SP is tolerated). */
static int
eat_reason(struct cur *c, struct http_response *resp)
{
	if (c->p < c->end && *c->p != ' ' && *c->p != '\r')
		return HTTP_ERROR;
	if (c->p < c->end && *c->p == ' ')
		c->p++;
	resp->reason = c->p;
	while (c->p < c->end && *c->p != '\r') {
		if (!is_text((unsigned char)*c->p))
			return HTTP_ERROR;
		c->p++;
	}
	resp->reason_len = (size_t)(c->p - resp->reason);
	return eat_crlf(c);
}

static int
eat_status_line(struct cur *c, struct http_response *resp)
{
	int r;

	if ((r = eat_version(c, &resp->minor_version)) == 0 &&
	    (r = eat_status(c, resp)) == 0)
		r = eat_reason(c, resp);
	if (r == 0 && (size_t)(c->p - c->buf) - 2 > c->lim->max_line)
		return HTTP_ERROR_LINE;
	if (r == HTTP_PARTIAL &&
	    (size_t)(c->end - c->buf) > c->lim->max_line + 1)
		return HTTP_ERROR_LINE;
	return r;
}

/* see http.h */
int
http_parse_response(const char *buf, size_t len, struct http_response *resp,
    const struct http_limits *lim)
{
	struct cur c = {.buf = buf, .p = buf, .end = buf + len, .lim = lim};
	int r;

	if ((r = eat_status_line(&c, resp)) != 0)
		return r == HTTP_PARTIAL ? partial(&c, NO_HEADERS) : r;
	return eat_headers(&c, resp->headers, &resp->nheaders);
}

/* see http.h */
int
http_error_status(int parse_result)
{
	switch (parse_result) {
	case HTTP_ERROR_LINE:
		return 414;
	case HTTP_ERROR_TOO_LARGE:
		return 431;
	default:
		return 400;
	}
}
