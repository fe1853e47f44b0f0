/*
 * http_server_reader.h — the server's request reader, sans-I/O: the
 * connection writes the bytes a client sent into the reader's room and
 * feeds them; the reader says when a head is complete (so the caller can
 * authenticate and route it before any body byte is read), reads the body
 * only once told to, and hands back the complete request.  It never
 * touches a socket or a clock; fuzzed by tests/fuzz/fuzz_http_server.c.
 *
 *   HEAD --feed--> READY --read_body--> BODY --feed--> DONE --next--> HEAD
 *                        (no body: read_body goes straight to DONE)
 *     any state --bad input or no memory--> ERROR (status says which)
 *
 * Memory: the input buffer is the reader's, on the heap, and sized by what
 * the current request needs: it starts at HTTP_READER_FIRST bytes and
 * doubles up to the head limit (limits.max_total plus a little) while a
 * head arrives, and up to the head plus the declared Content-Length (or
 * the head, max_body and a chunk's framing, for chunked) once the body is
 * admitted.  http_reader_next() drops the answered request and shrinks the
 * buffer back to the first size; http_reader_free() frees it.  The
 * caller supplies the header array (limits.max_headers entries), which
 * must outlive the reader.
 *
 * Bytes are read past a head only as far as the room offered while the
 * head was incomplete (at most the head limit): a body is not read until
 * http_reader_read_body().  Slices in the request (method, target,
 * headers) point into the buffer and are valid until the next call that
 * may move it (http_reader_room, http_reader_next, http_reader_free);
 * http_reader_request() refreshes them.
 */
#ifndef HTTP_HTTP_SERVER_READER_H
#define HTTP_HTTP_SERVER_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define HTTP_READER_FIRST 2048

enum http_reader_state {
	HTTP_RD_HEAD, /* reading a head (maybe none of it yet) */
	HTTP_RD_READY, /* a head is complete; the body waits for read_body */
	HTTP_RD_BODY, /* reading the admitted body */
	HTTP_RD_DONE, /* a complete request; answer it, then next */
	HTTP_RD_ERROR, /* http_reader_status() says how to answer */
};

struct http_reader {
	struct http_limits limits; /* copied at init */
	size_t max_body;
	size_t max_raw; /* over max_body up to this: over, not 413 */
	struct http_header *hdrs; /* caller's, limits.max_headers entries */
	enum http_reader_state state;
	int status; /* ERROR: 400, 413, 414, 431 or 500 (no memory) */
	uint8_t *p; /* heap; NULL while nothing is buffered */
	size_t len, cap;
	size_t parsed; /* head bytes seen by the last partial parse */
	size_t head_len;
	size_t body_len; /* Content-Length, or decoded so far if chunked */
	size_t raw; /* chunked: the first undecoded byte */
	bool chunked;
	bool expect_continue; /* the head carries Expect: 100-continue */
	bool keep_alive;
	bool has_body; /* the head announced a body (length > 0 or chunked) */
	bool over; /* its length is over max_body (up to max_raw) */
	struct http_chunked dec;
	struct http_request req;
};

/* Empty reader; nothing allocated yet. */
void http_reader_init(struct http_reader *r, const struct http_limits *lim,
    size_t max_body, struct http_header *hdrs);

/* Free the buffer; the reader is as after init. */
void http_reader_free(struct http_reader *r);

/*
 * Where the next bytes go and how many the reader wants now (growing the
 * buffer within the bounds above).  NULL with *room 0 when it wants none:
 * in READY (until read_body), in DONE once the buffer is full, in ERROR,
 * or when growing failed (then the state is ERROR, status 500).
 */
uint8_t *http_reader_room(struct http_reader *r, size_t *room);

/*
 * n bytes were written into the room (n may be 0 to re-examine what is
 * buffered, e.g. after next).  Returns the new state.
 */
enum http_reader_state http_reader_feed(struct http_reader *r, size_t n);

/* READY: the head is admitted; read its body.  Returns the new state
 * (DONE at once when there is no body or it is buffered already). */
enum http_reader_state http_reader_read_body(struct http_reader *r);

/* True when the reader would take bytes now (room would not be 0;
 * nothing is allocated to find out). */
bool http_reader_wants(const struct http_reader *r);

/* BODY: true while the body is not complete (an Expect: 100-continue
 * should be answered). */
bool http_reader_body_pending(const struct http_reader *r);

/* Bytes of a request are buffered (its header deadline runs). */
bool http_reader_started(const struct http_reader *r);

/* READY or DONE: the request's head, slices refreshed into the buffer. */
const struct http_request *http_reader_request(struct http_reader *r);

/* DONE: the body (decoded if chunked; NULL/0 when none). */
const uint8_t *http_reader_body(const struct http_reader *r, size_t *len);

/* ERROR: the status to answer with. */
int http_reader_status(const struct http_reader *r);

/* DONE: drop the request, keep what follows it (pipelined bytes), shrink
 * the buffer; the state is HEAD again (call feed(r, 0) to parse on). */
void http_reader_next(struct http_reader *r);

#endif
