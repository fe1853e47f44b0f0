/*
 * One server connection, the I/O shell around the request reader
 * (http_server_reader.c) and the router (http_server_route.c): read into
 * the reader, route and admit each head before its body is read, hand
 * the exchange to a handler, write the response, then either wait for
 * the next request or shut down the write side and drain briefly (so the
 * peer reads our error response instead of a reset).
 *
 *   READ -> ADMIT -> READ (body) -> HANDLER -> WRITE -> READ (keep-alive)
 *                 -> WRITE (refused: 404, 405, the admit hook's answer)
 *                                           WRITE -> LINGER -> closed
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

static bool
out_pending(const struct http_conn *c)
{
	return c->out.len > c->out_off;
}

/* see http_server_int.h */
size_t
http_conn_out_pending(const struct http_conn *c)
{
	return c->out.len - c->out_off;
}

static void
out_release(struct http_conn *c)
{
	free(c->out.p);
	buf_init(&c->out, NULL, 0);
	c->out_off = 0;
}

/* see http_server_int.h */
bool
http_conn_out_reserve(struct http_conn *c, size_t n)
{
	uint8_t *p;

	if (c->out.cap - c->out.len >= n)
		return true;
	/* Written bytes go first, so the buffer holds only what is owed. */
	if (c->out_off > 0) {
		memmove(
		    c->out.p, c->out.p + c->out_off, c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
	if ((p = realloc(c->out.p, c->out.len + n)) == NULL)
		return false;
	c->out.p = p;
	c->out.cap = c->out.len + n;
	return true;
}

static int
conn_alloc(struct http_server *s, struct http_conn *c)
{
	const struct http_limits *lim = &s->conf.limits;

	if (c->hdrs == NULL)
		c->hdrs = malloc(lim->max_headers * sizeof(*c->hdrs));
	if (c->hdrs == NULL)
		return -ENOMEM;
	http_reader_init(&c->rd, lim, s->conf.max_body, c->hdrs);
	c->rd.max_raw = s->conf.max_raw_body > s->conf.max_body
	    ? s->conf.max_raw_body
	    : s->conf.max_body;
	buf_init(&c->out, NULL, 0);
	c->out_off = 0;
	return 0;
}

static void
interest(struct http_conn *c)
{
	unsigned want = 0;

	switch (c->state) {
	case CONN_LINGER:
		want = RX_READ;
		break;
	case CONN_READ:
	case CONN_HANDLER:
	case CONN_STREAM:
		/* While a handler works, keep reading (into what the buffer
		 * has) to notice a peer that goes away. */
		want = http_reader_wants(&c->rd) ? RX_READ : 0;
		break;
	default:
		break;
	}
	if (out_pending(c))
		want |= RX_WRITE;
	rx_watch_set(c->s->l, &c->w, want);
}

/* Between requests (or fresh from accept): wait for the first byte. */
static void
become_idle(struct http_conn *c, int64_t timeout)
{
	c->state = CONN_READ;
	c->route = NULL;
	c->tick = ++c->s->tick;
	c->x = (struct http_exchange){0};
	rx_timer_start(c->s->l, &c->t, timeout);
}

/* The first byte of a request: the header deadline starts now. */
static void
become_started(struct http_conn *c)
{
	c->tick = ++c->s->tick;
	rx_timer_start(c->s->l, &c->t, c->s->conf.header_timeout_ms);
}

static int64_t
body_timeout(const struct http_server *s)
{
	return s->conf.body_timeout_ms > 0 ? s->conf.body_timeout_ms
					   : s->conf.header_timeout_ms;
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
	if (c->state == CONN_READ && http_reader_started(&c->rd) &&
	    !out_pending(c)) {
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
	bool started = http_reader_started(&c->rd);
	size_t room;
	uint8_t *p;
	ssize_t n;

	if (c->state == CONN_LINGER) {
		linger_read(c);
		return;
	}
	if ((p = http_reader_room(&c->rd, &room)) == NULL) {
		http_conn_advance(c); /* no memory: the reader failed */
		return;
	}
	n = net_read(c->w.fd, p, room);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		/* EOF or error: a deferred exchange is aborted. */
		http_conn_close(c);
		return;
	}
	http_reader_feed(&c->rd, (size_t)n);
	if (c->state == CONN_READ && !started)
		become_started(c);
	else if (c->state == CONN_READ && http_reader_body_pending(&c->rd))
		rx_timer_start(c->s->l, &c->t, body_timeout(c->s));
	http_conn_advance(c);
}

static void
conn_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct http_conn *c = container_of(w, struct http_conn, w);

	size_t queued = http_conn_out_pending(c);

	if (events & RX_READ)
		conn_read(c);
	if ((events & RX_WRITE) && c->state != CONN_CLOSING)
		http_conn_advance(c);
	/* A streamed answer's writer hears that room appeared. */
	if (c->state == CONN_STREAM && c->x.on_drain != NULL &&
	    http_conn_out_pending(c) < queued)
		c->x.on_drain(&c->x, c->x.drain_arg);
}

static void
conn_closed(struct rx_loop *l, struct rx_watch *w)
{
	struct http_conn *c = container_of(w, struct http_conn, w);

	/* What the connection's requests needed goes back now. */
	http_reader_free(&c->rd);
	out_release(c);
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
	c->trusted = false;
	c->drained = 0;
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
	if ((was == CONN_HANDLER || was == CONN_STREAM) && x->on_abort != NULL)
		x->on_abort(x, x->abort_arg);
}

/* Write what is queued: true when the output is empty. */
static bool
flush(struct http_conn *c)
{
	ssize_t n;

	if (!out_pending(c))
		return true;
	n = net_write(c->w.fd, c->out.p + c->out_off, c->out.len - c->out_off);
	if (n == -EAGAIN)
		return false;
	if (n < 0) {
		http_conn_close(c);
		return false;
	}
	c->out_off += (size_t)n;
	if (c->state == CONN_WRITE || c->state == CONN_STREAM)
		rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
	if (out_pending(c))
		return false;
	if (c->state == CONN_STREAM) {
		/* Kept for the next bytes; a silent stream has no deadline. */
		c->out.len = c->out_off = 0;
		rx_timer_stop(c->s->l, &c->t);
		return true;
	}
	out_release(c);
	return true;
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
	http_reader_next(&c->rd);
	become_idle(c, c->s->conf.idle_timeout_ms);
	http_reader_feed(&c->rd, 0);
	if (http_reader_started(&c->rd))
		become_started(c);
}

/* A refusal the server makes itself, before the body is read. */
static void
refuse(struct http_conn *c, int status)
{
	char allow[96];
	struct buf b;

	if (status != 405) {
		http_conn_put(c, status, NULL, "text/plain",
		    status == 404 ? "Not Found\n" : "Forbidden\n", 10);
		return;
	}
	buf_init(&b, allow, sizeof(allow) - 1);
	http_allow_header(&b, http_route_allowed(c->route));
	b.p[b.len] = '\0';
	http_conn_put(c, 405, (const char *)b.p, "text/plain",
	    "Method Not Allowed\n", 19);
}

/* 0 when the route admits the head; else the status to refuse with. */
static int
admit(struct http_conn *c)
{
	const struct http_route *r = c->route;

	if (r->admit == NULL)
		return 0;
	if (!r->admit(&c->x, r->arg))
		return 403; /* unless the hook answered itself */
	c->trusted = true;
	return 0;
}

/* A raw_body route's admitted head goes to its handler, body unread. */
static void
raw_dispatch(struct http_conn *c)
{
	struct http_exchange *x = &c->x;

	rx_timer_stop(c->s->l, &c->t);
	http_exchange_split(x);
	x->body = NULL;
	x->body_len = 0;
	c->state = CONN_HANDLER;
	c->route->fn(x, c->route->arg);
}

/*
 * A complete head: route and admit it before a body byte is read.  A
 * refused request with a body closes after the answer (its body is
 * never read: the linger drains a bounded amount so the peer sees the
 * answer); one without a body keeps the connection.
 */
static void
on_head(struct http_conn *c)
{
	struct http_exchange *x = &c->x;
	int st;

	c->s->st.requests++;
	x->req = *http_reader_request(&c->rd);
	x->keep_alive = c->rd.keep_alive;
	c->close = !x->keep_alive || c->rd.has_body;
	st = http_route_select(&c->s->conf, x, &c->route);
	c->state = CONN_ADMIT;
	if (c->rd.over && (st != 0 || !c->route->raw_body))
		st = 413; /* over max_body: only a raw_body route takes it */
	if (st == 413)
		http_conn_fail(c, 413);
	if (st == 0)
		st = admit(c);
	if (c->state == CONN_ADMIT && st != 0)
		refuse(c, st);
	if (c->state != CONN_ADMIT) {
		http_reader_read_body(&c->rd); /* DONE unless there is a body */
		return;
	}
	if (c->route->raw_body && c->rd.has_body) {
		raw_dispatch(c); /* the handler reads the body (or closes) */
		return;
	}
	c->close = !x->keep_alive;
	c->state = CONN_READ;
	if (http_reader_read_body(&c->rd) != HTTP_RD_BODY)
		return;
	rx_timer_start(c->s->l, &c->t, body_timeout(c->s));
	if (c->rd.expect_continue && http_conn_out_reserve(c, 32))
		buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* The complete request goes to its handler. */
static void
dispatch(struct http_conn *c)
{
	struct http_exchange *x = &c->x;

	if (c->s->conf.handler_timeout_ms > 0)
		rx_timer_start(c->s->l, &c->t, c->s->conf.handler_timeout_ms);
	else
		rx_timer_stop(c->s->l, &c->t);
	/* The buffer may have grown (moved) while the body arrived. */
	x->req = *http_reader_request(&c->rd);
	http_exchange_split(x);
	x->body = http_reader_body(&c->rd, &x->body_len);
	c->state = CONN_HANDLER;
	c->route->fn(x, c->route->arg);
}

/* Act on the reader's state; false when it needs more input. */
static bool
step_read(struct http_conn *c)
{
	switch (c->rd.state) {
	case HTTP_RD_READY:
		on_head(c);
		return true;
	case HTTP_RD_DONE:
		dispatch(c);
		return true;
	case HTTP_RD_ERROR:
		if (c->rd.head_len == 0)
			c->s->st.requests++;
		log_debug("http: bad request (%d)", http_reader_status(&c->rd));
		http_conn_fail(c, http_reader_status(&c->rd));
		return true;
	default:
		return false;
	}
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
		} else if (c->state != CONN_READ || !step_read(c)) {
			break;
		}
	}
	c->busy = false;
	if (c->state != CONN_CLOSING)
		interest(c);
}

/* see http_server.h */
int
http_exchange_upgrade(
    struct http_exchange *x, void *pre, size_t cap, size_t *prelen)
{
	struct http_conn *c = container_of(x, struct http_conn, x);
	struct http_server *s = c->s;
	size_t n;
	int fd;

	if (c->state != CONN_HANDLER || c->rd.len < c->rd.head_len ||
	    (c->rd.has_body &&
		!(c->route->raw_body && c->rd.state == HTTP_RD_READY)))
		return -EINVAL;
	n = c->rd.len - c->rd.head_len;
	if (n > cap)
		return -EMSGSIZE;
	if ((fd = rx_watch_release(s->l, &c->w)) < 0)
		return fd;
	memcpy(pre, c->rd.p + c->rd.head_len, n);
	*prelen = n;
	http_server_count(s, 101);
	rx_timer_stop(s->l, &c->t);
	x->on_abort = NULL;
	c->state = CONN_CLOSING; /* as closed, without closing the fd */
	s->live--;
	s->st.open = s->live;
	conn_closed(s->l, &c->w);
	return fd;
}
