/*
 * Fuzz target: bytes from a hostile peer into an h2 session.  The first
 * byte picks the role: even — our server session reads a client's bytes
 * (the connection preface is supplied, so the fuzzer explores frames);
 * odd — our client session, with one gRPC call open, reads a server's
 * bytes.  The second byte picks a chunk size.  Whatever arrives, the
 * session must only report errors, and every accepted stream must be
 * closed exactly once when the session is freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2/h2.h"

#define WINDOW 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fstream {
	struct h2_stream st;
	uint8_t rx[WINDOW], tx[1024];
	int closes;
	bool used;
};

static struct fstream pool[4];

static void
on_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct fstream *f = (struct fstream *)st;
	const uint8_t *p;
	size_t n;

	if (ev & H2_EV_HEADERS)
		(void)h2_stream_respond(st);
	while ((p = h2_stream_take(st, &n)) != NULL) {
		(void)h2_stream_send(st, p, n < 64 ? n : 64);
		h2_stream_ack(st, n);
	}
	if (ev & H2_EV_CLOSE) {
		if (++f->closes != 1)
			abort();
	}
}

static struct h2_stream *
on_accept(struct h2_session *s, void *arg)
{
	size_t i;

	for (i = 0; i < sizeof(pool) / sizeof(pool[0]); i++) {
		if (pool[i].used)
			continue;
		pool[i].used = true;
		h2_stream_init(&pool[i].st, pool[i].rx, WINDOW, pool[i].tx,
		    sizeof(pool[i].tx));
		return &pool[i].st;
	}
	return NULL;
}

static void
drain(struct h2_session *s)
{
	size_t n;
	int i;

	for (i = 0; i < 64 && h2_session_take(s, &n) != NULL; i++)
		h2_session_ack(s, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct h2_conf conf = {
	    WINDOW, 2 * WINDOW, 16384, 4, 1000, 500};
	static const char magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct h2_session s;
	bool server;
	size_t step, off = 0, k, i;

	if (size < 2)
		return 0;
	server = (data[0] & 1) == 0;
	step = (size_t)data[1] * 4 + 1;
	data += 2;
	size -= 2;
	memset(pool, 0, sizeof(pool));
	if (h2_session_init(&s, server ? H2_SERVER : H2_CLIENT, &conf, on_event,
		on_accept, NULL, 0) != 0)
		return 0;
	if (server) {
		h2_session_feed(&s, magic, sizeof(magic) - 1);
	} else {
		pool[0].used = true;
		h2_stream_init(&pool[0].st, pool[0].rx, WINDOW, pool[0].tx,
		    sizeof(pool[0].tx));
		h2_stream_open(&s, &pool[0].st, "https", "edge", "/p", NULL, 0);
	}
	drain(&s);
	while (off < size) {
		k = step < size - off ? step : size - off;
		if (h2_session_feed(&s, data + off, k) != 0)
			break;
		off += k;
		drain(&s);
		h2_session_run_timers(&s, (int64_t)off);
	}
	drain(&s);
	h2_session_free(&s);
	for (i = 0; i < sizeof(pool) / sizeof(pool[0]); i++)
		if (pool[i].used && pool[i].closes != 1)
			abort();
	return 0;
}
