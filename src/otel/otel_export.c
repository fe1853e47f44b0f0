/*
 * The export connection: one request at a time over one HTTP/1.1
 * connection kept between exports (dial, TLS, POST, the whole answer;
 * then parked for the next export to the same endpoint, or closed).  A
 * state machine (otel_int.h) driven by the dialer's and the stream's
 * callbacks and one timer: the export's deadline, the backoff wait, or a
 * parked connection's idle time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"
#include "otel/otel_int.h"

static const char *const content_types[] = {
    "application/x-protobuf", "application/json"};

static void start_next(struct otel *o);

/* Take the next signal's oldest request, signals in turn. */
static bool
take(struct otel *o)
{
	struct otel_queue *q;
	size_t i, s;

	for (i = 0; i < OTEL_SIGNALS; i++) {
		s = (o->next + i) % OTEL_SIGNALS;
		q = &o->q[s];
		if (q->n == 0)
			continue;
		o->cur = q->r[q->head];
		q->r[q->head] = (struct otel_req){0};
		q->head = (q->head + 1) % OTEL_QUEUE_MAX;
		q->n--;
		q->bytes -= o->cur.len;
		o->sig = (enum otel_signal)s;
		o->next = (enum otel_signal)((s + 1) % OTEL_SIGNALS);
		o->have_cur = true;
		return true;
	}
	return false;
}

static bool
build_head(struct otel *o)
{
	const struct otel_endpoint *e = &o->ep[o->sig];
	struct buf b;

	buf_init(&b, o->head, sizeof(o->head));
	buf_printf(&b,
	    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nUser-Agent: outpost\r\n%s\r\n",
	    e->target, e->authority, content_types[o->proto], o->cur.len,
	    o->headers != NULL ? o->headers : "");
	o->head_len = b.len;
	return !b.overflow;
}

/* Drop the current request, counting its items. */
static void
drop_cur(struct otel *o)
{
	otel_count_dropped(o, o->sig, o->cur.nitems);
	free(o->cur.body);
	o->cur = (struct otel_req){0};
	o->have_cur = false;
}

/* The wait before attempt n + 1: Retry-After, else doubling. */
static int64_t
backoff(struct otel *o)
{
	int64_t ms = o->backoff_ms;

	o->backoff_ms = MIN(o->backoff_ms * 2, OTEL_BACKOFF_MAX_MS);
	return o->resp.retry_ms >= 0 ? o->resp.retry_ms : ms;
}

/* Close the open connection (deferred: on_stream_closed goes on). */
static void
close_conn(struct otel *o)
{
	rx_timer_stop(o->loop, &o->deadline);
	o->state = OTEL_CLOSING;
	stream_close(&o->st);
}

/* The export is over: park the connection for idle_ms, or close it. */
static void
release(struct otel *o, int64_t idle_ms)
{
	if (!o->st_open) {
		o->state = OTEL_IDLE;
	} else if (idle_ms > 0 && !stream_dead(&o->st)) {
		o->state = OTEL_PARKED;
		rx_timer_start(o->loop, &o->deadline, idle_ms);
	} else {
		close_conn(o);
	}
}

static void
finish(struct otel *o, enum otel_result r, const char *why)
{
	const struct otel_endpoint *e = &o->ep[o->sig];

	dial_cancel(&o->dial);
	rx_timer_stop(o->loop, &o->deadline);
	metric_inc(&o->m_exports[o->sig][r]);
	release(o,
	    r == OTEL_R_OK && o->resp.state == OTEL_RESP_DONE ? o->resp.idle_ms
							      : 0);
	if (r == OTEL_R_OK) {
		free(o->cur.body);
		o->cur = (struct otel_req){0};
		o->have_cur = false;
		o->backoff_ms = OTEL_BACKOFF_MIN_MS;
	} else if (r == OTEL_R_REJECTED || ++o->cur.attempts >= OTEL_RETRIES) {
		log_warn("otlp: %s export to %s dropped: %s",
		    otel_signal_name(o->sig), e->authority, why);
		drop_cur(o);
	} else {
		log_warn("otlp: %s export to %s failed: %s (attempt %u of %d)",
		    otel_signal_name(o->sig), e->authority, why,
		    o->cur.attempts, OTEL_RETRIES);
		o->backing_off = true;
		rx_timer_start(o->loop, &o->deadline, backoff(o));
	}
	if (o->state == OTEL_IDLE || o->state == OTEL_PARKED)
		start_next(o);
}

/*
 * A kept connection was closed under the export before any answer byte
 * (the collector ended it as it was taken up): the same request goes out
 * again at once on a fresh one, no attempt counted.
 */
static void
redial(struct otel *o)
{
	log_debug("otlp: kept connection to %s closed; dialling again",
	    o->ep[o->sig].authority);
	o->reused = false;
	close_conn(o);
}

static void
answered(struct otel *o)
{
	char why[48];
	int st = o->resp.status;

	snprintf(why, sizeof(why), "HTTP %d", st);
	if (st >= 200 && st < 300)
		finish(o, OTEL_R_OK, why);
	else if (st == 429 || st == 502 || st == 503 || st == 504)
		finish(o, OTEL_R_RETRY, why);
	else
		finish(o, OTEL_R_REJECTED, why);
}

/* Read the answer, head and body, as far as the stream has it. */
static void
read_answer(struct otel *o)
{
	const uint8_t *p;
	size_t n;
	long k;

	while ((p = stream_peek(&o->st, &n)) != NULL && n > 0) {
		if ((k = otel_resp_feed(&o->resp, p, n)) < 0 &&
		    o->resp.state != OTEL_RESP_DONE) {
			finish(o, OTEL_R_RETRY, "malformed answer");
			return;
		}
		if (k < 0) {
			answered(o); /* a bad body: the status stands */
			return;
		}
		stream_consume(&o->st, (size_t)k);
		if (o->resp.state == OTEL_RESP_DONE) {
			if ((size_t)k < n)
				o->resp.idle_ms =
				    0; /* bytes nobody asked for */
			answered(o);
			return;
		}
	}
}

/* Write what the stream takes of head, then body. */
static void
send_request(struct otel *o)
{
	size_t total = o->head_len + o->cur.len, n;
	const uint8_t *p;

	while (o->off < total) {
		p = o->off < o->head_len ? (const uint8_t *)o->head + o->off
					 : o->cur.body + (o->off - o->head_len);
		n = o->off < o->head_len ? o->head_len - o->off
					 : total - o->off;
		n = stream_write(&o->st, p, n);
		if (n == 0)
			return;
		o->off += n;
	}
	stream_flush(&o->st);
	o->state = OTEL_READING;
}

static const char *
stream_why(struct otel *o)
{
	int e = stream_error(&o->st);

	if (e == STREAM_ERR_TLS)
		return tls_br_detail(o->st.tls_err);
	return e != 0 ? strerror(-e) : "connection closed before the answer";
}

/* The stream ended under the export in flight. */
static void
died(struct otel *o)
{
	otel_resp_eof(&o->resp);
	if (o->resp.state == OTEL_RESP_DONE)
		answered(o); /* the status came: it stands */
	else if (o->reused && o->resp.len == 0 &&
	    o->resp.state == OTEL_RESP_HEAD)
		redial(o);
	else
		finish(o, OTEL_R_RETRY, stream_why(o));
}

static void
on_stream(struct stream *s)
{
	struct otel *o = container_of(s, struct otel, st);
	size_t n;

	if (o->state == OTEL_PARKED) {
		/* The collector closed it, or spoke unasked: done with it. */
		if (stream_dead(s) || stream_peek(s, &n) != NULL)
			close_conn(o);
		return;
	}
	if (o->state == OTEL_SENDING && stream_ready(s))
		send_request(o);
	if (o->state == OTEL_READING)
		read_answer(o);
	if ((o->state == OTEL_SENDING || o->state == OTEL_READING) &&
	    stream_dead(s))
		died(o);
}

static void
on_stream_closed(struct stream *s)
{
	struct otel *o = container_of(s, struct otel, st);

	o->st_open = false;
	if (o->tc != NULL)
		tls_upstream_wipe(o->tc);
	o->state = OTEL_IDLE;
	start_next(o);
}

static void
on_dialed(struct dial *d, int fd, const struct dial_result *r)
{
	struct otel *o = container_of(d, struct otel, dial);
	const struct otel_endpoint *e = &o->ep[o->sig];
	br_ssl_engine_context *eng = NULL;
	char why[192];

	if (fd < 0) {
		snprintf(why, sizeof(why), "dial: %s (%s)",
		    dial_error_str(r->err), r->detail);
		finish(o, OTEL_R_RETRY, why);
		return;
	}
	if (e->tls)
		eng = tls_upstream_start(o->tc, o->tls, e->host);
	stream_start(&o->st, o->loop, fd, eng, o->plain, OTEL_PLAIN_BUF,
	    o->plain + OTEL_PLAIN_BUF, OTEL_PLAIN_BUF, on_stream,
	    on_stream_closed);
	o->st_open = true;
	o->conn_sig = o->sig;
	o->state = OTEL_SENDING;
}

/*
 * The time the current request has left: a span batch has
 * OTEL_BSP_EXPORT_TIMEOUT for all its attempts (then it is abandoned,
 * dropped and counted), other signals have no such bound.
 */
static int64_t
time_left(const struct otel *o)
{
	if (o->sig != OTEL_TRACES)
		return INT64_MAX;
	return o->cur.since + o->span_timeout_ms - rx_now(o->loop);
}

/* The shutdown flush is over: tell its caller (once). */
static void
flush_end(struct otel *o)
{
	if (!o->flushing)
		return;
	o->flushing = false;
	rx_timer_stop(o->loop, &o->flush_timer);
	o->flushed(o->flushed_arg);
}

/* The parked connection goes where the current request goes. */
static bool
same_endpoint(const struct otel *o)
{
	const struct otel_endpoint *a = &o->ep[o->sig],
				   *b = &o->ep[o->conn_sig];

	return a->tls == b->tls && a->port == b->port &&
	    strcmp(a->host, b->host) == 0;
}

/* The current request on the parked connection, or dial. */
static void
connect_cur(struct otel *o, int64_t ms)
{
	const struct otel_endpoint *e = &o->ep[o->sig];
	struct dial_opts dopts = {.proxy = o->proxy};

	if (o->state == OTEL_PARKED) {
		if (!same_endpoint(o)) {
			close_conn(o); /* on_stream_closed dials */
			return;
		}
		rx_timer_stop(o->loop, &o->deadline);
		o->reused = true;
		o->state = OTEL_SENDING;
		stream_want_room(&o->st);
		rx_timer_start(o->loop, &o->deadline, ms);
		return;
	}
	o->reused = false;
	dopts.attempt_ms = dopts.total_ms = ms;
	dopts.proxy_plain = o->proxy != NULL && !e->tls;
	if (dial_start(&o->dial, e->host, e->port, &dopts) < 0) {
		finish(o, OTEL_R_RETRY, "dial: cannot start");
		return;
	}
	o->state = OTEL_DIALING;
	rx_timer_start(o->loop, &o->deadline, ms);
}

static void
start_next(struct otel *o)
{
	int64_t ms;

	if ((o->state != OTEL_IDLE && o->state != OTEL_PARKED) ||
	    o->backing_off)
		return;
	if (!o->have_cur && !take(o)) {
		flush_end(o); /* nothing left to flush */
		return;
	}
	if (o->cur.since == 0)
		o->cur.since = rx_now(o->loop);
	if ((ms = MIN(o->timeout_ms, time_left(o))) <= 0) {
		finish(o, OTEL_R_REJECTED, "OTEL_BSP_EXPORT_TIMEOUT passed");
		return;
	}
	if (!build_head(o)) {
		finish(o, OTEL_R_REJECTED, "request head too long");
		return;
	}
	o->off = 0;
	otel_resp_reset(&o->resp);
	connect_cur(o, ms);
}

static void
on_deadline(struct rx_loop *l, struct rx_timer *t)
{
	struct otel *o = container_of(t, struct otel, deadline);

	(void)l;
	if (o->state == OTEL_PARKED) {
		close_conn(o); /* rested its idle time */
		return;
	}
	if (o->backing_off) {
		o->backing_off = false;
		start_next(o);
		return;
	}
	if (time_left(o) <= 0)
		finish(o, OTEL_R_REJECTED, "OTEL_BSP_EXPORT_TIMEOUT passed");
	else
		finish(o, OTEL_R_RETRY, "timeout");
}

static void
on_kick(struct rx_loop *l, struct rx_defer *d)
{
	(void)l;
	start_next(container_of(d, struct otel, kick));
}

static void
on_flush_timer(struct rx_loop *l, struct rx_timer *t)
{
	(void)l;
	flush_end(container_of(t, struct otel, flush_timer));
}

/* see otel_int.h */
int
otel_export_init(struct otel *o)
{
	o->plain = malloc(2 * OTEL_PLAIN_BUF);
	if (o->plain == NULL)
		return -ENOMEM;
	dial_init(&o->dial, o->loop, o->dns, on_dialed);
	rx_timer_init(&o->deadline, on_deadline);
	rx_timer_init(&o->flush_timer, on_flush_timer);
	rx_defer_init(&o->kick, on_kick);
	o->backoff_ms = OTEL_BACKOFF_MIN_MS;
	o->next = OTEL_METRICS;
	return 0;
}

/* see otel_int.h */
void
otel_export_kick(struct otel *o)
{
	if ((o->state == OTEL_IDLE || o->state == OTEL_PARKED) &&
	    !o->backing_off && !rx_defer_queued(&o->kick))
		rx_defer(o->loop, &o->kick);
}

/* see otel.h */
void
otel_flush(struct otel *o, int64_t ms, otel_flushed_fn *done, void *arg)
{
	otel_metrics_stop(o);
	otel_logs_flush(o);
	o->flushing = true;
	o->flushed = done;
	o->flushed_arg = arg;
	rx_timer_start(o->loop, &o->flush_timer, MAX(ms, 0));
	otel_export_kick(o);
}

/* see otel_int.h */
void
otel_export_stop(struct otel *o)
{
	int fd;

	if (o->plain == NULL)
		return;
	dial_free(&o->dial);
	rx_timer_stop(o->loop, &o->deadline);
	rx_timer_stop(o->loop, &o->flush_timer);
	rx_defer_cancel(o->loop, &o->kick);
	/* No deferred close may outlive o: close the socket now. */
	if (o->st_open) {
		fd = rx_watch_release(o->loop, &o->st.w);
		if (fd >= 0)
			net_close(fd);
		rx_defer_cancel(o->loop, &o->st.room);
	}
	free(o->plain);
	o->plain = NULL;
}
