/*
 * stream.h — a byte stream on the reactor: a socket, optionally through a
 * BearSSL engine (client or server, already configured and reset by the
 * caller).  This is the only place where TLS records meet the socket, in
 * the manner of BearSSL's tools/sslio.c, but driven by the reactor.
 *
 * The owner reads and writes plaintext ("application data") through the
 * peek/consume and reserve/commit pairs below; the stream moves bytes
 * between those buffers, the engine and the socket, and recomputes its
 * reactor interest after every step.  Plaintext mode uses the caller's two
 * buffers; TLS mode uses the engine's own buffers (the caller's are unused
 * and may be NULL).
 *
 * The owner's callback runs after the stream made progress: bytes to read,
 * the handshake finished, or the stream failed or hit EOF (at least once
 * after the failure, even when it happened outside a callback), and when
 * there is room to write for an owner waiting for it (below).
 * From the callback the owner may read, write, and close the stream.  The
 * owner must call stream_update() after reading or writing outside the
 * callback (from a timer, or another stream's callback).
 *
 * Room to write: a producer pushes.  It writes until stream_reserve() (or
 * stream_write()) finds no room, or asks with stream_want_room(); the
 * stream then calls it back once plaintext can be written again (the
 * buffer drained to the socket, or the TLS engine accepts application
 * data), from the reactor's deferred work when the room is there already,
 * never from inside the call that asked.  One wait, one callback: a
 * producer with nothing to write should not ask.
 *
 * Errors are sticky: stream_error() is 0, a -errno from the socket, or
 * STREAM_ERR_TLS with the engine's code in tls_err.  struct stream is
 * embedded in its owner; stream_close() is deferred through the reactor
 * and the owner's on_close runs once the fd is gone.
 */
#ifndef NET_STREAM_H
#define NET_STREAM_H

#include <bearssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "rx/rx.h"

#define STREAM_ERR_TLS (-10000)

struct stream;
typedef void stream_fn(struct stream *);
typedef void stream_close_fn(struct stream *);

struct stream {
	struct rx_watch w;
	struct rx_loop *loop;
	br_ssl_engine_context *eng; /* NULL: plaintext */
	struct buf in, out; /* plaintext mode only */
	size_t in_lazy; /* in's size, allocated on the first read; 0: none */
	void *in_owned; /* in's memory when the stream allocated it */
	bool eof; /* peer closed (plaintext) or TLS closed */
	bool closing;
	bool wclosed; /* shutdown(SHUT_WR) sent */
	bool want_room; /* the owner waits for room to write */
	bool error_seen; /* the owner's callback ran after the error */
	int err;
	int tls_err;
	uint64_t bytes_in, bytes_out; /* socket bytes */
	/* TLS: bytes read past the record the engine asked for (the next
	 * record's header, in the same call as this one's rest), given to
	 * the engine before the socket is read again. */
	uint8_t ahead[5];
	uint8_t nahead;
	stream_fn *on_event;
	stream_close_fn *on_close;
	struct rx_defer room; /* calls a waiting owner back with room */
};

/*
 * Take ownership of fd.  eng: a reset BearSSL engine or NULL; in/out:
 * plaintext buffers (ignored with eng).  in NULL with incap > 0
 * (plaintext): the stream allocates its incap-byte input buffer when the
 * socket first has bytes to read (no memory: the stream fails, -ENOMEM)
 * and frees it once closed, before on_close; for owners of many
 * connections that mostly wait (an upstream request parked until its
 * answer).  The first callback comes from the reactor, never from
 * stream_start() itself.
 */
void stream_start(struct stream *s, struct rx_loop *l, int fd,
    br_ssl_engine_context *eng, void *in, size_t incap, void *out,
    size_t outcap, stream_fn *on_event, stream_close_fn *on_close);

/* A stream with a lazily allocated input buffer (above) that holds no
 * bytes gives it back, to be allocated again at the next read: for an
 * owner keeping the connection idle.  Otherwise nothing happens. */
void stream_shed(struct stream *s);

/* True once application data can flow (TLS: the handshake is done). */
bool stream_ready(const struct stream *s);

/* Plaintext bytes available to read; NULL with *n = 0 when none. */
const uint8_t *stream_peek(struct stream *s, size_t *n);
void stream_consume(struct stream *s, size_t n);

/*
 * Copy up to n plaintext bytes into p: what stream_peek() would show, or,
 * with nothing buffered, straight from the socket (plaintext mode: no
 * staging copy through the input buffer).  Returns the bytes read; 0 when
 * none are there now (EOF and errors are then seen as with the pump:
 * stream_dead(), stream_error()).
 */
size_t stream_read(struct stream *s, void *p, size_t n);

/* Room for plaintext output; NULL with *n = 0 when there is none: the
 * owner is then called back once there is (see "Room to write"). */
uint8_t *stream_reserve(struct stream *s, size_t *n);
void stream_commit(struct stream *s, size_t n);

/* Copy up to n bytes; returns how many were taken.  TLS: each record
 * the write fills is sealed and sent on the way while the socket takes
 * it, so a large write does not wait for the loop between records. */
size_t stream_write(struct stream *s, const void *p, size_t n);

/* Ask for a callback once there is room to write (at once, deferred, when
 * there is room already): a producer with bytes to write that is not in
 * the stream's callback (an idle connection taken up again). */
void stream_want_room(struct stream *s);

/* Push buffered output now (TLS: close the current record). */
void stream_flush(struct stream *s);

/* True while output waits for the socket: plaintext bytes in the output
 * buffer, or (TLS) records the engine has still to send. */
bool stream_output_pending(const struct stream *s);

/* Re-run the pump and interest after the owner read or wrote. */
void stream_update(struct stream *s);

/* True when the stream failed or reached EOF with nothing left to read. */
bool stream_dead(const struct stream *s);
int stream_error(const struct stream *s);

/* Deferred close; on_close runs at the end of the reactor iteration. */
void stream_close(struct stream *s);

#endif
