/*
 * tunnel_conn.c — the edge connection (tunnel_conn.h): dial, TLS, the
 * HTTP/2 session and its timers, draining, the deferred close, and the
 * re-dial delay.  Bytes flow socket ⇄ stream (TLS) ⇄ HTTP/2 session ⇄ the
 * calls (tunnel_call.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/manager.h"
#include "connector/tunnel_conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"

#define CONN_PLAIN_BUF (64u << 10)
/* A connection that closes this soon after opening counts as a quick close. */
#define CONN_QUICK_MS 2000
#define CONN_QUICK_MAX 3

static const char *const state_names[CONN__STATES] = {
    "idle",
    "dialing",
    "handshaking",
    "open",
    "draining",
    "closing",
};

/* see tunnel_conn.h */
const char *
conn_state_name(enum conn_state s)
{
	return s < CONN__STATES ? state_names[s] : "?";
}

static void
set_state(struct tunnel_conn *n, enum conn_state s)
{
	if (n->state == s)
		return;
	log_debug("%s %u: %s -> %s", n->kind, n->index, state_names[n->state],
	    state_names[s]);
	conn_trace_state(n, s);
	n->state = s;
	n->since = rx_now(n->mgr->loop);
	n->ops->changed(n);
}

static void
set_error(struct tunnel_conn *n, const char *reason, const char *detail)
{
	n->last_error = reason;
	snprintf(n->last_detail, sizeof(n->last_detail), "%s", detail);
	if (!n->aux)
		n->mgr->last_error = reason;
}

/* A tunnel's dial outcome, for the manager's metrics (not aux ones). */
static void
count_dial(struct tunnel_conn *n, enum manager_dial r)
{
	if (!n->aux)
		manager_count_dial(n->mgr, r);
}

/* see tunnel_conn.h */
const struct tls_client_config *
conn_tls(const struct tunnel_conn *n)
{
	if (n->mgr->tls == NULL)
		return NULL; /* h2c */
	return n->tls_cfg != NULL ? n->tls_cfg : n->mgr->tls;
}

/* see tunnel_conn.h */
void
conn_set_tls(struct tunnel_conn *n, const struct tls_client_config *tls)
{
	n->tls_cfg = tls;
}

/* The stream is zero whenever no socket is attached (see on_stream_closed). */
static bool
stream_started(const struct tunnel_conn *n)
{
	return n->st.on_close != NULL;
}

static bool
has_session(const struct tunnel_conn *n)
{
	return n->state == CONN_OPEN || n->state == CONN_DRAINING;
}

/* see tunnel_conn.h */
void
conn_kick(struct tunnel_conn *n)
{
	if (has_session(n))
		rx_defer(n->mgr->loop, &n->flush);
}

/* --- dialing ------------------------------------------------------------ */

static void
try_dial(struct tunnel_conn *n)
{
	struct manager *m = n->mgr;
	/* Each address gets CONNECT_TIMEOUT; all of them (and DNS, and the
	 * proxy) twice that. */
	struct dial_opts o = {.attempt_ms = m->conf.connect_ms,
	    .total_ms = 2 * m->conf.connect_ms,
	    .proxy = m->proxy};
	char host[URL_HOST_MAX + 1];
	int64_t wait;
	int r;

	if (m->stopping && !n->aux)
		return;
	wait = n->aux ? 0 : budget_take(&m->budget, rx_now(m->loop));
	if (wait > 0) {
		rx_timer_start(m->loop, &n->timer, wait);
		return;
	}
	memcpy(host, m->conf.url.host, m->conf.url.hostlen);
	host[m->conf.url.hostlen] = '\0';
	n->generation++;
	n->drain_reason = NULL;
	set_state(n, CONN_DIALING);
	r = n->dial_host != NULL
	    ? dial_start(&n->dial, n->dial_host, n->dial_port, &o)
	    : dial_start(&n->dial, host, m->conf.url.port, &o);
	if (r < 0)
		conn_close(n, "dial", strerror(-r), false);
}

/*
 * Re-arm the timer for the h2 session's next deadline.  Not once the
 * connection closes (a call's end inside on_flush can close it): the
 * timer is then the re-dial's, and a slot with it armed counts as
 * scheduled, so the manager would not re-dial until that deadline.
 */
static void
arm_h2_timer(struct tunnel_conn *n)
{
	int64_t d = h2_session_deadline(&n->h2), now = rx_now(n->mgr->loop);

	if (!has_session(n))
		return;
	if (d == INT64_MAX)
		rx_timer_stop(n->mgr->loop, &n->timer);
	else
		rx_timer_start(n->mgr->loop, &n->timer, d > now ? d - now : 0);
}

static void
on_timer(struct rx_loop *l, struct rx_timer *tm)
{
	struct tunnel_conn *n = container_of(tm, struct tunnel_conn, timer);

	switch (n->state) {
	case CONN_IDLE:
		try_dial(n);
		break;
	case CONN_HANDSHAKING:
		tls_abort(&n->tls, TLS_R_HANDSHAKE_TIMEOUT);
		count_dial(n, DIAL_RESULT_TLS);
		conn_close(n, tls_error_reason(&n->tls),
		    "TLS handshake deadline", false);
		break;
	case CONN_OPEN:
	case CONN_DRAINING:
		if (h2_session_run_timers(&n->h2, rx_now(l)) < 0) {
			conn_close(n, "h2",
			    h2_error_name(h2_session_error(&n->h2)), false);
			return;
		}
		/* A peer that answers PINGs but never opens its window is as
		 * dead as one that does not: the same bound. */
		if (conn_calls_stalled(n, rx_now(l),
			n->mgr->conf.keepalive_ms +
			    n->mgr->conf.handshake_ms)) {
			conn_close(n, "send_stalled",
			    "the edge's flow-control window stayed shut",
			    false);
			return;
		}
		conn_kick(n);
		arm_h2_timer(n);
		break;
	default:
		break;
	}
}

/* --- the session ---------------------------------------------------------- */

/* Routability is learnt from PING acks: tell the owner when one counts. */
static void
check_pings(struct tunnel_conn *n, uint64_t before)
{
	uint64_t acked = h2_session_pings_acked(&n->h2);

	if (acked != before && conn_calls_routable_now(n, acked))
		n->ops->changed(n);
}

/*
 * The transport is up (h2c: connected; TLS: handshake done): start the
 * session and let the owner open its calls.  One path for both, so a
 * failure here is always an h2 dial failure.
 */
static void
session_start(struct tunnel_conn *n)
{
	struct manager *m = n->mgr;
	struct h2_conf hc = {.window = CONN_MIN_WINDOW,
	    .conn_window = INT32_MAX, /* calls' windows bound them */
	    .max_frame = 16384,
	    .max_streams = 4,
	    .ping_interval_ms = m->conf.keepalive_ms,
	    .ping_timeout_ms = m->conf.handshake_ms};

	if (h2_session_init(&n->h2, H2_CLIENT, &hc, conn_calls_event, NULL, n,
		rx_now(m->loop)) < 0) {
		count_dial(n, DIAL_RESULT_H2);
		conn_close(n, "h2", "cannot start the HTTP/2 session", false);
		return;
	}
	n->opened_at = rx_now(m->loop);
	set_state(n, CONN_OPEN);
	if (n->ops->opened(n) < 0) {
		count_dial(n, DIAL_RESULT_H2);
		conn_close(n, "h2", "cannot open the call", false);
		return;
	}
	count_dial(n, DIAL_RESULT_OK);
	log_at(n->aux ? LOG_DEBUG : LOG_INFO, /* aux: one per call */
	    "%s %u: connected to %s (connection %u)", n->kind, n->index,
	    m->conf.authority, n->generation);
	conn_kick(n);
	arm_h2_timer(n);
}

static bool
drained(const struct tunnel_conn *n)
{
	return n->state == CONN_DRAINING && conn_calls_finished(n) &&
	    !h2_session_want_write(&n->h2) && !stream_output_pending(&n->st);
}

/* Hand the session's output to the stream; close a drained connection. */
static void
on_flush(struct rx_loop *l, struct rx_defer *d)
{
	struct tunnel_conn *n = container_of(d, struct tunnel_conn, flush);
	const uint8_t *p;
	size_t len, w;

	if (!has_session(n))
		return;
	while ((p = h2_session_take(&n->h2, &len)) != NULL && len > 0) {
		w = stream_write(&n->st, p, len);
		h2_session_ack(&n->h2, w);
		if (w < len)
			break;
	}
	stream_update(&n->st);
	if (h2_session_error(&n->h2) != H2_ERR_NONE) {
		conn_close(n, "h2", h2_session_error_detail(&n->h2), false);
		return;
	}
	if (drained(n)) {
		conn_close(n, NULL, "drained", true);
		return;
	}
	arm_h2_timer(n);
}

/* see tunnel_conn.h */
void
conn_call_ended(struct tunnel_conn *n, struct conn_call *c)
{
	unsigned i;

	for (i = 0; i < n->ncalls; i++)
		if (n->calls[i] == c) {
			n->calls[i] = n->calls[--n->ncalls];
			break;
		}
	if (n->state == CONN_DRAINING)
		conn_kick(n); /* on_flush closes it once drained */
}

/* --- the stream: TLS handshake, then HTTP/2 bytes ------------------------ */

static void
handshake_step(struct tunnel_conn *n)
{
	const char *why;

	if (tls_ready(&n->tls)) {
		session_start(n);
		return;
	}
	if (!tls_failed(&n->tls) && !stream_dead(&n->st))
		return;
	if (!tls_failed(&n->tls) && n->st.eof)
		tls_eof(&n->tls); /* the edge hung up: often our certificate */
	why = tls_failed(&n->tls) ? tls_error_reason(&n->tls) : "closed";
	count_dial(n, DIAL_RESULT_TLS);
	log_warn("%s %u: TLS handshake with %s failed: %s", n->kind, n->index,
	    n->mgr->conf.authority, why);
	conn_close(n, why, "TLS handshake with the edge failed", false);
}

static void
on_stream(struct stream *s)
{
	struct tunnel_conn *n = container_of(s, struct tunnel_conn, st);
	const uint8_t *p;
	size_t len;
	uint64_t acked;
	int e;

	if (n->state == CONN_HANDSHAKING)
		handshake_step(n);
	if (!has_session(n))
		return;
	acked = h2_session_pings_acked(&n->h2);
	while ((p = stream_peek(s, &len)) != NULL && len > 0) {
		if (h2_session_feed(&n->h2, p, len) < 0) {
			conn_close(
			    n, "h2", h2_session_error_detail(&n->h2), false);
			return;
		}
		stream_consume(s, len);
	}
	check_pings(n, acked);
	if (stream_dead(s)) {
		e = stream_error(s);
		conn_close(n, "closed",
		    e == 0		      ? "edge closed the connection"
			: e == STREAM_ERR_TLS ? tls_error_reason(&n->tls)
					      : strerror(-e),
		    false);
		return;
	}
	conn_kick(n);
}

static void
on_stream_closed(struct stream *s)
{
	struct tunnel_conn *n = container_of(s, struct tunnel_conn, st);

	n->bytes_in += n->st.bytes_in;
	n->bytes_out += n->st.bytes_out;
	n->st = (struct stream){0}; /* the fd is gone: no stream */
	set_state(n, CONN_IDLE);
	n->ops->closed(n, n->clean);
}

static void
on_dialed(struct dial *d, int fd, const struct dial_result *r)
{
	struct tunnel_conn *n = container_of(d, struct tunnel_conn, dial);
	struct manager *m = n->mgr;

	if (fd < 0) {
		count_dial(n,
		    r->err == DIAL_DNS	       ? DIAL_RESULT_DNS
			: r->err == DIAL_PROXY ? DIAL_RESULT_PROXY
					       : DIAL_RESULT_CONNECT);
		log_warn("%s %u: dial %s failed: %s (%s)", n->kind, n->index,
		    m->conf.authority, dial_error_str(r->err), r->detail);
		conn_close(n, dial_error_str(r->err), r->detail, false);
		return;
	}
	if (conn_tls(n) == NULL) {
		stream_start(&n->st, m->loop, fd, NULL, n->plain_in,
		    CONN_PLAIN_BUF, n->plain_out, CONN_PLAIN_BUF, on_stream,
		    on_stream_closed);
		session_start(n);
		return;
	}
	if (tls_client_start(&n->tls, conn_tls(n), m->conf.server_name) < 0) {
		net_close(fd);
		conn_close(n, "tls", tls_error_reason(&n->tls), false);
		return;
	}
	stream_start(&n->st, m->loop, fd, tls_engine(&n->tls), NULL, 0, NULL, 0,
	    on_stream, on_stream_closed);
	set_state(n, CONN_HANDSHAKING);
	rx_timer_start(m->loop, &n->timer, m->conf.handshake_ms);
}

/* --- closing, draining, scheduling --------------------------------------- */

/* The delay before this connection dials again. */
static int64_t
next_delay(struct tunnel_conn *n, bool clean)
{
	bool quick = n->opened_at != 0 &&
	    rx_now(n->mgr->loop) - n->opened_at < CONN_QUICK_MS;
	uint32_t rnd = 0;

	if (n->opened_at != 0 && !quick)
		backoff_reset(&n->backoff);
	if (clean) {
		n->quick_closes = quick ? n->quick_closes + 1 : 0;
		if (n->quick_closes < CONN_QUICK_MAX)
			return 0;
	}
	util_random(&rnd, sizeof(rnd));
	return backoff_next(&n->backoff, rnd);
}

/* see tunnel_conn.h */
void
conn_close(
    struct tunnel_conn *n, const char *reason, const char *detail, bool clean)
{
	struct manager *m = n->mgr;

	if (n->state == CONN_IDLE || n->state == CONN_CLOSING)
		return;
	if (has_session(n) && !n->aux)
		metric_inc(&m->mx.reconnect);
	if (!n->aux)
		manager_count_close(m,
		    reason != NULL		  ? reason
			: n->drain_reason != NULL ? n->drain_reason
						  : "clean");
	if (reason != NULL)
		set_error(n, reason, detail);
	conn_trace_fail(n, reason);
	log_at(n->aux ? LOG_DEBUG : LOG_INFO, "%s %u: closed (%s%s%s)", n->kind,
	    n->index, reason != NULL ? reason : "", reason != NULL ? ": " : "",
	    detail);
	n->retry_ms = next_delay(n, clean);
	n->clean = clean;
	n->opened_at = 0;
	rx_timer_stop(m->loop, &n->timer);
	rx_timer_stop(m->loop, &n->drain_timer);
	dial_cancel(&n->dial); /* no on_dialed for a closing connection */
	rx_defer(m->loop, &n->teardown);
	set_state(n, CONN_CLOSING);
}

/*
 * The deferred half of conn_close(), outside every caller's stack: end the
 * calls (their on_end), free the session, close the socket.
 */
static void
on_teardown(struct rx_loop *l, struct rx_defer *d)
{
	struct tunnel_conn *n = container_of(d, struct tunnel_conn, teardown);

	rx_defer_cancel(l, &n->flush);
	h2_session_free(&n->h2); /* on_end for every call; no-op without */
	if (stream_started(n))
		stream_close(&n->st); /* on_stream_closed continues */
	else
		on_stream_closed(&n->st);
}

/* see tunnel_conn.h */
void
conn_schedule(struct tunnel_conn *n)
{
	rx_timer_start(n->mgr->loop, &n->timer, n->retry_ms);
	n->retry_ms = 0;
}

/* see tunnel_conn.h */
void
conn_schedule_now(struct tunnel_conn *n)
{
	conn_schedule_in(n, 0);
}

/* see tunnel_conn.h */
void
conn_schedule_in(struct tunnel_conn *n, int64_t ms)
{
	n->retry_ms = ms;
	conn_schedule(n);
}

/* see tunnel_conn.h */
int64_t
conn_replace_delay(struct tunnel_conn *n)
{
	uint32_t rnd = 0;

	if (n->opened_at == 0 ||
	    rx_now(n->mgr->loop) - n->opened_at >= CONN_QUICK_MS ||
	    n->quick_closes + 1 < CONN_QUICK_MAX)
		return 0;
	util_random(&rnd, sizeof(rnd));
	return backoff_next(&n->backoff, rnd);
}

/* see tunnel_conn.h */
void
conn_unschedule(struct tunnel_conn *n)
{
	if (n->state == CONN_IDLE)
		rx_timer_stop(n->mgr->loop, &n->timer);
}

/* see tunnel_conn.h */
bool
conn_scheduled(const struct tunnel_conn *n)
{
	return n->state == CONN_IDLE && rx_timer_active(&n->timer);
}

static void
on_drain_timeout(struct rx_loop *l, struct rx_timer *tm)
{
	struct tunnel_conn *n =
	    container_of(tm, struct tunnel_conn, drain_timer);

	log_warn("%s %u: drain timeout with %u calls open", n->kind, n->index,
	    n->ncalls);
	conn_close(n, n->drain_reason, "drain timeout", true);
}

/* see tunnel_conn.h */
void
conn_drain(struct tunnel_conn *n, const char *why)
{
	if (n->state != CONN_OPEN) {
		if (n->state != CONN_DRAINING)
			conn_close(n, NULL, "closed before it opened", true);
		return;
	}
	n->drain_reason = why;
	set_state(n, CONN_DRAINING);
	rx_timer_start(n->mgr->loop, &n->drain_timer, n->mgr->conf.drain_ms);
	conn_kick(n);
}

/* see tunnel_conn.h */
uint64_t
conn_bytes_in(const struct tunnel_conn *n)
{
	return n->bytes_in + (stream_started(n) ? n->st.bytes_in : 0);
}

/* see tunnel_conn.h */
uint64_t
conn_bytes_out(const struct tunnel_conn *n)
{
	return n->bytes_out + (stream_started(n) ? n->st.bytes_out : 0);
}

static int
init(struct tunnel_conn *n, struct manager *m, unsigned index, const char *kind,
    bool aux, const struct conn_ops *ops)
{
	*n = (struct tunnel_conn){.mgr = m,
	    .index = index,
	    .state = CONN_IDLE,
	    .last_error = "",
	    .ops = ops,
	    .kind = kind,
	    .aux = aux};
	rx_timer_init(&n->timer, on_timer);
	rx_timer_init(&n->drain_timer, on_drain_timeout);
	rx_defer_init(&n->flush, on_flush);
	rx_defer_init(&n->teardown, on_teardown);
	dial_init(&n->dial, m->loop, m->dns, on_dialed);
	backoff_init(&n->backoff, m->conf.reconnect_ms, m->conf.max_backoff_ms);
	if (m->tls == NULL) {
		n->plain_in = malloc(CONN_PLAIN_BUF);
		n->plain_out = malloc(CONN_PLAIN_BUF);
		if (n->plain_in == NULL || n->plain_out == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* see tunnel_conn.h */
int
conn_init(struct tunnel_conn *n, struct manager *m, unsigned index,
    const struct conn_ops *ops)
{
	return init(n, m, index, "tunnel", false, ops);
}

/* see tunnel_conn.h */
int
conn_init_aux(struct tunnel_conn *n, struct manager *m, const char *kind,
    const struct conn_ops *ops)
{
	int rc = init(n, m, 0, kind, true, ops);

	/* TRAVERSAL_CONTROLLER_CONNECT_TO: the URL's host only names the
	 * edge (TLS); enrolment and renewal dial the first listed address
	 * as the tunnels dial theirs. */
	if (rc == 0 && m->addrs != NULL && !m->discover && !m->addrs[0].url) {
		n->dial_host = m->addrs[0].host;
		n->dial_port = m->addrs[0].port;
	}
	return rc;
}

/* see tunnel_conn.h */
void
conn_free(struct tunnel_conn *n)
{
	struct manager *m = n->mgr;

	if (m == NULL)
		return;
	rx_timer_stop(m->loop, &n->timer);
	rx_timer_stop(m->loop, &n->drain_timer);
	rx_defer_cancel(m->loop, &n->flush);
	rx_defer_cancel(m->loop, &n->teardown);
	dial_free(&n->dial);
	free(n->plain_in);
	free(n->plain_out);
}

/* see tunnel_conn.h */
void
conn_abort(struct tunnel_conn *n)
{
	struct rx_loop *l = n->mgr->loop;

	if (n->state == CONN_IDLE)
		return;
	n->state = CONN_CLOSING; /* conn_close() from an on_end: a no-op */
	rx_timer_stop(l, &n->timer);
	rx_timer_stop(l, &n->drain_timer);
	dial_cancel(&n->dial);
	h2_session_free(&n->h2); /* on_end for every call */
	rx_defer_cancel(l, &n->flush);
	rx_defer_cancel(l, &n->teardown);
	if (stream_started(n)) {
		n->st.on_close = NULL;
		stream_close(&n->st);
	}
	n->state = CONN_IDLE;
}
