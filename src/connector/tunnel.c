/*
 * Tunnel slots: the transport and the state machine.  Bytes flow
 * socket ⇄ stream (TLS) ⇄ HTTP/2 session ⇄ the call's rings ⇄ gRPC reader
 * and the outbound queue ⇄ the message layer (tunnel_msg.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/manager.h"
#include "connector/tunnel.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"

#define TUNNEL_PATH "/connector.v1.ConnectorService/Tunnel"
#define TUNNEL_WINDOW (1u << 20) /* per-stream receive window */
#define TUNNEL_TXRING (256u << 10)
#define TUNNEL_PLAIN_BUF (64u << 10)
/* A tunnel that closes this soon after opening counts as a quick close. */
#define TUNNEL_QUICK_MS 2000
#define TUNNEL_QUICK_MAX 3
/* Control messages (health, metadata) that may wait beside the answers. */
#define TUNNEL_OUT_SLACK 16

static const char *const state_names[] = {
    "idle",
    "dialing",
    "handshaking",
    "open",
    "draining",
};

static void tunnel_close(struct tunnel_slot *t, const char *why, bool clean);
static void flush_out(struct tunnel_slot *t);

/* see tunnel.h */
const char *
tunnel_state_name(enum tunnel_state s)
{
	return s < TUNNEL__STATES ? state_names[s] : "?";
}

static void
set_state(struct tunnel_slot *t, enum tunnel_state s)
{
	if (t->state == s)
		return;
	log_debug("tunnel %u: %s -> %s", t->index, state_names[t->state],
	    state_names[s]);
	t->state = s;
	t->since = rx_now(t->mgr->loop);
	manager_slot_changed(t->mgr);
}

static void
set_error(struct tunnel_slot *t, const char *reason, const char *detail)
{
	t->last_error = reason;
	snprintf(t->last_detail, sizeof(t->last_detail), "%s", detail);
	t->mgr->last_error = reason;
}

/* see tunnel.h */
bool
tunnel_slot_routable(const struct tunnel_slot *t)
{
	return t->state == TUNNEL_OPEN && t->confirmed;
}

/*
 * The PING sent right after the call's HEADERS came back: the edge has
 * seen the call, so the tunnel now counts as open (for readiness and for a
 * draining tunnel waiting for its replacement).
 */
static void
check_confirmed(struct tunnel_slot *t)
{
	if (t->confirmed || t->state != TUNNEL_OPEN ||
	    h2_session_pings_acked(&t->h2) == 0)
		return;
	t->confirmed = true;
	log_info("tunnel %u: open to %s (connection %u)", t->index,
	    t->mgr->conf.authority, t->generation);
	manager_slot_changed(t->mgr);
}

/* --- dialing ------------------------------------------------------------ */

static void
try_dial(struct tunnel_slot *t)
{
	struct manager *m = t->mgr;
	/* Each address gets CONNECT_TIMEOUT; all of them (and DNS, and the
	 * proxy) twice that. */
	struct dial_opts o = {.attempt_ms = m->conf.connect_ms,
	    .total_ms = 2 * m->conf.connect_ms,
	    .proxy = m->proxy};
	char host[URL_HOST_MAX + 1];
	int64_t wait;
	int r;

	t->scheduled = false;
	if (m->stopping)
		return;
	wait = budget_take(&m->budget, rx_now(m->loop));
	if (wait > 0) {
		t->scheduled = true;
		rx_timer_start(m->loop, &t->timer, wait);
		return;
	}
	memcpy(host, m->conf.url.host, m->conf.url.hostlen);
	host[m->conf.url.hostlen] = '\0';
	t->generation++;
	set_state(t, TUNNEL_DIALING);
	r = dial_start(&t->dial, host, m->conf.url.port, &o);
	if (r < 0) {
		set_error(t, "dial", strerror(-r));
		tunnel_close(t, "dial", false);
	}
}

static void
on_timer(struct rx_loop *l, struct rx_timer *tm)
{
	struct tunnel_slot *t = container_of(tm, struct tunnel_slot, timer);
	int64_t now = rx_now(l);

	switch (t->state) {
	case TUNNEL_IDLE:
		try_dial(t);
		break;
	case TUNNEL_HANDSHAKING:
		tls_abort(&t->tls, TLS_R_HANDSHAKE_TIMEOUT);
		set_error(
		    t, tls_error_reason(&t->tls), "TLS handshake deadline");
		manager_count_dial(t->mgr, DIAL_RESULT_TLS);
		tunnel_close(t, "handshake timeout", false);
		break;
	case TUNNEL_OPEN:
	case TUNNEL_DRAINING:
		if (h2_session_tick(&t->h2, now) < 0) {
			set_error(
			    t, "h2", h2_error_name(h2_session_error(&t->h2)));
			tunnel_close(t, "http2", false);
			return;
		}
		flush_out(t);
		break;
	default:
		break;
	}
}

/* Re-arm the slot's timer for the h2 session's next deadline. */
static void
arm_h2_timer(struct tunnel_slot *t)
{
	int64_t d = h2_session_deadline(&t->h2), now = rx_now(t->mgr->loop);

	if (d == INT64_MAX)
		rx_timer_stop(t->mgr->loop, &t->timer);
	else
		rx_timer_start(t->mgr->loop, &t->timer, d > now ? d - now : 0);
}

/* --- HTTP/2 and the call -------------------------------------------------- */

static void
read_call(struct tunnel_slot *t)
{
	const uint8_t *p, *msg;
	size_t n, used, len;
	int r;

	while ((p = h2_stream_take(&t->call, &n)) != NULL && n > 0) {
		r = grpc_reader_feed(&t->reader, p, n, &used, &msg, &len);
		if (r == GRPC_ERROR) {
			set_error(t, "protocol",
			    grpc_error_name(grpc_reader_error(&t->reader)));
			tunnel_close(t, "bad gRPC frame", false);
			return;
		}
		if (r == GRPC_MSG && tunnel_msg_dispatch(t, msg, len) < 0) {
			set_error(
			    t, "protocol", "undecodable ControllerMessage");
			tunnel_close(t, "bad message", false);
			return;
		}
		h2_stream_ack(&t->call, used);
		if (t->state == TUNNEL_IDLE)
			return;
	}
}

static void
call_closed(struct tunnel_slot *t)
{
	char msg[128] = "";
	int status = h2_stream_grpc_status(&t->call, msg, sizeof(msg));
	enum h2_stream_error e = h2_stream_error(&t->call);

	t->call_open = false;
	if (e == H2_SERR_NONE && status == 0 && t->inflight == 0) {
		tunnel_close(t, "stream closed by the edge", true);
		return;
	}
	set_error(t, "stream", status > 0 ? msg : h2_stream_error_name(e));
	tunnel_close(t, "stream failed", false);
}

static void
on_h2_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct tunnel_slot *t = arg;

	if (st != &t->call || t->state == TUNNEL_IDLE)
		return;
	if (ev & H2_EV_READ)
		read_call(t);
	if (t->state == TUNNEL_IDLE)
		return;
	if (ev & H2_EV_WRITE)
		tunnel_pump(t);
	if ((ev & H2_EV_CLOSE) || h2_stream_eof(&t->call))
		call_closed(t);
}

static int
open_call(struct tunnel_slot *t)
{
	struct manager *m = t->mgr;
	struct h2_conf hc = {.window = TUNNEL_WINDOW,
	    .conn_window = TUNNEL_WINDOW * 2,
	    .max_frame = 16384,
	    .max_streams = 4,
	    .ping_interval_ms = m->conf.keepalive_ms,
	    .ping_timeout_ms = m->conf.handshake_ms};
	int r;

	r = h2_session_init(
	    &t->h2, H2_CLIENT, &hc, on_h2_event, NULL, t, rx_now(m->loop));
	if (r < 0)
		return r;
	t->have_h2 = true;
	h2_stream_init(
	    &t->call, t->rxring, TUNNEL_WINDOW, t->txring, TUNNEL_TXRING);
	r = h2_stream_open(&t->h2, &t->call, m->tls != NULL ? "https" : "http",
	    m->conf.authority, TUNNEL_PATH);
	if (r < 0)
		return r;
	t->call_open = true;
	t->confirmed = false;
	t->call_ended = false;
	grpc_reader_init(&t->reader, t->msgbuf, m->conf.max_message);
	t->opened_at = rx_now(m->loop);
	set_state(t, TUNNEL_OPEN);
	manager_count_dial(m, DIAL_RESULT_OK);
	if (h2_session_ping(&t->h2, rx_now(m->loop)) < 0)
		return -1;
	tunnel_msg_hello(t);
	arm_h2_timer(t);
	return 0;
}

/* see tunnel.h */
void
tunnel_pump(struct tunnel_slot *t)
{
	if (t->call_open)
		grpc_sendq_pump(&t->outq, &t->call, NULL);
	/* Answers finishing in the same loop turn share one write: the
	 * timer fires after this turn's I/O callbacks. */
	if (!rx_timer_active(&t->flush_timer))
		rx_timer_start(t->mgr->loop, &t->flush_timer, 0);
}

static void
on_flush_timer(struct rx_loop *l, struct rx_timer *tm)
{
	flush_out(container_of(tm, struct tunnel_slot, flush_timer));
}

/*
 * A draining slot may end its call once nothing is in flight and a
 * replacement is routable (make-before-break), or when the process is
 * stopping.  Routable needs nothing from the edge's application: standard
 * gRPC servers send response headers only with their first message.
 */
static bool
may_finish(const struct tunnel_slot *t)
{
	return t->state == TUNNEL_DRAINING && t->inflight == 0 &&
	    (manager_open_tunnels(t->mgr) > 0 || t->mgr->stopping);
}

static bool
drained(const struct tunnel_slot *t)
{
	return may_finish(t) && (t->call_ended || !t->call_open) &&
	    grpc_sendq_empty(&t->outq) && !h2_session_want_write(&t->h2);
}

/* Hand the session's output to the stream; close a drained slot. */
static void
flush_out(struct tunnel_slot *t)
{
	const uint8_t *p;
	size_t n, w;

	if (!t->have_h2 || !t->have_stream || t->st.closing)
		return;
	while ((p = h2_session_take(&t->h2, &n)) != NULL && n > 0) {
		w = stream_write(&t->st, p, n);
		h2_session_ack(&t->h2, w);
		if (w < n)
			break;
	}
	stream_update(&t->st);
	if (h2_session_error(&t->h2) != H2_ERR_NONE) {
		set_error(t, "h2", h2_session_error_detail(&t->h2));
		tunnel_close(t, "http2 error", false);
		return;
	}
	if (drained(t) && !stream_output_pending(&t->st)) {
		tunnel_close(t, "drained", true);
		return;
	}
	arm_h2_timer(t);
}

/* --- the stream: TLS handshake, then HTTP/2 bytes ------------------------ */

static void
handshake_step(struct tunnel_slot *t)
{
	const char *why;

	if (tls_ready(&t->tls)) {
		if (open_call(t) < 0) {
			set_error(t, "h2", "cannot open the call");
			manager_count_dial(t->mgr, DIAL_RESULT_H2);
			tunnel_close(t, "h2", false);
		}
		return;
	}
	if (!tls_failed(&t->tls) && !stream_dead(&t->st))
		return;
	if (!tls_failed(&t->tls) && t->st.eof)
		tls_eof(&t->tls); /* the edge hung up: often our certificate */
	why = tls_failed(&t->tls) ? tls_error_reason(&t->tls) : "closed";
	set_error(t, why, "TLS handshake with the edge failed");
	manager_count_dial(t->mgr, DIAL_RESULT_TLS);
	log_warn("tunnel %u: TLS handshake with %s failed: %s", t->index,
	    t->mgr->conf.authority, why);
	tunnel_close(t, "tls", false);
}

static void
on_stream(struct stream *s)
{
	struct tunnel_slot *t = container_of(s, struct tunnel_slot, st);
	const uint8_t *p;
	size_t n;
	int e;

	if (t->state == TUNNEL_HANDSHAKING) {
		handshake_step(t);
		if (t->state != TUNNEL_OPEN)
			return;
	}
	while ((p = stream_peek(s, &n)) != NULL && n > 0) {
		if (h2_session_feed(&t->h2, p, n) < 0) {
			if (t->state == TUNNEL_IDLE)
				return; /* closed by a message, reason kept */
			set_error(t, "h2", h2_session_error_detail(&t->h2));
			tunnel_close(t, "http2 protocol error", false);
			return;
		}
		stream_consume(s, n);
		if (t->state == TUNNEL_IDLE)
			return;
	}
	check_confirmed(t);
	if (stream_dead(s)) {
		e = stream_error(s);
		set_error(t, "closed",
		    e == 0		      ? "edge closed the connection"
			: e == STREAM_ERR_TLS ? tls_error_reason(&t->tls)
					      : strerror(-e));
		tunnel_close(t, "connection lost", false);
		return;
	}
	flush_out(t);
}

static void
on_stream_closed(struct stream *s)
{
	struct tunnel_slot *t = container_of(s, struct tunnel_slot, st);

	t->have_stream = false;
	manager_slot_idle(t->mgr, t);
}

static void
on_dialed(struct dial *d, int fd, const struct dial_result *r)
{
	struct tunnel_slot *t = container_of(d, struct tunnel_slot, dial);
	struct manager *m = t->mgr;

	if (fd < 0) {
		set_error(t, dial_error_str(r->err), r->detail);
		manager_count_dial(m,
		    r->err == DIAL_DNS	       ? DIAL_RESULT_DNS
			: r->err == DIAL_PROXY ? DIAL_RESULT_PROXY
					       : DIAL_RESULT_CONNECT);
		log_warn("tunnel %u: dial %s failed: %s (%s)", t->index,
		    m->conf.authority, dial_error_str(r->err), r->detail);
		tunnel_close(t, "dial", false);
		return;
	}
	t->have_stream = true;
	if (m->tls == NULL) {
		stream_start(&t->st, m->loop, fd, NULL, t->plain_in,
		    TUNNEL_PLAIN_BUF, t->plain_out, TUNNEL_PLAIN_BUF, on_stream,
		    on_stream_closed);
		if (open_call(t) < 0) {
			set_error(t, "h2", "cannot open the call");
			tunnel_close(t, "h2", false);
		}
		flush_out(t);
		return;
	}
	if (tls_client_start(&t->tls, m->tls, m->conf.server_name) < 0) {
		net_close(fd);
		t->have_stream = false;
		set_error(t, "tls", tls_error_reason(&t->tls));
		tunnel_close(t, "tls", false);
		return;
	}
	stream_start(&t->st, m->loop, fd, tls_engine(&t->tls), NULL, 0, NULL, 0,
	    on_stream, on_stream_closed);
	set_state(t, TUNNEL_HANDSHAKING);
	rx_timer_start(m->loop, &t->timer, m->conf.handshake_ms);
}

/* --- closing, draining, scheduling --------------------------------------- */

/* The delay before this slot dials again. */
static int64_t
next_delay(struct tunnel_slot *t, bool clean)
{
	struct manager *m = t->mgr;
	bool quick = t->opened_at != 0 &&
	    rx_now(m->loop) - t->opened_at < TUNNEL_QUICK_MS;
	uint32_t rnd = 0;

	if (t->opened_at != 0 && !quick)
		backoff_reset(&t->backoff);
	if (clean) {
		t->quick_closes = quick ? t->quick_closes + 1 : 0;
		if (t->quick_closes < TUNNEL_QUICK_MAX)
			return 0;
	}
	util_random(&rnd, sizeof(rnd));
	return backoff_next(&t->backoff, rnd);
}

static void
tunnel_close(struct tunnel_slot *t, const char *why, bool clean)
{
	struct manager *m = t->mgr;
	enum tunnel_state was = t->state;

	if (was == TUNNEL_IDLE)
		return;
	if (was == TUNNEL_OPEN || was == TUNNEL_DRAINING)
		metric_inc(&m->mx.reconnect);
	log_info("tunnel %u: closed (%s)", t->index, why);
	t->retry_ms = next_delay(t, clean);
	t->opened_at = 0;
	set_state(t, TUNNEL_IDLE);
	rx_timer_stop(m->loop, &t->timer);
	rx_timer_stop(m->loop, &t->drain_timer);
	rx_timer_stop(m->loop, &t->flush_timer);
	dial_cancel(&t->dial);
	tunnel_msg_cancel_all(t);
	grpc_sendq_clear(&t->outq);
	t->call_open = false;
	if (t->have_h2) {
		h2_session_free(&t->h2);
		t->have_h2 = false;
	}
	if (t->have_stream) {
		t->bytes_in += t->st.bytes_in;
		t->bytes_out += t->st.bytes_out;
		stream_close(&t->st); /* on_stream_closed continues */
	} else
		manager_slot_idle(m, t);
}

/* see tunnel.h */
void
tunnel_slot_schedule(struct tunnel_slot *t)
{
	t->scheduled = true;
	rx_timer_start(t->mgr->loop, &t->timer, t->retry_ms);
	t->retry_ms = 0;
}

static void
on_drain_timeout(struct rx_loop *l, struct rx_timer *tm)
{
	struct tunnel_slot *t =
	    container_of(tm, struct tunnel_slot, drain_timer);

	log_warn("tunnel %u: drain timeout with %u requests in flight",
	    t->index, t->inflight);
	tunnel_close(t, "drain timeout", true);
}

/* see tunnel.h */
void
tunnel_slot_drain(struct tunnel_slot *t, const char *why)
{
	struct manager *m = t->mgr;

	if (t->state != TUNNEL_OPEN) {
		if (t->state != TUNNEL_DRAINING)
			tunnel_close(t, why, true);
		return;
	}
	set_state(t, TUNNEL_DRAINING);
	rx_timer_start(m->loop, &t->drain_timer, m->conf.drain_ms);
	if (!m->stopping)
		manager_replace(m, t);
	tunnel_request_done(t);
}

/* see tunnel.h */
void
tunnel_request_done(struct tunnel_slot *t)
{
	if (!may_finish(t))
		return;
	if (t->call_open && !t->call_ended) {
		t->call_ended = true;
		h2_stream_end(&t->call);
	}
	flush_out(t);
}

/* A replacement just opened: a draining slot may now finish. */
void
tunnel_slot_poke(struct tunnel_slot *t)
{
	tunnel_request_done(t);
}

/* see tunnel.h */
int
tunnel_slot_init(struct tunnel_slot *t, struct manager *m, unsigned index)
{
	*t = (struct tunnel_slot){
	    .mgr = m, .index = index, .state = TUNNEL_IDLE, .last_error = ""};
	grpc_sendq_init(&t->outq, m->conf.max_concurrent + TUNNEL_OUT_SLACK);
	rx_timer_init(&t->timer, on_timer);
	rx_timer_init(&t->drain_timer, on_drain_timeout);
	rx_timer_init(&t->flush_timer, on_flush_timer);
	dial_init(&t->dial, m->loop, m->dns, on_dialed);
	backoff_init(&t->backoff, m->conf.reconnect_ms, m->conf.max_backoff_ms);
	t->rxring = malloc(TUNNEL_WINDOW);
	t->txring = malloc(TUNNEL_TXRING);
	t->msgbuf = malloc(m->conf.max_message);
	t->reqs = calloc(m->conf.max_concurrent, sizeof(*t->reqs));
	if (m->tls == NULL) {
		t->plain_in = malloc(TUNNEL_PLAIN_BUF);
		t->plain_out = malloc(TUNNEL_PLAIN_BUF);
		if (t->plain_in == NULL || t->plain_out == NULL)
			return -ENOMEM;
	}
	if (t->rxring == NULL || t->txring == NULL || t->msgbuf == NULL ||
	    t->reqs == NULL)
		return -ENOMEM;
	return 0;
}

/* see tunnel.h */
void
tunnel_slot_free(struct tunnel_slot *t)
{
	struct manager *m = t->mgr;

	if (m == NULL)
		return;
	rx_timer_stop(m->loop, &t->timer);
	rx_timer_stop(m->loop, &t->drain_timer);
	rx_timer_stop(m->loop, &t->flush_timer);
	dial_free(&t->dial);
	free(t->rxring);
	free(t->txring);
	free(t->msgbuf);
	free(t->reqs);
	free(t->plain_in);
	free(t->plain_out);
	grpc_sendq_clear(&t->outq);
}
