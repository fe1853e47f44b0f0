/*
 * Message framing from parsed headers (RFC 9112 section 6), and the small
 * lookups around it.  Anything ambiguous is an error: a front end and a
 * back end that disagree about where a body ends is request smuggling.
 */
#include <string.h>

#include "http/http.h"

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* see http.h */
bool
http_token_eq(const char *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' ||
		    lower((unsigned char)p[i]) != lower((unsigned char)lit[i]))
			return false;
	return lit[n] == '\0';
}

/* see http.h */
const struct http_header *
http_header_find(const struct http_header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_token_eq(h[i].name, h[i].name_len, name))
			return &h[i];
	return NULL;
}

/* Does the comma-separated list v[0..n) hold token tok? */
static bool
list_has(const char *v, size_t n, const char *tok)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && http_token_eq(v + s, e - s, tok))
			return true;
	}
	return false;
}

static bool
keep_alive(const struct http_header *h, size_t n, int minor)
{
	bool close = false, keep = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!http_token_eq(h[i].name, h[i].name_len, "connection"))
			continue;
		close |= list_has(h[i].value, h[i].value_len, "close");
		keep |= list_has(h[i].value, h[i].value_len, "keep-alive");
	}
	return !close && (minor >= 1 || keep);
}

/* Every Content-Length must be the same plain decimal number. */
static int
content_length(const struct http_header *h, size_t n, bool *seen, uint64_t *out)
{
	uint64_t v;
	size_t i, j;

	*seen = false;
	for (i = 0; i < n; i++) {
		if (!http_token_eq(h[i].name, h[i].name_len, "content-length"))
			continue;
		if (h[i].value_len == 0 || h[i].value_len > 18)
			return HTTP_ERROR;
		for (v = 0, j = 0; j < h[i].value_len; j++) {
			if (h[i].value[j] < '0' || h[i].value[j] > '9')
				return HTTP_ERROR;
			v = v * 10 + (uint64_t)(h[i].value[j] - '0');
		}
		if (*seen && v != *out)
			return HTTP_ERROR;
		*seen = true;
		*out = v;
	}
	return 0;
}

/*
 * Transfer-Encoding: 0 when absent, 1 when the final coding is chunked,
 * 2 when present otherwise, 3 when it is exactly one field "chunked".
 */
static int
transfer_encoding(const struct http_header *h, size_t n)
{
	const struct http_header *last = NULL;
	const char *v;
	size_t i, e, count = 0;

	for (i = 0; i < n; i++)
		if (http_token_eq(
			h[i].name, h[i].name_len, "transfer-encoding")) {
			last = &h[i];
			count++;
		}
	if (last == NULL)
		return 0;
	if (count == 1 &&
	    http_token_eq(last->value, last->value_len, "chunked"))
		return 3;
	v = last->value;
	e = last->value_len;
	if (e >= 7 && http_token_eq(v + e - 7, 7, "chunked") &&
	    (e == 7 || v[e - 8] == ',' || v[e - 8] == ' ' || v[e - 8] == '\t'))
		return 1;
	return 2;
}

/* see http.h */
int
http_request_framing(const struct http_request *req, struct http_framing *f)
{
	bool has_cl;
	int te;

	*f = (struct http_framing){.kind = HTTP_BODY_NONE};
	f->keep_alive =
	    keep_alive(req->headers, req->nheaders, req->minor_version);
	if (content_length(req->headers, req->nheaders, &has_cl, &f->length))
		return HTTP_ERROR;
	te = transfer_encoding(req->headers, req->nheaders);
	if (te != 0) {
		/* Only a plain "chunked" in HTTP/1.1, never with a length. */
		if (te != 3 || has_cl || req->minor_version == 0)
			return HTTP_ERROR;
		f->kind = HTTP_BODY_CHUNKED;
	} else if (has_cl && f->length > 0) {
		f->kind = HTTP_BODY_LENGTH;
	}
	return 0;
}

/* see http.h */
int
http_response_framing(const struct http_response *resp, const char *method,
    size_t method_len, struct http_framing *f)
{
	bool has_cl;
	int te;

	*f = (struct http_framing){.kind = HTTP_BODY_NONE};
	f->keep_alive =
	    keep_alive(resp->headers, resp->nheaders, resp->minor_version);
	if (content_length(resp->headers, resp->nheaders, &has_cl, &f->length))
		return HTTP_ERROR;
	if (http_token_eq(method, method_len, "HEAD") || resp->status < 200 ||
	    resp->status == 204 || resp->status == 304)
		return 0;
	te = transfer_encoding(resp->headers, resp->nheaders);
	/* Both is how responses are split (RFC 9112 6.1: "ought to be
	 * handled as an error"): refused, never guessed. */
	if (te != 0 && has_cl)
		return HTTP_ERROR;
	if (te == 1 || te == 3) {
		f->kind = HTTP_BODY_CHUNKED;
	} else if (te == 2 || !has_cl) {
		f->kind = HTTP_BODY_CLOSE;
		f->keep_alive = false;
	} else if (f->length > 0) {
		f->kind = HTTP_BODY_LENGTH;
	}
	return 0;
}

/* see http.h */
const char *
http_reason(int status)
{
	static const struct {
		int status;
		const char *reason;
	} t[] = {
	    {100, "Continue"},
	    {200, "OK"},
	    {201, "Created"},
	    {202, "Accepted"},
	    {204, "No Content"},
	    {301, "Moved Permanently"},
	    {302, "Found"},
	    {304, "Not Modified"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {408, "Request Timeout"},
	    {409, "Conflict"},
	    {411, "Length Required"},
	    {413, "Content Too Large"},
	    {414, "URI Too Long"},
	    {429, "Too Many Requests"},
	    {431, "Request Header Fields Too Large"},
	    {500, "Internal Server Error"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	    {505, "HTTP Version Not Supported"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].status == status)
			return t[i].reason;
	return "Unknown";
}
