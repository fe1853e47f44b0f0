/*
 * Fuzz target: the whole HTTP server connection state machine.  Each
 * input is what one client sends over a real loopback connection, in
 * pieces whose sizes the first byte chooses, then the client shuts its
 * write side.  Routes answer at once, later (from a timer: the async
 * seam), or echo the body.  After the server closes, nothing may be left
 * open.  ASan and UBSan do the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_server.h"
#include "lib/log.h"
#include "rx/rx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rx_loop loop;
static struct http_server *srv;
static struct rx_timer later;
static struct http_exchange *pending;

static void
on_now(struct http_exchange *x, void *arg)
{
	http_respond(x, 200, "X-A: b\r\n", "text/plain", "now\n", 4);
}

static void
on_echo(struct http_exchange *x, void *arg)
{
	const uint8_t *b;
	size_t n;

	b = http_exchange_body(x, &n);
	http_respond(x, 201, NULL, NULL, b, n);
}

static void
on_abort(struct http_exchange *x, void *arg)
{
	pending = NULL;
}

/* Answer two loop iterations later, so a peer may leave meanwhile. */
static int later_ticks;

static void
on_later(struct rx_loop *l, struct rx_timer *t)
{
	if (++later_ticks < 2) {
		rx_timer_start(l, t, 0);
		return;
	}
	/* An exchange not aborted must still be answerable. */
	if (pending != NULL &&
	    http_respond(pending, 202, NULL, NULL, "later", 5) == -EALREADY)
		abort();
	pending = NULL;
}

static void
on_defer(struct http_exchange *x, void *arg)
{
	if (pending != NULL) { /* one at a time: answer the new one now */
		http_respond(x, 503, NULL, NULL, NULL, 0);
		return;
	}
	pending = x;
	http_exchange_on_abort(x, on_abort, NULL);
	later_ticks = 0;
	rx_timer_start(&loop, &later, 0);
}

static const struct http_route routes[] = {
    {"/now", HTTP_M_GET, on_now, NULL},
    {"/echo", HTTP_M_POST | HTTP_M_PUT, on_echo, NULL},
    {"/defer*", HTTP_M_GET | HTTP_M_DELETE, on_defer, NULL},
};

static void
start(void)
{
	struct http_server_conf c = {
	    .addr4 = "127.0.0.1",
	    .max_conns = 4,
	    .header_timeout_ms = 5000,
	    .idle_timeout_ms = 5000,
	    .limits = {.max_line = 256,
		.max_headers = 8,
		.max_header_bytes = 512,
		.max_total = 512},
	    .max_body = 256,
	    .out_cap = 1024,
	    .routes = routes,
	    .nroutes = sizeof(routes) / sizeof(routes[0]),
	};
	int err;

	log_set_level(LOG_ERROR);
	if (rx_init(&loop, 16) < 0)
		abort();
	rx_timer_init(&later, on_later);
	if ((srv = http_server_start(&loop, &c, &err)) == NULL)
		abort();
}

static int
dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(http_server_port(srv)),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		abort();
	/* Close with a reset: no TIME_WAIT pile-up over millions of runs. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS)
		abort();
	return fd;
}

/* Pump the loop and drain the client; true once the server closed. */
static bool
pump(int fd)
{
	char sink[4096];
	ssize_t n;

	rx_run_once(&loop, 1);
	while ((n = read(fd, sink, sizeof(sink))) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 1, piece;
	int fd, i;

	if (srv == NULL)
		start();
	if (size < 1)
		return 0;
	piece = data[0] % 64 + 1;
	fd = dial();
	for (i = 0; off < size && i < 10000; i++) {
		size_t n = size - off < piece ? size - off : piece;
		ssize_t w = write(fd, data + off, n);

		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break;
		if (pump(fd))
			break;
	}
	shutdown(fd, SHUT_WR);
	for (i = 0; i < 200 && !pump(fd); i++)
		;
	close(fd);
	for (i = 0; i < 200 && http_server_stats(srv)->open > 0; i++)
		rx_run_once(&loop, 1);
	if (http_server_stats(srv)->open > 0 || pending != NULL)
		abort();
	return 0;
}
