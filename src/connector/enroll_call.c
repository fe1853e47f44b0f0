/*
 * One unary Enrollment call on its own connection: socket ⇄ stream (TLS)
 * ⇄ HTTP/2 session ⇄ one stream ⇄ gRPC reader.  See enroll_call.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/enroll_call.h"
#include "connector/manager.h"
#include "grpc/grpc.h"
#include "h2/h2.h"
#include "lib/util.h"
#include "net/dial.h"
#include "net/net.h"
#include "net/stream.h"

#define ENROLL_PATH_PREFIX "/outpost.v1.Enrollment/"
#define ENROLL_WINDOW (ENROLL_MESSAGE_MAX + GRPC_PREFIX_LEN)
#define ENROLL_TXRING (16u << 10)
#define ENROLL_PLAIN_BUF (16u << 10)

struct enroll_call {
	struct rx_loop *loop;
	struct dns_resolver *dns;
	const struct dial_proxy *proxy;
	const struct manager_conf *mc;
	const struct tls_client_config *tls;
	enroll_call_fn *done;
	void *arg;
	bool active, have_stream, have_h2, finished;
	char path[64];
	struct grpc_out *req;
	struct rx_timer timer;
	struct dial dial;
	struct stream st;
	struct h2_session h2;
	struct h2_stream call;
	struct grpc_reader reader;
	struct enroll_result res;
	bool got_msg;
	uint8_t rxring[ENROLL_WINDOW];
	uint8_t txring[ENROLL_TXRING];
	uint8_t msgbuf[ENROLL_MESSAGE_MAX];
	uint8_t plain_in[ENROLL_PLAIN_BUF], plain_out[ENROLL_PLAIN_BUF];
	struct tls_conn tlsc;
};

static void
deliver(struct enroll_call *c)
{
	c->active = false;
	rx_timer_stop(c->loop, &c->timer);
	c->done(c, &c->res, c->arg);
}

/* End the call with the result set so far; the callback follows. */
static void
finish(struct enroll_call *c)
{
	if (c->finished)
		return;
	c->finished = true;
	rx_timer_stop(c->loop, &c->timer);
	dial_cancel(&c->dial);
	if (c->have_h2) {
		h2_session_free(&c->h2);
		c->have_h2 = false;
	}
	free(c->req);
	c->req = NULL;
	if (c->have_stream)
		stream_close(&c->st); /* on_closed delivers */
	else
		deliver(c);
}

static void
fail(struct enroll_call *c, const char *reason, const char *detail)
{
	if (c->finished)
		return;
	c->res.outcome = ENROLL_TRANSPORT;
	snprintf(c->res.reason, sizeof(c->res.reason), "%s", reason);
	snprintf(c->res.detail, sizeof(c->res.detail), "%s", detail);
	finish(c);
}

static void
on_closed(struct stream *s)
{
	struct enroll_call *c = container_of(s, struct enroll_call, st);

	c->have_stream = false;
	if (c->tls != NULL)
		tls_wipe(&c->tlsc);
	deliver(c);
}

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	struct enroll_call *c = container_of(t, struct enroll_call, timer);

	if (c->have_stream && !stream_ready(&c->st) && c->tls != NULL)
		tls_abort(&c->tlsc, TLS_R_HANDSHAKE_TIMEOUT);
	fail(c, "timeout", "no answer from the edge in time");
}

/* The status and first word of grpc-message, once the stream closed. */
static void
call_closed(struct enroll_call *c)
{
	int st = h2_stream_grpc_status(
	    &c->call, c->res.detail, sizeof(c->res.detail));
	size_t n = strcspn(c->res.detail, " :");

	if (st < 0) {
		fail(c, "protocol",
		    h2_stream_error_name(h2_stream_error(&c->call)));
		return;
	}
	if (st == 0 && c->got_msg) {
		c->res.outcome = ENROLL_OK;
		c->res.status = 0;
		c->res.msg = c->msgbuf;
		finish(c);
		return;
	}
	if (st == 0) {
		fail(c, "protocol", "grpc-status 0 without an answer");
		return;
	}
	c->res.outcome = ENROLL_STATUS;
	c->res.status = st;
	snprintf(c->res.reason, sizeof(c->res.reason), "%.*s", (int)n,
	    c->res.detail);
	finish(c);
}

/* Copy the one answer out of the ring (it may arrive in pieces). */
static void
read_call(struct enroll_call *c)
{
	const uint8_t *p, *msg;
	size_t n, used, len;
	int r;

	while ((p = h2_stream_take(&c->call, &n)) != NULL && n > 0) {
		r = grpc_reader_feed(&c->reader, p, n, &used, &msg, &len);
		if (r == GRPC_ERROR || (r == GRPC_MSG && c->got_msg)) {
			fail(c, "protocol", "bad or extra gRPC message");
			return;
		}
		if (r == GRPC_MSG) {
			if (msg != c->msgbuf)
				memcpy(c->msgbuf, msg, len);
			c->res.msg_len = len;
			c->got_msg = true;
		}
		h2_stream_ack(&c->call, used);
	}
}

static void
on_h2_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct enroll_call *c = arg;

	if (c->finished)
		return;
	if (ev & H2_EV_READ)
		read_call(c);
	if (!c->finished && ((ev & H2_EV_CLOSE) || h2_stream_eof(&c->call)))
		call_closed(c);
}

static void
flush(struct enroll_call *c)
{
	const uint8_t *p;
	size_t n, w;

	while (
	    c->have_h2 && (p = h2_session_take(&c->h2, &n)) != NULL && n > 0) {
		w = stream_write(&c->st, p, n);
		h2_session_ack(&c->h2, w);
		if (w < n)
			break;
	}
	stream_update(&c->st);
}

static int
open_call(struct enroll_call *c)
{
	const struct h2_conf hc = {.window = ENROLL_WINDOW,
	    .conn_window = ENROLL_WINDOW,
	    .max_frame = 16384,
	    .max_streams = 1,
	    .ping_timeout_ms = c->mc->handshake_ms};
	int r;

	r = h2_session_init(
	    &c->h2, H2_CLIENT, &hc, on_h2_event, NULL, c, rx_now(c->loop));
	if (r < 0)
		return r;
	c->have_h2 = true;
	h2_stream_init(
	    &c->call, c->rxring, sizeof(c->rxring), c->txring, ENROLL_TXRING);
	grpc_reader_init(&c->reader, c->msgbuf, sizeof(c->msgbuf));
	r = h2_stream_open(&c->h2, &c->call, c->tls != NULL ? "https" : "http",
	    c->mc->authority, c->path, NULL, 0);
	if (r == 0 &&
	    h2_stream_send(&c->call, c->req->data, c->req->len) !=
		(long)c->req->len)
		r = -EMSGSIZE;
	return r == 0 ? h2_stream_end(&c->call) : r;
}

static void
on_stream(struct stream *s)
{
	struct enroll_call *c = container_of(s, struct enroll_call, st);
	const uint8_t *p;
	size_t n;

	if (c->finished)
		return;
	if (!c->have_h2) {
		if (c->tls != NULL && tls_failed(&c->tlsc)) {
			c->res.tls = tls_reason(&c->tlsc);
			fail(c, tls_error_reason(&c->tlsc),
			    "TLS handshake failed");
			return;
		}
		if (stream_dead(s)) {
			if (c->tls != NULL)
				tls_eof(&c->tlsc);
			c->res.tls =
			    c->tls != NULL ? tls_reason(&c->tlsc) : TLS_R_NONE;
			fail(c,
			    c->tls != NULL ? tls_error_reason(&c->tlsc)
					   : "closed",
			    "the edge closed the connection");
			return;
		}
		if (!stream_ready(s))
			return;
		c->res.handshake_done = true;
		if (open_call(c) < 0) {
			fail(c, "h2", "cannot open the call");
			return;
		}
	}
	while ((p = stream_peek(s, &n)) != NULL && n > 0 && !c->finished) {
		if (h2_session_feed(&c->h2, p, n) < 0) {
			fail(c, "h2", h2_session_error_detail(&c->h2));
			return;
		}
		stream_consume(s, n);
	}
	if (c->finished)
		return;
	if (stream_dead(s)) {
		fail(c, "closed", "the edge closed the connection");
		return;
	}
	flush(c);
}

static void
on_dialed(struct dial *d, int fd, const struct dial_result *r)
{
	struct enroll_call *c = container_of(d, struct enroll_call, dial);

	if (fd < 0) {
		fail(c, r->err == DIAL_DNS ? "dns" : "connect", r->detail);
		return;
	}
	if (c->tls != NULL &&
	    tls_client_start(&c->tlsc, c->tls, c->mc->server_name) < 0) {
		net_close(fd);
		c->res.tls = tls_reason(&c->tlsc);
		fail(c, tls_error_reason(&c->tlsc), "TLS start failed");
		return;
	}
	c->have_stream = true;
	stream_start(&c->st, c->loop, fd,
	    c->tls != NULL ? tls_engine(&c->tlsc) : NULL, c->plain_in,
	    ENROLL_PLAIN_BUF, c->plain_out, ENROLL_PLAIN_BUF, on_stream,
	    on_closed);
}

/* see enroll_call.h */
struct enroll_call *
enroll_call_new(
    struct rx_loop *l, struct dns_resolver *dns, const struct dial_proxy *proxy)
{
	struct enroll_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->loop = l;
	c->dns = dns;
	c->proxy = proxy;
	rx_timer_init(&c->timer, on_timer);
	dial_init(&c->dial, l, dns, on_dialed);
	return c;
}

/* see enroll_call.h */
void
enroll_call_cancel(struct enroll_call *c)
{
	if (!c->active)
		return;
	c->done = NULL;
	c->finished = true;
	c->active = false;
	rx_timer_stop(c->loop, &c->timer);
	dial_cancel(&c->dial);
	if (c->have_h2)
		h2_session_free(&c->h2);
	c->have_h2 = false;
	free(c->req);
	c->req = NULL;
	if (c->have_stream) {
		c->st.on_close = NULL;
		stream_close(&c->st);
		c->have_stream = false;
	}
}

/* see enroll_call.h */
void
enroll_call_free(struct enroll_call *c)
{
	if (c == NULL)
		return;
	enroll_call_cancel(c);
	dial_free(&c->dial);
	if (c->tls != NULL)
		tls_wipe(&c->tlsc);
	free(c);
}

/* see enroll_call.h */
bool
enroll_call_active(const struct enroll_call *c)
{
	return c->active;
}

/* see enroll_call.h */
int
enroll_call_start(struct enroll_call *c, const struct manager_conf *mc,
    const struct tls_client_config *tls, const char *method,
    const ProtobufCMessage *req, int64_t timeout_ms, enroll_call_fn *done,
    void *arg)
{
	struct dial_opts o = {.attempt_ms = mc->connect_ms,
	    .total_ms = 2 * mc->connect_ms,
	    .proxy = c->proxy};
	char host[URL_HOST_MAX + 1];
	int r;

	if (c->active || c->have_stream)
		return -EALREADY;
	if ((c->req = grpc_out_pack(req)) == NULL)
		return -ENOMEM;
	c->mc = mc;
	c->tls = tls;
	c->done = done;
	c->arg = arg;
	c->finished = false;
	c->got_msg = false;
	c->res = (struct enroll_result){.status = -1};
	snprintf(c->path, sizeof(c->path), "%s%s", ENROLL_PATH_PREFIX, method);
	snprintf(
	    host, sizeof(host), "%.*s", (int)mc->url.hostlen, mc->url.host);
	c->active = true;
	rx_timer_start(c->loop, &c->timer, timeout_ms);
	r = dial_start(&c->dial, host, mc->url.port, &o);
	if (r < 0) {
		c->active = false;
		rx_timer_stop(c->loop, &c->timer);
		free(c->req);
		c->req = NULL;
		return r;
	}
	return 0;
}
