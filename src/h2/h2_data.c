/*
 * h2_data.c — DATA frames without a copy into nghttp2: the data source
 * (h2_stream_read_cb) sets NGHTTP2_DATA_FLAG_NO_COPY, nghttp2 then calls
 * h2_data_send_cb with the frame's header, and h2_session_take() hands out
 * the header and then the payload straight from the stream's send ring.
 * The ring keeps the payload until the caller acknowledged the whole frame
 * (struct h2_data_out in h2.h), so the bytes are copied once, by the caller,
 * into its output (the TLS engine's record).
 */
#include <stdlib.h>
#include <string.h>

#include "h2/h2_int.h"

/* see h2_int.h */
int
h2_data_send_cb(nghttp2_session *ng, nghttp2_frame *frame,
    const uint8_t *framehd, size_t length, nghttp2_data_source *src, void *arg)
{
	struct h2_session *s = arg;
	struct h2_data_out *d = &s->data;

	(void)ng;
	(void)frame; /* no padding: no padding callback is installed */
	*d =
	    (struct h2_data_out){.active = true, .st = src->ptr, .len = length};
	memcpy(d->hd, framehd, sizeof(d->hd));
	s->out = d->hd;
	s->outlen = sizeof(d->hd);
	/* The frame counts as sent; nghttp2_session_mem_send() returns now,
	 * and is not called again before the frame was written. */
	return NGHTTP2_ERR_PAUSE;
}

/* see h2_int.h */
void
h2_data_step(struct h2_session *s)
{
	struct h2_data_out *d = &s->data;
	size_t n;

	if (!d->active || d->broken || s->outlen > 0)
		return;
	if (!d->body) {
		d->body = true;
		s->out = d->own != NULL ? d->own : h2_ring_peek(&d->st->tx, &n);
		s->outlen = d->len;
		if (d->len > 0)
			return;
	}
	if (d->st != NULL) {
		h2_ring_drop(&d->st->tx, d->len);
		h2_stream_post(d->st, H2_EV_WRITE);
	}
	free(d->own);
	*d = (struct h2_data_out){0};
}

/* see h2_int.h */
void
h2_data_stream_closed(struct h2_session *s, struct h2_stream *st)
{
	struct h2_data_out *d = &s->data;
	const uint8_t *from;
	size_t n;

	if (!d->active || d->st != st)
		return;
	d->st = NULL;
	/* What is still to go out: the whole payload, or the rest of it. */
	from = d->body ? s->out : h2_ring_peek(&st->tx, &n);
	n = d->body ? s->outlen : d->len;
	if (n == 0)
		return;
	if ((d->own = malloc(n)) == NULL) {
		/* Half a frame cannot be taken back: the connection is lost. */
		d->broken = true;
		s->out = NULL;
		s->outlen = 0;
		h2_session_fail(s, H2_ERR_NOMEM, "out of memory");
		return;
	}
	memcpy(d->own, from, n);
	if (d->body) {
		s->out = d->own;
		s->outlen = n;
	}
}

/* see h2_int.h */
void
h2_data_drop(struct h2_session *s)
{
	free(s->data.own);
	s->data = (struct h2_data_out){0};
}
