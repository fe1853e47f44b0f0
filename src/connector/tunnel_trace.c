/*
 * A tunnelled request's spans (issue #15 item 4): the server span
 * connector.handle_http_request, joining the trace named by the
 * request's traceparent field, and its child executor.upstream_http, which
 * the upstream request names in its own traceparent.  Attributes are the
 * OpenTelemetry HTTP semantic conventions, restricted to what is not
 * request data: the method, the status code, the upstream's address and
 * port, the typed failure reason, body sizes.  Never the URL's path or
 * query, a header value or a body.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connector/manager.h"
#include "connector/tunnel.h"
#include "lib/log.h"
#include "lib/url.h"

static const char *
method_name(const char *m)
{
	static const char *const known[] = {
	    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "_OTHER"; /* the convention's name for any other method */
}

/*
 * The trace the request continues: exactly one valid traceparent field
 * (W3C: several, or an invalid one, start a new trace); its tracestate
 * fields joined with ',' into state when the whole is valid.
 */
static bool
request_parent(const Connector__V1__HttpRequest *req, struct trace_ctx *p,
    char state[TRACE_STATE_MAX], size_t *slen)
{
	const char *tp = NULL;
	unsigned ntp = 0;
	size_t i, n = 0, len;
	bool fits = true;

	for (i = 0; i < req->n_headers; i++) {
		const Connector__V1__Header *h = req->headers[i];

		if (strcasecmp(h->key, "traceparent") == 0) {
			tp = h->value;
			ntp++;
		} else if (strcasecmp(h->key, "tracestate") == 0) {
			len = strlen(h->value);
			if (n + (n > 0) + len > TRACE_STATE_MAX) {
				fits = false;
				continue;
			}
			if (n > 0)
				state[n++] = ',';
			memcpy(state + n, h->value, len);
			n += len;
		}
	}
	if (ntp != 1 || !trace_parent_parse(p, tp, strlen(tp)))
		return false;
	*slen = fits && trace_state_valid(state, n) ? n : 0;
	return true;
}

static void
attr_cstr(struct trace_span *s, const char *key, const char *v)
{
	trace_span_attr_str(s, key, v, strlen(v));
}

static void
request_attrs(
    struct trace_span *s, const Connector__V1__HttpRequest *req, bool client)
{
	const char *why;
	struct url u;

	if (s == NULL || !s->recording)
		return;
	attr_cstr(s, "http.request.method", method_name(req->method));
	trace_span_attr_int(
	    s, "http.request.body.size", (int64_t)req->body.len);
	if (client && url_parse(req->url, strlen(req->url), &u, &why)) {
		trace_span_attr_str(s, "server.address", u.host, u.hostlen);
		trace_span_attr_int(s, "server.port", u.port);
	}
}

/* see tunnel.h */
const char *
tunnel_trace_start(struct manager *m, struct tunnel_req *r,
    const Connector__V1__HttpRequest *req)
{
	char state[TRACE_STATE_MAX];
	struct trace_ctx parent;
	size_t slen = 0;
	bool joined = request_parent(req, &parent, state, &slen);

	r->up.active = r->up.open = false;
	r->up.span = NULL;
	trace_ref_start(m->trace, &r->span, "connector.handle_http_request",
	    TRACE_KIND_SERVER, joined ? &parent : NULL, state, slen);
	if (!r->span.active)
		return NULL;
	trace_ref_start(m->trace, &r->up, "executor.upstream_http",
	    TRACE_KIND_CLIENT, &r->span.ctx, state, slen);
	if (!r->up.active)
		return NULL;
	request_attrs(r->span.span, req, false);
	request_attrs(r->up.span, req, true);
	trace_parent_format(&r->up.ctx, r->traceparent);
	return r->traceparent;
}

/*
 * The outcome on one span: a typed failure, or an HTTP status at or above
 * error_from, is an error (the conventions: 4xx only for clients).
 */
static void
outcome_attrs(struct trace_span *s, const char *result, int status,
    uint64_t size, int error_from)
{
	char code[12];

	if (s == NULL || !s->recording)
		return;
	if (status != 0) {
		trace_span_attr_int(s, "http.response.status_code", status);
		trace_span_attr_int(
		    s, "http.response.body.size", (int64_t)size);
	}
	if (result == NULL || strcmp(result, "ok") != 0) {
		attr_cstr(
		    s, "error.type", result != NULL ? result : "cancelled");
		trace_span_set_status(s, TRACE_STATUS_ERROR);
	} else if (status != 0 && status >= error_from) {
		snprintf(code, sizeof(code), "%d", status);
		attr_cstr(s, "error.type", code);
		trace_span_set_status(s, TRACE_STATUS_ERROR);
	}
}

/* see tunnel.h */
void
tunnel_trace_end(struct manager *m, struct tunnel_req *r, const char *result,
    int status, uint64_t size)
{
	outcome_attrs(r->up.span, result, status, size, 400);
	outcome_attrs(r->span.span, result, status, size, 500);
	trace_ref_end(m->trace, &r->up);
	trace_ref_end(m->trace, &r->span);
}

/* see tunnel.h */
void
tunnel_trace_log(const struct tunnel_req *r)
{
	if (r->span.active)
		log_set_trace(r->span.ctx.trace_id, r->span.ctx.span_id,
		    r->span.ctx.flags);
	else
		log_clear_trace();
}
