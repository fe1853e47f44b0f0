/*
 * h2_stream.c — one gRPC call: open or answer, send from the ring, end,
 * receive into the ring with consumption-driven flow control.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "h2/h2_int.h"
#include "lib/util.h"

#ifndef OUTPOST_VERSION
#define OUTPOST_VERSION "0"
#endif

#define NV(n, v) \
	{ \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), \
		    NGHTTP2_NV_FLAG_NONE \
	}

/* see h2.h */
void
h2_stream_init(
    struct h2_stream *st, void *rxmem, size_t rxcap, void *txmem, size_t txcap)
{
	memset(st, 0, sizeof(*st));
	h2_ring_init(&st->rx, rxmem, rxcap);
	h2_ring_init(&st->tx, txmem, txcap);
	st->grpc_status = -1;
	st->tx_status = -1;
	st->rx_status = -1;
	list_init(&st->ev_link);
	list_init(&st->live_link);
}

/* see h2_int.h */
void
h2_stream_attach(struct h2_session *s, struct h2_stream *st, int32_t id)
{
	st->sess = s;
	st->id = id;
	list_prepend(&s->live, &st->live_link);
}

/* see h2_int.h */
void
h2_stream_mark_closed(struct h2_stream *st, uint32_t code)
{
	struct h2_session *s = st->sess;

	if (st->closed)
		return;
	st->closed = true;
	st->tx_end = st->tx_done = true;
	st->reset_code = code;
	list_remove(&st->live_link);
	h2_data_stream_closed(s, st);
	/* Bytes still unread would hold the connection window forever. */
	if (st->rx.len > 0)
		nghttp2_session_consume_connection(s->ng, st->rx.len);
	h2_stream_post(st, H2_EV_READ | H2_EV_CLOSE);
}

/* see h2_int.h */
void
h2_stream_fail(struct h2_stream *st, enum h2_stream_error e, uint32_t code)
{
	if (st->err == H2_SERR_NONE)
		st->err = e;
	st->tx_end = true;
	if (!st->closed)
		nghttp2_submit_rst_stream(
		    st->sess->ng, NGHTTP2_FLAG_NONE, st->id, code);
}

/*
 * The trailers that end the stream (the server's call outcome, or a
 * client's h2_stream_end_trailers()), submitted from the data source.
 * msg is the percent-encoded grpc-message, "" for none; nghttp2 copies
 * both values.
 */
static void
stream_trailers(struct h2_stream *st, int status, const char *msg)
{
	char code[12];
	nghttp2_nv nv[2];

	/* The value must be written before NV() measures it. */
	snprintf(code, sizeof(code), "%d", status);
	nv[0] = (nghttp2_nv)NV("grpc-status", code);
	nv[1] = (nghttp2_nv)NV("grpc-message", msg);
	nghttp2_submit_trailer(
	    st->sess->ng, st->id, nv, msg[0] != '\0' ? 2 : 1);
}

/* At the data source's EOF: the trailers this stream ends with, if any. */
static bool
stream_end_trailers(struct h2_stream *st)
{
	char msg[H2_MESSAGE_MAX];

	if (st->sess->role == H2_SERVER) {
		stream_trailers(st, st->grpc_status, st->message);
		return true;
	}
	if (st->tx_status < 0)
		return false;
	msg[0] = '\0';
	if (st->tx_msg != NULL)
		h2_grpc_message_encode(msg, sizeof(msg), st->tx_msg);
	stream_trailers(st, st->tx_status, msg);
	return true;
}

/* see h2_int.h */
ssize_t
h2_stream_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2_stream *st = src->ptr;
	size_t n;

	(void)buf; /* the payload leaves from the ring (h2_data.c) */
	h2_ring_peek(&st->tx, &n);
	n = n < len ? n : len;
	if (n > 0) {
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
		st->tx_sent += n;
	}
	if (st->tx.len == n && st->tx_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (stream_end_trailers(st))
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		st->tx_done = true;
		return (ssize_t)n;
	}
	if (n == 0) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* see h2.h */
int
h2_stream_open(struct h2_session *s, struct h2_stream *st, const char *scheme,
    const char *authority, const char *path, const struct h2_header *extra,
    size_t nextra)
{
	nghttp2_nv nv[7 + H2_EXTRA_HEADERS_MAX] = {NV(":method", "POST"),
	    NV(":scheme", scheme), NV(":path", path),
	    NV(":authority", authority),
	    NV("content-type", H2_GRPC_CONTENT_TYPE), NV("te", "trailers"),
	    NV("user-agent", "outpost/" OUTPOST_VERSION)};
	nghttp2_data_provider prd;
	size_t i, n = 7;
	int32_t id;

	if (s->role != H2_CLIENT || st->rx.cap < s->conf.window ||
	    st->tx.cap == 0 || strlen(authority) >= H2_AUTHORITY_MAX ||
	    nextra > H2_EXTRA_HEADERS_MAX)
		return -EINVAL;
	/* Never indexed: an extra header names one call (its request or
	 * session id), so each would take a place in the dynamic table,
	 * evict what repeats, and lengthen the encoder's search of it. */
	for (i = 0; i < nextra; i++) {
		nv[n] = (nghttp2_nv)NV(extra[i].name, extra[i].value);
		nv[n++].flags = NGHTTP2_NV_FLAG_NO_INDEX;
	}
	if (s->goaway_recv || s->err != H2_ERR_NONE || s->ng == NULL)
		return -EAGAIN;
	prd.source.ptr = st;
	prd.read_callback = h2_stream_read_cb;
	id = nghttp2_submit_request(s->ng, NULL, nv, n, &prd, st);
	if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE)
		return -EAGAIN;
	if (id < 0)
		return -ENOMEM;
	h2_stream_attach(s, st, id);
	return 0;
}

/* see h2_int.h */
int
h2_stream_submit_response(struct h2_stream *st)
{
	nghttp2_nv nv[] = {
	    NV(":status", "200"), NV("content-type", H2_GRPC_CONTENT_TYPE)};
	nghttp2_data_provider prd;

	prd.source.ptr = st;
	prd.read_callback = h2_stream_read_cb;
	if (nghttp2_submit_response(st->sess->ng, st->id, nv, 2, &prd) != 0)
		return -ENOMEM;
	st->responded = true;
	return 0;
}

/* see h2.h */
int
h2_stream_respond(struct h2_stream *st)
{
	if (st->sess == NULL || st->sess->role != H2_SERVER ||
	    !st->headers_ok || st->responded)
		return -EINVAL;
	if (st->closed || st->tx_end)
		return -EPIPE;
	return h2_stream_submit_response(st);
}

/* see h2.h */
const char *
h2_stream_path(const struct h2_stream *st)
{
	return st->path;
}

/* see h2.h */
const char *
h2_stream_user_agent(const struct h2_stream *st)
{
	return st->agent;
}

/* see h2.h */
const char *
h2_stream_capabilities(const struct h2_stream *st)
{
	return st->caps;
}

/* see h2.h */
const char *
h2_stream_session_id(const struct h2_stream *st)
{
	return st->session_id;
}

/* see h2.h */
const char *
h2_stream_request_id(const struct h2_stream *st)
{
	return st->request_id;
}

/* see h2.h */
const char *
h2_stream_connector_id(const struct h2_stream *st)
{
	return st->connector_id;
}
