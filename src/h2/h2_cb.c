/*
 * h2_cb.c — nghttp2 callbacks: they only record state and post events;
 * the application is called later by h2_session_dispatch().
 */
#include <string.h>

#include "h2/h2_int.h"

static struct h2_stream *
cb_stream(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

static bool
name_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Copy a header value into a bounded string; too long leaves it empty. */
static void
copy_value(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	if (n >= cap)
		n = 0;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Server: a client starts a stream; ask the application for memory. */
static int
cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2_session *s = arg;
	struct h2_stream *st;
	int32_t id = frame->hd.stream_id;

	if (s->role != H2_SERVER || frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = s->err == H2_ERR_NONE ? s->on_accept(s, s->arg) : NULL;
	if (st == NULL || st->rx.cap < s->conf.window) {
		nghttp2_submit_rst_stream(
		    ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	h2_stream_attach(s, st, id);
	nghttp2_session_set_stream_user_data(ng, id, st);
	return 0;
}

/*
 * Headers gRPC cares about, from either side.  A server keeps the status it
 * will send in grpc_status / message: a client's trailers never touch them.
 */
static void
header_common(struct h2_stream *st, const uint8_t *name, size_t nlen,
    const uint8_t *v, size_t vlen)
{
	bool server = st->sess->role == H2_SERVER;

	if (name_is(name, nlen, "content-type"))
		st->ctype_ok = h2_grpc_content_type_ok(v, vlen);
	else if (name_is(name, nlen, "grpc-status") && server)
		st->rx_status = h2_grpc_status_parse(v, vlen);
	else if (name_is(name, nlen, "grpc-status"))
		st->grpc_status = h2_grpc_status_parse(v, vlen);
	else if (name_is(name, nlen, "grpc-message") && !server)
		copy_value(st->message, sizeof(st->message), v, vlen);
}

static int
cb_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nlen, const uint8_t *v, size_t vlen, uint8_t flags, void *arg)
{
	struct h2_stream *st = cb_stream(ng, frame->hd.stream_id);
	struct h2_session *s = arg;

	if (st == NULL || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (s->role == H2_SERVER && name_is(name, nlen, ":method"))
		st->method_ok = name_is(v, vlen, "POST");
	else if (s->role == H2_SERVER && name_is(name, nlen, ":path"))
		copy_value(st->path, sizeof(st->path), v, vlen);
	else if (s->role == H2_SERVER && name_is(name, nlen, "user-agent"))
		copy_value(st->agent, sizeof(st->agent), v, vlen);
	else if (s->role == H2_SERVER &&
	    name_is(name, nlen, "outpost-capabilities"))
		copy_value(st->caps, sizeof(st->caps), v, vlen);
	else if (s->role == H2_SERVER &&
	    name_is(name, nlen, "outpost-session-id"))
		copy_value(st->session_id, sizeof(st->session_id), v, vlen);
	else if (s->role == H2_SERVER &&
	    name_is(name, nlen, "outpost-request-id"))
		copy_value(st->request_id, sizeof(st->request_id), v, vlen);
	else if (s->role == H2_SERVER &&
	    name_is(name, nlen, "x-traversal-connector-id"))
		copy_value(st->connector_id, sizeof(st->connector_id), v, vlen);
	else if (s->role == H2_CLIENT && name_is(name, nlen, ":status"))
		st->http_status = vlen == 3 ? h2_grpc_status_parse(v, vlen) : 0;
	else
		header_common(st, name, nlen, v, vlen);
	return 0;
}

/* Client: the server's END_STREAM ends the call; check its status. */
static void
client_end(struct h2_stream *st)
{
	st->rx_eof = true;
	if (st->grpc_status < 0 && st->err == H2_SERR_NONE)
		st->err = H2_SERR_NO_STATUS;
	else if (st->grpc_status > 0 && st->err == H2_SERR_NONE)
		st->err = H2_SERR_GRPC_STATUS;
	/* The call is over: release our half too if it is still open. */
	if (!st->tx_done)
		nghttp2_submit_rst_stream(
		    st->sess->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	st->tx_end = true;
	h2_stream_post(st, H2_EV_READ);
}

static void
client_headers(struct h2_stream *st, const nghttp2_frame *frame)
{
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		if (st->http_status != 200)
			h2_stream_fail(st, H2_SERR_HTTP_STATUS, NGHTTP2_CANCEL);
		else if (!st->ctype_ok)
			h2_stream_fail(
			    st, H2_SERR_CONTENT_TYPE, NGHTTP2_CANCEL);
		else {
			st->headers_ok = true;
			h2_stream_post(st, H2_EV_HEADERS);
		}
	}
	if (end && st->err == H2_SERR_NONE)
		client_end(st);
}

static void
server_headers(struct h2_stream *st, const nghttp2_frame *frame)
{
	static const nghttp2_nv nv415[] = {
	    {(uint8_t *)":status", (uint8_t *)"415", 7, 3,
		NGHTTP2_NV_FLAG_NONE},
	};

	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		goto end; /* trailers from the client: only END_STREAM */
	if (!st->method_ok) {
		h2_stream_fail(st, H2_SERR_METHOD, NGHTTP2_REFUSED_STREAM);
		return;
	}
	if (!st->ctype_ok) {
		st->err = H2_SERR_CONTENT_TYPE;
		st->responded = st->tx_end = st->tx_done = true;
		nghttp2_submit_response(st->sess->ng, st->id, nv415, 1, NULL);
		return;
	}
	st->headers_ok = true;
	h2_stream_post(st, H2_EV_HEADERS);
end:
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		st->rx_eof = true;
		h2_stream_post(st, H2_EV_READ);
	}
}

static void
frame_goaway(struct h2_session *s, const nghttp2_goaway *g)
{
	s->goaway_recv = true;
	s->goaway_code = g->error_code;
	s->goaway_last_id = (uint32_t)g->last_stream_id;
	if (g->error_code != NGHTTP2_NO_ERROR)
		h2_session_fail(s, H2_ERR_PEER_GOAWAY,
		    nghttp2_http2_strerror(g->error_code));
}

static int
cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2_stream *st = cb_stream(ng, frame->hd.stream_id);
	struct h2_session *s = arg;
	bool ack = frame->hd.flags & NGHTTP2_FLAG_ACK;

	switch (frame->hd.type) {
	case NGHTTP2_SETTINGS:
		if (ack)
			s->settings_deadline = 0;
		break;
	case NGHTTP2_PING:
		if (ack)
			h2_session_ping_acked(s, frame->ping.opaque_data);
		break;
	case NGHTTP2_GOAWAY:
		frame_goaway(s, &frame->goaway);
		break;
	case NGHTTP2_HEADERS:
		if (st != NULL && s->role == H2_CLIENT)
			client_headers(st, frame);
		else if (st != NULL)
			server_headers(st, frame);
		break;
	case NGHTTP2_DATA:
		if (st == NULL || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			break;
		if (s->role == H2_CLIENT)
			client_end(st);
		else {
			st->rx_eof = true;
			h2_stream_post(st, H2_EV_READ);
		}
		break;
	}
	return 0;
}

static int
cb_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct h2_stream *st = cb_stream(ng, id);

	if (st == NULL)
		return 0;
	if (st->err != H2_SERR_NONE || st->rx_eof) {
		/* Discarded bytes still count against the windows. */
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	if (h2_ring_room(&st->rx) < len) {
		nghttp2_session_consume(ng, id, len);
		h2_stream_fail(st, H2_SERR_FLOW, NGHTTP2_FLOW_CONTROL_ERROR);
		return 0;
	}
	h2_ring_put(&st->rx, data, len);
	h2_stream_post(st, H2_EV_READ);
	return 0;
}

static int
cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2_stream *st = cb_stream(ng, id);

	if (st == NULL)
		return 0;
	if (st->err == H2_SERR_NONE &&
	    (code != NGHTTP2_NO_ERROR || (!st->rx_eof && !st->tx_done)))
		st->err = H2_SERR_RESET;
	h2_stream_mark_closed(st, code);
	return 0;
}

/*
 * Client: a stream whose receive ring is larger than the session's
 * SETTINGS_INITIAL_WINDOW_SIZE gets a window of the ring's size once its
 * HEADERS are out (nghttp2 knows the stream only from then on).
 */
static void
grow_window(nghttp2_session *ng, struct h2_session *s, int32_t id)
{
	struct h2_stream *st = cb_stream(ng, id);
	size_t w;

	if (s->role != H2_CLIENT || st == NULL || st->rx.cap <= s->conf.window)
		return;
	w = st->rx.cap < NGHTTP2_MAX_WINDOW_SIZE ? st->rx.cap
						 : NGHTTP2_MAX_WINDOW_SIZE;
	nghttp2_session_set_local_window_size(
	    ng, NGHTTP2_FLAG_NONE, id, (int32_t)w);
}

static int
cb_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	if (frame->hd.type == NGHTTP2_HEADERS)
		grow_window(ng, arg, frame->hd.stream_id);
	if (frame->hd.type == NGHTTP2_GOAWAY &&
	    frame->goaway.error_code != NGHTTP2_NO_ERROR)
		h2_session_fail(arg, H2_ERR_PROTOCOL,
		    nghttp2_http2_strerror(frame->goaway.error_code));
	return 0;
}

/* see h2_int.h */
int
h2_cb_install(nghttp2_session_callbacks *cbs)
{
	nghttp2_session_callbacks_set_on_begin_headers_callback(
	    cbs, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(
	    cbs, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
	    cbs, cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(
	    cbs, cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(
	    cbs, cb_frame_send);
	nghttp2_session_callbacks_set_send_data_callback(cbs, h2_data_send_cb);
	return 0;
}
