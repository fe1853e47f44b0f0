/*
 * Unit tests: the HTTP server on a real reactor with real loopback
 * sockets — the parts the health port does not exercise: deferred
 * (asynchronous) responses, abort on disconnect, request bodies (length
 * and chunked), 100-continue, 413, output overflow, handler deadline,
 * injected network faults and allocation failures, and teardown.  Run one
 * case with:
 * test_http_server '<glob>'.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "http/http_server.h"
#include "http/http_server_reader.h"
#include "lib/util.h"
#include "rx/rx.h"
#include "failalloc.h"
#include "wrapfd.h"

struct fixture {
	struct rx_loop l;
	struct http_server *s;
	struct rx_timer later;
	struct http_exchange *pending;
	int aborts;
	int drains;
	int calls;
	int respond_result;
	int peer_family;
};

static struct fixture fx;

static void
on_echo(struct http_exchange *x, void *arg)
{
	const uint8_t *b;
	size_t n;

	fx.calls++;
	fx.peer_family = http_exchange_peer(x)->sa_family;
	b = http_exchange_body(x, &n);
	fx.respond_result = http_respond(x, 200, NULL, "text/plain", b, n);
}

static void
on_abort(struct http_exchange *x, void *arg)
{
	fx.aborts++;
	assert_ptr_equal(x, fx.pending);
	fx.pending = NULL;
}

static void
on_later(struct rx_loop *l, struct rx_timer *t)
{
	if (fx.pending != NULL)
		fx.respond_result = http_respond(
		    fx.pending, 202, NULL, "text/plain", "late\n", 5);
	fx.pending = NULL;
}

/* Defer: answer from a timer 30 ms later (a tunnel round-trip stand-in). */
static void
on_slow(struct http_exchange *x, void *arg)
{
	fx.calls++;
	fx.pending = x;
	http_exchange_on_abort(x, on_abort, NULL);
	rx_timer_start(&fx.l, &fx.later, 30);
}

/* A streamed answer: the test drives the exchange itself. */
static void
on_drain(struct http_exchange *x, void *arg)
{
	fx.drains++;
}

static void
on_stream(struct http_exchange *x, void *arg)
{
	fx.calls++;
	fx.pending = x;
	http_exchange_on_abort(x, on_abort, NULL);
	http_exchange_on_drain(x, on_drain, NULL);
}

static void
on_big(struct http_exchange *x, void *arg)
{
	static char big[4096];

	fx.respond_result = http_respond(x, 200, NULL, NULL, big, sizeof(big));
}

/* Admit only heads that carry "X-Key: ok"; refuse the others with 401. */
static bool
on_admit(struct http_exchange *x, void *arg)
{
	const struct http_request *r = http_exchange_request(x);
	const struct http_header *h =
	    http_header_find(r->headers, r->nheaders, "x-key");

	if (h != NULL && h->value_len == 2 && memcmp(h->value, "ok", 2) == 0)
		return true;
	http_respond(x, 401, NULL, "text/plain", "no\n", 3);
	return false;
}

/* A raw_body route: takes the socket with the body unread, answers with
 * how many body bytes came with the head. */
static void
on_raw(struct http_exchange *x, void *arg)
{
	char pre[256], ans[96];
	size_t n = 0;
	int fd = http_exchange_upgrade(x, pre, sizeof(pre), &n), len;

	(void)arg;
	fx.calls++;
	assert_true(fd >= 0);
	len = snprintf(ans, sizeof(ans),
	    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npre=%02zu", n);
	assert_int_equal(write(fd, ans, (size_t)len), len);
	close(fd);
}

static const struct http_route routes[] = {
    {"/echo", HTTP_M_POST | HTTP_M_PUT, on_echo, NULL, NULL, false},
    {"/slow", HTTP_M_GET, on_slow, NULL, NULL, false},
    {"/big", HTTP_M_GET, on_big, NULL, NULL, false},
    {"/stream", HTTP_M_GET, on_stream, NULL, NULL, false},
    {"/guarded", HTTP_M_POST | HTTP_M_GET, on_echo, NULL, on_admit, false},
    {"/raw", HTTP_M_POST, on_raw, NULL, on_admit, true},
};

static int64_t handler_deadline;

static int
setup(void **state)
{
	struct http_server_conf c = {
	    .addr4 = "127.0.0.1",
	    .max_conns = 8,
	    .header_timeout_ms = 2000,
	    .idle_timeout_ms = 2000,
	    .handler_timeout_ms = handler_deadline,
	    .limits = HTTP_LIMITS_DEFAULT,
	    .max_body = 64,
	    .max_raw_body = 1000,
	    .out_cap = 1024,
	    .routes = routes,
	    .nroutes = nitems(routes),
	};
	int err = 0;

	memset(&fx, 0, sizeof(fx));
	assert_int_equal(rx_init(&fx.l, 32), 0);
	rx_timer_init(&fx.later, on_later);
	fx.s = http_server_start(&fx.l, &c, &err);
	assert_non_null(fx.s);
	assert_int_not_equal(http_server_port(fx.s), 0);
	return 0;
}

static int
teardown(void **state)
{
	int i;

	rx_timer_stop(&fx.l, &fx.later);
	http_server_close(fx.s);
	/* The server frees itself once its closes have run. */
	for (i = 0; i < 3; i++)
		rx_run_once(&fx.l, 0);
	rx_free(&fx.l);
	return 0;
}

static int
client(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(http_server_port(fx.s)),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	/* Loopback connects complete at once or with EINPROGRESS. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		assert_int_equal(errno, EINPROGRESS);
	return fd;
}

static void
send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Pump the loop until the client has 'want' bytes of text in b (or EOF),
 * at most ~2 s. */
static size_t
recv_until(int fd, char *b, size_t cap, const char *want)
{
	size_t len = 0;
	ssize_t n;
	int i;

	for (i = 0; i < 200; i++) {
		rx_run_once(&fx.l, 10);
		n = read(fd, b + len, cap - 1 - len);
		if (n > 0)
			len += (size_t)n;
		b[len] = '\0';
		if (n == 0 || (want != NULL && strstr(b, want) != NULL))
			break;
	}
	return len;
}

static void
deferred_response(void **state)
{
	char b[2048];
	int fd = client();

	send_str(fd,
	    "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nhi");
	recv_until(fd, b, sizeof(b), "\r\n\r\nhi");
	/* The deferred answer comes first, the pipelined one after it. */
	assert_non_null(strstr(b, "HTTP/1.1 202 Accepted"));
	assert_non_null(strstr(b, "late\n"));
	assert_true(strstr(b, "202") < strstr(b, "HTTP/1.1 200 OK"));
	assert_int_equal(fx.respond_result, 0);
	assert_int_equal(fx.calls, 2);
	assert_int_equal(fx.aborts, 0);
	close(fd);
}

static void
abort_on_disconnect(void **state)
{
	char b[256];
	int fd = client(), i;

	send_str(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	for (i = 0; i < 20 && fx.calls == 0; i++)
		rx_run_once(&fx.l, 10);
	assert_int_equal(fx.calls, 1);
	close(fd);
	for (i = 0; i < 20 && fx.aborts == 0; i++)
		rx_run_once(&fx.l, 10);
	assert_int_equal(fx.aborts, 1);
	assert_null(fx.pending);
	/* The timer finds nothing to answer; no crash, nothing open. */
	for (i = 0; i < 10; i++)
		rx_run_once(&fx.l, 10);
	assert_int_equal(http_server_stats(fx.s)->open, 0);
	(void)b;
}

static void
body_and_continue(void **state)
{
	char b[2048];
	int fd = client();

	send_str(fd,
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
	    "Expect: 100-continue\r\n\r\n");
	recv_until(fd, b, sizeof(b), "100 Continue\r\n\r\n");
	assert_string_equal(b, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(fx.calls, 0);
	send_str(fd, "abcde");
	recv_until(fd, b, sizeof(b), "abcde");
	assert_non_null(strstr(b, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(b, "Content-Length: 5\r\n"));
	assert_int_equal(fx.calls, 1);
	assert_int_equal(fx.peer_family, AF_INET);
	close(fd);
}

static void
body_limits(void **state)
{
	char b[2048];
	int fd;

	fd = client();
	send_str(
	    fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_non_null(strstr(b, "HTTP/1.1 413 "));
	close(fd);
	fd = client();
	send_str(fd,
	    "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n40\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\r\n0\r\n\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_non_null(strstr(b, "HTTP/1.1 200 ")); /* 64: at the limit */
	close(fd);
	fd = client();
	send_str(fd,
	    "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n40\r\n" /* 64 + 1 */
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\r\n1\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_non_null(strstr(b, "HTTP/1.1 413 "));
	assert_non_null(strstr(b, "Connection: close\r\n"));
	close(fd);
	fd = client();
	send_str(fd,
	    "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_non_null(strstr(b, "HTTP/1.1 400 "));
	close(fd);
	assert_int_equal(fx.calls, 1);
}

/* One request on a fresh connection; its answer must contain want. */
static void
expect_answer(const char *req, const char *want)
{
	char b[2048];
	int fd = client();

	send_str(fd, req);
	recv_until(fd, b, sizeof(b), want);
	assert_non_null(strstr(b, want));
	close(fd);
}

/* A raw_body route gets the head (admitted) with its body unread, up to
 * max_raw_body; other routes keep max_body; unadmitted: never read. */
static void
raw_body(void **state)
{
	expect_answer("POST /raw HTTP/1.1\r\nHost: t\r\nx-key: ok\r\n"
		      "Content-Length: 500\r\n\r\nabc",
	    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npre=03");
	assert_int_equal(fx.calls, 1);
	expect_answer(
	    "POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n",
	    "HTTP/1.1 401 ");
	expect_answer("POST /raw HTTP/1.1\r\nHost: t\r\nx-key: ok\r\n"
		      "Content-Length: 1001\r\n\r\n",
	    "HTTP/1.1 413 ");
	expect_answer(
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n",
	    "HTTP/1.1 413 ");
	assert_int_equal(fx.calls, 1);
}

/* Chunked bodies are decoded in place; what follows is the next request. */
static void
chunked_body(void **state)
{
	char b[4096], *p;
	int fd = client();

	send_str(fd,
	    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	    "Expect: 100-continue\r\n\r\n");
	recv_until(fd, b, sizeof(b), "100 Continue\r\n\r\n");
	assert_string_equal(b, "HTTP/1.1 100 Continue\r\n\r\n");
	send_str(fd, "5;ext=1\r\nhello\r\n");
	send_str(fd,
	    "7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n"
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
	    "Connection: close\r\n\r\nnext");
	recv_until(fd, b, sizeof(b), NULL);
	p = strstr(b, "HTTP/1.1 200 OK\r\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "Content-Length: 12\r\n"));
	assert_non_null(strstr(p, "\r\n\r\nhello, world"));
	p = strstr(p + 1, "HTTP/1.1 200 OK\r\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "\r\n\r\nnext"));
	assert_int_equal(fx.calls, 2);
	close(fd);
}

static void
output_overflow(void **state)
{
	char b[2048];
	int fd = client();

	send_str(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_non_null(strstr(b, "HTTP/1.1 500 "));
	assert_int_equal(fx.respond_result, -ENOSPC);
	close(fd);
}

static int
setup_deadline(void **state)
{
	handler_deadline = 10; /* on_slow answers after 30 ms */
	setup(state);
	handler_deadline = 0;
	return 0;
}

static void
handler_deadline_504(void **state)
{
	char b[2048];
	int fd = client(), i;

	send_str(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_non_null(strstr(b, "HTTP/1.1 504 Gateway Timeout\r\n"));
	assert_non_null(strstr(b, "Connection: close\r\n"));
	assert_int_equal(fx.aborts, 1);
	for (i = 0; i < 5; i++)
		rx_run_once(&fx.l, 10);
	assert_int_equal(fx.aborts, 1);
	assert_int_equal(http_server_stats(fx.s)->timeouts, 1);
	close(fd);
}

/* Read until EOF (or ~4 s), pumping the loop. */
static size_t
recv_all(int fd, char *b, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	int i;

	for (i = 0; i < 400; i++) {
		rx_run_once(&fx.l, 10);
		n = read(fd, b + len, cap - 1 - len);
		if (n > 0)
			len += (size_t)n;
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
	b[len] = '\0';
	return len;
}

/*
 * Short reads and writes, EINTR and spurious EAGAIN on the server's
 * side of every connection: the same pipelined exchange, the same bytes.
 */
static void
faulty_network(void **state)
{
	const struct wrapfd_plan plan = {
	    .faults = WRAPFD_SHORT_READ | WRAPFD_SHORT_WRITE | WRAPFD_EINTR |
		WRAPFD_EAGAIN,
	    .percent = 60,
	    .reset_after = -1,
	};
	static const char req[] =
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\n"
	    "abcdefghijklmnopqrstuvwxyz"
	    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n3\r\nABC\r\n17;x=y\r\nDEFGHIJKLMNOPQRSTUVWXYZ\r\n0\r\n\r\n"
	    "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "Connection: close\r\n\r\nend";
	const struct wrapfd_stats *st;
	unsigned faults = 0;
	char b[4096], *p;
	uint64_t seed;
	int fd;

	for (seed = 1; seed <= 20; seed++) {
		fx.calls = 0;
		wrapfd_seed(seed);
		wrapfd_set(WRAPFD_ALL, &plan);
		fd = client();
		send_str(fd, req);
		recv_all(fd, b, sizeof(b));
		close(fd);
		st = wrapfd_stats();
		faults +=
		    st->short_reads + st->short_writes + st->eintr + st->eagain;
		wrapfd_clear();
		p = strstr(b, "HTTP/1.1 200 OK\r\n");
		assert_non_null(p);
		assert_non_null(
		    strstr(p, "\r\n\r\nabcdefghijklmnopqrstuvwxyz"));
		p = strstr(p + 1, "HTTP/1.1 200 OK\r\n");
		assert_non_null(p);
		assert_non_null(
		    strstr(p, "\r\n\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ"));
		p = strstr(p, "HTTP/1.1 202 Accepted\r\n");
		assert_non_null(p);
		p = strstr(p, "HTTP/1.1 200 OK\r\n");
		assert_non_null(p);
		assert_non_null(strstr(p, "Connection: close\r\n"));
		assert_int_equal(strcmp(b + strlen(b) - 3, "end"), 0);
		assert_int_equal(fx.calls, 4);
	}
	assert_int_equal(fx.aborts, 0);
	print_message("faults injected: %u\n", faults);
	assert_true(faults > 20);
}

/* A reset in the middle of any exchange closes that connection only. */
static void
reset_midway(void **state)
{
	struct wrapfd_plan plan = {.faults = 0, .reset_after = 0};
	static const char req[] =
	    "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok";
	char b[4096];
	int fd, i;

	for (plan.reset_after = 1; plan.reset_after < 120;
	     plan.reset_after += 7) {
		wrapfd_set(WRAPFD_ALL, &plan);
		fd = client();
		send_str(fd, req);
		recv_all(fd, b, sizeof(b));
		close(fd);
		wrapfd_clear();
		for (i = 0; i < 10; i++)
			rx_run_once(&fx.l, 5);
		assert_int_equal(http_server_stats(fx.s)->open, 0);
		assert_null(fx.pending);
	}
	/* The server still serves. */
	fd = client();
	send_str(fd,
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nhi");
	recv_all(fd, b, sizeof(b));
	assert_non_null(strstr(b, "HTTP/1.1 200 OK\r\n"));
	close(fd);
}

/* Every status line in b is 200 or a 5xx. */
static void
only_ok_or_5xx(const char *b)
{
	const char *p;

	for (p = b; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
		assert_true(strncmp(p + 9, "200 ", 4) == 0 || p[9] == '5');
}

/*
 * #17 item 6: every allocation the server makes for a connection with a
 * pipelined exchange fails once, each on a connection of its own.  The
 * client gets both answers, or a 5xx, or a closed connection: never a
 * wrong answer, a crash, a leak or a connection left open; the next
 * connection is served.
 */
static void
enomem_per_connection(void **state)
{
	static const char req[] =
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "Connection: close\r\n\r\nend";
	unsigned long n, used = 0;
	unsigned hurt = 0;
	char b[4096];
	int fd, i;

	if (!failalloc_supported())
		skip();
	for (n = 1; n <= 500; n++) {
		failalloc_arm(n);
		fd = client();
		send_str(fd, req);
		recv_all(fd, b, sizeof(b));
		used = failalloc_disarm();
		close(fd);
		/* Closed (after its linger), never left open. */
		for (i = 0; i < 300 && http_server_stats(fx.s)->open > 0; i++)
			rx_run_once(&fx.l, 10);
		assert_int_equal(http_server_stats(fx.s)->open, 0);
		only_ok_or_5xx(b);
		if (strstr(b, "\r\n\r\nhello") == NULL ||
		    strstr(b, "\r\n\r\nend") == NULL)
			hurt++;
		if (used < n)
			break;
	}
	assert_true(used < n); /* every allocation failed once */
	assert_true(hurt > 0);
	print_message(
	    "allocations per connection: %lu, %u answered short\n", used, hurt);
	fd = client();
	send_str(fd, req);
	recv_all(fd, b, sizeof(b));
	close(fd);
	assert_non_null(strstr(b, "\r\n\r\nend"));
}

/* Pump the loop until the handler holds a streamed exchange. */
static struct http_exchange *
stream_request(int fd, const char *req)
{
	int i;

	send_str(fd, req);
	for (i = 0; i < 100 && fx.pending == NULL; i++)
		rx_run_once(&fx.l, 10);
	assert_non_null(fx.pending);
	return fx.pending;
}

/* Unknown length: one chunk per write, sent at once; the last chunk
 * ends it and the connection serves the next request. */
static void
stream_chunked(void **state)
{
	char b[4096], *p;
	int fd = client();
	struct http_exchange *x = stream_request(fd,
	    "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok");

	assert_int_equal(
	    http_respond_stream(x, 200, "X-A: b\r\n", "text/plain", -1), 0);
	assert_int_equal(
	    http_respond_stream(x, 200, NULL, NULL, -1), -EALREADY);
	assert_int_equal(http_exchange_write(x, "hello", 5), 0);
	recv_until(fd, b, sizeof(b), "hello\r\n");
	/* Each write reaches the client before the body ends. */
	assert_non_null(strstr(b, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(b, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(b, "X-A: b\r\n\r\n5\r\nhello\r\n"));
	assert_null(strstr(b, "Content-Length"));
	assert_int_equal(http_exchange_write(x, "world!", 6), 0);
	http_exchange_end(x, true);
	fx.pending = NULL;
	recv_all(fd, b, sizeof(b));
	assert_string_equal(
	    strstr(b, "6\r\nworld!\r\n0\r\n\r\nHTTP/1.1 200 OK"),
	    "6\r\nworld!\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 2"
	    "\r\nConnection: close\r\n\r\nok");
	p = strstr(b, "ok");
	assert_non_null(p);
	assert_int_equal(fx.calls, 2);
	assert_int_equal(fx.aborts, 0);
	close(fd);
}

/* A known length is announced; more is refused, less is a cut (the
 * connection closes short of it). */
static void
stream_length_cut(void **state)
{
	char b[4096];
	int fd = client();
	struct http_exchange *x =
	    stream_request(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");

	assert_int_equal(http_respond_stream(x, 200, NULL, NULL, 10), 0);
	assert_int_equal(http_exchange_write(x, "01234", 5), 0);
	assert_int_equal(http_exchange_write(x, "0123456", 6), -EMSGSIZE);
	http_exchange_end(x, true);
	fx.pending = NULL;
	recv_all(fd, b, sizeof(b));
	assert_non_null(strstr(b, "Content-Length: 10\r\n"));
	assert_null(strstr(b, "chunked"));
	assert_string_equal(strstr(b, "\r\n\r\n"), "\r\n\r\n01234");
	close(fd);
	/* Chunked and cut: no last chunk, then EOF. */
	fd = client();
	x = stream_request(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(http_respond_stream(x, 200, NULL, NULL, -1), 0);
	assert_int_equal(http_exchange_write(x, "abc", 3), 0);
	http_exchange_end(x, false);
	fx.pending = NULL;
	recv_all(fd, b, sizeof(b));
	assert_string_equal(strstr(b, "\r\n\r\n"), "\r\n\r\n3\r\nabc\r\n");
	assert_int_equal(fx.aborts, 0);
	close(fd);
}

/* HTTP/1.0 has no chunks: the body ends with the connection; HEAD
 * gets the head only. */
static void
stream_http10_and_head(void **state)
{
	char b[4096];
	int fd = client();
	struct http_exchange *x =
	    stream_request(fd, "GET /stream HTTP/1.0\r\nHost: t\r\n\r\n");

	assert_int_equal(http_respond_stream(x, 200, NULL, NULL, -1), 0);
	assert_int_equal(http_exchange_write(x, "raw", 3), 0);
	http_exchange_end(x, true);
	fx.pending = NULL;
	recv_all(fd, b, sizeof(b));
	assert_non_null(strstr(b, "Connection: close\r\n"));
	assert_string_equal(strstr(b, "\r\n\r\n"), "\r\n\r\nraw");
	close(fd);
	fd = client();
	x = stream_request(fd,
	    "HEAD /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	http_exchange_head_length(x, 7);
	assert_int_equal(http_respond_stream(x, 200, NULL, NULL, -1), 0);
	assert_int_equal(http_exchange_write(x, "dropped", 7), 0);
	http_exchange_end(x, true);
	fx.pending = NULL;
	recv_all(fd, b, sizeof(b));
	assert_non_null(strstr(b, "Content-Length: 7\r\n"));
	assert_string_equal(strstr(b, "\r\n\r\n"), "\r\n\r\n");
	close(fd);
}

/* Body byte o of stream_length_direct. */
static uint8_t
pattern(size_t o)
{
	return (uint8_t)(o * 7 + o / 251);
}

/*
 * A length-delimited body goes to the socket straight from the writer
 * while nothing is queued, and is queued once the socket is full: the
 * client reads every byte in order either way.
 */
static void
stream_length_direct(void **state)
{
	enum { LEN = 8 << 20, CHUNK = 16384 };
	static uint8_t chunk[CHUNK], b[65536];
	size_t wrote = 0, got = 0, have = 0, k;
	int fd = client(), i;
	bool full = false, body = false;
	struct http_exchange *x;
	uint8_t *p;
	ssize_t n;

	x = stream_request(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(http_respond_stream(x, 200, NULL, NULL, LEN), 0);
	/* The client reads nothing until the socket is full and the
	 * room runs out: bytes written at once, then queued. */
	for (i = 0; i < 200000 && got < LEN; i++) {
		if (wrote < LEN && http_exchange_room(x) >= CHUNK) {
			for (k = 0; k < CHUNK; k++)
				chunk[k] = pattern(wrote + k);
			assert_int_equal(
			    http_exchange_write(x, chunk, CHUNK), 0);
			wrote += CHUNK;
			continue;
		}
		rx_run_once(&fx.l, 1);
		if (!full && http_exchange_room(x) >= CHUNK)
			continue;
		full = true;
		assert_true(wrote < LEN || got > 0); /* it ran out early */
		if ((n = read(fd, b + have, sizeof(b) - have)) <= 0)
			continue;
		have += (size_t)n;
		p = b;
		if (!body && (p = memmem(b, have, "\r\n\r\n", 4)) == NULL)
			continue; /* the head is still coming */
		if (!body)
			p += 4;
		body = true;
		for (; p < b + have; p++, got++)
			assert_int_equal(*p, pattern(got));
		have = 0;
	}
	assert_int_equal(got, LEN);
	http_exchange_end(x, true);
	fx.pending = NULL;
	close(fd);
}

/* A client that reads nothing: the room runs out within HTTP_STREAM_BUF
 * queued bytes (the socket buffers aside); reading brings drain calls;
 * leaving aborts the exchange. */
static void
stream_backpressure(void **state)
{
	static char chunk[16384];
	char b[65536];
	size_t wrote = 0, got = 0;
	int fd = client(), i;
	struct http_exchange *x;
	ssize_t n;

	x = stream_request(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(http_respond_stream(x, 200, NULL, NULL, -1), 0);
	for (i = 0; i < 4000; i++) {
		if (http_exchange_room(x) < sizeof(chunk)) {
			rx_run_once(&fx.l, 1);
			if (http_exchange_room(x) < sizeof(chunk))
				break;
		}
		assert_int_equal(
		    http_exchange_write(x, chunk, sizeof(chunk)), 0);
		wrote += sizeof(chunk);
	}
	assert_true(i < 4000); /* the room ran out */
	assert_int_equal(http_exchange_write(x, chunk, sizeof(chunk)), -ENOSPC);
	print_message("queued %zu bytes before the room ran out\n", wrote);
	for (i = 0; i < 2000 && fx.drains == 0; i++) {
		rx_run_once(&fx.l, 1);
		while ((n = read(fd, b, sizeof(b))) > 0)
			got += (size_t)n;
	}
	assert_true(fx.drains > 0);
	assert_true(got > 0);
	assert_true(http_exchange_room(x) >= sizeof(chunk));
	close(fd);
	for (i = 0; i < 50 && fx.aborts == 0; i++)
		rx_run_once(&fx.l, 5);
	assert_int_equal(fx.aborts, 1);
	assert_null(fx.pending);
}

/* The admit hook runs on the head: no 100 Continue, no body read, the
 * handler never called, and the connection closes after the 401. */
static void
admit_refuses_before_the_body(void **state)
{
	char b[2048];
	int fd = client();

	send_str(fd,
	    "POST /guarded HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n"
	    "Expect: 100-continue\r\n\r\n");
	recv_until(fd, b, sizeof(b), NULL);
	assert_null(strstr(b, "100 Continue"));
	assert_non_null(strstr(b, "HTTP/1.1 401 "));
	assert_non_null(strstr(b, "Connection: close\r\n"));
	assert_int_equal(fx.calls, 0);
	close(fd);
	/* Without a body the connection stays for the next request. */
	fd = client();
	send_str(fd,
	    "GET /guarded HTTP/1.1\r\nHost: t\r\n\r\n"
	    "POST /guarded HTTP/1.1\r\nHost: t\r\nX-Key: ok\r\n"
	    "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	recv_until(fd, b, sizeof(b), "100 Continue\r\n\r\n");
	assert_non_null(strstr(b, "HTTP/1.1 401 "));
	assert_null(strstr(b, "Connection: close"));
	send_str(fd, "abc");
	recv_until(fd, b, sizeof(b), "\r\n\r\nabc");
	assert_non_null(strstr(b, "HTTP/1.1 200 OK\r\n"));
	assert_int_equal(fx.calls, 1);
	close(fd);
}

/* The reader gives the same requests fed whole or a byte at a time, and
 * returns a body's buffer when the request ends. */
static void
reader_whole_and_bytewise(void **state)
{
	static const char in[] =
	    "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n";
	struct http_limits lim = HTTP_LIMITS_DEFAULT;
	struct http_header hdrs[64];
	struct http_reader r;
	size_t step, i, room, got, n;
	const uint8_t *body;
	uint8_t *p;

	for (step = 1; step <= sizeof(in) + 3000; step += sizeof(in) + 2999) {
		http_reader_init(&r, &lim, 4096, hdrs);
		for (i = 0; i < sizeof(in) - 1; i += n) {
			assert_int_equal(r.state, HTTP_RD_HEAD);
			p = http_reader_room(&r, &room);
			n = MIN(MIN(step, room), sizeof(in) - 1 - i);
			memcpy(p, in + i, n);
			http_reader_feed(&r, n);
		}
		assert_int_equal(r.state, HTTP_RD_READY);
		/* No body byte is taken before the head is admitted. */
		assert_null(http_reader_room(&r, &room));
		assert_int_equal(http_reader_read_body(&r), HTTP_RD_BODY);
		for (got = 0; got < 3000; got += n) {
			p = http_reader_room(&r, &room);
			assert_non_null(p);
			n = MIN(MIN(step, room), 3000 - got);
			memset(p, 'b', n);
			http_reader_feed(&r, n);
		}
		assert_int_equal(r.state, HTTP_RD_DONE);
		body = http_reader_body(&r, &n);
		assert_int_equal(n, 3000);
		assert_int_equal(body[2999], 'b');
		assert_true(r.cap > HTTP_READER_FIRST);
		http_reader_next(&r);
		assert_int_equal(r.state, HTTP_RD_HEAD);
		assert_int_equal(r.cap, HTTP_READER_FIRST);
		http_reader_free(&r);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(deferred_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		abort_on_disconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(body_and_continue, setup, teardown),
	    cmocka_unit_test_setup_teardown(body_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(raw_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(chunked_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(output_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		handler_deadline_504, setup_deadline, teardown),
	    cmocka_unit_test_setup_teardown(faulty_network, setup, teardown),
	    cmocka_unit_test_setup_teardown(reset_midway, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		admit_refuses_before_the_body, setup, teardown),
	    cmocka_unit_test(reader_whole_and_bytewise),
	    cmocka_unit_test_setup_teardown(stream_chunked, setup, teardown),
	    cmocka_unit_test_setup_teardown(stream_length_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		stream_http10_and_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		stream_length_direct, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		stream_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		enomem_per_connection, setup, teardown),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
