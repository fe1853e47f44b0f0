/*
 * The export connection: one request at a time, each on a fresh
 * connection (dial, TLS, POST, the answer's status line and headers,
 * close).  A state machine driven by the dialer's and the stream's
 * callbacks and one timer (the export's deadline, or the backoff wait).
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

enum { OTEL_CLOSING = OTEL_READING + 1 };

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
	    "Content-Length: %zu\r\nConnection: close\r\n"
	    "User-Agent: outpost\r\n%s\r\n",
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
	return o->retry_ms >= 0 ? o->retry_ms : ms;
}

static void
finish(struct otel *o, enum otel_result r, const char *why)
{
	const struct otel_endpoint *e = &o->ep[o->sig];

	dial_cancel(&o->dial);
	rx_timer_stop(o->loop, &o->deadline);
	metric_inc(&o->m_exports[o->sig][r]);
	o->state = o->st_open ? (enum otel_state)OTEL_CLOSING : OTEL_IDLE;
	if (o->st_open)
		stream_close(&o->st);
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
	if (o->state == OTEL_IDLE)
		start_next(o);
}

/* Retry-After in seconds (an HTTP date is taken as "the default"). */
static int64_t
retry_after(const struct http_response *resp)
{
	const struct http_header *h =
	    http_header_find(resp->headers, resp->nheaders, "Retry-After");
	int64_t s = 0;
	size_t i;

	if (h == NULL || h->value_len == 0 || h->value_len > 6)
		return -1;
	for (i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return -1;
		s = s * 10 + (h->value[i] - '0');
	}
	return MIN(s, OTEL_RETRY_AFTER_MAX_S) * 1000;
}

static void
answered(struct otel *o, const struct http_response *resp)
{
	char why[48];
	int st = resp->status;

	snprintf(why, sizeof(why), "HTTP %d", st);
	if (st >= 200 && st < 300) {
		finish(o, OTEL_R_OK, why);
	} else if (st == 429 || st == 502 || st == 503 || st == 504) {
		o->retry_ms = retry_after(resp);
		finish(o, OTEL_R_RETRY, why);
	} else {
		finish(o, OTEL_R_REJECTED, why);
	}
}

/* Collect the answer's head; the body is not needed. */
static void
read_answer(struct otel *o)
{
	struct http_header h[32];
	struct http_response resp = {.headers = h, .nheaders = nitems(h)};
	struct http_limits lim = {.max_line = 1024,
	    .max_headers = nitems(h),
	    .max_header_bytes = OTEL_RESP_MAX,
	    .max_total = OTEL_RESP_MAX};
	const uint8_t *p;
	size_t n;
	int r;

	while ((p = stream_peek(&o->st, &n)) != NULL && n > 0) {
		n = MIN(n, sizeof(o->resp) - o->resp_len);
		memcpy(o->resp + o->resp_len, p, n);
		o->resp_len += n;
		stream_consume(&o->st, n);
		r = http_parse_response(o->resp, o->resp_len, &resp, &lim);
		if (r > 0) {
			answered(o, &resp);
			return;
		}
		if (r != HTTP_PARTIAL || o->resp_len == sizeof(o->resp)) {
			finish(o, OTEL_R_RETRY, "malformed answer");
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

static void
on_stream(struct stream *s)
{
	struct otel *o = container_of(s, struct otel, st);

	if (o->state == OTEL_SENDING && stream_ready(s))
		send_request(o);
	if (o->state == OTEL_READING)
		read_answer(o);
	if ((o->state == OTEL_SENDING || o->state == OTEL_READING) &&
	    stream_dead(s))
		finish(o, OTEL_R_RETRY, stream_why(o));
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

static void
start_next(struct otel *o)
{
	const struct otel_endpoint *e;
	struct dial_opts dopts = {.proxy = o->proxy};
	int64_t ms;

	if (o->state != OTEL_IDLE || o->backing_off ||
	    (!o->have_cur && !take(o)))
		return;
	if (o->cur.since == 0)
		o->cur.since = rx_now(o->loop);
	if ((ms = MIN(o->timeout_ms, time_left(o))) <= 0) {
		finish(o, OTEL_R_REJECTED, "OTEL_BSP_EXPORT_TIMEOUT passed");
		return;
	}
	dopts.attempt_ms = dopts.total_ms = ms;
	e = &o->ep[o->sig];
	if (!build_head(o)) {
		finish(o, OTEL_R_REJECTED, "request head too long");
		return;
	}
	o->off = 0;
	o->resp_len = 0;
	o->retry_ms = -1;
	dopts.proxy_plain = o->proxy != NULL && !e->tls;
	if (dial_start(&o->dial, e->host, e->port, &dopts) < 0) {
		finish(o, OTEL_R_RETRY, "dial: cannot start");
		return;
	}
	o->state = OTEL_DIALING;
	rx_timer_start(o->loop, &o->deadline, ms);
}

static void
on_deadline(struct rx_loop *l, struct rx_timer *t)
{
	struct otel *o = container_of(t, struct otel, deadline);

	(void)l;
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

/* see otel_int.h */
int
otel_export_init(struct otel *o)
{
	o->plain = malloc(2 * OTEL_PLAIN_BUF);
	if (o->plain == NULL)
		return -ENOMEM;
	dial_init(&o->dial, o->loop, o->dns, on_dialed);
	rx_timer_init(&o->deadline, on_deadline);
	rx_defer_init(&o->kick, on_kick);
	o->backoff_ms = OTEL_BACKOFF_MIN_MS;
	o->next = OTEL_METRICS;
	return 0;
}

/* see otel_int.h */
void
otel_export_kick(struct otel *o)
{
	if (o->state == OTEL_IDLE && !o->backing_off &&
	    !rx_defer_queued(&o->kick))
		rx_defer(o->loop, &o->kick);
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
