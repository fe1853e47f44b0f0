/*
 * tunnel_call.c — gRPC calls on an edge connection (tunnel_conn.h):
 * opening, reading whole messages, the send queue under the edge's flow
 * control, half-close, cancel, and the end of a call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "connector/manager.h"
#include "connector/tunnel_conn.h"
#include "lib/util.h"
#include "rx/rx_mcache.h"

static void on_resume(struct rx_loop *l, struct rx_defer *d);

/*
 * Mappings of ended calls, kept for the next call of the same size: a
 * streamed response opens a Deliver call per request, and a fresh mapping
 * each time cost an mmap, a munmap and a page fault per touched page.
 * Process-wide, like the reactor it serves (one thread).  Up to
 * CALL_MEM_MAX mappings (as many as calls run at once under load) with at
 * most CALL_MEM_HOT bytes of them resident stay as they are (no madvise);
 * what no call took again for CALL_MEM_IDLE_MS is unmapped by the cache's
 * timer on the calls' loop (rx/rx_mcache.h), so the resident size returns
 * near idle after a burst (#20).
 */
#define CALL_MEM_MAX 128
#define CALL_MEM_HOT (8u << 20)
#define CALL_MEM_IDLE_MS 1000

static struct mcache_ent mem_ent[CALL_MEM_MAX];
static struct rx_mcache mem_cache; /* bound by the first call opened */

/*
 * The bytes of c's mapping that may be resident: the receive ring and the
 * message buffer whole (small for the calls that come and go), and of the
 * send ring what was ever written (it fills from offset 0), or more if an
 * earlier user of the mapping (or an earlier open) touched more.
 */
static size_t
mem_hot(const struct conn_call *c)
{
	size_t tx, fixed = c->memlen - mcache_size(c->txcap);

	h2_stream_touched(&c->st, NULL, &tx);
	return MAX(fixed + mcache_size(tx), c->memhot);
}

/* see tunnel_conn.h */
void
conn_call_mem_release(struct rx_loop *l)
{
	rx_mcache_release(&mem_cache, l);
}

/* see tunnel_conn.h */
int
conn_call_init(struct conn_call *c, const struct conn_call_ops *ops, void *arg,
    size_t rxcap, size_t txcap, size_t max_message, unsigned max_queued)
{
	*c = (struct conn_call){
	    .ops = ops, .arg = arg, .rxcap = rxcap, .txcap = txcap};
	grpc_sendq_init(&c->outq, max_queued);
	rx_defer_init(&c->resume, on_resume);
	if (rxcap < CONN_MIN_WINDOW)
		return -EINVAL;
	/* One mapping, page-aligned parts: pages are resident only once
	 * touched, and conn_call_trim() can give them back. */
	c->memlen =
	    mcache_size(rxcap) + mcache_size(txcap) + mcache_size(max_message);
	if ((c->mem = rx_mcache_get(&mem_cache, c->memlen, &c->memhot)) == NULL)
		return -ENOMEM;
	c->rx = c->mem;
	c->tx = c->rx + mcache_size(rxcap);
	c->msgbuf = c->tx + mcache_size(txcap);
	grpc_reader_init(&c->reader, c->msgbuf, max_message);
	return 0;
}

/* see tunnel_conn.h */
void
conn_call_free(struct conn_call *c)
{
	grpc_sendq_clear(&c->outq);
	if (c->mem != NULL)
		rx_mcache_put(&mem_cache, c->mem, c->memlen, mem_hot(c));
	c->mem = c->rx = c->tx = c->msgbuf = NULL;
}

/* see tunnel_conn.h */
void
conn_call_trim(struct conn_call *c)
{
	size_t n = 0;

	if (c->mem == NULL ||
	    (c->state != CALL_OPEN && c->state != CALL_HALF_CLOSED))
		return;
	(void)h2_stream_take(&c->st, &n); /* n: bytes waiting to be read */
	if (n != 0 || h2_stream_send_room(&c->st) != c->txcap ||
	    !grpc_reader_idle(&c->reader))
		return;
	madvise(c->mem, c->memlen, MADV_DONTNEED);
}

/* see tunnel_conn.h */
void *
conn_call_arg(const struct conn_call *c)
{
	return c->arg;
}

/* see tunnel_conn.h */
bool
conn_call_busy(const struct conn_call *c)
{
	return c->state != CALL_IDLE;
}

/* see tunnel_conn.h */
int
conn_call_open(struct tunnel_conn *n, struct conn_call *c, const char *path,
    const struct h2_header *hdr, size_t nhdr)
{
	struct manager *m = n->mgr;
	int r;

	if (c->state != CALL_IDLE)
		return -EINVAL;
	if ((n->state != CONN_OPEN && n->state != CONN_DRAINING) ||
	    n->ncalls >= CONN_CALLS_MAX)
		return -EAGAIN;
	rx_mcache_bind(&mem_cache, m->loop, mem_ent, CALL_MEM_MAX, CALL_MEM_HOT,
	    CALL_MEM_IDLE_MS); /* its timer runs there */
	c->memhot = mem_hot(c); /* the stream forgets what it touched */
	h2_stream_init(&c->st, c->rx, c->rxcap, c->tx, c->txcap);
	r = h2_stream_open(&n->h2, &c->st,
	    conn_tls(n) != NULL ? "https" : "http", m->conf.authority, path,
	    hdr, nhdr);
	if (r < 0)
		return r;
	grpc_reader_reset(&c->reader);
	grpc_sendq_clear(&c->outq);
	c->conn = n;
	c->state = CALL_OPEN;
	c->stall_since = 0;
	c->paused = false;
	c->reason = NULL;
	c->detail[0] = '\0';
	n->calls[n->ncalls++] = c;
	/* Routable once a PING sent behind the HEADERS comes back; a failed
	 * PING is a session error, which the next write reports. */
	c->ping_after = h2_session_pings_acked(&n->h2) + 1;
	h2_session_ping(&n->h2, rx_now(m->loop));
	conn_kick(n);
	return 0;
}

/* see tunnel_conn.h */
bool
conn_call_routable(const struct conn_call *c)
{
	return (c->state == CALL_OPEN || c->state == CALL_HALF_CLOSED) &&
	    h2_session_pings_acked(&c->conn->h2) >= c->ping_after;
}

/* see tunnel_conn.h */
bool
conn_calls_routable_now(const struct tunnel_conn *n, uint64_t acked)
{
	unsigned i;

	for (i = 0; i < n->ncalls; i++)
		if (n->calls[i]->state == CALL_OPEN &&
		    n->calls[i]->ping_after == acked)
			return true;
	return false;
}

/* see tunnel_conn.h */
bool
conn_calls_finished(const struct tunnel_conn *n)
{
	unsigned i;

	for (i = 0; i < n->ncalls; i++)
		if (n->calls[i]->state != CALL_HALF_CLOSED ||
		    !grpc_sendq_empty(&n->calls[i]->outq))
			return false;
	return true;
}

/* see tunnel_conn.h */
bool
conn_calls_stalled(struct tunnel_conn *n, int64_t now, int64_t limit_ms)
{
	struct conn_call *c;
	uint64_t sent;
	unsigned i;

	for (i = 0; i < n->ncalls; i++) {
		c = n->calls[i];
		sent = h2_stream_sent(&c->st);
		if (grpc_sendq_empty(&c->outq) &&
		    h2_stream_send_room(&c->st) == c->txcap)
			c->stall_since = 0; /* nothing waits */
		else if (c->stall_since == 0 || sent != c->stall_sent) {
			c->stall_sent = sent;
			c->stall_since = now;
		} else if (now - c->stall_since >= limit_ms)
			return true;
	}
	return false;
}

static void
pump(struct conn_call *c)
{
	if (c->state == CALL_OPEN || c->state == CALL_HALF_CLOSED)
		grpc_sendq_pump(&c->outq, &c->st, NULL);
	if (c->state != CALL_HALF_CLOSED || !grpc_sendq_empty(&c->outq))
		return;
	if (c->end_status >= 0)
		h2_stream_end_trailers(&c->st, c->end_status, c->end_msg);
	else
		h2_stream_end(&c->st);
}

/* see tunnel_conn.h */
bool
conn_call_send(struct conn_call *c, const ProtobufCMessage *m)
{
	if (c->state != CALL_OPEN || !grpc_sendq_put(&c->outq, &c->st, m))
		return false;
	pump(c);
	conn_kick(c->conn);
	return true;
}

/* see tunnel_conn.h */
bool
conn_call_send_packed(struct conn_call *c, struct grpc_out *o)
{
	if (c->state != CALL_OPEN) {
		grpc_out_free(o);
		return false;
	}
	if (!grpc_sendq_push(&c->outq, o))
		return false;
	pump(c);
	conn_kick(c->conn);
	return true;
}

/* see tunnel_conn.h */
bool
conn_call_send_idle(const struct conn_call *c)
{
	return grpc_sendq_empty(&c->outq);
}

/* see tunnel_conn.h */
size_t
conn_call_send_room(const struct conn_call *c)
{
	if ((c->state != CALL_OPEN) || !grpc_sendq_empty(&c->outq))
		return 0;
	return h2_stream_send_room(&c->st);
}

/* see tunnel_conn.h */
void
conn_call_end(struct conn_call *c)
{
	conn_call_end_status(c, -1, NULL);
}

/* see tunnel_conn.h */
void
conn_call_end_status(struct conn_call *c, int status, const char *msg)
{
	if (c->state != CALL_OPEN)
		return;
	c->state = CALL_HALF_CLOSED;
	c->end_status = status;
	c->end_msg = msg;
	pump(c);
	conn_kick(c->conn);
}

/* Record the outcome and reset the stream; on_end follows its close. */
static void
call_fail(struct conn_call *c, int status, const char *reason,
    const char *detail, uint32_t code)
{
	if (c->state == CALL_IDLE || c->state == CALL_ENDING)
		return;
	c->state = CALL_ENDING;
	c->status = status;
	c->reason = reason;
	snprintf(c->detail, sizeof(c->detail), "%s", detail);
	h2_stream_cancel(&c->st, code);
	conn_kick(c->conn);
}

/* see tunnel_conn.h */
void
conn_call_cancel(struct conn_call *c)
{
	call_fail(c, -1, "cancelled", "cancelled", 8 /* CANCEL */);
}

/* The edge ended its side: the outcome is its trailers (or their lack). */
static void
call_outcome(struct conn_call *c)
{
	enum h2_stream_error e = h2_stream_error(&c->st);
	int status = -1;

	if (e == H2_SERR_NONE || e == H2_SERR_GRPC_STATUS)
		status =
		    h2_stream_grpc_status(&c->st, c->detail, sizeof(c->detail));
	if (status < 0 || (status == 0 && e != H2_SERR_NONE))
		status = -1;
	if (status <= 0)
		snprintf(c->detail, sizeof(c->detail), "%s",
		    h2_stream_error_name(e));
	c->status = status;
	c->reason = status == 0 ? NULL : "stream";
	c->state = CALL_ENDING;
}

static void
call_read(struct conn_call *c)
{
	const uint8_t *p, *msg;
	const char *refused;
	size_t n, used, len;
	int r;

	while (c->state != CALL_ENDING && !c->paused &&
	    (p = h2_stream_take(&c->st, &n)) != NULL && n > 0) {
		r = grpc_reader_feed(&c->reader, p, n, &used, &msg, &len);
		if (r == GRPC_ERROR) {
			call_fail(c, -1, "protocol",
			    grpc_error_name(grpc_reader_error(&c->reader)),
			    8 /* CANCEL */);
			return;
		}
		if (r == GRPC_MSG &&
		    (refused = c->ops->on_message(c, msg, len)) != NULL) {
			call_fail(c, -1, "protocol", refused, 8 /* CANCEL */);
			return;
		}
		h2_stream_ack(&c->st, used);
	}
}

/* The edge ended the call while our side is open: keep its outcome and
 * let nghttp2 close the stream (RST_STREAM NO_ERROR). */
static void
call_check_eof(struct conn_call *c)
{
	if (c->state != CALL_ENDING && h2_stream_eof(&c->st)) {
		call_outcome(c);
		h2_stream_cancel(&c->st, 0);
		conn_kick(c->conn);
	}
}

/* see tunnel_conn.h */
void
conn_call_pause(struct conn_call *c)
{
	c->paused = true;
}

/* see tunnel_conn.h */
void
conn_call_resume(struct conn_call *c)
{
	if (!c->paused)
		return;
	c->paused = false;
	if (c->state != CALL_IDLE)
		rx_defer(c->conn->mgr->loop, &c->resume);
}

static void
on_resume(struct rx_loop *l, struct rx_defer *d)
{
	struct conn_call *c = container_of(d, struct conn_call, resume);

	(void)l;
	if (c->state == CALL_IDLE || c->state == CALL_ENDING)
		return;
	call_read(c);
	call_check_eof(c);
	conn_kick(c->conn);
}

/* The stream is closed: hand the outcome to the owner; the call is idle. */
static void
call_closed(struct conn_call *c)
{
	struct tunnel_conn *n = c->conn;
	char detail[sizeof(c->detail)];
	const char *reason;
	int status;

	if (c->state != CALL_ENDING) {
		call_outcome(c);
		if (h2_stream_error(&c->st) == H2_SERR_SESSION) {
			c->status = -1;
			c->reason = "closed";
		}
	}
	status = c->status;
	reason = c->reason;
	memcpy(detail, c->detail, sizeof(detail));
	c->state = CALL_IDLE;
	rx_defer_cancel(n->mgr->loop, &c->resume);
	c->conn = NULL;
	grpc_sendq_clear(&c->outq);
	conn_call_ended(n, c);
	c->ops->on_end(c, status, reason, detail);
}

/* see tunnel_conn.h */
void
conn_calls_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct conn_call *c = container_of(st, struct conn_call, st);

	(void)arg;
	if (c->state == CALL_IDLE)
		return;
	if (ev & H2_EV_READ)
		call_read(c);
	if ((ev & H2_EV_WRITE) && c->state != CALL_ENDING) {
		pump(c);
		if (c->ops->on_writable != NULL)
			c->ops->on_writable(c);
	}
	if (ev & H2_EV_CLOSE) {
		call_closed(c);
		return;
	}
	call_check_eof(c);
}
