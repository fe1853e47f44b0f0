/*
 * Unit tests: the h2 module, a client session talking to a server session
 * of the same module in memory.  Usage: test_h2 [name-filter]
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include <nghttp2/nghttp2.h>

#include "h2/h2.h"
#include "lib/util.h"

#define PATH "/connector.v1.ConnectorService/Tunnel"
#define WINDOW 4096
#define TXCAP 2048
#define NSRV 4

struct tstream {
	struct h2_stream st;
	uint8_t rx[WINDOW], tx[TXCAP];
	unsigned seen;
	int closes;
};

struct pair {
	struct h2_session cli, srv;
	struct tstream c, s[NSRV];
	int naccepted;
	bool refuse;
	size_t chunk; /* max bytes moved per step, 0: all */
};

static const struct h2_conf conf = {
    .window = WINDOW,
    .conn_window = 2 * WINDOW,
    .max_frame = 16384,
    .max_streams = NSRV,
    .ping_interval_ms = 1000,
    .ping_timeout_ms = 500,
};

static void
on_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct tstream *t = container_of(st, struct tstream, st);

	t->seen |= ev;
	if (ev & H2_EV_CLOSE)
		t->closes++;
}

static struct h2_stream *
on_accept(struct h2_session *s, void *arg)
{
	struct pair *p = arg;
	struct tstream *t;

	if (p->refuse || p->naccepted == NSRV)
		return NULL;
	t = &p->s[p->naccepted++];
	h2_stream_init(&t->st, t->rx, sizeof(t->rx), t->tx, sizeof(t->tx));
	return &t->st;
}

/* Move pending output from a to b; returns bytes moved. */
static size_t
move(struct h2_session *a, struct h2_session *b, size_t chunk)
{
	const uint8_t *p;
	size_t n;

	p = h2_session_take(a, &n);
	if (n == 0)
		return 0;
	if (chunk != 0 && n > chunk)
		n = chunk;
	h2_session_feed(b, p, n);
	h2_session_ack(a, n);
	return n;
}

/* Exchange bytes until both sides are quiet (bounded). */
static void
pump(struct pair *p)
{
	int i;

	for (i = 0; i < 10000; i++)
		if (move(&p->cli, &p->srv, p->chunk) +
			move(&p->srv, &p->cli, p->chunk) ==
		    0)
			return;
	fail_msg("pump did not settle");
}

static int
setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	assert_int_equal(
	    h2_session_init(&p->cli, H2_CLIENT, &conf, on_event, NULL, p, 0),
	    0);
	assert_int_equal(h2_session_init(&p->srv, H2_SERVER, &conf, on_event,
			     on_accept, p, 0),
	    0);
	h2_stream_init(
	    &p->c.st, p->c.rx, sizeof(p->c.rx), p->c.tx, sizeof(p->c.tx));
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct pair *p = *state;

	h2_session_free(&p->cli);
	h2_session_free(&p->srv);
	free(p);
	return 0;
}

/* Open the call and answer it; returns the server's stream. */
static struct tstream *
open_call(struct pair *p)
{
	struct tstream *s = &p->s[0];

	assert_int_equal(h2_stream_open(&p->cli, &p->c.st, "https",
			     "edge.test:443", PATH, NULL, 0),
	    0);
	pump(p);
	assert_int_equal(p->naccepted, 1);
	assert_true(s->seen & H2_EV_HEADERS);
	assert_string_equal(h2_stream_path(&s->st), PATH);
	assert_int_equal(h2_stream_respond(&s->st), 0);
	pump(p);
	assert_true(p->c.seen & H2_EV_HEADERS);
	return s;
}

/* Take every received byte of t into out (cap bytes); returns the count. */
static size_t
drain(struct tstream *t, uint8_t *out, size_t cap)
{
	const uint8_t *q;
	size_t n, got = 0;

	while ((q = h2_stream_take(&t->st, &n)) != NULL) {
		assert_true(got + n <= cap);
		memcpy(out + got, q, n);
		got += n;
		h2_stream_ack(&t->st, n);
	}
	return got;
}

static void
call_both_ways(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	uint8_t buf[64];
	char msg[32];

	assert_int_equal(h2_stream_send(&p->c.st, "ping!", 5), 5);
	pump(p);
	assert_true(s->seen & H2_EV_READ);
	assert_int_equal(drain(s, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "ping!", 5);
	assert_int_equal(h2_stream_send(&s->st, "pong", 4), 4);
	pump(p);
	assert_int_equal(drain(&p->c, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_false(h2_stream_eof(&p->c.st));
	/* The server ends the call with OK trailers. */
	assert_int_equal(h2_stream_end_status(&s->st, 0, NULL), 0);
	pump(p);
	assert_true(h2_stream_eof(&p->c.st));
	assert_int_equal(h2_stream_grpc_status(&p->c.st, msg, sizeof(msg)), 0);
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_NONE);
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(s->closes, 1);
	assert_int_equal(h2_stream_error(&s->st), H2_SERR_NONE);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_NONE);
	assert_int_equal(h2_session_error(&p->srv), H2_ERR_NONE);
}

/*
 * 64 KiB each way through a 4 KiB window: the receiver holds at most its
 * window until it acknowledges, and every byte arrives in order.
 */
static void
flow_control_bounded(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	static uint8_t src[65536], dst[65536];
	size_t sent = 0, got = 0, i, n;
	const uint8_t *q;
	long k;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	p->chunk = 1000;
	for (i = 0; i < 1000 && got < sizeof(src); i++) {
		k = h2_stream_send(&p->c.st, src + sent, sizeof(src) - sent);
		assert_true(k >= 0);
		sent += (size_t)k;
		pump(p);
		/* Never more than the window is buffered on the server. */
		assert_true(s->st.rx.len <= WINDOW);
		if (i % 3 != 0)
			continue; /* let the window run dry sometimes */
		q = h2_stream_take(&s->st, &n);
		if (q == NULL)
			continue;
		memcpy(dst + got, q, n);
		got += n;
		h2_stream_ack(&s->st, n);
	}
	assert_int_equal(got, sizeof(src));
	assert_memory_equal(src, dst, sizeof(src));
	/* And the other way, draining eagerly. */
	sent = got = 0;
	for (i = 0; i < 1000 && got < sizeof(src); i++) {
		k = h2_stream_send(&s->st, src + sent, sizeof(src) - sent);
		sent += (size_t)k;
		pump(p);
		got += drain(&p->c, dst + got, sizeof(dst) - got);
	}
	assert_int_equal(got, sizeof(src));
	assert_memory_equal(src, dst, sizeof(src));
}

/*
 * A DATA frame goes out as its 9-byte header and then its payload straight
 * from the send ring (no copy inside h2/): the bytes stay in the ring until
 * the whole frame was acknowledged, and only then is the room given back.
 */
static void
data_leaves_from_the_ring(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	uint8_t src[100], buf[128];
	const uint8_t *q;
	size_t n, i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 13);
	assert_int_equal(h2_stream_send(&p->c.st, src, sizeof(src)), 100);
	q = h2_session_take(&p->cli, &n);
	assert_int_equal(n, 9);
	assert_int_equal(q[0] << 16 | q[1] << 8 | q[2], 100); /* length */
	assert_int_equal(q[3], 0); /* DATA */
	h2_session_feed(&p->srv, q, 4);
	h2_session_ack(&p->cli, 4); /* a partial write of the header */
	q = h2_session_take(&p->cli, &n);
	assert_int_equal(n, 5);
	h2_session_feed(&p->srv, q, n);
	h2_session_ack(&p->cli, n);
	q = h2_session_take(&p->cli, &n);
	assert_ptr_equal(q, p->c.tx); /* the ring's own bytes */
	assert_int_equal(n, 100);
	assert_int_equal(h2_stream_send_room(&p->c.st), TXCAP - 100);
	h2_session_feed(&p->srv, q, n);
	h2_session_ack(&p->cli, n);
	assert_int_equal(h2_stream_send_room(&p->c.st), TXCAP - 100);
	p->c.seen = 0;
	pump(p);
	assert_int_equal(h2_stream_send_room(&p->c.st), TXCAP);
	assert_true(p->c.seen & H2_EV_WRITE);
	assert_int_equal(drain(s, buf, sizeof(buf)), 100);
	assert_memory_equal(buf, src, 100);
	assert_int_equal(h2_stream_sent(&p->c.st), 100);
	assert_int_equal(h2_session_error(&p->srv), H2_ERR_NONE);
}

/*
 * The stream closes (the peer reset it) while its DATA frame is half
 * written: its ring may be reused at once, so the rest of the frame must
 * come from the session's own copy, and the connection stays intact.
 */
static void
stream_closed_mid_frame(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	uint8_t src[1000];
	const uint8_t *q;
	size_t n, i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(h2_stream_send(&s->st, src, sizeof(src)), 1000);
	q = h2_session_take(&p->srv, &n);
	assert_int_equal(n, 9);
	h2_session_feed(&p->cli, q, n);
	h2_session_ack(&p->srv, n);
	q = h2_session_take(&p->srv, &n);
	assert_int_equal(n, 1000);
	h2_session_feed(&p->cli, q, 10);
	h2_session_ack(&p->srv, 10);
	/* The client resets the stream; the server learns it mid-frame. */
	h2_stream_cancel(&p->c.st, 8);
	while (move(&p->cli, &p->srv, 0) > 0)
		;
	assert_int_equal(s->closes, 1);
	memset(s->tx, 0xaa, sizeof(s->tx)); /* the owner reuses the ring */
	q = h2_session_take(&p->srv, &n);
	assert_int_equal(n, 990);
	assert_memory_equal(q, src + 10, 990);
	h2_session_feed(&p->cli, q, n);
	h2_session_ack(&p->srv, n);
	/* The connection still works: a new call goes through. */
	pump(p);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_NONE);
	assert_int_equal(h2_session_error(&p->srv), H2_ERR_NONE);
	assert_int_equal(h2_session_ping(&p->cli, 1), 0);
	pump(p);
	assert_int_equal(h2_session_pings_acked(&p->cli), 1);
}

/* With no ack the sender stalls once window + send ring are full. */
static void
flow_control_stalls(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	static uint8_t src[65536];
	size_t sent = 0;
	int i;

	for (i = 0; i < 100; i++) {
		long k = h2_stream_send(&p->c.st, src, sizeof(src));

		sent += (size_t)k;
		pump(p);
	}
	assert_int_equal(s->st.rx.len, WINDOW);
	assert_int_equal(sent, WINDOW + TXCAP);
	assert_int_equal(h2_stream_send_room(&p->c.st), 0);
	/* Acknowledging reopens the window and the ring drains. */
	h2_stream_ack(&s->st, WINDOW);
	pump(p);
	assert_true(h2_stream_send_room(&p->c.st) > 0);
	assert_true(p->c.seen & H2_EV_WRITE);
}

static void
trailers_error_status(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	char msg[64];

	assert_int_equal(h2_stream_send(&s->st, "x", 1), 1);
	assert_int_equal(h2_stream_end_status(&s->st, 13, "100% broken\n"), 0);
	assert_int_equal(h2_stream_send(&s->st, "y", 1), -EPIPE);
	pump(p);
	assert_int_equal(h2_stream_grpc_status(&p->c.st, msg, sizeof(msg)), 13);
	assert_string_equal(msg, "100% broken\n");
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_GRPC_STATUS);
	assert_string_equal(
	    h2_stream_error_name(H2_SERR_GRPC_STATUS), "grpc_status");
	assert_int_equal(p->c.closes, 1);
}

/* end_status before respond: one HEADERS frame carrying the status. */
static void
trailers_only(void **state)
{
	struct pair *p = *state;
	char msg[64];

	assert_int_equal(h2_stream_open(&p->cli, &p->c.st, "http", "127.0.0.1",
			     "/nope", NULL, 0),
	    0);
	pump(p);
	assert_string_equal(h2_stream_path(&p->s[0].st), "/nope");
	assert_int_equal(h2_stream_end_status(&p->s[0].st, 12, "unknown"), 0);
	pump(p);
	assert_int_equal(h2_stream_grpc_status(&p->c.st, msg, sizeof(msg)), 12);
	assert_string_equal(msg, "unknown");
	assert_true(h2_stream_eof(&p->c.st));
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(p->s[0].closes, 1);
}

/* The received run can grow in place until it wraps or the peer ends. */
static void
take_room_follows_the_ring(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	static uint8_t src[TXCAP];
	size_t n;

	assert_int_equal(h2_stream_take_room(&s->st), WINDOW);
	assert_int_equal(h2_stream_send(&p->c.st, src, TXCAP), TXCAP);
	pump(p);
	assert_non_null(h2_stream_take(&s->st, &n));
	assert_int_equal(n, TXCAP);
	assert_int_equal(h2_stream_take_room(&s->st), WINDOW - TXCAP);
	h2_stream_ack(&s->st, 48); /* the room is after the run */
	assert_int_equal(h2_stream_take_room(&s->st), WINDOW - TXCAP);
	assert_int_equal(h2_stream_send(&p->c.st, src, 48 + WINDOW - TXCAP),
	    48 + WINDOW - TXCAP - 48); /* the window is full; ack 3000 more */
	pump(p);
	assert_int_equal(h2_stream_take_room(&s->st), 0); /* at the end */
	h2_stream_ack(&s->st, 3000);
	assert_int_equal(h2_stream_send(&p->c.st, src, 100), 100);
	pump(p);
	assert_int_equal(s->st.rx.len, WINDOW - 3048 + 100);
	h2_stream_take(&s->st, &n);
	assert_int_equal(n, WINDOW - 3048); /* the rest wrapped */
	assert_int_equal(h2_stream_take_room(&s->st), 0);
	h2_stream_ack(&s->st, s->st.rx.len);
	assert_int_equal(h2_stream_take_room(&s->st), WINDOW);
	assert_int_equal(h2_stream_send(&p->c.st, "abc", 3), 3);
	assert_int_equal(h2_stream_end(&p->c.st), 0);
	pump(p);
	assert_int_equal(s->st.rx.len, 3);
	assert_int_equal(h2_stream_take_room(&s->st), 0); /* nothing more */
}

static void
client_end_and_cancel(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);

	assert_int_equal(h2_stream_send(&p->c.st, "abc", 3), 3);
	assert_int_equal(h2_stream_end(&p->c.st), 0);
	pump(p);
	assert_true(h2_stream_eof(&s->st) == false);
	assert_int_equal(s->st.rx.len, 3);
	h2_stream_ack(&s->st, 3);
	assert_true(h2_stream_eof(&s->st));
	/* Half-closed: the server may still send, then the client cancels. */
	assert_int_equal(h2_stream_send(&s->st, "late", 4), 4);
	pump(p);
	h2_stream_cancel(&p->c.st, 8);
	pump(p);
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(s->closes, 1);
	assert_int_equal(h2_stream_error(&s->st), H2_SERR_RESET);
	assert_int_equal(h2_stream_reset_code(&s->st), 8);
}

/*
 * A client may end its side with grpc-status trailers (a session's target
 * reset, spec/sessions.md): the server sees END_STREAM and the client's
 * status, and its own status to send is untouched by them.
 */
static void
client_end_with_trailers(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	char msg[32];

	assert_int_equal(h2_stream_grpc_status(&s->st, NULL, 0), -1);
	assert_int_equal(h2_stream_send(&p->c.st, "abc", 3), 3);
	assert_int_equal(h2_stream_end_trailers(&p->c.st, 14, "reset"), 0);
	assert_int_equal(h2_stream_end(&p->c.st), -EPIPE);
	pump(p);
	assert_int_equal(s->st.rx.len, 3);
	h2_stream_ack(&s->st, 3);
	assert_true(h2_stream_eof(&s->st));
	assert_int_equal(h2_stream_grpc_status(&s->st, msg, sizeof(msg)), 14);
	assert_string_equal(msg, "");
	assert_int_equal(h2_stream_error(&s->st), H2_SERR_NONE);
	/* The server still ends the call with its own status. */
	assert_int_equal(h2_stream_end_status(&s->st, 0, NULL), 0);
	pump(p);
	assert_int_equal(h2_stream_grpc_status(&p->c.st, msg, sizeof(msg)), 0);
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_NONE);
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(s->closes, 1);
	/* Only clients send trailers this way. */
	assert_int_equal(h2_stream_end_trailers(&s->st, 14, NULL), -EINVAL);
}

static void
refused_stream(void **state)
{
	struct pair *p = *state;

	p->refuse = true;
	assert_int_equal(
	    h2_stream_open(&p->cli, &p->c.st, "https", "e", PATH, NULL, 0), 0);
	pump(p);
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_RESET);
	assert_int_equal(h2_stream_reset_code(&p->c.st), 7);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_NONE);
}

static void
ping_keepalive_and_deadline(void **state)
{
	struct pair *p = *state;

	pump(p); /* SETTINGS exchanged and acknowledged */
	assert_int_equal(h2_session_deadline(&p->cli), 1000);
	assert_int_equal(h2_session_run_timers(&p->cli, 1000), 0);
	assert_int_equal(h2_session_deadline(&p->cli), 1500);
	pump(p); /* the server acknowledges the PING */
	assert_int_equal(h2_session_deadline(&p->cli), 2000);
	assert_int_equal(h2_session_run_timers(&p->cli, 1600), 0);
	/* Now the peer goes silent: the next PING is never acknowledged. */
	assert_int_equal(h2_session_run_timers(&p->cli, 2000), 0);
	assert_int_equal(h2_session_run_timers(&p->cli, 2499), 0);
	assert_int_equal(h2_session_run_timers(&p->cli, 2500), -1);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_PING_TIMEOUT);
	assert_string_equal(h2_error_name(H2_ERR_PING_TIMEOUT), "ping_timeout");
}

static void
settings_deadline(void **state)
{
	struct pair *p = *state;

	/* No byte is exchanged: our SETTINGS are never acknowledged. */
	assert_int_equal(h2_session_deadline(&p->cli), 500);
	assert_int_equal(h2_session_run_timers(&p->cli, 499), 0);
	assert_int_equal(h2_session_run_timers(&p->cli, 500), -1);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_SETTINGS_TIMEOUT);
}

/* Graceful GOAWAY: the open call finishes, no new call may start. */
static void
goaway_graceful(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p), c2;
	uint32_t code = 99;

	assert_int_equal(h2_session_shutdown(&p->srv), 0);
	pump(p);
	assert_true(h2_session_goaway(&p->cli, &code));
	assert_int_equal(code, 0);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_NONE);
	h2_stream_init(&c2.st, c2.rx, sizeof(c2.rx), c2.tx, sizeof(c2.tx));
	assert_int_equal(
	    h2_stream_open(&p->cli, &c2.st, "https", "e", PATH, NULL, 0),
	    -EAGAIN);
	assert_int_equal(h2_stream_send(&p->c.st, "still", 5), 5);
	pump(p);
	assert_int_equal(s->st.rx.len, 5);
	assert_int_equal(h2_stream_end_status(&s->st, 0, NULL), 0);
	pump(p);
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_NONE);
	assert_false(
	    h2_session_want_read(&p->srv) && h2_session_want_write(&p->srv));
}

/* Garbage from the peer: protocol error, GOAWAY to the other side. */
static void
goaway_protocol_error(void **state)
{
	struct pair *p = *state;
	static const uint8_t junk[] = "\0\0\x04\x08\0\0\0\0\0\0\0\0\0";
	uint32_t code = 0;

	open_call(p);
	/* A WINDOW_UPDATE with increment 0 on the connection. */
	h2_session_feed(&p->srv, junk, 13);
	pump(p);
	assert_int_equal(h2_session_error(&p->srv), H2_ERR_PROTOCOL);
	assert_true(h2_session_goaway(&p->cli, &code));
	assert_int_equal(code, 1);
	assert_int_equal(h2_session_error(&p->cli), H2_ERR_PEER_GOAWAY);
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_NONE);
	assert_int_equal(h2_session_feed(&p->cli, "x", 1), -1);
}

/* Freeing the sessions closes the streams still open. */
static void
free_closes_streams(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);

	h2_session_free(&p->cli);
	assert_int_equal(p->c.closes, 1);
	assert_int_equal(h2_stream_error(&p->c.st), H2_SERR_SESSION);
	h2_session_free(&p->srv);
	assert_int_equal(s->closes, 1);
}

/* A raw nghttp2 client, to send requests our client never would. */
struct raw {
	nghttp2_session *ng;
	char status[4];
	uint32_t close_code;
	bool closed;
};

static int
raw_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *v, size_t vlen, uint8_t flags, void *arg)
{
	struct raw *r = arg;

	if (nlen == 7 && memcmp(name, ":status", 7) == 0 && vlen == 3)
		memcpy(r->status, v, 3);
	return 0;
}

static int
raw_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct raw *r = arg;

	r->closed = true;
	r->close_code = code;
	return 0;
}

/* Send one request (method, content-type) and pump it to p->srv. */
static void
raw_request(
    struct pair *p, struct raw *r, const char *method, const char *ctype)
{
	nghttp2_session_callbacks *cbs;
	const uint8_t *out;
	ssize_t n;
	size_t k;
	int i;
	nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
	    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
	    {(uint8_t *)":path", (uint8_t *)PATH, 5, strlen(PATH), 0},
	    {(uint8_t *)":authority", (uint8_t *)"e", 10, 1, 0},
	    {(uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype), 0},
	};

	memset(r, 0, sizeof(*r));
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_on_header_callback(cbs, raw_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, raw_close);
	nghttp2_session_client_new(&r->ng, cbs, r);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(r->ng, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_submit_request(r->ng, NULL, nv, 5, NULL, NULL);
	for (i = 0; i < 100; i++) {
		while ((n = nghttp2_session_mem_send(r->ng, &out)) > 0)
			h2_session_feed(&p->srv, out, (size_t)n);
		out = h2_session_take(&p->srv, &k);
		if (k == 0)
			break;
		nghttp2_session_mem_recv(r->ng, out, k);
		h2_session_ack(&p->srv, k);
	}
	nghttp2_session_del(r->ng);
}

/* A request that is not gRPC never reaches the application. */
static void
server_rejects_non_grpc(void **state)
{
	struct pair *p = *state;
	struct raw r;

	raw_request(p, &r, "POST", "text/plain");
	assert_memory_equal(r.status, "415", 3);
	assert_true(r.closed);
	assert_int_equal(p->naccepted, 1);
	assert_false(p->s[0].seen & H2_EV_HEADERS);
	assert_int_equal(p->s[0].closes, 1);
	assert_int_equal(h2_stream_error(&p->s[0].st), H2_SERR_CONTENT_TYPE);

	/* A new connection for the next client. */
	h2_session_free(&p->srv);
	assert_int_equal(h2_session_init(&p->srv, H2_SERVER, &conf, on_event,
			     on_accept, p, 0),
	    0);
	raw_request(p, &r, "GET", "application/grpc");
	assert_true(r.closed);
	assert_int_equal(r.close_code, 7); /* REFUSED_STREAM */
	assert_int_equal(p->naccepted, 2);
	assert_false(p->s[1].seen & H2_EV_HEADERS);
	assert_int_equal(p->s[1].closes, 1);
	assert_int_equal(h2_stream_error(&p->s[1].st), H2_SERR_METHOD);
	assert_int_equal(h2_session_error(&p->srv), H2_ERR_NONE);
}

/* The application frees the session from inside an event callback. */
static struct pair *freeing;

static void
on_event_free(struct h2_stream *st, unsigned ev, void *arg)
{
	on_event(st, ev, arg);
	if ((ev & H2_EV_READ) && freeing != NULL) {
		struct pair *p = freeing;

		freeing = NULL;
		h2_session_free(&p->cli);
	}
}

static void
free_from_callback(void **state)
{
	struct pair *p = *state;
	struct tstream *s = open_call(p);
	size_t n;

	p->cli.on_event = on_event_free;
	freeing = p;
	assert_int_equal(h2_stream_send(&s->st, "bye", 3), 3);
	pump(p);
	assert_null(freeing);
	assert_int_equal(p->c.closes, 1);
	/* Everything after is a harmless no-op. */
	assert_null(h2_session_take(&p->cli, &n));
	assert_int_equal(n, 0);
	assert_int_equal(h2_session_feed(&p->cli, "x", 1), -1);
	assert_int_equal(h2_session_run_timers(&p->cli, 99999), -1);
	assert_false(h2_session_want_write(&p->cli));
	assert_int_equal(h2_stream_send(&p->c.st, "x", 1), -EPIPE);
	h2_stream_ack(&p->c.st, 3);
	h2_stream_cancel(&p->c.st, 8);
	assert_int_equal(
	    h2_stream_open(&p->cli, &p->c.st, "https", "e", PATH, NULL, 0),
	    -EAGAIN);
}

static void
bad_conf(void **state)
{
	struct h2_session s;
	struct h2_conf c = conf;

	c.conn_window = c.window - 1;
	assert_int_equal(
	    h2_session_init(&s, H2_CLIENT, &c, on_event, NULL, NULL, 0),
	    -EINVAL);
	c = conf;
	assert_int_equal(
	    h2_session_init(&s, H2_SERVER, &c, on_event, NULL, NULL, 0),
	    -EINVAL);
}

static void
status_values(void **state)
{
	assert_int_equal(h2_grpc_status_parse("0", 1), 0);
	assert_int_equal(h2_grpc_status_parse("13", 2), 13);
	assert_int_equal(h2_grpc_status_parse("99", 2), 99);
	assert_int_equal(h2_grpc_status_parse("", 0), -1);
	assert_int_equal(h2_grpc_status_parse("-1", 2), -1);
	assert_int_equal(h2_grpc_status_parse("1x", 2), -1);
	assert_int_equal(h2_grpc_status_parse("1000", 4), -1);
}

static void
message_percent_encoding(void **state)
{
	char enc[64], dec[64];
	size_t n;

	n = h2_grpc_message_encode(
	    enc, sizeof(enc), "50% off\n\xc3\xa9t\xc3\xa9");
	assert_string_equal(enc, "50%25 off%0A%C3%A9t%C3%A9");
	assert_int_equal(n, strlen(enc));
	n = h2_grpc_message_decode(dec, sizeof(dec), enc, strlen(enc));
	assert_string_equal(dec, "50% off\n\xc3\xa9t\xc3\xa9");
	assert_int_equal(n, strlen(dec));
	/* Truncation never splits an escape. */
	n = h2_grpc_message_encode(enc, 5, "ab\ncd");
	assert_string_equal(enc, "ab");
	n = h2_grpc_message_encode(enc, 6, "ab\ncd");
	assert_string_equal(enc, "ab%0A");
	/* Malformed escapes stay literal; decoding never fails. */
	h2_grpc_message_decode(dec, sizeof(dec), "%zz%4", 5);
	assert_string_equal(dec, "%zz%4");
	h2_grpc_message_decode(dec, sizeof(dec), "a%41", 4);
	assert_string_equal(dec, "aA");
	h2_grpc_message_decode(dec, 3, "abcdef", 6);
	assert_string_equal(dec, "ab");
}

static void
content_type(void **state)
{
	assert_true(h2_grpc_content_type_ok("application/grpc", 16));
	assert_true(h2_grpc_content_type_ok("application/grpc+proto", 22));
	assert_true(h2_grpc_content_type_ok("application/grpc;x=1", 20));
	assert_false(h2_grpc_content_type_ok("application/grpcx", 17));
	assert_false(h2_grpc_content_type_ok("application/json", 16));
	assert_false(h2_grpc_content_type_ok("application/grp", 15));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(call_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		flow_control_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		flow_control_stalls, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		data_leaves_from_the_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		stream_closed_mid_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		trailers_error_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(trailers_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		take_room_follows_the_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		client_end_and_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		client_end_with_trailers, setup, teardown),
	    cmocka_unit_test_setup_teardown(refused_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		ping_keepalive_and_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(settings_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(goaway_graceful, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		goaway_protocol_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		free_closes_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		server_rejects_non_grpc, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		free_from_callback, setup, teardown),
	    cmocka_unit_test(bad_conf),
	    cmocka_unit_test(status_values),
	    cmocka_unit_test(message_percent_encoding),
	    cmocka_unit_test(content_type),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
