/*
 * Fuzz target: the HTTP server's request reader (http_server_reader.h),
 * sans-I/O, no reactor and no socket.  Each input is what one client
 * sends, fed in pieces whose sizes the first byte chooses; the second
 * byte's bits say which heads are admitted (a refused head with a body
 * ends the connection, as the server does).  Invariants: a request's
 * slices and body lie inside the reader's buffer, the body is within
 * max_body, the buffer never exceeds its bound, an error has a status the
 * server can send.  ASan and UBSan do the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_server_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits lim = {.max_line = 256,
    .max_headers = 8,
    .max_header_bytes = 512,
    .max_total = 512};

#define MAX_BODY 1024

static void
inside(const struct http_reader *r, const void *p, size_t n)
{
	const uint8_t *q = p;

	if (n > 0 && (q < r->p || q + n > r->p + r->len))
		abort();
}

static void
check_request(struct http_reader *r)
{
	const struct http_request *q = http_reader_request(r);
	size_t i;

	inside(r, q->method, q->method_len);
	inside(r, q->target, q->target_len);
	for (i = 0; i < q->nheaders; i++) {
		inside(r, q->headers[i].name, q->headers[i].name_len);
		inside(r, q->headers[i].value, q->headers[i].value_len);
	}
}

/* Act on the state; false when the connection would end. */
static bool
step(struct http_reader *r, unsigned *admit)
{
	const uint8_t *b;
	size_t n;
	int st;

	switch (r->state) {
	case HTTP_RD_READY:
		check_request(r);
		*admit = (*admit >> 1) | ((*admit & 1u) << 7);
		if (!(*admit & 1u) && r->has_body)
			return false; /* refused: the body is never read */
		http_reader_read_body(r);
		return true;
	case HTTP_RD_DONE:
		check_request(r);
		b = http_reader_body(r, &n);
		inside(r, b, n);
		if (n > MAX_BODY)
			abort();
		http_reader_next(r);
		http_reader_feed(r, 0);
		return true;
	case HTTP_RD_ERROR:
		st = http_reader_status(r);
		if (st != 400 && st != 413 && st != 414 && st != 431 &&
		    st != 500)
			abort();
		return false;
	default:
		return true;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header hdrs[8];
	struct http_reader r;
	size_t off = 2, piece, room, n;
	unsigned admit;
	uint8_t *p;
	int i;

	if (size < 2)
		return 0;
	piece = data[0] % 64 + 1;
	admit = data[1];
	http_reader_init(&r, &lim, MAX_BODY, hdrs);
	for (i = 0; i < 100000 && off < size; i++) {
		if (r.cap > lim.max_total + MAX_BODY + lim.max_line + 512)
			abort();
		if (!step(&r, &admit))
			break;
		if (r.state == HTTP_RD_READY || r.state == HTTP_RD_DONE)
			continue;
		if ((p = http_reader_room(&r, &room)) == NULL)
			break; /* full: the server would wait for the handler */
		n = size - off < piece ? size - off : piece;
		n = n < room ? n : room;
		memcpy(p, data + off, n);
		off += n;
		http_reader_feed(&r, n);
	}
	while (i++ < 100000 && step(&r, &admit) &&
	    (r.state == HTTP_RD_READY || r.state == HTTP_RD_DONE))
		;
	http_reader_free(&r);
	return 0;
}
