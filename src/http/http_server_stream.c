/*
 * Streamed answers (see http_server.h): the head goes out at once, body
 * bytes follow as the handler writes them (one chunk per write when the
 * length is unknown), at most HTTP_STREAM_BUF queued; the end is a last
 * chunk and the next request, or a cut: the connection closes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "http/http_server.h"
#include "http/http_server_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"

#define CHUNK_OVERHEAD 12 /* "ffffffff\r\n" + "\r\n" */
#define TRAILER "0\r\n\r\n"

static struct http_conn *
conn_of(const struct http_exchange *x)
{
	return container_of(x, struct http_conn, x);
}

/* see http_server.h */
int
http_respond_stream(struct http_exchange *x, int status, const char *headers,
    const char *ctype, int64_t length)
{
	struct http_conn *c = conn_of(x);
	size_t need = 256 + (headers ? strlen(headers) : 0) +
	    (ctype ? strlen(ctype) : 0) + 32;

	if (c->state != CONN_HANDLER)
		return -EALREADY;
	if (status < 200 || status > 999)
		return -EINVAL;
	if (!http_conn_out_reserve(c, need)) {
		log_warn("http: no memory for a streamed %d response", status);
		x->on_abort = NULL;
		http_conn_close(c);
		return -ENOMEM;
	}
	x->bodyless = x->head || status == 204 || status == 304;
	x->left = x->bodyless ? 0 : length;
	x->chunked = !x->bodyless && length < 0 && x->req.minor_version >= 1;
	if (!x->bodyless && length < 0 && !x->chunked)
		c->close = true; /* HTTP/1.0: the close ends the body */
	http_conn_put_head(c, status,
	    x->chunked ? "Transfer-Encoding: chunked\r\n" : NULL, ctype,
	    length >= 0 ? (size_t)length : SIZE_MAX);
	/* The caller's lines go after ours: take the blank line back. */
	c->out.len -= 2;
	if (headers != NULL)
		buf_adds(&c->out, headers);
	buf_adds(&c->out, "\r\n");
	http_server_count(c->s, status);
	c->state = CONN_STREAM;
	rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
	http_conn_advance(c);
	return 0;
}

/* see http_server.h */
size_t
http_exchange_room(const struct http_exchange *x)
{
	const struct http_conn *c = conn_of(x);
	size_t q = http_conn_out_pending(c);

	if (c->state != CONN_STREAM || q + CHUNK_OVERHEAD >= HTTP_STREAM_BUF)
		return 0;
	return HTTP_STREAM_BUF - q - CHUNK_OVERHEAD;
}

/*
 * With nothing queued, a length-delimited body's bytes go to the socket
 * straight from the caller's memory: how many it took (0 when it took
 * none, or failed: the queued rest then meets the error in the flush).
 */
static size_t
direct(struct http_conn *c, const void *p, size_t n)
{
	ssize_t w = net_write(c->w.fd, p, n);

	if (w <= 0)
		return 0;
	return (size_t)w;
}

/* see http_server.h */
int
http_exchange_write(struct http_exchange *x, const void *p, size_t n)
{
	struct http_conn *c = conn_of(x);
	size_t k = 0;
	bool idle;

	if (c->state != CONN_STREAM)
		return -EINVAL;
	if (x->bodyless || n == 0)
		return 0;
	if (n > http_exchange_room(x))
		return -ENOSPC;
	if (x->left >= 0 && (uint64_t)n > (uint64_t)x->left)
		return -EMSGSIZE;
	idle = http_conn_out_pending(c) == 0;
	if (x->left >= 0)
		x->left -= (int64_t)n;
	if (idle && !x->chunked && (k = direct(c, p, n)) == n)
		return 0;
	p = (const uint8_t *)p + k;
	n -= k;
	if (!http_conn_out_reserve(c, n + CHUNK_OVERHEAD)) {
		http_conn_close(c); /* the abort callback runs */
		return -ENOMEM;
	}
	if (x->chunked)
		buf_printf(&c->out, "%zx\r\n", n);
	buf_add(&c->out, p, n);
	if (x->chunked)
		buf_adds(&c->out, "\r\n");
	if (idle) /* the client must read within the idle timeout */
		rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
	http_conn_advance(c);
	return 0;
}

/* see http_server.h */
void
http_exchange_on_drain(struct http_exchange *x, http_drain_fn *fn, void *arg)
{
	x->on_drain = fn;
	x->drain_arg = arg;
}

/* see http_server.h */
void
http_exchange_end(struct http_exchange *x, bool complete)
{
	struct http_conn *c = conn_of(x);

	if (c->state != CONN_STREAM)
		return;
	x->on_abort = NULL;
	x->on_drain = NULL;
	if (complete && x->left > 0)
		complete = false; /* short of its Content-Length */
	if (!complete)
		c->close = true;
	else if (x->chunked && http_conn_out_reserve(c, sizeof(TRAILER)))
		buf_adds(&c->out, TRAILER);
	else if (x->chunked)
		c->close = true;
	c->state = CONN_WRITE;
	rx_timer_start(c->s->l, &c->t, c->s->conf.idle_timeout_ms);
	http_conn_advance(c);
}
