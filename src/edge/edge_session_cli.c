/*
 * edge_session_cli.c — the clients of the front door's session upgrade
 * (GET /v1/connectors/{name}/connect/{host}:{port}, Upgrade: outpost-tcp):
 *
 *   outpost-edge connect [--edge URL] [--token-file F] NAME HOST:PORT
 *       stdin/stdout <-> one session (ssh -o ProxyCommand=...)
 *   outpost-edge forward [--listen ADDR:PORT] [--edge URL] [--token-file F]
 *       NAME HOST:PORT
 *       a local listener (default 127.0.0.1, any port: printed on
 *       stderr); every accepted connection is a session
 *
 * The front door comes from EDGE_API_LISTEN / EDGE_API_PORT and the token
 * from EDGE_API_TOKEN_FILE, which --edge http://IP:PORT and --token-file
 * override (one validation path: edge_conf_load_api).  Each session is a
 * struct link on the reactor: connect, send the request, read the answer's
 * head (SETUP_MS), then copy bytes both ways through two bounded buffers;
 * an EOF one way becomes shutdown(SHUT_WR) the other way, so half-closed
 * protocols work.  A local side that fails resets the session (the edge
 * then cancels the call).
 *
 * connect needs stdin and stdout that epoll can watch (pipes, sockets, a
 * terminal, as ssh gives a ProxyCommand): a file is refused (exit 100).
 *
 * Exit codes (connect): 0 when the session ended, 100 when the edge refused
 * it with a 4xx or the usage is wrong, 111 when the edge could not be
 * reached or answered 5xx.  forward runs until SIGINT/SIGTERM (0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "edge/edge.h"
#include "edge/edge_route.h"
#include "http/http.h"
#include "lib/exit.h"
#include "lib/url.h"
#include "lib/util.h"
#include "net/net.h"
#include "net/net_listen.h"
#include "rx/rx.h"

#define HALF_BUF (64u << 10)
#define REQ_MAX 1024
#define HEAD_MAX (16u << 10)
#define SETUP_MS 30000
#define TARGET_MAX 300
#define LINKS_MAX 1024 /* forward: sessions at once */
#define ENV_MAX 512

/* One direction: bytes read from `from`, written to `to`. */
struct half {
	int from, to;
	size_t len, off;
	bool eof, shut;
	uint8_t buf[HALF_BUF];
};

enum link_state { L_CONNECT, L_REQUEST, L_HEAD, L_SPLICE, L_DONE };

struct cli;
struct link;

/* A watch of a link (one per distinct fd). */
struct lwatch {
	struct rx_watch w;
	struct link *k;
};

struct link {
	struct cli *cli;
	struct lwatch lw[3]; /* distinct fds: client in, client out, edge */
	int nw, nopen;
	int edge;
	enum link_state st;
	int rc;
	struct rx_timer timer;
	size_t reqoff, headlen;
	struct half up, down; /* client -> edge, edge -> client */
	char head[HEAD_MAX];
};

struct cli {
	struct rx_loop loop;
	struct sockaddr_in edge;
	char req[REQ_MAX];
	size_t reqlen;
	bool forward;
	struct net_listener ls;
	size_t nlinks;
	int rc;
};

static void link_step(struct link *k);

static int
usage(void)
{
	fprintf(stderr,
	    "usage: outpost-edge connect [--edge URL] [--token-file F] NAME "
	    "HOST:PORT\n"
	    "       outpost-edge forward [--listen ADDR:PORT] [--edge URL] "
	    "[--token-file F] NAME HOST:PORT\n");
	return EXIT_PERMANENT;
}

static struct rx_watch *
watch_of(struct link *k, int fd)
{
	int i;

	for (i = 0; i < k->nw; i++)
		if (k->lw[i].w.fd == fd)
			return &k->lw[i].w;
	return NULL;
}

static bool
half_wants_read(const struct half *h)
{
	return h->len == h->off && !h->eof;
}

static void
interest(struct link *k)
{
	int i, fd;
	unsigned want;

	for (i = 0; i < k->nw; i++) {
		fd = k->lw[i].w.fd;
		want = 0;
		if (fd < 0 || k->lw[i].w.closing)
			continue;
		if (fd == k->edge && (k->st == L_CONNECT || k->st == L_REQUEST))
			want |= RX_WRITE;
		if (fd == k->edge && k->st == L_HEAD)
			want |= RX_READ;
		if (k->st == L_SPLICE) {
			if ((k->up.from == fd && half_wants_read(&k->up)) ||
			    (k->down.from == fd && half_wants_read(&k->down)))
				want |= RX_READ;
			if ((k->up.to == fd && k->up.off < k->up.len) ||
			    (k->down.to == fd && k->down.off < k->down.len))
				want |= RX_WRITE;
		}
		rx_watch_set(&k->cli->loop, &k->lw[i].w, want);
	}
}

static void
link_done(struct link *k, int rc)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int i;

	if (k->st == L_DONE)
		return;
	if (rc != 0 && k->st == L_SPLICE)
		/* A local failure resets the session: the edge cancels. */
		setsockopt(k->edge, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	k->st = L_DONE;
	k->rc = rc;
	rx_timer_stop(&k->cli->loop, &k->timer);
	for (i = 0; i < k->nw; i++)
		rx_watch_close(&k->cli->loop, &k->lw[i].w);
}

static void
on_closed(struct rx_loop *l, struct rx_watch *w)
{
	struct link *k = container_of(w, struct lwatch, w)->k;
	struct cli *c;

	if (--k->nopen > 0)
		return;
	c = k->cli;
	c->nlinks--;
	if (!c->forward) {
		c->rc = k->rc;
		rx_stop(l);
	}
	free(k);
}

static void
on_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	link_step(container_of(w, struct lwatch, w)->k);
}

static void
on_timeout(struct rx_loop *l, struct rx_timer *t)
{
	struct link *k = container_of(t, struct link, timer);

	fprintf(stderr, "outpost-edge: no answer from the edge in %d s\n",
	    SETUP_MS / 1000);
	link_done(k, EXIT_TEMPORARY);
}

/* Close the write side of h's destination (a pipe has only close). */
static void
half_shut(struct link *k, struct half *h)
{
	struct rx_watch *w;

	h->shut = true;
	if (net_shutdown_write(h->to) == 0)
		return;
	if ((w = watch_of(k, h->to)) != NULL && h->to != h->from)
		rx_watch_close(&k->cli->loop, w);
}

/* read(2)/write(2): the local side may be a pipe (net_read is recv). */
static ssize_t
fd_io(int fd, void *p, size_t n, bool wr)
{
	ssize_t r;

	do
		r = wr ? write(fd, p, n) : read(fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EWOULDBLOCK)
		return -EAGAIN;
	return r < 0 ? -errno : r;
}

/* Move what one direction can; -1 on a socket error, else progress. */
static int
half_step(struct link *k, struct half *h)
{
	ssize_t n;
	int moved = 0;

	if (h->len == h->off && !h->eof) {
		h->len = h->off = 0;
		n = fd_io(h->from, h->buf, sizeof(h->buf), false);
		if (n > 0) {
			h->len = (size_t)n;
			moved = 1;
		} else if (n == 0) {
			h->eof = true;
		} else if (n != -EAGAIN) {
			return -1;
		}
	}
	if (h->off < h->len) {
		n = fd_io(h->to, h->buf + h->off, h->len - h->off, true);
		if (n > 0) {
			h->off += (size_t)n;
			moved = 1;
		} else if (n != -EAGAIN) {
			return -1;
		}
	}
	if (h->eof && h->off == h->len && !h->shut)
		half_shut(k, h);
	return moved;
}

/* The edge's answer: 101 starts the copy, anything else is reported. */
static void
on_head(struct link *k, const struct http_response *r, size_t hl)
{
	size_t rest = k->headlen - hl;

	if (r->status == 101) {
		memcpy(k->down.buf, k->head + hl, rest);
		k->down.len = rest;
		k->st = L_SPLICE;
		rx_timer_stop(&k->cli->loop, &k->timer);
		return;
	}
	fprintf(stderr, "outpost-edge: %d %.*s\n", r->status, (int)rest,
	    k->head + hl);
	link_done(k, r->status >= 500 ? EXIT_TEMPORARY : EXIT_PERMANENT);
}

/* Read the answer's head; true when the link moved on. */
static bool
read_head(struct link *k)
{
	struct http_header hs[32];
	struct http_response r = {.headers = hs, .nheaders = nitems(hs)};
	const struct http_limits lim = HTTP_LIMITS_DEFAULT;
	ssize_t n;
	long hl;

	n = net_read(k->edge, k->head + k->headlen, HEAD_MAX - k->headlen);
	if (n == -EAGAIN)
		return false;
	if (n <= 0) {
		fprintf(stderr, "outpost-edge: the edge closed: %s\n",
		    n == 0 ? "no answer" : strerror((int)-n));
		link_done(k, EXIT_TEMPORARY);
		return false;
	}
	k->headlen += (size_t)n;
	hl = http_parse_response(k->head, k->headlen, &r, &lim);
	if (hl == HTTP_PARTIAL && k->headlen < HEAD_MAX)
		return true;
	if (hl <= 0) {
		fprintf(stderr, "outpost-edge: bad answer from the edge\n");
		link_done(k, EXIT_TEMPORARY);
		return false;
	}
	/* An error answer's body is short JSON: what came with the head. */
	on_head(k, &r, (size_t)hl);
	return true;
}

static bool
send_request(struct link *k)
{
	struct cli *c = k->cli;
	ssize_t n;

	if (k->st == L_CONNECT) {
		int e = net_connect_result(k->edge);

		if (e == -EINPROGRESS || e == -EAGAIN)
			return false;
		if (e < 0) {
			fprintf(stderr, "outpost-edge: front door: %s\n",
			    strerror(-e));
			link_done(k, EXIT_TEMPORARY);
			return false;
		}
		k->st = L_REQUEST;
	}
	n = net_write(k->edge, c->req + k->reqoff, c->reqlen - k->reqoff);
	if (n == -EAGAIN)
		return false;
	if (n < 0) {
		fprintf(stderr, "outpost-edge: front door: %s\n",
		    strerror((int)-n));
		link_done(k, EXIT_TEMPORARY);
		return false;
	}
	k->reqoff += (size_t)n;
	if (k->reqoff == c->reqlen)
		k->st = L_HEAD;
	return true;
}

static void
link_step(struct link *k)
{
	int i, a, b;

	for (i = 0; i < 64 && k->st != L_DONE; i++) {
		if (k->st == L_CONNECT || k->st == L_REQUEST) {
			if (!send_request(k))
				break;
			continue;
		}
		if (k->st == L_HEAD) {
			if (!read_head(k))
				break;
			continue;
		}
		a = half_step(k, &k->up);
		b = a < 0 ? -1 : half_step(k, &k->down);
		if (a < 0 || b < 0) {
			link_done(k, EXIT_TEMPORARY);
			break;
		}
		if (k->up.shut && k->down.shut) {
			link_done(k, EXIT_OK);
			break;
		}
		if (a == 0 && b == 0)
			break;
	}
	if (k->st != L_DONE)
		interest(k);
}

static void
add_watch(struct link *k, int fd)
{
	if (watch_of(k, fd) != NULL)
		return;
	k->lw[k->nw].k = k;
	rx_watch_init(&k->lw[k->nw].w, fd, on_io, on_closed);
	k->nw++;
	k->nopen++;
}

/* A session for local fds in/out; false (fds closed) on failure. */
static bool
link_start(struct cli *c, int in, int out)
{
	struct link *k = calloc(1, sizeof(*k));
	int fd = net_socket(AF_INET, SOCK_STREAM);
	int e = fd;

	if (k == NULL || fd < 0 ||
	    ((e = net_connect(
		  fd, (struct sockaddr *)&c->edge, sizeof(c->edge))) < 0 &&
		e != -EINPROGRESS)) {
		fprintf(stderr, "outpost-edge: front door: %s\n",
		    strerror(e < 0 ? -e : ENOMEM));
		free(k);
		if (fd >= 0)
			net_close(fd);
		net_close(in);
		if (out != in)
			net_close(out);
		return false;
	}
	k->cli = c;
	k->edge = fd;
	k->up = (struct half){.from = in, .to = fd};
	k->down.from = fd;
	k->down.to = out;
	add_watch(k, in);
	add_watch(k, out);
	add_watch(k, fd);
	rx_timer_init(&k->timer, on_timeout);
	rx_timer_start(&c->loop, &k->timer, SETUP_MS);
	c->nlinks++;
	interest(k);
	return true;
}

static bool
fwd_ready(struct net_listener *ls)
{
	struct cli *c = ls->arg;

	return c->nlinks < LINKS_MAX;
}

static void
fwd_accept(struct net_listener *ls, int fd, const struct sockaddr_storage *p)
{
	net_set_opt(fd, NET_NODELAY, true);
	link_start(ls->arg, fd, fd);
}

static void
on_signal(struct rx_loop *l, int signo)
{
	rx_stop(l);
}

/* "IP:PORT" (IPv4) into sa; false when it is not one. */
static bool
parse_addr(const char *s, size_t n, struct sockaddr_in *sa)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = memrchr(s, ':', n);
	unsigned long port;
	char *end;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return false;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (end != s + n || end == colon + 1 || port > 65535)
		return false;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

struct opts {
	const char *edge, *token_file, *listen, *name, *target;
};

static bool
parse_opts(int argc, char **argv, bool forward, struct opts *o)
{
	int i, pos = 0;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--edge") == 0 && i + 1 < argc)
			o->edge = argv[++i];
		else if (strcmp(argv[i], "--token-file") == 0 && i + 1 < argc)
			o->token_file = argv[++i];
		else if (forward && strcmp(argv[i], "--listen") == 0 &&
		    i + 1 < argc)
			o->listen = argv[++i];
		else if (argv[i][0] != '-' && pos == 0 && ++pos)
			o->name = argv[i];
		else if (argv[i][0] != '-' && pos == 1 && ++pos)
			o->target = argv[i];
		else
			return false;
	}
	return pos == 2 && edge_name_valid(o->name, strlen(o->name)) &&
	    strlen(o->target) < TARGET_MAX &&
	    strspn(o->target,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789.-_:[]") == strlen(o->target);
}

/*
 * The environment with the options' settings appended (later entries
 * win in cfg_load), so they go through the one validation path.
 */
static int
load_conf(const struct opts *o, char *const *envp, struct edge_conf *ec)
{
	static char eb[3][ENV_MAX];
	char *env[ENV_MAX + 4], err[256];
	struct cfg_errors *errs = malloc(sizeof(*errs));
	struct url u;
	const char *why;
	size_t n = 0;
	struct cfg *c;
	int rc;

	if (errs == NULL)
		return -1;
	for (; envp[n] != NULL && n < ENV_MAX; n++)
		env[n] = envp[n];
	if (o->edge != NULL) {
		if (!url_parse(o->edge, strlen(o->edge), &u, &why) || u.tls ||
		    u.hostlen >= 64) {
			fprintf(stderr,
			    "outpost-edge: --edge: an http://IP:PORT "
			    "URL\n");
			free(errs);
			return -1;
		}
		snprintf(eb[0], ENV_MAX, "EDGE_API_LISTEN=%.*s", (int)u.hostlen,
		    u.host);
		snprintf(eb[1], ENV_MAX, "EDGE_API_PORT=%u", u.port);
		env[n++] = eb[0];
		env[n++] = eb[1];
	}
	if (o->token_file != NULL) {
		snprintf(
		    eb[2], ENV_MAX, "EDGE_API_TOKEN_FILE=%s", o->token_file);
		env[n++] = eb[2];
	}
	env[n] = NULL;
	c = cfg_load(env, errs);
	if (c == NULL) {
		cfg_errors_print(errs, 2);
		free(errs);
		return -1;
	}
	free(errs);
	rc = edge_conf_load_api(ec, c, err, sizeof(err));
	cfg_free(c);
	if (rc < 0)
		fprintf(stderr, "outpost-edge: %s\n", err);
	return rc;
}

static int
build_request(struct cli *c, const struct opts *o, const struct edge_conf *ec)
{
	char host[INET_ADDRSTRLEN];
	int n;

	c->edge = (struct sockaddr_in){.sin_family = AF_INET,
	    .sin_port = htons(ec->api_port),
	    .sin_addr.s_addr = ec->api_addr};
	inet_ntop(AF_INET, &c->edge.sin_addr, host, sizeof(host));
	n = snprintf(c->req, sizeof(c->req),
	    "GET /v1/connectors/%s/connect/%s HTTP/1.1\r\n"
	    "Host: %s:%u\r\nAuthorization: Bearer %.*s\r\n"
	    "Connection: Upgrade\r\nUpgrade: outpost-tcp\r\n\r\n",
	    o->name, o->target, host, ec->api_port, (int)ec->token_len,
	    (const char *)ec->token);
	if (n <= 0 || (size_t)n >= sizeof(c->req))
		return -1;
	c->reqlen = (size_t)n;
	return 0;
}

static int
start_forward(struct cli *c, const struct opts *o)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	const char *l = o->listen ? o->listen : "127.0.0.1:0";
	int fd;

	if (!parse_addr(l, strlen(l), &sa)) {
		fprintf(stderr, "outpost-edge: --listen: an IPv4 ADDR:PORT\n");
		return EXIT_PERMANENT;
	}
	if ((fd = net_listen((struct sockaddr *)&sa, sizeof(sa), 128)) < 0) {
		fprintf(
		    stderr, "outpost-edge: listen %s: %s\n", l, strerror(-fd));
		return EXIT_TEMPORARY;
	}
	if (net_local_addr(fd, &ss) == 0)
		sa.sin_port = ((struct sockaddr_in *)&ss)->sin_port;
	c->forward = true;
	c->ls.arg = c;
	c->ls.ready = fwd_ready;
	net_listener_start(&c->ls, &c->loop, fd, "forward", fwd_accept);
	fprintf(stderr, "outpost-edge: forwarding %s:%u to %s %s\n",
	    inet_ntoa(sa.sin_addr), ntohs(sa.sin_port), o->name, o->target);
	return EXIT_OK;
}

/* True when epoll can watch fd (not a regular file or /dev/null). */
static bool
pollable(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC), rc;

	if (ep < 0)
		return true; /* the reactor would fail first */
	rc = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	close(ep);
	return rc == 0;
}

static int
run(struct cli *c, const struct opts *o, bool forward)
{
	sigset_t set;
	int rc, i;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	rx_signal_start(&c->loop, &set, on_signal);
	if (forward && (rc = start_forward(c, o)) != EXIT_OK)
		return rc;
	if (!forward && (!pollable(0) || !pollable(1))) {
		fprintf(stderr,
		    "outpost-edge: connect: stdin and stdout must be "
		    "pipes, sockets or a terminal (not a file)\n");
		return EXIT_PERMANENT;
	}
	if (!forward) {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
		if (!link_start(c, 0, 1))
			return EXIT_TEMPORARY;
	}
	c->rc = EXIT_OK;
	rx_run(&c->loop);
	/* Let the deferred closes finish (bounded). */
	for (i = 0; i < 8; i++)
		rx_run_once(&c->loop, 0);
	return c->rc;
}

/* see edge.h */
int
edge_session_cli_main(int argc, char **argv, char *const *envp)
{
	bool forward = strcmp(argv[0], "forward") == 0;
	struct edge_conf ec;
	struct opts o;
	struct cli *c;
	int rc;

	if (!parse_opts(argc, argv, forward, &o))
		return usage();
	if (load_conf(&o, envp, &ec) < 0)
		return EXIT_PERMANENT;
	signal(SIGPIPE, SIG_IGN);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    rx_init(&c->loop, LINKS_MAX + 8) < 0 ||
	    build_request(c, &o, &ec) < 0) {
		edge_conf_free(&ec);
		free(c);
		return EXIT_TEMPORARY;
	}
	edge_conf_free(&ec);
	rc = run(c, &o, forward);
	util_wipe(c->req, sizeof(c->req));
	free(c);
	return rc;
}
