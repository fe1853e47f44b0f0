/*
 * Unit tests: the HTTP executor on the real reactor, against a scripted
 * HTTP/1.1 server on a loopback listening socket driven by the same loop,
 * the real resolver and real sockets.  No mocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "connector/exec.h"
#include "connector/exec_int.h" /* struct job: the head buffer */
#include "http/http.h"
#include "lib/util.h"
#include "net/dns.h"
#include "rx/rx.h"
#include "failalloc.h"
#include "wrapfd.h"

#define MiB (1024 * 1024)
#define SRV_IN_CAP (3 * MiB)
#define SRV_CONNS 256

/* --- a scripted HTTP/1.1 server ---------------------------------------- */

enum smode {
	S_RESPOND, /* send srv->resp after each complete request */
	S_ECHO, /* 200 with the request body as the response body */
	S_HANG, /* read, never answer */
	S_ENDLESS, /* send srv->resp, then body bytes for ever */
	S_DROP_SECOND, /* answer the first request, close on the second */
};

struct srv;

struct sconn {
	struct rx_watch w;
	struct srv *srv;
	uint8_t *in;
	size_t len, cap;
	uint8_t *out;
	size_t olen, ooff;
	bool endless, close_after, closed;
	unsigned nreq;
};

struct srv {
	struct rx_loop *l;
	struct rx_watch lw;
	uint16_t port;
	enum smode mode;
	const char *resp;
	size_t resp_len;
	bool close_after;
	unsigned accepts, requests, closed;
	char head[16384]; /* the last request head, NUL-terminated */
	uint8_t *body; /* the last request body */
	size_t body_len;
	uint64_t endless_sent;
	struct sconn *conns[SRV_CONNS];
};

static void
sconn_close(struct sconn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	c->srv->closed++;
	rx_watch_close(c->srv->l, &c->w);
}

static void
sconn_freed(struct rx_loop *l, struct rx_watch *w)
{
	struct sconn *c = container_of(w, struct sconn, w);
	size_t i;

	for (i = 0; i < SRV_CONNS; i++)
		if (c->srv->conns[i] == c)
			c->srv->conns[i] = NULL;
	free(c->in);
	free(c->out);
	free(c);
}

static void
sconn_queue(struct sconn *c, const void *p, size_t n)
{
	c->out = realloc(c->out, c->olen + n);
	assert_non_null(c->out);
	memcpy(c->out + c->olen, p, n);
	c->olen += n;
}

static void
srv_answer(struct sconn *c, const uint8_t *body, size_t blen)
{
	struct srv *s = c->srv;
	char head[128];
	int n;

	switch (s->mode) {
	case S_HANG:
		return;
	case S_DROP_SECOND:
		if (c->nreq >= 2) {
			sconn_close(c);
			return;
		}
		/* FALLTHROUGH */
	case S_RESPOND:
		sconn_queue(c, s->resp, s->resp_len);
		c->close_after = s->close_after;
		return;
	case S_ECHO:
		n = snprintf(head, sizeof(head),
		    "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", blen);
		sconn_queue(c, head, (size_t)n);
		sconn_queue(c, body, blen);
		return;
	case S_ENDLESS:
		sconn_queue(c, s->resp, s->resp_len);
		c->endless = true;
		return;
	}
}

/* Take complete requests off the input; false when the conn closed. */
static void
srv_requests(struct sconn *c)
{
	struct srv *s = c->srv;
	struct http_header hs[64];
	struct http_request req;
	struct http_limits lim = HTTP_LIMITS_DEFAULT;
	struct http_framing f;
	int n;

	while (!c->closed) {
		req = (struct http_request){.headers = hs, .nheaders = 64};
		n = http_parse_request((char *)c->in, c->len, &req, &lim);
		if (n == HTTP_PARTIAL)
			return;
		assert_true(n > 0);
		assert_int_equal(http_request_framing(&req, &f), 0);
		if (c->len < (size_t)n + f.length)
			return;
		assert_true((size_t)n < sizeof(s->head));
		memcpy(s->head, c->in, (size_t)n);
		s->head[n] = '\0';
		free(s->body);
		s->body_len = (size_t)f.length;
		s->body = malloc(s->body_len + 1);
		memcpy(s->body, c->in + n, s->body_len);
		c->nreq++;
		s->requests++;
		srv_answer(c, s->body, s->body_len);
		memmove(c->in, c->in + n + f.length, c->len - n - f.length);
		c->len -= n + f.length;
	}
}

static void
srv_write(struct sconn *c)
{
	static uint8_t pattern[65536];
	ssize_t n;

	while (!c->closed && c->ooff < c->olen) {
		n = write(c->w.fd, c->out + c->ooff, c->olen - c->ooff);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				sconn_close(c);
			return;
		}
		c->ooff += (size_t)n;
	}
	if (!c->closed && c->ooff == c->olen && c->close_after)
		sconn_close(c);
	while (!c->closed && c->endless) {
		memset(pattern, 'x', sizeof(pattern));
		n = send(c->w.fd, pattern, sizeof(pattern), MSG_NOSIGNAL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				sconn_close(c);
			return;
		}
		c->srv->endless_sent += (uint64_t)n;
	}
}

static void
sconn_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct sconn *c = container_of(w, struct sconn, w);
	ssize_t n;

	if (ev & RX_READ) {
		if (c->len == c->cap && c->cap < SRV_IN_CAP) {
			c->cap *= 2;
			c->in = realloc(c->in, c->cap);
			assert_non_null(c->in);
		}
		n = read(w->fd, c->in + c->len, c->cap - c->len);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			sconn_close(c);
			return;
		}
		if (n > 0)
			c->len += (size_t)n;
		srv_requests(c);
	}
	srv_write(c);
	if (!c->closed)
		rx_watch_set(l, w,
		    RX_READ | (c->ooff < c->olen || c->endless ? RX_WRITE : 0));
}

/* The test server is not under test: its allocations never fail. */
static void
sconn_io_held(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	failalloc_hold(true);
	sconn_io(l, w, ev);
	failalloc_hold(false);
}

static void
srv_accept(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct srv *s = container_of(w, struct srv, lw);
	struct sconn *c;
	size_t i;
	int fd;

	while ((fd = accept4(
		    w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->srv = s;
		c->cap = 65536;
		c->in = malloc(c->cap);
		assert_non_null(c->in);
		for (i = 0; i < SRV_CONNS && s->conns[i] != NULL; i++)
			;
		assert_true(i < SRV_CONNS);
		s->conns[i] = c;
		s->accepts++;
		rx_watch_init(&c->w, fd, sconn_io_held, sconn_freed);
		rx_watch_set(l, &c->w, RX_READ);
	}
}

static void
srv_accept_held(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	failalloc_hold(true);
	srv_accept(l, w, ev);
	failalloc_hold(false);
}

static void
srv_start(struct rx_loop *l, struct srv *s, int family)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = family == AF_INET ? sizeof(*in) : sizeof(*in6);
	int fd;

	memset(s, 0, sizeof(*s));
	s->l = l;
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		in6->sin6_addr = in6addr_loopback;
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 1024), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	s->port = ntohs(family == AF_INET ? in->sin_port : in6->sin6_port);
	rx_watch_init(&s->lw, fd, srv_accept_held, NULL);
	rx_watch_set(l, &s->lw, RX_READ);
}

static void
srv_stop(struct srv *s)
{
	size_t i;

	for (i = 0; i < SRV_CONNS; i++)
		if (s->conns[i] != NULL)
			sconn_close(s->conns[i]);
	rx_watch_close(s->l, &s->lw);
}

static void
srv_script(struct srv *s, enum smode mode, const char *resp)
{
	s->mode = mode;
	s->resp = resp;
	s->resp_len = resp != NULL ? strlen(resp) : 0;
}

/* --- fixture -------------------------------------------------------------- */

struct fx {
	struct rx_loop loop;
	struct dns_resolver *dns;
	struct exec *e;
	struct srv srv;
	char resolvconf[64];
	char dnsservers[64];
};

#define MAX_HDRS 32
#define CONCURRENT 200

struct call {
	struct exec_job job;
	Connector__V1__HttpRequest req;
	Connector__V1__Header h[MAX_HDRS], *hp[MAX_HDRS];
	char url[512];
	const char *traceparent; /* the executor's span, or NULL */
	int calls;
	enum exec_reason r;
	int status;
	uint8_t *body;
	size_t body_len;
	size_t nh, nh_all; /* kept (at most MAX_HDRS), received */
	char hk[MAX_HDRS][64], hv[MAX_HDRS][256];
};

static void
on_done(struct exec_job *job, enum exec_reason r, const char *detail,
    const Connector__V1__HttpResponse *resp)
{
	struct call *c = container_of(job, struct call, job);
	size_t i;

	c->calls++;
	c->r = r;
	if (r != EXEC_OK) {
		assert_null(resp);
		assert_non_null(detail);
		return;
	}
	assert_non_null(resp);
	c->status = resp->http_status;
	c->body_len = resp->body.len;
	failalloc_hold(true);
	c->body = malloc(resp->body.len + 1);
	failalloc_hold(false);
	if (resp->body.len > 0)
		memcpy(c->body, resp->body.data, resp->body.len);
	c->body[resp->body.len] = '\0';
	c->nh = resp->n_headers < MAX_HDRS ? resp->n_headers : MAX_HDRS;
	c->nh_all = resp->n_headers;
	for (i = 0; i < c->nh; i++) {
		snprintf(
		    c->hk[i], sizeof(c->hk[i]), "%s", resp->headers[i]->key);
		snprintf(
		    c->hv[i], sizeof(c->hv[i]), "%s", resp->headers[i]->value);
	}
}

static void
tmpfile_with(char *path, size_t n, const char *text)
{
	int fd;

	snprintf(path, n, "/tmp/outpost-exec-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A UDP port with nothing behind it: DNS queries there are refused. */
static uint16_t
dead_udp_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static struct exec_config
config_default(void)
{
	return (struct exec_config){.request_timeout_ms = 3000,
	    .connect_timeout_ms = 1000,
	    .max_request_body = 4 * MiB,
	    .max_response_body = 2 * MiB,
	    .max_response_head = 16384,
	    .upstream_tls_verify = false,
	    .pool_per_origin = 4,
	    .pool_total = 8,
	    .pool_idle_ms = 5000};
}

static struct fx *
fx_new_with(const struct exec_config *ec)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dns_config dc = {0};
	char err[160] = "";

	assert_non_null(f);
	assert_int_equal(
	    rx_init(&f->loop, EXEC_TIMERS(CONCURRENT, ec->pool_total) + 16), 0);
	tmpfile_with(f->resolvconf, sizeof(f->resolvconf), "options ndots:1\n");
	snprintf(f->dnsservers, sizeof(f->dnsservers), "127.0.0.1:%u",
	    dead_udp_port());
	dc.servers = f->dnsservers;
	dc.resolvconf = f->resolvconf;
	dc.lookups = "b";
	dc.timeout_ms = 1000;
	assert_int_equal(dns_new(&f->dns, &f->loop, &dc, err, sizeof(err)), 0);
	assert_int_equal(
	    exec_new(&f->e, &f->loop, f->dns, ec, err, sizeof(err)), 0);
	srv_start(&f->loop, &f->srv, AF_INET);
	return f;
}

static struct fx *
fx_new(void)
{
	struct exec_config ec = config_default();

	return fx_new_with(&ec);
}

static void
fx_free(struct fx *f)
{
	exec_free(f->e);
	dns_free(f->dns);
	srv_stop(&f->srv);
	rx_run_once(&f->loop, 0);
	rx_run_once(&f->loop, 0);
	rx_free(&f->loop);
	free(f->srv.body);
	unlink(f->resolvconf);
	free(f);
}

static void
run_ms(struct fx *f, int64_t ms)
{
	int64_t end = util_mono_ms() + ms;

	while (util_mono_ms() < end)
		rx_run_once(&f->loop, 10);
}

static void
run_until(struct fx *f, struct call *c, int64_t ms)
{
	int64_t end = util_mono_ms() + ms;

	while (c->calls == 0 && util_mono_ms() < end)
		rx_run_once(&f->loop, 20);
}

static void
call_init(struct call *c, const char *method, const char *url)
{
	free(c->body);
	memset(c, 0, sizeof(*c));
	connector__v1__http_request__init(&c->req);
	snprintf(c->url, sizeof(c->url), "%s", url);
	c->req.method = (char *)method;
	c->req.url = c->url;
	c->req.headers = c->hp;
}

static void
call_header(struct call *c, const char *k, const char *v)
{
	size_t i = c->req.n_headers++;

	connector__v1__header__init(&c->h[i]);
	c->h[i].key = (char *)k;
	c->h[i].value = (char *)v;
	c->hp[i] = &c->h[i];
}

static void
call_url(struct call *c, struct fx *f, const char *path)
{
	snprintf(
	    c->url, sizeof(c->url), "http://127.0.0.1:%u%s", f->srv.port, path);
}

/* Submit, check that done is never called from inside, run to the end. */
static void
call_run(struct fx *f, struct call *c)
{
	c->calls = 0;
	exec_submit_traced(f->e, &c->job, &c->req, c->traceparent, on_done);
	assert_int_equal(c->calls, 0);
	run_until(f, c, 8000);
	assert_int_equal(c->calls, 1);
}

static void
call_free(struct call *c)
{
	free(c->body);
	c->body = NULL;
}

static const char *
resp_header(const struct call *c, const char *k, unsigned nth)
{
	size_t i;

	for (i = 0; i < c->nh; i++)
		if (strcasecmp(c->hk[i], k) == 0 && nth-- == 0)
			return c->hv[i];
	return NULL;
}

static const char RESP_HELLO[] = "HTTP/1.1 200 OK\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 5\r\n"
				 "\r\n"
				 "hello";

/* --- cases ------------------------------------------------------------------ */

static void
exec_get(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND, RESP_HELLO);
	call_init(&c, "GET", "");
	call_url(&c, f, "/a/b?x=1&y=%20");
	call_header(&c, "Accept", "text/plain");
	call_header(&c, "X-Trace", "abc");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 200);
	assert_string_equal((char *)c.body, "hello");
	assert_string_equal(resp_header(&c, "content-type", 0), "text/plain");
	assert_non_null(strstr(f->srv.head, "GET /a/b?x=1&y=%20 HTTP/1.1\r\n"));
	assert_non_null(strstr(f->srv.head,
	    "\r\nAccept: text/plain\r\n"
	    "X-Trace: abc\r\n"));
	/* No body, not POST/PUT/PATCH: no Content-Length. */
	assert_null(strstr(f->srv.head, "Content-Length"));
	call_free(&c);
	fx_free(f);
}

static void
exec_post_binary(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};
	uint8_t *body = malloc(MiB);
	char want[64];
	size_t i;

	for (i = 0; i < MiB; i++)
		body[i] = (uint8_t)(i * 131 + (i >> 8) * 7);
	body[10] = 0;
	body[11] = '\r';
	body[12] = '\n';
	srv_script(&f->srv, S_ECHO, NULL);
	call_init(&c, "POST", "");
	call_url(&c, f, "/upload");
	call_header(&c, "Content-Type", "application/octet-stream");
	c.req.body.data = body;
	c.req.body.len = MiB;
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 200);
	assert_int_equal(f->srv.body_len, MiB);
	assert_memory_equal(f->srv.body, body, MiB);
	assert_int_equal(c.body_len, MiB);
	assert_memory_equal(c.body, body, MiB);
	snprintf(want, sizeof(want), "\r\nContent-Length: %d\r\n", MiB);
	assert_non_null(strstr(f->srv.head, want));
	/* An empty POST still says Content-Length: 0. */
	call_free(&c);
	call_init(&c, "POST", "");
	call_url(&c, f, "/empty");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_non_null(strstr(f->srv.head, "\r\nContent-Length: 0\r\n"));
	call_free(&c);
	free(body);
	fx_free(f);
}

static void
exec_chunked(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "X-After: 1\r\n"
	    "\r\n"
	    "5\r\nhello\r\n"
	    "1;ext=1\r\n,\r\n"
	    "6\r\n world\r\n"
	    "0\r\nX-Trailer: t\r\n\r\n");
	call_init(&c, "GET", "");
	call_url(&c, f, "/chunked");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_string_equal((char *)c.body, "hello, world");
	assert_null(resp_header(&c, "transfer-encoding", 0));
	assert_string_equal(resp_header(&c, "x-after", 0), "1");
	call_free(&c);
	/* Same connection afterwards: the chunked end was found exactly. */
	call_init(&c, "GET", "");
	call_url(&c, f, "/again");
	call_run(f, &c);
	assert_string_equal((char *)c.body, "hello, world");
	assert_int_equal(f->srv.accepts, 1);
	call_free(&c);
	fx_free(f);
}

static void
exec_close_delimited(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};
	struct exec_stats st;

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
	f->srv.close_after = true;
	call_init(&c, "GET", "");
	call_url(&c, f, "/close");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_string_equal((char *)c.body, "until the end");
	assert_null(resp_header(&c, "connection", 0));
	exec_stats(f->e, &st);
	assert_int_equal(st.idle, 0); /* not pooled */
	call_free(&c);
	/* HTTP/1.0 without a length: close-delimited too. */
	srv_script(&f->srv, S_RESPOND, "HTTP/1.0 200 OK\r\n\r\nold");
	call_init(&c, "GET", "");
	call_url(&c, f, "/old");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_string_equal((char *)c.body, "old");
	call_free(&c);
	fx_free(f);
}

static void
exec_head_and_204(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
	call_init(&c, "HEAD", "");
	call_url(&c, f, "/head");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 200);
	assert_int_equal(c.body_len, 0);
	assert_string_equal(resp_header(&c, "content-length", 0), "1000");
	call_free(&c);
	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n");
	call_init(&c, "DELETE", "");
	call_url(&c, f, "/item");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 204);
	assert_int_equal(c.body_len, 0);
	assert_string_equal(resp_header(&c, "x-a", 0), "b");
	call_free(&c);
	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
	call_init(&c, "GET", "");
	call_url(&c, f, "/cached");
	call_run(f, &c);
	assert_int_equal(c.status, 304);
	assert_int_equal(c.body_len, 0);
	/* One connection served all three: no body was waited for. */
	assert_int_equal(f->srv.accepts, 1);
	call_free(&c);
	fx_free(f);
}

static void
exec_set_cookie_order(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 302 Found\r\n"
	    "Set-Cookie: a=1; Path=/\r\n"
	    "Location: /elsewhere\r\n"
	    "Set-Cookie: b=2, c=3\r\n"
	    "set-cookie: d=4\r\n"
	    "Content-Length: 0\r\n"
	    "\r\n");
	call_init(&c, "GET", "");
	call_url(&c, f, "/login");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 302); /* redirects are not followed */
	assert_int_equal(f->srv.requests, 1);
	assert_int_equal(c.nh, 5);
	assert_string_equal(c.hk[0], "Set-Cookie");
	assert_string_equal(c.hv[0], "a=1; Path=/");
	assert_string_equal(c.hk[1], "Location");
	assert_string_equal(c.hv[2], "b=2, c=3");
	assert_string_equal(c.hk[3], "set-cookie");
	assert_string_equal(c.hv[3], "d=4");
	assert_string_equal(c.hk[4], "Content-Length");
	call_free(&c);
	fx_free(f);
}

/*
 * W3C Trace Context: the request's tracestate goes upstream only with its
 * trace.  The executor's traceparent continues the request's trace (the
 * same trace id): kept.  It starts a new trace because the request's was
 * invalid (uppercase), repeated or missing: dropped.  Not traced: the
 * fields as they are.
 */
static void
exec_tracestate_follows_its_trace(void **state)
{
#define TID "0af7651916cd43dd8448eb211c80319c"
	static const char mine[] = "00-" TID "-00f067aa0ba902b7-01";
	static const char fresh[] =
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	static const struct {
		const char *in, *in2, *exec;
		bool kept;
	} cases[] = {
	    {"00-" TID "-b7ad6b7169203331-01", NULL, mine, true},
	    {"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", NULL,
		fresh, false},
	    {"00-" TID "-b7ad6b7169203331-01", "00-" TID "-b7ad6b7169203331-01",
		fresh, false},
	    {NULL, NULL, fresh, false},
	    {"garbage", NULL, NULL, true},
	};
#undef TID
	struct fx *f = fx_new();
	struct call c = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		srv_script(&f->srv, S_RESPOND,
		    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
		call_init(&c, "GET", "");
		call_url(&c, f, "/ts");
		if (cases[i].in != NULL)
			call_header(&c, "traceparent", cases[i].in);
		if (cases[i].in2 != NULL)
			call_header(&c, "traceparent", cases[i].in2);
		call_header(&c, "tracestate", "rojo=00f0");
		c.traceparent = cases[i].exec;
		call_run(f, &c);
		assert_int_equal(c.r, EXEC_OK);
		assert_true(
		    (strstr(f->srv.head, "\r\ntracestate: rojo=00f0\r\n") !=
			NULL) == cases[i].kept);
	}
	call_free(&c);
	fx_free(f);
}

static void
exec_hop_by_hop(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\n"
	    "Connection: X-Resp-Private, keep-alive\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "X-Resp-Private: secret\r\n"
	    "Proxy-Authenticate: Basic\r\n"
	    "Upgrade: h2c\r\n"
	    "Trailer: X-T\r\n"
	    "X-Resp-Kept: yes\r\n"
	    "Content-Length: 2\r\n"
	    "\r\nok");
	call_init(&c, "GET", "");
	call_url(&c, f, "/hop");
	call_header(&c, "Connection", "X-Private");
	call_header(&c, "X-Private", "drop me");
	call_header(&c, "Keep-Alive", "300");
	call_header(&c, "TE", "trailers");
	call_header(&c, "Upgrade", "websocket");
	call_header(&c, "Proxy-Authorization", "Basic Zm9vOmJhcg==");
	call_header(&c, "Proxy-Connection", "keep-alive");
	call_header(&c, "Transfer-Encoding", "chunked");
	call_header(&c, "X-Kept", "yes");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_non_null(strstr(f->srv.head, "\r\nX-Kept: yes\r\n"));
	assert_null(strstr(f->srv.head, "X-Private"));
	assert_null(strstr(f->srv.head, "Keep-Alive"));
	assert_null(strstr(f->srv.head, "TE:"));
	assert_null(strstr(f->srv.head, "Upgrade"));
	assert_null(strstr(f->srv.head, "Proxy-"));
	assert_null(strstr(f->srv.head, "Transfer-Encoding"));
	assert_null(strstr(f->srv.head, "Connection"));
	assert_int_equal(c.nh, 2);
	assert_string_equal(c.hk[0], "X-Resp-Kept");
	assert_string_equal(c.hk[1], "Content-Length");
	call_free(&c);
	fx_free(f);
}

static void
exec_host_header(void **state)
{
	struct fx *f = fx_new();
	struct srv s6;
	struct call c = {0};
	char want[64];

	srv_script(&f->srv, S_RESPOND, RESP_HELLO);
	call_init(&c, "PUT", "");
	snprintf(c.url, sizeof(c.url), "http://LocalHost:%u/put", f->srv.port);
	call_header(&c, "Host", "evil.example");
	call_header(&c, "content-length", "999");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	snprintf(want, sizeof(want), "\r\nHost: LocalHost:%u\r\n", f->srv.port);
	assert_non_null(strstr(f->srv.head, want));
	assert_null(strstr(f->srv.head, "evil"));
	assert_null(strstr(f->srv.head, "999"));
	assert_non_null(strstr(f->srv.head, "\r\nContent-Length: 0\r\n"));
	call_free(&c);
	/* IPv6 literal: brackets in Host. */
	srv_start(&f->loop, &s6, AF_INET6);
	srv_script(&s6, S_RESPOND, RESP_HELLO);
	call_init(&c, "GET", "");
	snprintf(c.url, sizeof(c.url), "http://[::1]:%u/v6", s6.port);
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	snprintf(want, sizeof(want), "\r\nHost: [::1]:%u\r\n", s6.port);
	assert_non_null(strstr(s6.head, want));
	call_free(&c);
	exec_free(f->e);
	f->e = NULL;
	srv_stop(&s6);
	rx_run_once(&f->loop, 0);
	free(s6.body);
	fx_free(f);
}

/* A request head longer than the executor's 2 KiB stack buffer is written
 * whole (formatted again into its own buffer), and one just inside it the
 * same way. */
static void
exec_long_head(void **state)
{
	static char big[6000];
	struct fx *f = fx_new();
	struct call c = {0};
	size_t sizes[2] = {1700, sizeof(big) - 1}, i;

	for (i = 0; i < 2; i++) {
		memset(big, 'v', sizes[i]);
		big[sizes[i]] = '\0';
		srv_script(&f->srv, S_RESPOND, RESP_HELLO);
		call_init(&c, "GET", "");
		call_url(&c, f, "/long");
		call_header(&c, "X-Before", "1");
		call_header(&c, "X-Long", big);
		call_header(&c, "X-After", "2");
		call_run(f, &c);
		assert_int_equal(c.r, EXEC_OK);
		assert_true(strlen(f->srv.head) > sizes[i]);
		assert_non_null(strstr(f->srv.head, "\r\nX-Before: 1\r\n"));
		assert_non_null(strstr(f->srv.head, big));
		assert_non_null(strstr(f->srv.head, "\r\nX-After: 2\r\n"));
		assert_non_null(strstr(f->srv.head, "GET /long HTTP/1.1\r\n"));
		call_free(&c);
	}
	fx_free(f);
}

static long
rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%ld %ld", &pages, &rss), 2);
	fclose(fp);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void
too_large_case(struct fx *f, const char *head, bool endless)
{
	struct call c = {0};
	unsigned closed = f->srv.closed;

	srv_script(&f->srv, endless ? S_ENDLESS : S_RESPOND, head);
	call_init(&c, "GET", "");
	call_url(&c, f, "/big");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_TOO_LARGE);
	/* The connection is closed, not pooled nor drained. */
	run_ms(f, 100);
	assert_int_equal(f->srv.closed, closed + 1);
	call_free(&c);
}

static void
exec_too_large(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	long before;

	ec.max_response_body = MiB;
	f = fx_new_with(&ec);
	/* Declared too large: refused before any body byte. */
	too_large_case(
	    f, "HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n", false);
	before = rss_kib();
	too_large_case(f, "HTTP/1.1 200 OK\r\n\r\n", true);
	assert_true(f->srv.endless_sent > MiB);
	too_large_case(f,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "fffffff\r\n",
	    true);
	/* Bounded: at most the limit plus buffers, never the stream. */
	assert_true(rss_kib() - before < 16 * 1024);
	/* A head without end is bounded too. */
	too_large_case(f, "HTTP/1.1 200 OK\r\nX-Endless: ", true);
	fx_free(f);
}

static void
exec_timeout(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	struct call c = {0};
	int64_t t0;

	ec.request_timeout_ms = 300;
	f = fx_new_with(&ec);
	srv_script(&f->srv, S_HANG, NULL);
	call_init(&c, "GET", "");
	call_url(&c, f, "/hang");
	t0 = util_mono_ms();
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_TIMEOUT);
	assert_true(util_mono_ms() - t0 >= 290);
	assert_true(util_mono_ms() - t0 < 2000);
	run_ms(f, 50);
	assert_int_equal(f->srv.closed, 1);
	fx_free(f);
}

static void
exec_refused(void **state)
{
	struct fx *f = fx_new();
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct call c = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd); /* bound once, nobody listening now */
	call_init(&c, "GET", "");
	snprintf(
	    c.url, sizeof(c.url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_REFUSED);
	assert_string_equal(exec_reason_name(c.r), "refused");
	fx_free(f);
}

static void
exec_dns_failure(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	call_init(&c, "GET", "http://nothing.invalid/");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_DNS);
	assert_string_equal(exec_reason_name(c.r), "dns");
	fx_free(f);
}

static void
exec_keepalive(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};
	struct exec_stats st;
	int i;

	srv_script(&f->srv, S_RESPOND, RESP_HELLO);
	for (i = 0; i < 3; i++) {
		call_init(&c, "GET", "");
		call_url(&c, f, "/ka");
		call_run(f, &c);
		assert_int_equal(c.r, EXEC_OK);
		assert_string_equal((char *)c.body, "hello");
		call_free(&c);
	}
	assert_int_equal(f->srv.accepts, 1);
	assert_int_equal(f->srv.requests, 3);
	exec_stats(f->e, &st);
	assert_int_equal(st.dials, 1);
	assert_int_equal(st.reused, 2);
	assert_int_equal(st.idle, 1);
	/* Idle, it holds no input buffer (the next answer allocates one). */
	assert_null(
	    list_entry(f->e->idle.next, struct exec_conn, link)->s.in_owned);
	/* The server closing the idle connection empties the pool. */
	srv_stop(&f->srv);
	run_ms(f, 100);
	exec_stats(f->e, &st);
	assert_int_equal(st.idle, 0);
	assert_int_equal(st.conns, 0);
	free(f->srv.body);
	srv_start(&f->loop, &f->srv, AF_INET);
	fx_free(f);
}

static void
exec_pool_idle_timeout(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	struct call c = {0};
	struct exec_stats st;

	ec.pool_idle_ms = 100;
	f = fx_new_with(&ec);
	srv_script(&f->srv, S_RESPOND, RESP_HELLO);
	call_init(&c, "GET", "");
	call_url(&c, f, "/");
	call_run(f, &c);
	call_free(&c);
	exec_stats(f->e, &st);
	assert_int_equal(st.idle, 1);
	run_ms(f, 250);
	exec_stats(f->e, &st);
	assert_int_equal(st.idle, 0);
	assert_int_equal(f->srv.closed, 1);
	fx_free(f);
}

static void
exec_stale_retry(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};
	struct exec_stats st;

	srv_script(&f->srv, S_DROP_SECOND, RESP_HELLO);
	call_init(&c, "GET", "");
	call_url(&c, f, "/1");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	call_free(&c);
	/* The pooled connection dies on the next request: GET is retried
	 * once on a fresh connection. */
	call_init(&c, "GET", "");
	call_url(&c, f, "/2");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_string_equal((char *)c.body, "hello");
	assert_int_equal(f->srv.accepts, 2);
	exec_stats(f->e, &st);
	assert_int_equal(st.retries, 1);
	call_free(&c);
	/* POST is not idempotent: the failure is reported. */
	call_init(&c, "POST", "");
	call_url(&c, f, "/3");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_RESET);
	assert_int_equal(f->srv.accepts, 2);
	call_free(&c);
	fx_free(f);
}

static void
bad_case(struct fx *f, const char *method, const char *url, const char *hk,
    const char *hv, enum exec_reason want)
{
	struct call c = {0};

	call_init(&c, method, url);
	if (hk != NULL)
		call_header(&c, hk, hv);
	call_run(f, &c);
	assert_int_equal(c.r, want);
}

static void
exec_bad_request(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	struct call c = {0};
	char url[128];
	static uint8_t body[2048];

	ec.max_request_body = 1024;
	f = fx_new_with(&ec);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f->srv.port);
	bad_case(f, "get", url, NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "TRACE", url, NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "", url, NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, NULL, url, NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", "ftp://127.0.0.1/", NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", "/relative", NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", "http:///nohost", NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", "http://h/a b", NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", NULL, NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A", "v\r\nX-Injected: 1", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "Bad Name", "v", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "", "v", EXEC_BAD_REQUEST);
	/* Issue #17 item 5: every way to end a field line early. */
	bad_case(f, "GET", url, "X-A", "v\nX-Injected: 1", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A", "v\rX", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A", "v\r\n folded", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A", "v\x7f", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A", "v\x01", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A\r\nX-B", "v", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A:", "v", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, " X-A", "v", EXEC_BAD_REQUEST);
	bad_case(f, "GET", url, "X-A\t", "v", EXEC_BAD_REQUEST);
	bad_case(f, "GET", "http://h/a\r\nX: 1", NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", "http://h/a\tb", NULL, NULL, EXEC_BAD_REQUEST);
	bad_case(f, "GET", "http://h\r\n/", NULL, NULL, EXEC_BAD_REQUEST);
	assert_int_equal(f->srv.accepts, 0);
	/* Over MAX_REQUEST_BODY: too_large, without connecting. */
	call_init(&c, "POST", url);
	c.req.body.data = body;
	c.req.body.len = sizeof(body);
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_TOO_LARGE);
	assert_int_equal(f->srv.accepts, 0);
	assert_string_equal(exec_reason_name(EXEC_BAD_REQUEST), "bad_request");
	fx_free(f);
}

static void
exec_cancel_in_flight(void **state)
{
	struct fx *f = fx_new();
	struct call *c = calloc(1, sizeof(*c));
	struct exec_stats st;

	srv_script(&f->srv, S_HANG, NULL);
	call_init(c, "POST", "");
	call_url(c, f, "/slow");
	exec_submit(f->e, &c->job, &c->req, on_done);
	run_ms(f, 100);
	assert_int_equal(f->srv.requests, 1);
	exec_cancel(&c->job);
	exec_cancel(&c->job); /* idempotent */
	free(c);
	run_ms(f, 100);
	assert_int_equal(f->srv.closed, 1);
	exec_stats(f->e, &st);
	assert_int_equal(st.conns, 0);
	/* Cancelled while resolving and right after submit: no callback. */
	c = calloc(1, sizeof(*c));
	call_init(c, "GET", "http://nothing.invalid/");
	exec_submit(f->e, &c->job, &c->req, on_done);
	run_ms(f, 5);
	exec_cancel(&c->job);
	call_init(c, "GET", "http://127.0.0.1:1/");
	exec_submit(f->e, &c->job, &c->req, on_done);
	exec_cancel(&c->job);
	run_ms(f, 200);
	assert_int_equal(c->calls, 0);
	free(c);
	fx_free(f);
}

/* Jobs still in flight when the executor goes away: no callbacks. */
static void
exec_free_in_flight(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_HANG, NULL);
	call_init(&c, "GET", "");
	call_url(&c, f, "/x");
	exec_submit(f->e, &c.job, &c.req, on_done);
	run_ms(f, 50);
	fx_free(f);
	assert_int_equal(c.calls, 0);
}

static void
exec_bad_response(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND, "HTTP/1.1 2000 What\r\n\r\n");
	call_init(&c, "GET", "");
	call_url(&c, f, "/bad");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_BAD_RESPONSE);
	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
	f->srv.close_after = true;
	call_init(&c, "GET", "");
	call_url(&c, f, "/truncated");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_BAD_RESPONSE);
	fx_free(f);
}

/* A head of fields X-0..X-(n-1), each about 100 bytes, into buf. */
static const char *
big_head(char *buf, size_t cap, int n)
{
	size_t o = 0;
	int i;

	o += (size_t)snprintf(buf, cap, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < n; i++)
		o +=
		    (size_t)snprintf(buf + o, cap - o, "X-%d: %090d\r\n", i, i);
	snprintf(buf + o, cap - o, "Content-Length: 2\r\n\r\nok");
	return buf;
}

/* Heads grow their buffer past its first size, up to max_response_head. */
static void
exec_large_head(void **state)
{
	static char head[32768];
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND, big_head(head, sizeof(head), 120));
	call_init(&c, "GET", "");
	call_url(&c, f, "/big-head");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.nh_all, 121);
	assert_string_equal(c.hk[31], "X-31");
	assert_int_equal(strlen(c.hv[31]), 90);
	call_free(&c);
	srv_script(&f->srv, S_RESPOND, big_head(head, sizeof(head), 200));
	call_init(&c, "GET", "");
	call_url(&c, f, "/huge-head");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_TOO_LARGE);
	call_free(&c);
	fx_free(f);
}

static void
exec_header_values(void **state)
{
	struct fx *f = fx_new();
	struct call c = {0};

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\n"
	    "X-Empty:\r\n"
	    "X-Trail: v  \t\r\n"
	    "X-Lead:    w\r\n"
	    "X-Tab:\ta\tb\r\n"
	    "Content-Length: 0\r\n"
	    "\r\n");
	call_init(&c, "OPTIONS", "");
	call_url(&c, f, "/values");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.nh, 5);
	assert_string_equal(c.hk[0], "X-Empty");
	assert_string_equal(c.hv[0], "");
	assert_string_equal(c.hv[1], "v");
	assert_string_equal(c.hv[2], "w");
	assert_string_equal(c.hv[3], "a\tb");
	call_free(&c);
	fx_free(f);
}

/* Two requests at once to one origin with room for one idle connection:
 * both are served on two connections, one is kept, one closed. */
static void
exec_pool_bounds(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	struct call a = {0}, b = {0};
	struct exec_stats st;

	ec.pool_per_origin = 1;
	f = fx_new_with(&ec);
	srv_script(&f->srv, S_RESPOND, RESP_HELLO);
	call_init(&a, "GET", "");
	call_url(&a, f, "/a");
	call_init(&b, "GET", "");
	call_url(&b, f, "/b");
	exec_submit(f->e, &a.job, &a.req, on_done);
	exec_submit(f->e, &b.job, &b.req, on_done);
	run_until(f, &a, 3000);
	run_until(f, &b, 3000);
	assert_int_equal(a.r, EXEC_OK);
	assert_int_equal(b.r, EXEC_OK);
	run_ms(f, 50);
	assert_int_equal(f->srv.accepts, 2);
	assert_int_equal(f->srv.closed, 1);
	exec_stats(f->e, &st);
	assert_int_equal(st.idle, 1);
	assert_int_equal(st.conns, 1);
	call_free(&a);
	call_free(&b);
	fx_free(f);
}

/* Connections come from slots sized at start: a dial that finds none
 * fails as overloaded, and closed connections' slots serve the next dials
 * (20 dials, never more than max_conns slots). */
static void
exec_conn_slots(void **state)
{
	static const char close_hello[] = "HTTP/1.1 200 OK\r\n"
					  "Connection: close\r\n"
					  "Content-Length: 5\r\n"
					  "\r\n"
					  "hello";
	struct exec_config ec = config_default();
	struct exec_stats st;
	struct call c[4] = {0};
	struct fx *f;
	int i;

	ec.max_conns = 3;
	f = fx_new_with(&ec);
	srv_script(&f->srv, S_HANG, NULL);
	for (i = 0; i < 4; i++) {
		call_init(&c[i], "GET", "");
		call_url(&c[i], f, "/hang");
		exec_submit(f->e, &c[i].job, &c[i].req, on_done);
	}
	run_until(f, &c[3], 2000);
	assert_int_equal(c[3].r, EXEC_OVERLOADED);
	for (i = 0; i < 3; i++) {
		assert_int_equal(c[i].calls, 0);
		exec_cancel(&c[i].job);
	}
	exec_stats(f->e, &st);
	assert_int_equal(st.slots, 3);
	run_ms(f, 20);
	srv_script(&f->srv, S_RESPOND, close_hello);
	for (i = 0; i < 20; i++) {
		call_init(&c[0], "GET", "");
		call_url(&c[0], f, "/again");
		call_run(f, &c[0]);
		assert_int_equal(c[0].r, EXEC_OK);
		assert_string_equal((char *)c[0].body, "hello");
	}
	exec_stats(f->e, &st);
	assert_int_equal(st.dials, 23);
	assert_true(st.slots <= 3);
	for (i = 0; i < 4; i++)
		call_free(&c[i]);
	fx_free(f);
}

/* Short reads and writes, EINTR and spurious EAGAIN on every executor
 * socket: the same answers, byte for byte. */
static void
exec_faults(void **state)
{
	struct wrapfd_plan plan = {.faults = WRAPFD_SHORT_READ |
		WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    .percent = 50,
	    .reset_after = -1};
	struct fx *f = fx_new();
	struct call c = {0};
	uint8_t *body = malloc(256 * 1024);
	size_t i;

	for (i = 0; i < 256 * 1024; i++)
		body[i] = (uint8_t)(i ^ (i >> 9));
	wrapfd_seed(42);
	wrapfd_set(WRAPFD_ALL, &plan);
	srv_script(&f->srv, S_ECHO, NULL);
	/* Content-Length bodies are read straight into their buffer (few
	 * recv calls each): several, so that faults hit those reads too. */
	for (i = 0; i < 4; i++) {
		call_init(&c, "POST", "");
		call_url(&c, f, "/echo");
		c.req.body.data = body;
		c.req.body.len = 256 * 1024;
		call_run(f, &c);
		assert_int_equal(c.r, EXEC_OK);
		assert_int_equal(c.body_len, 256 * 1024);
		assert_memory_equal(c.body, body, 256 * 1024);
		call_free(&c);
	}
	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
	call_init(&c, "GET", "");
	call_url(&c, f, "/chunks");
	call_run(f, &c);
	assert_int_equal(c.r, EXEC_OK);
	assert_string_equal((char *)c.body, "abcdefg");
	assert_int_equal(f->srv.accepts, 1);
	assert_true(wrapfd_stats()->short_reads > 0);
	assert_true(wrapfd_stats()->eagain + wrapfd_stats()->eintr > 0);
	wrapfd_clear();
	call_free(&c);
	free(body);
	fx_free(f);
}

/* #17 item 6: short I/O and spurious errors on every executor socket, a
 * seed per run: the answer is the same, byte for byte. */
static void
exec_faults_seeds(void **state)
{
	const struct wrapfd_plan plan = {.faults = WRAPFD_SHORT_READ |
		WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    .percent = 50,
	    .reset_after = -1};
	struct fx *f = fx_new();
	struct call c = {0};
	uint64_t seed;

	srv_script(&f->srv, S_ECHO, NULL);
	for (seed = 1; seed <= 32; seed++) {
		wrapfd_seed(seed);
		wrapfd_set(WRAPFD_ALL, &plan);
		call_init(&c, "POST", "");
		call_url(&c, f, "/echo");
		c.req.body.data = (uint8_t *)"0123456789abcdefghij";
		c.req.body.len = 20;
		call_run(f, &c);
		wrapfd_clear();
		assert_int_equal(c.r, EXEC_OK);
		assert_int_equal(c.body_len, 20);
		assert_memory_equal(c.body, "0123456789abcdefghij", 20);
		call_free(&c);
	}
	fx_free(f);
}

/*
 * #17 item 6: every allocation of a request through the executor (its
 * own, the HTTP parser's, protobuf-c's for the answer) fails once, each
 * in a call of its own: the call ends, in bounded time, OK with the
 * right body or with a typed reason; no crash, no leak; the next call
 * succeeds (nothing left broken in the pool).
 */
static void
exec_enomem(void **state)
{
	struct fx *f;
	struct call c = {0};
	unsigned long n, used = 0;
	unsigned typed = 0;

	if (!failalloc_supported())
		skip();
	f = fx_new();
	srv_script(&f->srv, S_RESPOND, RESP_HELLO);
	for (n = 1; n <= 2000; n++) {
		call_init(&c, "GET", "");
		call_url(&c, f, "/m");
		call_header(&c, "Accept", "text/plain");
		failalloc_arm(n);
		call_run(f, &c);
		used = failalloc_disarm();
		if (c.r == EXEC_OK)
			assert_string_equal((char *)c.body, "hello");
		else {
			typed++;
			assert_string_not_equal(exec_reason_name(c.r), "?");
		}
		call_free(&c);
		call_init(&c, "GET", "");
		call_url(&c, f, "/after");
		call_run(f, &c);
		assert_int_equal(c.r, EXEC_OK);
		assert_string_equal((char *)c.body, "hello");
		call_free(&c);
		if (used < n)
			break;
	}
	assert_true(used < n); /* every allocation failed once */
	assert_true(typed > 0);
	print_message(
	    "allocations per request: %lu, %u typed failures\n", used, typed);
	fx_free(f);
}

/* A reset in the middle of the response: "reset", never a response. */
static void
exec_reset_mid_response(void **state)
{
	struct wrapfd_plan plan = {.reset_after = 200};
	struct fx *f = fx_new();
	struct call c = {0};
	static char resp[4096];

	snprintf(resp, sizeof(resp),
	    "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n%03000d", 7);
	srv_script(&f->srv, S_RESPOND, resp);
	wrapfd_set(WRAPFD_ALL, &plan);
	call_init(&c, "GET", "");
	call_url(&c, f, "/reset");
	call_run(f, &c);
	wrapfd_clear();
	assert_int_equal(c.r, EXEC_RESET);
	fx_free(f);
}

/* --- upstream TLS against a real peer: openssl s_server ----------------- */

struct tlsd {
	pid_t pid;
	uint16_t port;
	char dir[64];
};

static uint16_t
free_tcp_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void
make_cert(const char *dir, const char *name, const char *san)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout %s/%skey.pem -out %s/%scert.pem -days 2 "
	    "-subj /CN=outpost-test -addext subjectAltName=%s 2>/dev/null",
	    dir, name, dir, name, san);
	assert_int_equal(system(cmd), 0);
}

static bool
port_open(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* s_server with the certificate <name>cert.pem of dir (made by the
 * first server: "" names DNS:localhost and IP:127.0.0.1, "other" only
 * DNS:other.test). */
static void
tlsd_start(struct tlsd *t, const char *dir, const char *name)
{
	char accept[32], cert[96], key[96];
	int64_t end;
	int devnull;

	if (dir == NULL) {
		snprintf(
		    t->dir, sizeof(t->dir), "/tmp/outpost-exec-tls-XXXXXX");
		assert_non_null(mkdtemp(t->dir));
		make_cert(t->dir, "", "DNS:localhost,IP:127.0.0.1");
		make_cert(t->dir, "other", "DNS:other.test");
	} else {
		snprintf(t->dir, sizeof(t->dir), "%s", dir);
	}
	t->port = free_tcp_port();
	snprintf(accept, sizeof(accept), "127.0.0.1:%u", t->port);
	snprintf(cert, sizeof(cert), "%s/%scert.pem", t->dir, name);
	snprintf(key, sizeof(key), "%s/%skey.pem", t->dir, name);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("openssl", "openssl", "s_server", "-accept", accept,
		    "-cert", cert, "-key", key, "-www", "-quiet", (char *)NULL);
		_exit(127);
	}
	for (end = util_mono_ms() + 5000;
	     !port_open(t->port) && util_mono_ms() < end;)
		usleep(20000);
	assert_true(port_open(t->port));
}

static void
tlsd_stop(struct tlsd *t, bool rmdir)
{
	char cmd[128];

	kill(t->pid, SIGTERM);
	waitpid(t->pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (rmdir)
		assert_int_equal(system(cmd), 0);
}

/* The whole file, NUL-terminated (a PEM text). */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[128], *p = malloc(65536);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, p, 65535);
	close(fd);
	assert_true(n > 0);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

/* One GET to host:port over TLS with the given trust; returns the call. */
static void
tls_get(struct call *c, const struct tlsd *t, const char *host, bool verify,
    const char *ca_name)
{
	struct exec_config ec = config_default();
	struct fx *f;
	char *ca = NULL;
	size_t calen = 0;

	ec.upstream_tls_verify = verify;
	if (ca_name != NULL) {
		ca = slurp(t->dir, ca_name, &calen);
		ec.upstream_ca_pem = (const uint8_t *)ca;
		ec.upstream_ca_len = calen;
	}
	f = fx_new_with(&ec);
	free(ca); /* exec_new keeps nothing of it */
	call_init(c, "GET", "");
	snprintf(c->url, sizeof(c->url), "https://%s:%u/", host, t->port);
	call_run(f, c);
	fx_free(f);
}

static void
exec_tls(void **state)
{
	struct tlsd t, o;
	struct call c = {0};

	tlsd_start(&t, NULL, "");
	tlsd_start(&o, t.dir, "other");
	tls_get(&c, &t, "localhost", true, "cert.pem");
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 200);
	assert_non_null(strstr((char *)c.body, "s_server"));
	call_free(&c);
	tls_get(&c, &t, "localhost", true, "othercert.pem");
	assert_int_equal(c.r, EXEC_TLS);
	tls_get(&c, &t, "localhost.localhost", true, "cert.pem");
	assert_int_equal(c.r, EXEC_TLS);
	/* No verification: any chain, the key still drives the handshake. */
	tls_get(&c, &t, "localhost.localhost", false, NULL);
	assert_int_equal(c.r, EXEC_OK);
	assert_int_equal(c.status, 200);
	call_free(&c);
	/* The same through short reads/writes, EINTR and spurious EAGAIN. */
	wrapfd_seed(7);
	wrapfd_set(WRAPFD_ALL,
	    &(struct wrapfd_plan){.faults = WRAPFD_SHORT_READ |
		    WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
		.percent = 50,
		.reset_after = -1});
	tls_get(&c, &t, "localhost", true, "cert.pem");
	assert_true(wrapfd_stats()->short_reads > 0);
	wrapfd_clear();
	assert_int_equal(c.r, EXEC_OK);
	assert_non_null(strstr((char *)c.body, "s_server"));
	call_free(&c);
	/* IP literals: matched against iPAddress SANs, no SNI. */
	tls_get(&c, &t, "127.0.0.1", true, "cert.pem");
	assert_int_equal(c.r, EXEC_OK);
	call_free(&c);
	tls_get(&c, &o, "127.0.0.1", true, "othercert.pem");
	assert_int_equal(c.r, EXEC_TLS);
	tls_get(&c, &o, "other.test.localhost", true, "othercert.pem");
	assert_int_equal(c.r, EXEC_TLS);
	tlsd_stop(&o, false);
	tlsd_stop(&t, true);
}

static void
exec_tls_bad_ca(void **state)
{
	struct exec_config ec = config_default();
	struct rx_loop l;
	struct exec *e = NULL;
	char err[160] = "";
	static const char *bad[] = {
	    "not a PEM at all",
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	    "-----BEGIN CERTIFICATE-----\nAAAA\n",
	};
	size_t i;

	assert_int_equal(rx_init(&l, 16), 0);
	ec.upstream_tls_verify = true;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ec.upstream_ca_pem = (const uint8_t *)bad[i];
		ec.upstream_ca_len = strlen(bad[i]);
		err[0] = '\0';
		assert_true(exec_new(&e, &l, NULL, &ec, err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "UPSTREAM_TLS_CA"));
	}
	rx_free(&l);
}

/* Many requests at once on one origin: all answered, each its own body,
 * the pool bounded afterwards. */
static void
exec_concurrent(void **state)
{
	struct fx *f = fx_new();
	struct call *c = calloc(CONCURRENT, sizeof(*c));
	struct exec_stats st;
	int64_t end;
	size_t i, done;
	uint8_t *bodies = malloc(CONCURRENT * 64);

	srv_script(&f->srv, S_ECHO, NULL);
	for (i = 0; i < CONCURRENT; i++) {
		call_init(&c[i], "POST", "");
		call_url(&c[i], f, "/many");
		memset(bodies + i * 64, (int)('A' + i % 26), 64);
		snprintf((char *)bodies + i * 64, 64, "%zu", i);
		c[i].req.body.data = bodies + i * 64;
		c[i].req.body.len = 64;
		exec_submit(f->e, &c[i].job, &c[i].req, on_done);
	}
	for (end = util_mono_ms() + 10000, done = 0;
	     done < CONCURRENT && util_mono_ms() < end;) {
		rx_run_once(&f->loop, 20);
		for (done = 0, i = 0; i < CONCURRENT; i++)
			done += c[i].calls;
	}
	for (i = 0; i < CONCURRENT; i++) {
		assert_int_equal(c[i].calls, 1);
		assert_int_equal(c[i].r, EXEC_OK);
		assert_int_equal(c[i].body_len, 64);
		assert_memory_equal(c[i].body, bodies + i * 64, 64);
		call_free(&c[i]);
	}
	exec_stats(f->e, &st);
	assert_true(st.idle <= 4); /* pool_per_origin */
	assert_int_equal(st.conns, st.idle);
	free(bodies);
	free(c);
	fx_free(f);
}

/* --- streamed responses (exec_submit_stream) ------------------------------ */

struct scall {
	struct call c;
	unsigned heads, datas, datas_before_head;
	int status;
	bool te_seen; /* Transfer-Encoding in the head (hop-by-hop: never) */
	size_t budget; /* what room() grants now; refilled by the test */
	size_t asked; /* the last room() */
	bool blocked; /* room() said 0 */
	bool buffered; /* done had a whole response */
	uint8_t got[4096];
	size_t got_len;
};

static struct scall *
scall_of(struct exec_job *job)
{
	return container_of(job, struct scall, c.job);
}

static bool
s_head(struct exec_job *job, const Connector__V1__HttpResponse *resp)
{
	struct scall *s = scall_of(job);
	size_t i;

	s->heads++;
	s->status = resp->http_status;
	assert_int_equal(resp->body.len, 0);
	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i]->key, "transfer-encoding") == 0)
			s->te_seen = true;
	return true;
}

static size_t
s_room(struct exec_job *job)
{
	struct scall *s = scall_of(job);

	s->asked = s->budget;
	s->blocked = s->budget == 0;
	return s->budget;
}

static bool
s_data(struct exec_job *job, const uint8_t *p, size_t n)
{
	struct scall *s = scall_of(job);

	if (s->heads == 0)
		s->datas_before_head++;
	s->datas++;
	assert_true(n >= 1 && n <= s->asked && n <= s->budget);
	assert_true(s->got_len + n <= sizeof(s->got));
	memcpy(s->got + s->got_len, p, n);
	s->got_len += n;
	s->budget -= n;
	return true;
}

static const struct exec_sink test_sink = {
    .head = s_head, .room = s_room, .data = s_data};

static void
s_done(struct exec_job *job, enum exec_reason r, const char *detail,
    const Connector__V1__HttpResponse *resp)
{
	struct scall *s = scall_of(job);

	s->buffered = resp != NULL;
	if (resp != NULL) { /* recorded as a buffered call's */
		on_done(job, r, detail, resp);
		return;
	}
	s->c.calls++;
	s->c.r = r;
	if (r != EXEC_OK)
		assert_non_null(detail);
}

/* Run the job, granting piece bytes of room each time the sink was full
 * (exec_resume()), or none when piece is 0. */
static void
scall_run(struct fx *f, struct scall *s, size_t piece, int64_t ms)
{
	int64_t end = util_mono_ms() + ms;

	s->budget = piece;
	exec_submit_stream(
	    f->e, &s->c.job, &s->c.req, NULL, s_done, &test_sink);
	assert_int_equal(s->c.calls, 0);
	while (s->c.calls == 0 && util_mono_ms() < end) {
		rx_run_once(&f->loop, 20);
		if (s->blocked && piece > 0 && s->c.calls == 0) {
			s->blocked = false;
			s->budget = piece;
			exec_resume(&s->c.job);
		}
	}
	assert_int_equal(s->c.calls, 1);
}

static const char RESP_CHUNKS[] = "HTTP/1.1 200 OK\r\n"
				  "Transfer-Encoding: chunked\r\n"
				  "\r\n"
				  "5\r\nhello\r\n"
				  "1;ext=1\r\n,\r\n"
				  "14\r\n streamed in pieces!\r\n"
				  "0\r\n\r\n";

/* The body reaches the sink decoded, in pieces within its room (the bytes
 * that came with the head included), the head first; then done(EXEC_OK)
 * without a response, and the connection is pooled. */
static void
exec_stream_pieces(void **state)
{
	struct fx *f = fx_new();
	struct scall s = {0};
	struct exec_stats st;

	srv_script(&f->srv, S_RESPOND, RESP_CHUNKS);
	call_init(&s.c, "GET", "");
	call_url(&s.c, f, "/events");
	scall_run(f, &s, 3, 8000);
	assert_int_equal(s.c.r, EXEC_OK);
	assert_false(s.buffered);
	assert_int_equal(s.heads, 1);
	assert_int_equal(s.datas_before_head, 0);
	assert_int_equal(s.status, 200);
	assert_false(s.te_seen);
	assert_int_equal(s.got_len, 26);
	assert_memory_equal(s.got, "hello, streamed in pieces!", 26);
	exec_stats(f->e, &st);
	assert_int_equal(st.idle, 1);
	call_free(&s.c);
	fx_free(f);
}

/* An answer whole with its head (a Content-Length body read with it, or
 * none) goes to done buffered, never through the sink. */
static void
exec_stream_whole_with_head(void **state)
{
	static const char *const resp[] = {
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	    "HTTP/1.1 204 No Content\r\n\r\n"};
	struct fx *f = fx_new();
	struct scall s;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&s, 0, sizeof(s));
		srv_script(&f->srv, S_RESPOND, resp[i]);
		call_init(&s.c, "GET", "");
		call_url(&s.c, f, "/whole");
		scall_run(f, &s, 4096, 8000);
		assert_int_equal(s.c.r, EXEC_OK);
		assert_true(s.buffered);
		assert_int_equal(s.heads, 0);
		assert_int_equal(s.c.status, i == 0 ? 200 : 204);
		assert_int_equal(s.c.body_len, i == 0 ? 5 : 0);
		if (i == 0)
			assert_memory_equal(s.c.body, "hello", 5);
		call_free(&s.c);
	}
	fx_free(f);
}

/* A streamed answer of 3000 body bytes behind a Content-Length head, all
 * written at once, to a sink granted piece bytes at a time. */
static void
stream_3000(struct fx *f, struct scall *s, const char *path, size_t piece)
{
	static char resp[64 + 3000];
	int n;

	n = snprintf(resp, sizeof(resp),
	    "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n");
	memset(resp + n, 'x', 3000);
	resp[n + 3000] = '\0';
	srv_script(&f->srv, S_RESPOND, resp);
	call_init(&s->c, "GET", "");
	call_url(&s->c, f, path);
	scall_run(f, s, piece, 8000);
	assert_int_equal(s->c.r, EXEC_OK);
	assert_int_equal(s->heads, 1);
	assert_int_equal(s->got_len, 3000);
}

/* The body bytes that came with the head go to a sink that takes them a
 * few at a time, though the upstream sends nothing more: no stall. */
static void
exec_stream_head_bytes_trickle(void **state)
{
	struct fx *f = fx_new();
	struct scall s = {0};

	(void)state;
	stream_3000(f, &s, "/trickle", 700);
	call_free(&s.c);
	fx_free(f);
}

/* The body bytes that came with the head and those after them on the
 * socket go to the sink as one part, not the head's leftovers first. */
static void
exec_stream_head_bytes_one_part(void **state)
{
	struct fx *f = fx_new();
	struct scall s = {0};

	(void)state;
	stream_3000(f, &s, "/one", 4096);
	assert_false(s.buffered); /* more than the head's read held */
	assert_int_equal(s.datas, 1);
	call_free(&s.c);
	fx_free(f);
}

/* Over max_streamed_body: a Content-Length fails before the head; a
 * chunked body is cut after it (EXEC_TOO_LARGE), never past the limit. */
static void
exec_stream_too_large(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	struct scall s = {0};

	ec.max_streamed_body = 10;
	f = fx_new_with(&ec);
	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
	call_init(&s.c, "GET", "");
	call_url(&s.c, f, "/declared");
	scall_run(f, &s, 4096, 8000);
	assert_int_equal(s.c.r, EXEC_TOO_LARGE);
	assert_int_equal(s.heads, 0);
	memset(&s, 0, sizeof(s));
	srv_script(&f->srv, S_RESPOND, RESP_CHUNKS);
	call_init(&s.c, "GET", "");
	call_url(&s.c, f, "/chunked");
	scall_run(f, &s, 4096, 8000);
	assert_int_equal(s.c.r, EXEC_TOO_LARGE);
	assert_int_equal(s.heads, 1);
	assert_true(s.got_len <= 10);
	call_free(&s.c);
	fx_free(f);
}

/* A sink that stays full is silence too: EXEC_TIMEOUT after stream_idle_ms, though request_timeout_ms is far away; and a
 * cancelled stream closes its upstream connection. */
static void
exec_stream_idle_and_cancel(void **state)
{
	struct exec_config ec = config_default();
	struct fx *f;
	struct scall s = {0};
	unsigned closed;
	int64_t t0;

	ec.request_timeout_ms = 30000;
	ec.stream_idle_ms = 300;
	ec.max_streamed_body = (uint64_t)4 << 30;
	f = fx_new_with(&ec);
	srv_script(&f->srv, S_ENDLESS,
	    "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
	call_init(&s.c, "GET", "");
	call_url(&s.c, f, "/full");
	t0 = util_mono_ms();
	scall_run(f, &s, 0, 8000);
	assert_int_equal(s.c.r, EXEC_TIMEOUT);
	assert_int_equal(s.heads, 1);
	assert_true(util_mono_ms() - t0 < 5000);
	memset(&s, 0, sizeof(s));
	call_init(&s.c, "GET", "");
	call_url(&s.c, f, "/cancel");
	s.budget = 1024;
	exec_submit_stream(f->e, &s.c.job, &s.c.req, NULL, s_done, &test_sink);
	t0 = util_mono_ms();
	while (s.heads == 0 && util_mono_ms() - t0 < 5000)
		rx_run_once(&f->loop, 20);
	assert_int_equal(s.heads, 1);
	closed = f->srv.closed;
	exec_cancel(&s.c.job);
	run_ms(f, 200);
	assert_int_equal(s.c.calls, 0);
	assert_true(f->srv.closed > closed);
	call_free(&s.c);
	fx_free(f);
}

/* A streamed response waiting for the rest of its body holds no head
 * buffer: given back once the head and the bytes after it were fed, the
 * body still reaching the sink in pieces (#20). */
static void
exec_stream_head_released(void **state)
{
	struct fx *f = fx_new();
	struct scall s = {0};
	struct job *job = job_of(&s.c.job);
	int64_t t0;

	srv_script(&f->srv, S_RESPOND,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n");
	call_init(&s.c, "GET", "");
	call_url(&s.c, f, "/half");
	s.budget = 2; /* the bytes after the head go in pieces */
	exec_submit_stream(f->e, &s.c.job, &s.c.req, NULL, s_done, &test_sink);
	t0 = util_mono_ms();
	while (s.got_len < 5 && util_mono_ms() - t0 < 5000) {
		rx_run_once(&f->loop, 20);
		if (s.blocked) {
			s.blocked = false;
			s.budget = 2;
			exec_resume(&s.c.job);
		}
	}
	assert_int_equal(s.heads, 1);
	assert_int_equal(s.got_len, 5);
	assert_memory_equal(s.got, "hello", 5);
	run_ms(f, 50);
	assert_int_equal(s.c.calls, 0); /* the last chunk is still to come */
	assert_null(job->rbuf);
	assert_null(job->fields);
	exec_cancel(&s.c.job);
	call_free(&s.c);
	fx_free(f);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exec_get),
	    cmocka_unit_test(exec_post_binary),
	    cmocka_unit_test(exec_chunked),
	    cmocka_unit_test(exec_close_delimited),
	    cmocka_unit_test(exec_head_and_204),
	    cmocka_unit_test(exec_set_cookie_order),
	    cmocka_unit_test(exec_hop_by_hop),
	    cmocka_unit_test(exec_tracestate_follows_its_trace),
	    cmocka_unit_test(exec_host_header),
	    cmocka_unit_test(exec_long_head),
	    cmocka_unit_test(exec_too_large),
	    cmocka_unit_test(exec_timeout),
	    cmocka_unit_test(exec_refused),
	    cmocka_unit_test(exec_dns_failure),
	    cmocka_unit_test(exec_keepalive),
	    cmocka_unit_test(exec_pool_idle_timeout),
	    cmocka_unit_test(exec_stale_retry),
	    cmocka_unit_test(exec_bad_request),
	    cmocka_unit_test(exec_cancel_in_flight),
	    cmocka_unit_test(exec_free_in_flight),
	    cmocka_unit_test(exec_bad_response),
	    cmocka_unit_test(exec_large_head),
	    cmocka_unit_test(exec_header_values),
	    cmocka_unit_test(exec_pool_bounds),
	    cmocka_unit_test(exec_faults),
	    cmocka_unit_test(exec_reset_mid_response),
	    cmocka_unit_test(exec_faults_seeds),
	    cmocka_unit_test(exec_enomem),
	    cmocka_unit_test(exec_concurrent),
	    cmocka_unit_test(exec_conn_slots),
	    cmocka_unit_test(exec_tls),
	    cmocka_unit_test(exec_tls_bad_ca),
	    cmocka_unit_test(exec_stream_pieces),
	    cmocka_unit_test(exec_stream_whole_with_head),
	    cmocka_unit_test(exec_stream_head_bytes_trickle),
	    cmocka_unit_test(exec_stream_head_bytes_one_part),
	    cmocka_unit_test(exec_stream_too_large),
	    cmocka_unit_test(exec_stream_idle_and_cancel),
	    cmocka_unit_test(exec_stream_head_released),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
