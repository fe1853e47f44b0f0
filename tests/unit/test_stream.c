/*
 * Unit tests: net/stream on real sockets (socketpairs and loopback TCP)
 * and the real reactor.  Every loop is bounded in iterations and each wait
 * in time.  Run one case with: test_stream <name-pattern>.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "wrapfd.h"
#include "testpki.h"
#include "lib/util.h"
#include "net/stream.h"
#include "rx/rx.h"
#include "tls/tls.h"

struct owner {
	struct stream st;
	uint8_t in[16], out[16];
	int events; /* on_event calls */
	int err; /* stream_error() as first seen */
	int closes;
};

static void
owner_event(struct stream *s)
{
	struct owner *o = container_of(s, struct owner, st);

	o->events++;
	if (o->err == 0)
		o->err = stream_error(s);
}

static void
owner_closed(struct stream *s)
{
	container_of(s, struct owner, st)->closes++;
}

/* A connected loopback TCP pair: *a non-blocking (for the stream), *b
 * blocking (the test's peer). */
static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t alen = sizeof(sa);
	int ls;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &alen), 0);
	assert_true((*b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(connect(*b, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true((*a = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0);
	close(ls);
}

static void
reset_peer(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/* The owner's input is full and it writes nothing (a request waiting for
 * its answer): the stream asks for no events.  A peer reset must still
 * reach the owner, once, and the loop must then sleep. */
static void
reset_while_input_full(void **state)
{
	static const char req[40] = "0123456789012345678901234567890123456789";
	struct owner o = {0};
	struct rx_loop l;
	int a, b, i;

	assert_int_equal(rx_init(&l, 1), 0);
	tcp_pair(&a, &b);
	stream_start(&o.st, &l, a, NULL, o.in, sizeof(o.in), o.out,
	    sizeof(o.out), owner_event, owner_closed);
	assert_int_equal(write(b, req, sizeof(req)), (ssize_t)sizeof(req));
	for (i = 0; i < 20 && o.st.in.len < sizeof(o.in); i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(o.st.in.len, sizeof(o.in)); /* full, not consumed */
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(o.st.w.want, 0);
	o.events = 0;
	reset_peer(b);
	for (i = 0; i < 20 && o.err == 0; i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_not_equal(o.err, 0);
	assert_true(stream_dead(&o.st));
	/* Told once; afterwards the loop sleeps until its bound. */
	for (i = 0; i < 5; i++)
		assert_int_equal(rx_run_once(&l, 10), 0);
	assert_true(o.events <= 2);
	stream_close(&o.st);
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(o.closes, 1);
	rx_free(&l);
}

/* Run the loop until the stream's 16-byte input buffer holds len bytes,
 * then check they are want (at most 20 turns of 1 s). */
static void
expect_input(struct owner *o, struct rx_loop *l, const char *want, size_t len)
{
	const uint8_t *p;
	size_t n = 0;
	int i;

	for (i = 0; i < 20 && o->st.in.len < len; i++)
		assert_int_equal(rx_run_once(l, 1000), 0);
	assert_non_null(o->st.in_owned);
	assert_int_equal(o->st.in.cap, 16);
	p = stream_peek(&o->st, &n);
	assert_int_equal(n, len);
	assert_memory_equal(p, want, len);
}

/* in NULL with a size: no input buffer while the peer sends nothing (the
 * stream still watches for input, so it sees the peer's bytes and its
 * close); the first bytes allocate it, stream_shed() gives it back once
 * empty (the next bytes allocate it again), the close frees it (ASan: no
 * leak). */
static void
input_buffer_on_first_read(void **state)
{
	struct owner o = {0};
	struct rx_loop l;
	size_t n = 0;
	int a, b, i;

	assert_int_equal(rx_init(&l, 1), 0);
	tcp_pair(&a, &b);
	stream_start(&o.st, &l, a, NULL, NULL, 16, o.out, sizeof(o.out),
	    owner_event, owner_closed);
	assert_int_equal(stream_write(&o.st, "GET", 3), 3);
	stream_update(&o.st);
	for (i = 0; i < 5; i++)
		assert_int_equal(rx_run_once(&l, 10), 0);
	assert_null(o.st.in_owned); /* nothing came: nothing allocated */
	assert_null(stream_peek(&o.st, &n));
	assert_true(o.st.w.want & RX_READ);
	assert_int_equal(write(b, "0123456789abcdefXYZ", 19), 19);
	expect_input(&o, &l, "0123456789abcdef", 16);
	stream_consume(&o.st, 16);
	stream_update(&o.st);
	expect_input(&o, &l, "XYZ", 3);
	stream_shed(&o.st); /* bytes held: kept */
	assert_non_null(o.st.in_owned);
	stream_consume(&o.st, 3);
	stream_shed(&o.st); /* empty: given back, read interest kept */
	assert_null(o.st.in_owned);
	stream_update(&o.st);
	assert_true(o.st.w.want & RX_READ);
	assert_int_equal(write(b, "again", 5), 5);
	expect_input(&o, &l, "again", 5);
	close(b);
	stream_close(&o.st);
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(o.closes, 1);
	assert_null(o.st.in_owned);
	/* A peer that closes without a byte: seen, the owner told. */
	memset(&o, 0, sizeof(o));
	tcp_pair(&a, &b);
	stream_start(&o.st, &l, a, NULL, NULL, 16, o.out, sizeof(o.out),
	    owner_event, owner_closed);
	close(b);
	for (i = 0; i < 20 && !stream_dead(&o.st); i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_true(stream_dead(&o.st));
	assert_true(o.events > 0);
	stream_close(&o.st);
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(o.closes, 1);
	rx_free(&l);
}

/* --- room to write: producers push ------------------------------------- */

#define PUSH_BYTES (256 * 1024)

/* One end: sends to_send bytes of a pattern, only from its callback, and
 * checks what it receives against the same pattern. */
struct end {
	struct stream st;
	uint8_t in[1024], out[1024];
	size_t to_send, sent, got;
	bool bad; /* a received byte broke the pattern */
	int events;
};

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i % 251);
}

static void
end_push(struct end *e)
{
	uint8_t *p;
	size_t room, i;

	while (e->sent < e->to_send &&
	    (p = stream_reserve(&e->st, &room)) != NULL) {
		for (i = 0; i < room && e->sent < e->to_send; i++)
			p[i] = pattern(e->sent++);
		stream_commit(&e->st, i);
		stream_flush(&e->st);
	}
}

static void
end_event(struct stream *s)
{
	struct end *e = container_of(s, struct end, st);
	const uint8_t *p;
	size_t n, i;

	e->events++;
	if (!stream_ready(s))
		return;
	end_push(e);
	while ((p = stream_peek(s, &n)) != NULL) {
		for (i = 0; i < n; i++)
			e->bad |= p[i] != pattern(e->got + i);
		e->got += n;
		stream_consume(s, n);
	}
}

static void
end_start(struct end *e, struct rx_loop *l, int fd, br_ssl_engine_context *eng,
    size_t to_send)
{
	*e = (struct end){.to_send = to_send};
	stream_start(&e->st, l, fd, eng, e->in, sizeof(e->in), e->out,
	    sizeof(e->out), end_event, NULL);
}

static int
pair(int sv[2])
{
	return socketpair(
	    AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

/* Run until b received a's bytes (and a b's); bounded in iterations. */
static void
run_transfer(struct rx_loop *l, struct end *a, struct end *b)
{
	int i;

	for (i = 0; i < 20000 && (b->got < a->to_send || a->got < b->to_send);
	     i++)
		assert_int_equal(rx_run_once(l, 1000), 0);
	assert_int_equal(stream_error(&a->st), 0);
	assert_int_equal(stream_error(&b->st), 0);
	assert_int_equal(a->sent, a->to_send);
	assert_int_equal(b->got, a->to_send);
	assert_int_equal(a->got, b->to_send);
	assert_false(a->bad);
	assert_false(b->bad);
}

static void
close_ends(struct rx_loop *l, struct end *a, struct end *b)
{
	stream_close(&a->st);
	stream_close(&b->st);
	assert_int_equal(rx_run_once(l, 0), 0);
}

/* 256 KiB through a 1 KiB buffer, written only from the owner's callback:
 * each time the buffer is full the stream calls back with room. */
static void
push_plain(void **state)
{
	struct end *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rx_loop l;
	int sv[2];

	assert_int_equal(rx_init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	end_start(a, &l, sv[0], NULL, PUSH_BYTES);
	end_start(b, &l, sv[1], NULL, 1000);
	run_transfer(&l, a, b);
	close_ends(&l, a, b);
	free(a);
	free(b);
	rx_free(&l);
}

/* An owner outside its callback (an idle connection taken up again) asks
 * for room: one callback, deferred, and then the loop sleeps. */
static void
want_room_when_quiet(void **state)
{
	struct end *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rx_loop l;
	int sv[2], i, events;

	assert_int_equal(rx_init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	end_start(a, &l, sv[0], NULL, 0);
	end_start(b, &l, sv[1], NULL, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(rx_run_once(&l, 10), 0);
	events = a->events;
	for (i = 0; i < 3; i++)
		assert_int_equal(rx_run_once(&l, 10), 0);
	assert_int_equal(a->events, events); /* quiet: no callbacks */
	a->to_send = 5000;
	stream_want_room(&a->st);
	assert_int_equal(a->events, events); /* never from inside the call */
	assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(a->events, events + 1);
	run_transfer(&l, a, b);
	events = a->events;
	for (i = 0; i < 3; i++)
		assert_int_equal(rx_run_once(&l, 10), 0);
	assert_int_equal(a->events, events);
	close_ends(&l, a, b);
	free(a);
	free(b);
	rx_free(&l);
}

static void *
load(const char *name, size_t *len)
{
	return testpki_load(name, len);
}

/* One 64 KiB write of a's next pattern bytes from outside its callback:
 * with room in the socket, its records are sealed and sent back to back
 * within the call (not one record per turn of the loop). */
static void
write_records_at_once(struct rx_loop *l, struct end *a, struct end *b)
{
	static uint8_t buf[65536];
	size_t i, w;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(a->sent + i);
	w = stream_write(&a->st, buf, sizeof(buf));
	assert_true(w >= 3 * 16384);
	a->sent += w;
	a->to_send = a->sent;
	stream_update(&a->st);
	run_transfer(l, a, b);
}

/* The same push through a real BearSSL client and server (mutual TLS, as
 * the tunnel uses it), both streams on one loop over a socketpair, with
 * one read per record (its rest and the next header together), then one
 * large write. */
static void
push_tls(void **state)
{
	struct tls_client_opts co = {0};
	struct tls_server_opts so = {0};
	struct tls_client_config *cc;
	struct tls_server_config *sc;
	struct tls_conn *tc = malloc(TLS_CONN_SIZE),
			*ts = malloc(TLS_CONN_SIZE);
	struct end *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rx_loop l;
	char err[256];
	unsigned reads;
	int sv[2];

	co.ca = load("ca.pem", &co.ca_len);
	co.cert = load("client-test.pem", &co.cert_len);
	co.key = load("client-test.key", &co.key_len);
	so.cert = load("server.pem", &so.cert_len);
	so.key = load("server.key", &so.key_len);
	so.client_ca = load("ca.pem", &so.client_ca_len);
	assert_int_equal(tls_client_config_new(&cc, &co, err, sizeof(err)), 0);
	assert_int_equal(tls_server_config_new(&sc, &so, err, sizeof(err)), 0);
	assert_int_equal(tls_client_start(tc, cc, "localhost"), 0);
	assert_int_equal(tls_server_start(ts, sc), 0);
	assert_int_equal(rx_init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	end_start(a, &l, sv[0], tls_engine(tc), PUSH_BYTES);
	end_start(b, &l, sv[1], tls_engine(ts), 3000);
	wrapfd_set(sv[1], &(struct wrapfd_plan){.reset_after = -1});
	run_transfer(&l, a, b);
	/* Two reads per 16 KiB record would be 32 for the data alone. */
	reads = wrapfd_stats()->reads;
	wrapfd_clear();
	assert_true(reads < 2 * (PUSH_BYTES / 16384));
	assert_true(tls_ready(tc));
	assert_true(tls_ready(ts));
	write_records_at_once(&l, a, b);
	close_ends(&l, a, b);
	tls_wipe(tc);
	tls_wipe(ts);
	free(tc);
	free(ts);
	free(a);
	free(b);
	tls_client_config_free(cc);
	tls_server_config_free(sc);
	free((void *)co.ca);
	free((void *)co.cert);
	free((void *)co.key);
	free((void *)so.cert);
	free((void *)so.key);
	free((void *)so.client_ca);
	rx_free(&l);
}

/* The upstream client (tls.h) against the tunnel's server engine: its
 * anchors verify the server, it offers the ALPN name given (the server
 * insists on h2), and with a name the certificate lacks it fails (verify
 * on) or goes through (verify off). */
static int
upstream_run(const char *host, bool verify, bool *server_ready)
{
	static const char *const h2[] = {"h2"};
	struct tls_upstream_opts uo = {
	    .verify = verify, .alpn = h2, .nalpn = 1};
	struct tls_server_opts so = {.client_cert_optional = true};
	struct tls_upstream_config *uc;
	struct tls_server_config *sc;
	struct tls_upstream_conn *tu = malloc(sizeof(*tu));
	struct tls_conn *ts = malloc(TLS_CONN_SIZE);
	struct end *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rx_loop l;
	char err[256];
	int sv[2], i, rc;

	uo.ca = load("ca.pem", &uo.ca_len);
	so.cert = load("server.pem", &so.cert_len);
	so.key = load("server.key", &so.key_len);
	so.client_ca = load("ca.pem", &so.client_ca_len);
	assert_int_equal(
	    tls_upstream_config_new(&uc, &uo, err, sizeof(err)), 0);
	assert_int_equal(tls_upstream_config_anchors(uc), verify ? 1 : 0);
	assert_int_equal(tls_server_config_new(&sc, &so, err, sizeof(err)), 0);
	assert_int_equal(tls_server_start(ts, sc), 0);
	assert_int_equal(rx_init(&l, 1), 0);
	assert_int_equal(pair(sv), 0);
	end_start(a, &l, sv[0], tls_upstream_start(tu, uc, host), 2000);
	end_start(b, &l, sv[1], tls_engine(ts), 0);
	for (i = 0; i < 2000 && b->got < 2000 && !stream_dead(&a->st); i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	rc = stream_error(&a->st) == STREAM_ERR_TLS ? a->st.tls_err : 0;
	if (rc == 0)
		assert_int_equal(b->got, 2000);
	*server_ready = tls_ready(ts);
	close_ends(&l, a, b);
	tls_upstream_wipe(tu);
	tls_wipe(ts);
	free(tu);
	free(ts);
	free(a);
	free(b);
	tls_upstream_config_free(uc);
	tls_server_config_free(sc);
	free((void *)uo.ca);
	free((void *)so.cert);
	free((void *)so.key);
	free((void *)so.client_ca);
	rx_free(&l);
	return rc;
}

static void
tls_upstream_client(void **state)
{
	bool ready;

	assert_int_equal(upstream_run("localhost", true, &ready), 0);
	assert_true(ready); /* ALPN h2 was offered and chosen */
	assert_int_equal(upstream_run("127.0.0.1", true, &ready), 0);
	assert_int_equal(upstream_run("other.example", true, &ready),
	    BR_ERR_X509_BAD_SERVER_NAME);
	assert_int_equal(upstream_run("other.example", false, &ready), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reset_while_input_full),
	    cmocka_unit_test(input_buffer_on_first_read),
	    cmocka_unit_test(push_plain),
	    cmocka_unit_test(want_room_when_quiet),
	    cmocka_unit_test(push_tls),
	    cmocka_unit_test(tls_upstream_client),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name(
	    "stream", tests, testpki_setup, testpki_teardown);
}
