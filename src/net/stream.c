/*
 * The stream pump.  TLS mode follows BearSSL's sslio loop: while the
 * engine wants records sent or received, do that I/O; interest is derived
 * from the engine state afterwards.  Plaintext mode moves bytes between
 * the caller's two buffers and the socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "net/net.h"
#include "net/stream.h"

/* I/O steps per wakeup: enough for a burst, small enough to stay fair. */
#define STREAM_STEPS 32

static void
fail(struct stream *s, int err)
{
	if (s->err == 0)
		s->err = err;
}

static bool
tls_closed(struct stream *s, unsigned st)
{
	int e;

	if (!(st & BR_SSL_CLOSED))
		return false;
	e = br_ssl_engine_last_error(s->eng);
	if (e != BR_ERR_OK) {
		s->tls_err = e;
		fail(s, STREAM_ERR_TLS);
	}
	s->eof = true;
	return true;
}

/* Send what the engine sealed (it has BR_SSL_SENDREC); true when bytes
 * moved, false when the socket is full or failed. */
static bool
tls_send(struct stream *s)
{
	unsigned char *p;
	size_t len;
	ssize_t n;

	p = br_ssl_engine_sendrec_buf(s->eng, &len);
	n = net_write(s->w.fd, p, len);
	if (n > 0) {
		br_ssl_engine_sendrec_ack(s->eng, (size_t)n);
		s->bytes_out += (uint64_t)n;
		return true;
	}
	if (n != -EAGAIN)
		fail(s, (int)n);
	return false;
}

/* One record-level step; true when bytes moved. */
static bool
tls_step(struct stream *s, unsigned *ev)
{
	unsigned st = br_ssl_engine_current_state(s->eng);
	unsigned char *p;
	size_t len, k;
	ssize_t n;

	if (tls_closed(s, st))
		return false;
	if (st & BR_SSL_SENDREC) {
		if (tls_send(s))
			return true;
		if (s->err != 0)
			return false;
	}
	if ((st & BR_SSL_RECVREC) && s->nahead > 0) {
		p = br_ssl_engine_recvrec_buf(s->eng, &len);
		k = MIN(len, s->nahead);
		memcpy(p, s->ahead, k);
		memmove(s->ahead, s->ahead + k, s->nahead - k);
		s->nahead -= (uint8_t)k;
		br_ssl_engine_recvrec_ack(s->eng, k);
		return true;
	}
	if ((st & BR_SSL_RECVREC) && (*ev & RX_READ)) {
		/* The rest of this record and the next one's header in one
		 * call: one read per record rather than two. */
		p = br_ssl_engine_recvrec_buf(s->eng, &len);
		n = net_read2(s->w.fd, p, len, s->ahead, sizeof(s->ahead));
		if (n > 0) {
			k = MIN(len, (size_t)n);
			s->nahead = (uint8_t)((size_t)n - k);
			br_ssl_engine_recvrec_ack(s->eng, k);
			s->bytes_in += (uint64_t)n;
			return true;
		}
		if (n == 0) {
			/* EOF without close_notify: a truncation attack or
			 * a careless peer; either way no more data. */
			s->eof = true;
			fail(s, -ECONNRESET);
		} else if (n != -EAGAIN) {
			fail(s, (int)n);
		}
		*ev &= ~RX_READ;
	}
	return false;
}

static bool
plain_step(struct stream *s, unsigned *ev)
{
	uint8_t *p;
	size_t room;
	ssize_t n;

	if (s->out.len > 0) {
		n = net_write(s->w.fd, s->out.p, s->out.len);
		if (n > 0) {
			buf_consume(&s->out, (size_t)n);
			s->bytes_out += (uint64_t)n;
			return true;
		}
		if (n != -EAGAIN) {
			fail(s, (int)n);
			return false;
		}
	}
	if ((*ev & RX_READ) && s->in_lazy > 0 && !s->eof) {
		if ((s->in_owned = malloc(s->in_lazy)) == NULL) {
			fail(s, -ENOMEM);
			return false;
		}
		buf_init(&s->in, s->in_owned, s->in_lazy);
		s->in_lazy = 0;
	}
	p = buf_tail(&s->in, &room);
	if ((*ev & RX_READ) && room > 0 && !s->eof) {
		n = net_read(s->w.fd, p, room);
		if (n > 0) {
			buf_commit(&s->in, (size_t)n);
			s->bytes_in += (uint64_t)n;
			return true;
		}
		if (n == 0)
			s->eof = true;
		else if (n != -EAGAIN)
			fail(s, (int)n);
		*ev &= ~RX_READ;
	}
	return false;
}

static void
pump(struct stream *s, unsigned ev)
{
	int i;

	for (i = 0; i < STREAM_STEPS && s->err == 0 && !s->closing; i++) {
		if (!(s->eng != NULL ? tls_step(s, &ev) : plain_step(s, &ev)))
			break;
	}
}

/* Whether stream_reserve() would find room now. */
static bool
has_room(const struct stream *s)
{
	size_t n = 0;

	if (s->err != 0 || s->closing)
		return false;
	if (s->eng == NULL)
		return s->out.len < s->out.cap;
	if (!(br_ssl_engine_current_state(s->eng) & BR_SSL_SENDAPP))
		return false;
	br_ssl_engine_sendapp_buf(s->eng, &n);
	return n > 0;
}

static void
interest(struct stream *s)
{
	unsigned want = 0, st;

	if (s->closing)
		return;
	if (s->err != 0) {
		/* Make sure the owner hears of it: a socket that failed is
		 * reported writable (or in error) at once. */
		rx_watch_set(s->loop, &s->w, s->error_seen ? 0 : RX_WRITE);
		return;
	}
	if (s->eng != NULL) {
		st = br_ssl_engine_current_state(s->eng);
		if (st & BR_SSL_SENDREC)
			want |= RX_WRITE;
		if ((st & BR_SSL_RECVREC) && !s->eof)
			want |= RX_READ;
	} else {
		if (s->out.len > 0)
			want |= RX_WRITE;
		if ((s->in.len < s->in.cap || s->in_lazy > 0) && !s->eof)
			want |= RX_READ;
	}
	/* An owner waiting for room with room there already: call it back
	 * from the deferred work.  Without room, the socket draining the
	 * queued output (write interest above) or the handshake moving on
	 * brings the next pump, and this check again. */
	if (s->want_room && has_room(s))
		rx_defer(s->loop, &s->room);
	rx_watch_set(s->loop, &s->w, want);
}

/* The owner's callback, then the pump and interest again. */
static void
call_owner(struct stream *s)
{
	if (s->want_room && has_room(s)) {
		s->want_room = false;
		rx_defer_cancel(s->loop, &s->room);
	}
	s->on_event(s);
	if (s->err != 0)
		s->error_seen = true;
	stream_update(s);
}

static void
room_ready(struct rx_loop *l, struct rx_defer *d)
{
	struct stream *s = container_of(d, struct stream, room);

	if (!s->closing && s->want_room)
		call_owner(s);
}

static void
stream_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct stream *s = container_of(w, struct stream, w);
	int e;

	/* A hang-up while the stream wanted nothing (its owner's input full,
	 * no output): no I/O call will report it, so report it here. */
	if (events == RX_HANGUP) {
		e = net_connect_result(w->fd);
		fail(s, e < 0 ? e : -ECONNRESET);
	}
	pump(s, events);
	if (!s->closing)
		call_owner(s);
}

static void
stream_closed(struct rx_loop *l, struct rx_watch *w)
{
	struct stream *s = container_of(w, struct stream, w);

	free(s->in_owned); /* before on_close, which may free s */
	s->in_owned = NULL;
	if (s->on_close != NULL)
		s->on_close(s);
}

/* see stream.h */
void
stream_start(struct stream *s, struct rx_loop *l, int fd,
    br_ssl_engine_context *eng, void *in, size_t incap, void *out,
    size_t outcap, stream_fn *on_event, stream_close_fn *on_close)
{
	*s = (struct stream){
	    .loop = l, .eng = eng, .on_event = on_event, .on_close = on_close};
	buf_init(&s->in, in, in != NULL ? incap : 0);
	if (in == NULL && eng == NULL)
		s->in_lazy = incap;
	buf_init(&s->out, out, out != NULL ? outcap : 0);
	rx_watch_init(&s->w, fd, stream_io, stream_closed);
	rx_defer_init(&s->room, room_ready);
	/* Ask for both directions once: a TLS client has a ClientHello to
	 * send, and a connecting socket reports completion as writable. */
	rx_watch_set(l, &s->w, RX_READ | RX_WRITE);
}

/* see stream.h */
bool
stream_ready(const struct stream *s)
{
	unsigned st;

	if (s->eng == NULL)
		return true;
	st = br_ssl_engine_current_state(s->eng);
	return (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) != 0;
}

/* see stream.h */
const uint8_t *
stream_peek(struct stream *s, size_t *n)
{
	if (s->eng == NULL) {
		*n = s->in.len;
		return *n > 0 ? s->in.p : NULL;
	}
	if (!(br_ssl_engine_current_state(s->eng) & BR_SSL_RECVAPP)) {
		*n = 0;
		return NULL;
	}
	return br_ssl_engine_recvapp_buf(s->eng, n);
}

/* see stream.h */
void
stream_consume(struct stream *s, size_t n)
{
	if (s->eng == NULL)
		buf_consume(&s->in, n);
	else if (n > 0)
		br_ssl_engine_recvapp_ack(s->eng, n);
}

/* see stream.h */
void
stream_shed(struct stream *s)
{
	if (s->in_owned == NULL || s->in.len > 0)
		return;
	s->in_lazy = s->in.cap;
	free(s->in_owned);
	s->in_owned = NULL;
	buf_init(&s->in, NULL, 0);
}

/* see stream.h */
size_t
stream_read(struct stream *s, void *p, size_t n)
{
	const uint8_t *q;
	size_t k = 0;
	ssize_t r;

	if ((q = stream_peek(s, &k)) != NULL && k > 0) {
		k = k < n ? k : n;
		memcpy(p, q, k);
		stream_consume(s, k);
		return k;
	}
	if (s->eng != NULL || s->eof || s->err != 0 || s->closing || n == 0)
		return 0;
	r = net_read(s->w.fd, p, n);
	if (r > 0) {
		s->bytes_in += (uint64_t)r;
		return (size_t)r;
	}
	if (r == 0)
		s->eof = true;
	else if (r != -EAGAIN)
		fail(s, (int)r);
	return 0;
}

/* see stream.h */
uint8_t *
stream_reserve(struct stream *s, size_t *n)
{
	uint8_t *p = NULL;

	*n = 0;
	if (s->err != 0 || s->closing)
		return NULL;
	if (s->eng == NULL)
		p = buf_tail(&s->out, n);
	else if (br_ssl_engine_current_state(s->eng) & BR_SSL_SENDAPP)
		p = br_ssl_engine_sendapp_buf(s->eng, n);
	if (*n == 0) {
		s->want_room = true;
		return NULL;
	}
	return p;
}

/* see stream.h */
void
stream_commit(struct stream *s, size_t n)
{
	if (s->eng == NULL)
		buf_commit(&s->out, n);
	else if (n > 0)
		br_ssl_engine_sendapp_ack(s->eng, n);
}

/*
 * TLS: while the engine holds a sealed record it takes no application
 * data; send it now rather than on the next turn of the loop, so that a
 * large write goes out as records back to back.  Stops when the engine
 * takes data again, or the socket is full.
 */
static void
tls_unblock(struct stream *s)
{
	unsigned st;
	int i;

	for (i = 0; i < STREAM_STEPS && s->err == 0 && !s->closing; i++) {
		st = br_ssl_engine_current_state(s->eng);
		if ((st & (BR_SSL_SENDAPP | BR_SSL_SENDREC)) !=
			BR_SSL_SENDREC ||
		    !tls_send(s))
			return;
	}
}

/* see stream.h */
size_t
stream_write(struct stream *s, const void *p, size_t n)
{
	const uint8_t *c = p;
	size_t done = 0, room, k;
	uint8_t *dst;

	while (done < n) {
		if (s->eng != NULL)
			tls_unblock(s);
		if ((dst = stream_reserve(s, &room)) == NULL)
			break;
		k = n - done < room ? n - done : room;
		memcpy(dst, c + done, k);
		stream_commit(s, k);
		done += k;
		if (s->eng != NULL && done < n)
			br_ssl_engine_flush(s->eng, 0);
	}
	return done;
}

/* see stream.h */
void
stream_want_room(struct stream *s)
{
	if (s->closing || s->err != 0)
		return;
	s->want_room = true;
	interest(s);
}

/* see stream.h */
void
stream_flush(struct stream *s)
{
	if (s->eng != NULL && s->err == 0)
		br_ssl_engine_flush(s->eng, 0);
	pump(s, 0);
}

/* see stream.h */
bool
stream_output_pending(const struct stream *s)
{
	if (s->eng == NULL)
		return s->out.len > 0;
	return (br_ssl_engine_current_state(s->eng) & BR_SSL_SENDREC) != 0;
}

/* see stream.h */
void
stream_update(struct stream *s)
{
	if (s->closing)
		return;
	stream_flush(s);
	interest(s);
}

/* see stream.h */
bool
stream_dead(const struct stream *s)
{
	size_t n = 0;

	if (s->err != 0)
		return true;
	if (!s->eof)
		return false;
	if (s->eng == NULL)
		n = s->in.len;
	else if (br_ssl_engine_current_state(s->eng) & BR_SSL_RECVAPP)
		br_ssl_engine_recvapp_buf(s->eng, &n);
	return n == 0;
}

/* see stream.h */
int
stream_error(const struct stream *s)
{
	return s->err;
}

/* see stream.h */
void
stream_close(struct stream *s)
{
	if (s->closing)
		return;
	s->closing = true;
	rx_defer_cancel(s->loop, &s->room);
	rx_watch_close(s->loop, &s->w);
}
