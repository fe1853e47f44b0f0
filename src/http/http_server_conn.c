/*
 * One server connection: read a head, maybe a body, hand the exchange to
 * a handler, write the response, then either wait for the next request or
 * shut down the write side and drain briefly (so the peer reads our error
 * response instead of a reset).
 *
 *   HEAD -> BODY -> HANDLER -> WRITE -> HEAD (keep-alive)
 *                                    -> LINGER -> closed
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_server.h"
#include "http/http_server_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"

/* Requests one read event may complete (pipelining beyond is abuse). */
#define PIPELINE_MAX 32
#define LINGER_MS 1000
#define LINGER_BYTES (256 * 1024)

/* A head, a body, and room for the framing of a chunk being decoded. */
static size_t
in_cap(const struct http_server *s)
{
	return s->conf.limits.max_total + s->conf.max_body + 256;
}

static int
conn_alloc(struct http_server *s, struct http_conn *c)
{
	size_t hdrs = s->conf.limits.max_headers * sizeof(struct http_header);

	if (c->mem == NULL)
		c->mem = malloc(hdrs + in_cap(s) + s->conf.out_cap);
	if (c->mem == NULL)
		return -ENOMEM;
	c->hdrs = (struct http_header *)(void *)c->mem;
	buf_init(&c->in, c->mem + hdrs, in_cap(s));
	buf_init(&c->out, c->mem + hdrs + in_cap(s), s->conf.out_cap);
	return 0;
}

static void
interest(struct http_conn *c)
{
	unsigned want = 0;

	switch (c->state) {
	case CONN_HEAD:
	case CONN_BODY:
	case CONN_LINGER:
		want = RX_READ;
		break;
	case CONN_HANDLER:
		/* Keep reading to notice a peer that goes away, until the
		 * buffer is full. */
		want = c->in.len < c->in.cap ? RX_READ : 0;
		break;
	default:
		break;
	}
	if (c->out.len > 0)
		want |= RX_WRITE;
	rx_watch_set(c->s->l, &c->w, want);
}

/* Between requests (or fresh from accept): wait for the first byte. */
static void
become_idle(struct http_conn *c, int64_t timeout)
{
	c->state = CONN_HEAD;
	c->started = false;
	c->chunked = false;
	c->parsed = 0;
	c->tick = ++c->s->tick;
	c->x = (struct http_exchange){0};
	rx_timer_start(c->s->l, &c->t, timeout);
}

/* The first byte of a request: the header deadline starts now. */
static void
become_started(struct http_conn *c)
{
	c->started = true;
	c->tick = ++c->s->tick;
	rx_timer_start(c->s->l, &c->t, c->s->conf.header_timeout_ms);
}

/* The handler owes an answer too long: it hears of the abort, the
 * client gets 504 and the connection closes. */
static void
handler_timeout(struct http_conn *c)
{
	struct http_exchange *x = &c->x;
	http_abort_fn *fn = x->on_abort;

	log_debug("http: handler timeout");
	x->on_abort = NULL;
	if (fn != NULL)
		fn(x, x->abort_arg);
	if (c->state != CONN_HANDLER)
		return; /* the abort callback answered after all */
	c->close = true;
	http_conn_put(c, 504, NULL, "text/plain", "Gateway Timeout\n", 16);
	http_conn_advance(c);
}

static void
conn_timeout(struct rx_loop *l, struct rx_timer *t)
{
	struct http_conn *c = container_of(t, struct http_conn, t);

	if (c->state != CONN_LINGER)
		c->s->st.timeouts++;
	if (c->state == CONN_HANDLER) {
		handler_timeout(c);
		return;
	}
	/* A request in progress hears why; an idle one just goes. */
	if (((c->state == CONN_HEAD && c->started) || c->state == CONN_BODY) &&
	    c->out.len == 0) {
		log_debug("http: request timeout");
		http_conn_fail(c, 408);
		return;
	}
	http_conn_close(c);
}

static void
linger_read(struct http_conn *c)
{
	uint8_t sink[4096];
	ssize_t n;

	n = net_read(c->w.fd, sink, sizeof(sink));
	if (n == -EAGAIN)
		return;
	if (n <= 0 || (c->drained += (size_t)n) > LINGER_BYTES)
		http_conn_close(c);
}

static void
conn_read(struct http_conn *c)
{
	size_t room;
	uint8_t *p;
	ssize_t n;

	if (c->state == CONN_LINGER) {
		linger_read(c);
		return;
	}
	p = buf_tail(&c->in, &room);
	if (room == 0)
		return;
	n = net_read(c->w.fd, p, room);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		/* EOF or error: a deferred exchange is aborted. */
		http_conn_close(c);
		return;
	}
	buf_commit(&c->in, (size_t)n);
	if (c->state == CONN_HEAD && !c->started)
		become_started(c);
	http_conn_advance(c);
}

static void
conn_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct http_conn *c = container_of(w, struct http_conn, w);

	if (events & RX_READ)
		conn_read(c);
	if ((events & RX_WRITE) && c->state != CONN_CLOSING)
		http_conn_advance(c);
}

static void
conn_closed(struct rx_loop *l, struct rx_watch *w)
{
	struct http_conn *c = container_of(w, struct http_conn, w);

	c->state = CONN_FREE;
	http_server_slot_done(c->s, c);
}

/* see http_server_int.h */
int
http_conn_open(struct http_server *s, struct http_conn *c, int fd)
{
	if (conn_alloc(s, c) < 0)
		return -ENOMEM;
	c->s = s;
	c->busy = false;
	c->close = false;
	c->drained = 0;
	c->head_len = 0;
	c->body_need = 0;
	net_set_opt(fd, NET_NODELAY, true);
	rx_watch_init(&c->w, fd, conn_io, conn_closed);
	rx_timer_init(&c->t, conn_timeout);
	become_idle(c, s->conf.header_timeout_ms);
	interest(c);
	return 0;
}

/* see http_server_int.h */
void
http_conn_close(struct http_conn *c)
{
	struct http_exchange *x = &c->x;
	enum conn_state was = c->state;

	if (was == CONN_FREE || was == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	rx_timer_stop(c->s->l, &c->t);
	rx_watch_close(c->s->l, &c->w);
	c->s->live--;
	c->s->st.open = c->s->live;
	if (was == CONN_HANDLER && x->on_abort != NULL)
		x->on_abort(x, x->abort_arg);
}

/* Write what is queued: true when the output is empty. */
static bool
flush(struct http_conn *c)
{
	ssize_t n;

	if (c->out.len == 0)
		return true;
	n = net_write(c->w.fd, c->out.p, c->out.len);
	if (n == -EAGAIN)
		return false;
	if (n < 0) {
		http_conn_close(c);
		return false;
	}
	buf_consume(&c->out, (size_t)n);
	if (c->state == CONN_WRITE)
		rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
	return c->out.len == 0;
}

/* The response is out: next request, or linger and close. */
static void
finish_response(struct http_conn *c)
{
	if (c->close || c->s->closing) {
		net_shutdown_write(c->w.fd);
		c->state = CONN_LINGER;
		rx_timer_start(c->s->l, &c->t, LINGER_MS);
		return;
	}
	buf_consume(&c->in, c->head_len + c->body_need);
	c->head_len = c->body_need = 0;
	become_idle(c, c->s->conf.idle_timeout_ms);
	if (c->in.len > 0)
		become_started(c);
}

/* Does the route accept the method? GET covers HEAD. */
static unsigned
method_bit(const struct http_request *r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} m[] = {
	    {"GET", HTTP_M_GET},
	    {"HEAD", HTTP_M_HEAD},
	    {"POST", HTTP_M_POST},
	    {"PUT", HTTP_M_PUT},
	    {"DELETE", HTTP_M_DELETE},
	    {"PATCH", HTTP_M_PATCH},
	    {"OPTIONS", HTTP_M_OPTIONS},
	};
	size_t i;

	/* Methods are case-sensitive (RFC 9110 9.1). */
	for (i = 0; i < nitems(m); i++)
		if (strlen(m[i].name) == r->method_len &&
		    memcmp(m[i].name, r->method, r->method_len) == 0)
			return m[i].bit;
	return 0;
}

static const struct http_route *
route_find(const struct http_server *s, const char *p, size_t n)
{
	const struct http_route *r;
	size_t i, k;

	for (i = 0; i < s->conf.nroutes; i++) {
		r = &s->conf.routes[i];
		k = strlen(r->path);
		if (k > 0 && r->path[k - 1] == '*') {
			if (n >= k - 1 && memcmp(r->path, p, k - 1) == 0)
				return r;
		} else if (k == n && memcmp(r->path, p, n) == 0) {
			return r;
		}
	}
	return NULL;
}

static void
method_not_allowed(struct http_conn *c, unsigned methods)
{
	static const char *names[] = {
	    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
	char allow[96] = "Allow: ";
	size_t i;

	if (methods & HTTP_M_GET)
		methods |= HTTP_M_HEAD;
	for (i = 0; i < nitems(names); i++) {
		if (!(methods & (1u << i)))
			continue;
		if (allow[7] != '\0')
			strcat(allow, ", ");
		strcat(allow, names[i]);
	}
	strcat(allow, "\r\n");
	c->state = CONN_HANDLER;
	http_conn_put(c, 405, allow, "text/plain", "Method Not Allowed\n", 19);
}

/* Route the complete request to its handler. */
static void
dispatch(struct http_conn *c)
{
	const struct http_route *r;
	unsigned m = method_bit(&c->x.req);

	if (c->s->conf.handler_timeout_ms > 0)
		rx_timer_start(c->s->l, &c->t, c->s->conf.handler_timeout_ms);
	else
		rx_timer_stop(c->s->l, &c->t);
	c->x.body = c->in.p + c->head_len;
	c->x.body_len = c->body_need;
	c->x.head = m == HTTP_M_HEAD;
	r = route_find(c->s, c->x.path, c->x.path_len);
	c->state = CONN_HANDLER;
	if (r == NULL) {
		http_conn_put(c, 404, NULL, "text/plain", "Not Found\n", 10);
		return;
	}
	if (m == 0 ||
	    !((r->methods | (r->methods & HTTP_M_GET ? HTTP_M_HEAD : 0)) & m)) {
		method_not_allowed(c, r->methods);
		return;
	}
	r->fn(&c->x, r->arg);
}

/* Split the target; only origin-form ("/...") and OPTIONS "*". */
static bool
target_ok(struct http_exchange *x)
{
	const char *q;

	if (x->req.target[0] != '/' &&
	    !(x->req.target_len == 1 && x->req.target[0] == '*'))
		return false;
	x->path = x->req.target;
	q = memchr(x->req.target, '?', x->req.target_len);
	x->path_len = q ? (size_t)(q - x->req.target) : x->req.target_len;
	x->query = q ? q + 1 : x->req.target + x->req.target_len;
	x->query_len = x->req.target_len - x->path_len - (q ? 1 : 0);
	return true;
}

/* HTTP/1.1 needs exactly one Host (RFC 9112 3.2). */
static bool
host_ok(const struct http_request *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nheaders; i++)
		n += http_token_eq(
		    r->headers[i].name, r->headers[i].name_len, "host");
	return r->minor_version == 0 ? n <= 1 : n == 1;
}

/* A complete head: check it and decide how much body follows. */
static void
start_request(struct http_conn *c)
{
	struct http_framing f;
	const struct http_header *e;

	if (http_request_framing(&c->x.req, &f) < 0 || !target_ok(&c->x) ||
	    !host_ok(&c->x.req)) {
		http_conn_fail(c, 400);
		return;
	}
	c->x.keep_alive = f.keep_alive;
	c->close = !f.keep_alive;
	if (f.kind == HTTP_BODY_LENGTH && f.length > c->s->conf.max_body) {
		http_conn_fail(c, 413);
		return;
	}
	c->body_need = f.kind == HTTP_BODY_LENGTH ? (size_t)f.length : 0;
	c->chunked = f.kind == HTTP_BODY_CHUNKED;
	if (c->chunked) {
		/* The decoder's 0 means unbounded; ours means none. */
		http_chunked_init(&c->dec, c->s->conf.limits.max_line,
		    c->s->conf.max_body > 0 ? c->s->conf.max_body : 1);
		c->raw = c->head_len;
	}
	c->state = CONN_BODY;
	e = http_header_find(c->x.req.headers, c->x.req.nheaders, "expect");
	if ((c->body_need > 0 || c->chunked) &&
	    c->in.len < c->head_len + c->body_need + 1 && e != NULL &&
	    http_token_eq(e->value, e->value_len, "100-continue"))
		buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	if (c->body_need > 0 || c->chunked)
		rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
}

/*
 * The head parser starts over on every call.  A peer that sends its head
 * a byte at a time must not make that quadratic: parse again only when a
 * line has ended since the last try, when the head has doubled, or when
 * it is over max_total.  Lines are bounded by max_headers, so the work
 * per head is O(max_headers * max_total).
 */
static bool
worth_parsing(const struct http_conn *c)
{
	size_t from = c->parsed;

	if (from == 0 || c->in.len >= 2 * from ||
	    c->in.len > c->s->conf.limits.max_total)
		return true;
	return memchr(c->in.p + from, '\n', c->in.len - from) != NULL;
}

/* Parse what has arrived of the head; false when more is needed. */
static bool
step_head(struct http_conn *c)
{
	int r;

	if (c->in.len == 0 || !worth_parsing(c))
		return false;
	c->x.req.headers = c->hdrs;
	c->x.req.nheaders = c->s->conf.limits.max_headers;
	r = http_parse_request(
	    (const char *)c->in.p, c->in.len, &c->x.req, &c->s->conf.limits);
	if (r == HTTP_PARTIAL) {
		c->parsed = c->in.len;
		return false;
	}
	c->s->st.requests++;
	if (r < 0) {
		log_debug("http: bad request head (%d)", r);
		http_conn_fail(c, http_error_status(r));
		return true;
	}
	c->head_len = (size_t)r;
	start_request(c);
	return true;
}

/*
 * Decode a chunked body in place: the buffer holds the head, the body
 * decoded so far (body_need bytes), then raw bytes from 'raw' on.  Data
 * moves down over the framing it followed, so when the body is complete
 * it sits where a Content-Length body would, followed by whatever the
 * peer pipelined.  False when more input is needed.
 */
static bool
step_chunked(struct http_conn *c)
{
	size_t end = c->head_len + c->body_need, dl;
	const uint8_t *d;
	long n;

	while (c->raw < c->in.len && !http_chunked_done(&c->dec)) {
		n = http_chunked_feed(
		    &c->dec, c->in.p + c->raw, c->in.len - c->raw, &d, &dl);
		if (n < 0) {
			http_conn_fail(
			    c, n == HTTP_ERROR_TOO_LARGE ? 413 : 400);
			return true;
		}
		if (dl > 0)
			memmove(c->in.p + end, d, dl);
		end += dl;
		c->raw += (size_t)n;
	}
	c->body_need = end - c->head_len;
	if (c->body_need > c->s->conf.max_body) {
		http_conn_fail(c, 413);
		return true;
	}
	memmove(c->in.p + end, c->in.p + c->raw, c->in.len - c->raw);
	c->in.len -= c->raw - end;
	c->raw = end;
	if (!http_chunked_done(&c->dec))
		return false;
	dispatch(c);
	return true;
}

static bool
step_body(struct http_conn *c)
{
	if (c->chunked)
		return step_chunked(c);
	if (c->in.len < c->head_len + c->body_need)
		return false;
	dispatch(c);
	return true;
}

/* see http_server_int.h */
void
http_conn_advance(struct http_conn *c)
{
	int done = 0;

	if (c->busy)
		return;
	c->busy = true;
	while (c->state != CONN_CLOSING) {
		if (!flush(c))
			break;
		if (c->state == CONN_WRITE) {
			finish_response(c);
			if (++done > PIPELINE_MAX) {
				http_conn_close(c);
				break;
			}
		} else if (c->state == CONN_HEAD) {
			if (!step_head(c))
				break;
		} else if (c->state == CONN_BODY) {
			if (!step_body(c))
				break;
		} else {
			break;
		}
	}
	c->busy = false;
	if (c->state != CONN_CLOSING)
		interest(c);
}
