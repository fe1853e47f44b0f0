/*
 * h2_stream_io.c — the application's side of a stream: queue bytes, end,
 * cancel, take received bytes, read the outcome.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "h2/h2_int.h"

/* Wake the data source after bytes or the end were queued. */
static void
stream_resume(struct h2_stream *st)
{
	if (st->deferred && !st->closed) {
		st->deferred = false;
		nghttp2_session_resume_data(st->sess->ng, st->id);
	}
}

/* see h2.h */
long
h2_stream_send(struct h2_stream *st, const void *p, size_t n)
{
	size_t k;

	if (st->sess == NULL)
		return -EINVAL;
	if (st->closed || st->tx_end || st->err != H2_SERR_NONE)
		return -EPIPE;
	k = h2_ring_put(&st->tx, p, n);
	if (k > 0)
		stream_resume(st);
	return (long)k;
}

/* see h2.h */
size_t
h2_stream_send_room(const struct h2_stream *st)
{
	return h2_ring_room(&st->tx);
}

/* see h2.h */
uint64_t
h2_stream_sent(const struct h2_stream *st)
{
	return st->tx_sent;
}

/* see h2.h */
void
h2_stream_touched(const struct h2_stream *st, size_t *rx, size_t *tx)
{
	if (rx != NULL)
		*rx = st->rx.touched;
	if (tx != NULL)
		*tx = st->tx.touched;
}

/* see h2.h */
int
h2_stream_end(struct h2_stream *st)
{
	if (st->sess == NULL || st->sess->role != H2_CLIENT)
		return -EINVAL;
	if (st->closed || st->tx_end)
		return -EPIPE;
	st->tx_end = true;
	stream_resume(st);
	return 0;
}

/* see h2.h */
int
h2_stream_end_trailers(struct h2_stream *st, int status, const char *msg)
{
	if (status < 0)
		return -EINVAL;
	if (st->sess != NULL && st->sess->role == H2_CLIENT && !st->closed &&
	    !st->tx_end) {
		st->tx_status = status;
		st->tx_msg = msg;
	}
	return h2_stream_end(st);
}

/* Server: a trailers-only answer (no response headers were sent). */
static int
stream_trailers_only(struct h2_stream *st)
{
	char code[12];
	nghttp2_nv nv[] = {
	    {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
	    {(uint8_t *)"content-type", (uint8_t *)H2_GRPC_CONTENT_TYPE, 12,
		sizeof(H2_GRPC_CONTENT_TYPE) - 1, 0},
	    {(uint8_t *)"grpc-status", (uint8_t *)code, 11, 0, 0},
	    {(uint8_t *)"grpc-message", (uint8_t *)st->message, 12,
		strlen(st->message), 0},
	};
	size_t n = st->message[0] != '\0' ? 4 : 3;

	nv[2].valuelen =
	    (size_t)snprintf(code, sizeof(code), "%d", st->grpc_status);
	st->responded = st->tx_done = true;
	if (nghttp2_submit_response(st->sess->ng, st->id, nv, n, NULL) != 0)
		return -ENOMEM;
	return 0;
}

/* see h2.h */
int
h2_stream_end_status(struct h2_stream *st, int status, const char *msg)
{
	if (st->sess == NULL || st->sess->role != H2_SERVER)
		return -EINVAL;
	if (st->closed || st->tx_end)
		return -EPIPE;
	st->grpc_status = status;
	st->message[0] = '\0';
	if (msg != NULL)
		h2_grpc_message_encode(st->message, sizeof(st->message), msg);
	st->tx_end = true;
	if (!st->responded && st->tx.len == 0)
		return stream_trailers_only(st);
	if (!st->responded)
		return h2_stream_submit_response(st);
	stream_resume(st);
	return 0;
}

/* see h2.h */
void
h2_stream_cancel(struct h2_stream *st, uint32_t code)
{
	if (st->sess == NULL || st->closed)
		return;
	h2_stream_fail(st, H2_SERR_RESET, code);
}

/* see h2.h */
const uint8_t *
h2_stream_take(struct h2_stream *st, size_t *len)
{
	return h2_ring_peek(&st->rx, len);
}

/* see h2.h */
size_t
h2_stream_take_room(const struct h2_stream *st)
{
	return st->rx_eof || st->closed ? 0 : h2_ring_peek_room(&st->rx);
}

/* see h2.h */
void
h2_stream_ack(struct h2_stream *st, size_t n)
{
	if (n > st->rx.len)
		n = st->rx.len;
	h2_ring_drop(&st->rx, n);
	/* A closed stream's window was given back by mark_closed. */
	if (st->sess != NULL && !st->closed && n > 0)
		nghttp2_session_consume(st->sess->ng, st->id, n);
}

/* see h2.h */
bool
h2_stream_eof(const struct h2_stream *st)
{
	return st->rx.len == 0 && (st->rx_eof || st->closed);
}

/* see h2.h */
bool
h2_stream_closed(const struct h2_stream *st)
{
	return st->closed;
}

/* see h2.h */
enum h2_stream_error
h2_stream_error(const struct h2_stream *st)
{
	return st->err;
}

/* see h2.h */
uint32_t
h2_stream_reset_code(const struct h2_stream *st)
{
	return st->reset_code;
}

/* see h2.h */
int
h2_stream_grpc_status(const struct h2_stream *st, char *buf, size_t cap)
{
	bool server = st->sess != NULL && st->sess->role == H2_SERVER;

	if (buf != NULL && server)
		buf[0] = '\0';
	else if (buf != NULL)
		h2_grpc_message_decode(
		    buf, cap, st->message, strlen(st->message));
	return server ? st->rx_status : st->grpc_status;
}

/* see h2.h */
const char *
h2_stream_error_name(enum h2_stream_error e)
{
	static const char *const names[] = {"none", "reset", "http_status",
	    "content_type", "method", "flow", "no_status", "grpc_status",
	    "session"};

	if ((size_t)e >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[e];
}
