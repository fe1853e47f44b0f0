/*
 * h2_int.h — declarations shared by the h2 module's files.
 */
#ifndef H2_H2_INT_H
#define H2_H2_INT_H

#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "h2/h2.h"

/* Byte ring over caller memory. */
void h2_ring_init(struct h2_ring *r, void *mem, size_t cap);
size_t h2_ring_room(const struct h2_ring *r);
size_t h2_ring_put(struct h2_ring *r, const void *p, size_t n);
const uint8_t *h2_ring_peek(const struct h2_ring *r, size_t *len);
/* Room right after the run h2_ring_peek() shows (0 once the bytes wrap). */
size_t h2_ring_peek_room(const struct h2_ring *r);
void h2_ring_drop(struct h2_ring *r, size_t n);

/* Install the nghttp2 callbacks (h2_cb.c). */
int h2_cb_install(nghttp2_session_callbacks *cbs);

/* Queue events for a stream; delivered by h2_session_dispatch(). */
void h2_stream_post(struct h2_stream *st, unsigned events);

/* Deliver queued events to the application. */
void h2_session_dispatch(struct h2_session *s);

/* Mark a stream closed with an error code; posts H2_EV_CLOSE. */
void h2_stream_mark_closed(struct h2_stream *st, uint32_t code);

/* Record a stream error (first one wins) and reset the stream. */
void h2_stream_fail(
    struct h2_stream *st, enum h2_stream_error e, uint32_t code);

/* Set the session's sticky error (first one wins). */
void h2_session_fail(struct h2_session *s, enum h2_error e, const char *detail);

/* A PING ack with this payload arrived. */
void h2_session_ping_acked(struct h2_session *s, const uint8_t *opaque);

/* Link a stream into the session with its id and clear its state. */
void h2_stream_attach(struct h2_session *s, struct h2_stream *st, int32_t id);

/* The data source reading from a stream's send ring. */
ssize_t h2_stream_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf,
    size_t len, uint32_t *flags, nghttp2_data_source *src, void *arg);

/*
 * DATA frames without a copy (h2_data.c): nghttp2's send_data callback
 * records the frame and pauses nghttp2_session_mem_send(); h2_data_step()
 * moves on to the payload once the header is written, and releases the
 * ring bytes once the payload is (call it when s->outlen is 0).  A stream
 * closing while its frame is going out gives the rest to the session
 * (h2_data_stream_closed); h2_data_drop() forgets a frame with the session.
 */
int h2_data_send_cb(nghttp2_session *ng, nghttp2_frame *frame,
    const uint8_t *framehd, size_t length, nghttp2_data_source *src, void *arg);
void h2_data_step(struct h2_session *s);
void h2_data_stream_closed(struct h2_session *s, struct h2_stream *st);
void h2_data_drop(struct h2_session *s);

/* Submit the server's response headers with a data provider. */
int h2_stream_submit_response(struct h2_stream *st);

#endif
