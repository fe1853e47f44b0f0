/*
 * The request side: validation of the tunnel's HttpRequest against the
 * spec, the HTTP/1.1 request head, and streaming head and body out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connector/exec_int.h"
#include "http/hop.h"
#include "http/redact.h"

static const struct {
	const char *name;
	bool idempotent;
} methods[] = {
    {"GET", true},
    {"POST", false},
    {"PUT", true},
    {"DELETE", true},
    {"PATCH", false},
    {"HEAD", true},
    {"OPTIONS", true},
};

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
header_ok(const Connector__V1__Header *h)
{
	const unsigned char *p;

	if (h == NULL || h->key == NULL || h->key[0] == '\0' ||
	    h->value == NULL)
		return false;
	for (p = (const unsigned char *)h->key; *p != '\0'; p++)
		if (!is_tchar(*p))
			return false;
	/* No CR, LF or other control byte: nothing can be smuggled. */
	for (p = (const unsigned char *)h->value; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

static bool
method_ok(struct job *job, const char *m)
{
	size_t i;

	for (i = 0; m != NULL && i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0) {
			job->idempotent = methods[i].idempotent;
			return true;
		}
	return false;
}

static bool
reject(enum exec_reason *r, const char **detail, enum exec_reason why,
    const char *text)
{
	*r = why;
	*detail = text;
	return false;
}

/* see exec_int.h */
bool
exec_req_check(
    struct exec *e, struct job *job, enum exec_reason *r, const char **detail)
{
	const Connector__V1__HttpRequest *req = job->req;
	const char *why = NULL;
	size_t i;

	job->proxy = NULL;
	if (req == NULL)
		return reject(r, detail, EXEC_BAD_REQUEST, "no request");
	if (!method_ok(job, req->method))
		return reject(
		    r, detail, EXEC_BAD_REQUEST, "unsupported method");
	if (req->url == NULL ||
	    !url_parse(req->url, strlen(req->url), &job->url, &why))
		return reject(
		    r, detail, EXEC_BAD_REQUEST, why != NULL ? why : "bad URL");
	memcpy(job->host, job->url.host, job->url.hostlen);
	job->host[job->url.hostlen] = '\0';
	job->proxy = exec_proxy_route(e, job);
	for (i = 0; i < req->n_headers; i++)
		if (!header_ok(req->headers[i]))
			return reject(
			    r, detail, EXEC_BAD_REQUEST, "malformed header");
	if (req->body.len > e->c.max_request_body)
		return reject(r, detail, EXEC_TOO_LARGE,
		    "request body over MAX_REQUEST_BODY_SIZE");
	return true;
}

/* The value of the first request header called name, or NULL. */
static const char *
req_header(const Connector__V1__HttpRequest *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i]->key, name) == 0)
			return req->headers[i]->value;
	return NULL;
}

/* see exec_int.h */
bool
exec_req_redact(struct job *job, enum exec_reason *r, const char **detail)
{
	const Connector__V1__HttpRequest *req = job->req;
	struct redact_result res;
	enum redact_refusal why;

	job->send_body = req->body.data;
	job->send_len = req->body.len;
	if (job->e->redact == NULL || !redact_live_requests(job->e->redact))
		return true;
	why = redact_live_request(job->e->redact, job->host,
	    req_header(req, "content-type"),
	    req_header(req, "content-encoding"), req->body.data, req->body.len,
	    &res);
	if (why == REDACT_OK && res.changed) {
		job->send_owned = res.out;
		job->send_body = res.out;
		job->send_len = res.out_len;
		res.out = NULL;
	}
	redact_result_free(&res);
	if (why != REDACT_OK)
		return reject(
		    r, detail, EXEC_REDACTION, redact_refusal_name(why));
	return true;
}

static bool
header_kept(const struct job *job, const struct hop_filter *f,
    const Connector__V1__Header *h)
{
	size_t n = strlen(h->key);

	if (hop_drop(f, h->key, n))
		return false;
	if (job->traceparent != NULL && strcasecmp(h->key, "traceparent") == 0)
		return false; /* the executor's span replaces it */
	if (!job->state_kept && strcasecmp(h->key, "tracestate") == 0)
		return false;
	return strcasecmp(h->key, "host") != 0 &&
	    strcasecmp(h->key, "content-length") != 0;
}

static bool
needs_length(const struct job *job)
{
	const char *m = job->req->method;

	return job->send_len > 0 || strcmp(m, "POST") == 0 ||
	    strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* ":port" into out, "" for the scheme's default port (no printf per head). */
static void
port_format(char out[8], const struct url *u)
{
	char d[5];
	unsigned p = u->port, k = 0;

	if (u->port == (u->tls ? 443 : 80)) {
		out[0] = '\0';
		return;
	}
	do
		d[k++] = (char)('0' + p % 10);
	while ((p /= 10) > 0);
	*out++ = ':';
	while (k > 0)
		*out++ = d[--k];
	*out = '\0';
}

/* The stack buffer a request head is first formatted into. */
#define EXEC_HEAD_FIRST 2048

/* Write the head into out[0..cap) when it fits; returns its length. */
static size_t
head_format(struct job *job, const struct hop_filter *f, char *out, size_t cap)
{
	const Connector__V1__HttpRequest *req = job->req;
	const struct url *u = &job->url;
	bool absolute = job->proxy != NULL && !u->tls;
	char port[8], clen[32] = "";
	size_t n = 0, i;

#define PUT(p, len) \
	do { \
		if (n + (len) <= cap) \
			memcpy(out + n, (p), (len)); \
		n += (len); \
	} while (0)
#define PUTS(s) PUT((s), strlen(s))
	port_format(port, u);
#define PUT_AUTHORITY() \
	do { \
		PUTS(u->ipv6 ? "[" : ""); \
		PUT(u->host, u->hostlen); \
		PUTS(u->ipv6 ? "]" : ""); \
		PUTS(port); \
	} while (0)
	PUTS(req->method);
	PUTS(absolute ? " http://" : " ");
	if (absolute) /* to a proxy: the authority, then the path */
		PUT_AUTHORITY();
	PUT(u->path, u->pathlen);
	PUTS(" HTTP/1.1\r\nHost: ");
	PUT_AUTHORITY();
	PUTS("\r\n");
	if (absolute && job->proxy->auth[0] != '\0') {
		PUTS("Proxy-Authorization: ");
		PUTS(job->proxy->auth);
		PUTS("\r\n");
	}
	for (i = 0; i < req->n_headers; i++) {
		if (!header_kept(job, f, req->headers[i]))
			continue;
		PUTS(req->headers[i]->key);
		PUTS(": ");
		PUTS(req->headers[i]->value);
		PUTS("\r\n");
	}
	if (job->traceparent != NULL) {
		PUTS("traceparent: ");
		PUTS(job->traceparent);
		PUTS("\r\n");
	}
	if (needs_length(job))
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n",
		    job->send_len);
	PUTS(clen);
	PUTS("\r\n");
#undef PUT_AUTHORITY
#undef PUTS
#undef PUT
	return n;
}

/*
 * W3C Trace Context: tracestate goes with the trace of the traceparent it
 * came with.  When the executor's traceparent starts a new trace (the
 * request's was invalid, missing or repeated), the request's tracestate
 * describes another trace and is not passed on.  The trace id is
 * characters 3..35 of both values.
 */
static bool
state_kept(const struct job *job)
{
	const Connector__V1__HttpRequest *req = job->req;
	size_t i;

	if (job->traceparent == NULL)
		return true; /* not a participant: req's fields as they are */
	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i]->key, "traceparent") == 0 &&
		    strlen(req->headers[i]->value) >= 35 &&
		    memcmp(req->headers[i]->value + 3, job->traceparent + 3,
			32) == 0)
			return true;
	return false;
}

/* see exec_int.h */
bool
exec_req_build(struct job *job)
{
	const Connector__V1__HttpRequest *req = job->req;
	struct hop_filter f;
	char first[EXEC_HEAD_FIRST];
	size_t i, n;

	job->state_kept = state_kept(job);
	hop_init(&f);
	for (i = 0; i < req->n_headers; i++)
		hop_note(&f, req->headers[i]->key, strlen(req->headers[i]->key),
		    req->headers[i]->value, strlen(req->headers[i]->value));
	/* formatted once on the stack (a usual head fits), then copied */
	n = head_format(job, &f, first, sizeof(first));
	if ((job->head = malloc(n)) == NULL)
		return false;
	if (n <= sizeof(first))
		memcpy(job->head, first, n);
	else
		head_format(job, &f, job->head, n);
	job->head_len = n;
	job->head_off = job->body_off = 0;
	return true;
}

/* see exec_int.h */
bool
exec_req_send(struct job *job, struct stream *s)
{
	size_t before = job->head_off + job->body_off;

	if (job->head_off < job->head_len)
		job->head_off += stream_write(s, job->head + job->head_off,
		    job->head_len - job->head_off);
	if (job->head_off == job->head_len && job->body_off < job->send_len)
		job->body_off += stream_write(s, job->send_body + job->body_off,
		    job->send_len - job->body_off);
	return job->head_off + job->body_off != before;
}

/* see exec_int.h */
bool
exec_req_sent(const struct job *job)
{
	return job->head_off == job->head_len && job->body_off == job->send_len;
}
