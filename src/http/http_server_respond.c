/*
 * Responses: the head is formatted together with the body into an output
 * buffer sized for this response (at most out_cap), which is freed once
 * it is written; then the connection is driven to write.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "http/http_server.h"
#include "http/http_server_int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

static bool
has_body(const struct http_conn *c, int status)
{
	return !c->x.head && status >= 200 && status != 204 && status != 304;
}

/* Content-Length, where the answer has one (RFC 9110 8.6). */
static void
put_length(struct http_conn *c, int status, size_t len)
{
	const struct http_exchange *x = &c->x;

	if (status < 200 || status == 204 || status == 304)
		return;
	if (x->head && x->head_len_set) {
		if (x->head_len >= 0)
			buf_printf(&c->out, "Content-Length: %lld\r\n",
			    (long long)x->head_len);
		return;
	}
	if (len != SIZE_MAX) /* SIZE_MAX: a streamed body of unknown length */
		buf_printf(&c->out, "Content-Length: %zu\r\n", len);
}

/* see http_server_int.h */
void
http_conn_put_head(struct http_conn *c, int status, const char *headers,
    const char *ctype, size_t len)
{
	struct buf *b = &c->out;

	buf_printf(b, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	if (ctype != NULL)
		buf_printf(b, "Content-Type: %s\r\n", ctype);
	put_length(c, status, len);
	if (c->close || c->s->closing)
		buf_adds(b, "Connection: close\r\n");
	else if (c->x.req.minor_version == 0)
		buf_adds(b, "Connection: keep-alive\r\n");
	if (headers != NULL)
		buf_adds(b, headers);
	buf_adds(b, "\r\n");
}

/* Room for the response: its head (the fixed lines fit in 256 bytes)
 * and body, never more than out_cap.  Anything past that overflows. */
static bool
reserve(struct http_conn *c, int status, const char *headers, const char *ctype,
    size_t len)
{
	size_t need = 256;

	need += headers != NULL ? strlen(headers) : 0;
	need += ctype != NULL ? strlen(ctype) : 0;
	need += has_body(c, status) ? len : 0;
	return http_conn_out_reserve(c, MIN(need, c->s->conf.out_cap));
}

/* see http_server_int.h */
int
http_conn_put(struct http_conn *c, int status, const char *headers,
    const char *ctype, const void *body, size_t len)
{
	size_t mark;
	int r = 0;

	if (!reserve(c, status, headers, ctype, len)) {
		log_warn("http: no memory for a %d response", status);
		c->x.on_abort = NULL; /* the caller's exchange ends here */
		http_conn_close(c);
		return -ENOMEM;
	}
	mark = c->out.len;

	/* Errors the client caused leave the stream in doubt: close. */
	if (status == 400 || status == 408 || status == 411 || status == 413 ||
	    status == 414 || status == 431)
		c->close = true;
	http_conn_put_head(c, status, headers, ctype, len);
	if (has_body(c, status))
		buf_add(&c->out, body, len);
	if (c->out.overflow) {
		c->out.len = mark;
		c->out.overflow = false;
		c->close = true;
		status = 500;
		http_conn_put_head(c, status, NULL, "text/plain", 22);
		buf_add(&c->out, "Internal Server Error\n",
		    has_body(c, 500) ? 22 : 0);
		r = -ENOSPC;
	}
	http_server_count(c->s, status);
	log_debug("http: %.*s %.*s -> %d", (int)MIN(c->x.req.method_len, 16),
	    c->x.req.method ? c->x.req.method : "", (int)MIN(c->x.path_len, 64),
	    c->x.path ? c->x.path : "", status);
	c->state = CONN_WRITE;
	rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
	return r;
}

/* see http_server_int.h */
void
http_conn_fail(struct http_conn *c, int status)
{
	static char text[64];
	const char *reason = http_reason(status);
	size_t n = strlen(reason);

	c->close = true;
	memcpy(text, reason, n);
	text[n] = '\n';
	http_conn_put(c, status, NULL, "text/plain", text, n + 1);
	http_conn_advance(c);
}

/* see http_server.h */
int
http_respond(struct http_exchange *x, int status, const char *headers,
    const char *ctype, const void *body, size_t len)
{
	struct http_conn *c = container_of(x, struct http_conn, x);
	int r;

	if (c->state != CONN_HANDLER && c->state != CONN_ADMIT)
		return -EALREADY;
	r = http_conn_put(c, status, headers, ctype, body, len);
	http_conn_advance(c);
	return r;
}

/* see http_server.h */
const struct http_request *
http_exchange_request(const struct http_exchange *x)
{
	return &x->req;
}

/* see http_server.h */
void
http_exchange_path(
    const struct http_exchange *x, const char **path, size_t *len)
{
	*path = x->path;
	*len = x->path_len;
}

/* see http_server.h */
void
http_exchange_query(const struct http_exchange *x, const char **q, size_t *len)
{
	*q = x->query;
	*len = x->query_len;
}

/* see http_server.h */
const uint8_t *
http_exchange_body(const struct http_exchange *x, size_t *len)
{
	*len = x->body_len;
	return x->body;
}

/* see http_server.h */
bool
http_exchange_has_body(const struct http_exchange *x)
{
	const struct http_conn *c = container_of(x, struct http_conn, x);

	return c->rd.has_body;
}

/* see http_server.h */
struct http_server *
http_exchange_server(const struct http_exchange *x)
{
	const struct http_conn *c = container_of(x, struct http_conn, x);

	return c->s;
}

/* see http_server.h */
const struct sockaddr *
http_exchange_peer(const struct http_exchange *x)
{
	const struct http_conn *c = container_of(x, struct http_conn, x);

	return (const struct sockaddr *)&c->peer;
}

/* see http_server.h */
void
http_exchange_head_length(struct http_exchange *x, int64_t len)
{
	x->head_len_set = true;
	x->head_len = len;
}

/* see http_server.h */
void
http_exchange_on_abort(struct http_exchange *x, http_abort_fn *fn, void *arg)
{
	x->on_abort = fn;
	x->abort_arg = arg;
}

/* see http_server.h */
int
http_respond_metrics(
    struct http_exchange *x, struct metrics *reg, struct buf *b)
{
	const struct http_header *a =
	    http_header_find(x->req.headers, x->req.nheaders, "accept");
	enum metrics_format fmt = a != NULL
	    ? metrics_negotiate(a->value, a->value_len)
	    : METRICS_PROMETHEUS;

	if (!metrics_render(reg, fmt, b))
		return -EMSGSIZE;
	return http_respond(x, 200,
	    "Cache-Control: no-store\r\nVary: Accept\r\n",
	    metrics_content_type(fmt), b->p, b->len);
}
