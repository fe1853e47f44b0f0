/*
 * Unit tests: the dialer against real sockets on loopback (a listener that
 * accepts, a closed port, a listener whose backlog is full so SYNs go
 * unanswered) and a real squid started by the test on loopback with a
 * temporary config (CONNECT allowed, refused with 403, and with Basic
 * authentication).  The target policy (dial_opts.policy) with names from
 * a hosts file the test writes (CARES_HOSTS), mapping them to loopback
 * addresses; the listeners count what they accept, so a refusal is seen
 * to connect nothing.  Select cases with CMOCKA_TEST_FILTER... or run all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "net/dial.h"
#include "net/dns.h"
#include "net/net.h"
#include "net/netpolicy.h"
#include "rx/rx.h"
#include "wrapfd.h"

#define BANNER "HELLO from the far end\n"

/* --- a listener that accepts and speaks first -------------------------- */

struct server {
	struct rx_watch w;
	uint16_t port;
	const char *greeting; /* sent on accept; BANNER when NULL */
	int conns[16];
	size_t nconns;
};

/* Small writes on a fresh socket only fail when wrapfd says so. */
static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t r;
	int i;

	for (i = 0; i < 1000 && n > 0; i++) {
		r = net_write(fd, p, n);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		}
	}
	assert_int_equal(n, 0);
}

static void
server_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct server *s = container_of(w, struct server, w);
	struct sockaddr_storage peer;
	const char *greeting;
	int fd;

	while ((fd = net_accept(w->fd, &peer)) >= 0) {
		if (s->nconns == nitems(s->conns)) {
			net_close(fd);
			continue;
		}
		s->conns[s->nconns++] = fd;
		greeting = s->greeting != NULL ? s->greeting : BANNER;
		write_all(fd, greeting, strlen(greeting));
	}
}

static void
server_start(struct rx_loop *l, struct server *s, const char *ip)
{
	union dns_sockaddr sa = {0};
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (strchr(ip, ':') != NULL) {
		sa.in6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &sa.in6.sin6_addr);
		len = sizeof(sa.in6);
	} else {
		sa.in.sin_family = AF_INET;
		inet_pton(AF_INET, ip, &sa.in.sin_addr);
		len = sizeof(sa.in);
	}
	fd = net_listen(&sa.sa, len, 16);
	assert_true(fd >= 0);
	assert_int_equal(net_local_addr(fd, &ss), 0);
	*s = (struct server){
	    .port = ntohs(((struct sockaddr_in *)&ss)->sin_port)};
	rx_watch_init(&s->w, fd, server_io, NULL);
	rx_watch_set(l, &s->w, RX_READ);
}

static void
server_stop(struct rx_loop *l, struct server *s)
{
	size_t i;

	for (i = 0; i < s->nconns; i++)
		net_close(s->conns[i]);
	s->nconns = 0;
	rx_watch_close(l, &s->w);
}

/* A port nobody listens on: bound, then closed. */
static uint16_t
closed_port(void)
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

/*
 * A listener that never accepts, its accept queue filled by two
 * connections: further SYNs are dropped, so a connect hangs.
 */
struct blackhole {
	int lfd, fill[2];
	uint16_t port;
};

static void
blackhole_start(struct blackhole *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	size_t i;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(b->lfd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(b->lfd, 0), 0);
	assert_int_equal(getsockname(b->lfd, (struct sockaddr *)&sa, &len), 0);
	b->port = ntohs(sa.sin_port);
	for (i = 0; i < nitems(b->fill); i++) {
		b->fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(b->fill[i], (struct sockaddr *)&sa, len);
	}
	usleep(50 * 1000);
}

static void
blackhole_stop(struct blackhole *b)
{
	close(b->fill[0]);
	close(b->fill[1]);
	close(b->lfd);
}

/* --- fixture ------------------------------------------------------------ */

struct fx {
	struct rx_loop loop;
	struct dns_resolver *dns;
	struct dial d;
	int calls;
	int fd;
	struct dial_result res;
	char early[256];
	size_t early_len;
	bool restart; /* restart from the callback */
};

static void
on_dial(struct dial *d, int fd, const struct dial_result *r)
{
	struct fx *f = container_of(d, struct fx, d);

	f->calls++;
	f->fd = fd;
	f->res = *r;
	f->early_len = MIN(r->early_len, sizeof(f->early));
	if (r->early_len > 0)
		memcpy(f->early, r->early, f->early_len);
}

static struct fx *
fx_new_with(struct dns_config *c)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[128];

	assert_non_null(f);
	assert_int_equal(rx_init(&f->loop, 32), 0);
	c->timeout_ms = 500;
	assert_int_equal(dns_new(&f->dns, &f->loop, c, err, sizeof(err)), 0);
	dial_init(&f->d, &f->loop, f->dns, on_dial);
	f->fd = -1;
	return f;
}

static struct fx *
fx_new(const char *servers)
{
	struct dns_config c = {.servers = servers, .lookups = "b"};

	return fx_new_with(&c);
}

/* Names from the test's hosts file only (see main); a DNS query would go
 * to a closed port. */
#define TEST_HOSTS \
	"127.0.0.1 one.test\n" \
	"127.0.0.9 nine.test\n" \
	"127.0.0.1 two.test\n" \
	"127.0.0.9 two.test\n"
static char hosts_path[64];

static struct fx *
fx_hosts(void)
{
	char servers[32];
	struct dns_config c = {
	    .servers = servers, .lookups = "f", .hosts_env = true};

	snprintf(servers, sizeof(servers), "127.0.0.1:%u", closed_port());
	return fx_new_with(&c);
}

static void
fx_free(struct fx *f)
{
	dial_free(&f->d);
	if (f->fd >= 0)
		net_close(f->fd);
	dns_free(f->dns);
	rx_run_once(&f->loop, 0);
	rx_free(&f->loop);
	free(f);
}

static void
run_for(struct fx *f, int64_t ms, bool until_done)
{
	int64_t end = util_mono_ms() + ms;

	while ((!until_done || f->calls == 0) && util_mono_ms() < end)
		rx_run_once(&f->loop, 20);
}

static void
dial_and_wait(
    struct fx *f, const char *host, uint16_t port, const struct dial_opts *o)
{
	f->calls = 0;
	assert_int_equal(dial_start(&f->d, host, port, o), 0);
	assert_int_equal(f->calls, 0); /* never from inside dial_start() */
	run_for(f, 5000, true);
	assert_int_equal(f->calls, 1);
	assert_false(dial_active(&f->d));
}

/* Read what the far end sent (early bytes first) until n bytes or 2 s. */
static void
expect_banner(struct fx *f, struct server *s)
{
	char got[256];
	size_t n = f->early_len;
	int64_t end = util_mono_ms() + 2000;
	ssize_t r;

	memcpy(got, f->early, n);
	while (n < strlen(BANNER) && util_mono_ms() < end) {
		rx_run_once(&f->loop, 10);
		r = net_read(f->fd, got + n, sizeof(got) - n);
		if (r > 0)
			n += (size_t)r;
		else
			assert_int_equal(r, -EAGAIN);
	}
	assert_int_equal(n, strlen(BANNER));
	assert_memory_equal(got, BANNER, n);
}

/* --- direct ----------------------------------------------------------- */

static void
dial_connects(void **state)
{
	struct fx *f = fx_new(NULL);
	struct server s;

	server_start(&f->loop, &s, "127.0.0.1");
	dial_and_wait(f, "127.0.0.1", s.port, NULL);
	assert_int_equal(f->res.err, DIAL_OK);
	assert_true(f->fd >= 0);
	assert_int_equal(f->res.attempts, 1);
	expect_banner(f, &s);
	/* The socket is the owner's: it still works after more iterations. */
	assert_int_equal(net_write(f->fd, "x", 1), 1);
	server_stop(&f->loop, &s);
	fx_free(f);
}

static bool
have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	int fd = socket(AF_INET6, SOCK_STREAM, 0), r;

	sa.sin6_addr = in6addr_loopback;
	r = fd >= 0 ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) : -1;
	if (fd >= 0)
		close(fd);
	return r == 0;
}

static void
dial_falls_back(void **state)
{
	struct fx *f = fx_new(NULL);
	struct server s;

	/* localhost is 127.0.0.1 then ::1; only ::1 listens. */
	if (!have_ipv6_loopback()) {
		fx_free(f);
		skip();
	}
	server_start(&f->loop, &s, "::1");
	dial_and_wait(f, "localhost", s.port, NULL);
	assert_int_equal(f->res.err, DIAL_OK);
	assert_int_equal(f->res.attempts, 2);
	assert_int_equal(f->res.peer.sa.sa_family, AF_INET6);
	expect_banner(f, &s);
	net_close(f->fd);
	f->fd = -1;
	/* A bracketed literal is accepted too. */
	dial_and_wait(f, "[::1]", s.port, NULL);
	assert_int_equal(f->res.err, DIAL_OK);
	server_stop(&f->loop, &s);
	fx_free(f);
}

static void
dial_refused(void **state)
{
	struct fx *f = fx_new(NULL);

	dial_and_wait(f, "127.0.0.1", closed_port(), NULL);
	assert_int_equal(f->fd, -1);
	assert_int_equal(f->res.err, DIAL_REFUSED);
	assert_int_equal(f->res.sys, -ECONNREFUSED);
	assert_string_equal(dial_error_str(f->res.err), "refused");
	assert_non_null(strstr(f->res.detail, "127.0.0.1:"));
	fx_free(f);
}

static void
dial_attempt_timeout(void **state)
{
	struct dial_opts o = {.attempt_ms = 300, .total_ms = 3000};
	struct fx *f = fx_new(NULL);
	struct blackhole b;
	int64_t t0;

	blackhole_start(&b);
	t0 = util_mono_ms();
	dial_and_wait(f, "127.0.0.1", b.port, &o);
	assert_int_equal(f->res.err, DIAL_TIMEOUT);
	assert_int_equal(f->res.attempts, 1);
	assert_true(util_mono_ms() - t0 >= 250 && util_mono_ms() - t0 < 2000);
	blackhole_stop(&b);
	fx_free(f);
}

static void
dial_total_timeout(void **state)
{
	struct dial_opts o = {.attempt_ms = 5000, .total_ms = 400};
	struct fx *f = fx_new(NULL);
	struct blackhole b;
	int64_t t0;

	blackhole_start(&b);
	t0 = util_mono_ms();
	dial_and_wait(f, "127.0.0.1", b.port, &o);
	assert_int_equal(f->res.err, DIAL_TIMEOUT);
	assert_non_null(strstr(f->res.detail, "deadline"));
	/* The deadline counts from the loop's clock, read before the 50 ms
	 * the blackhole took to settle. */
	assert_true(util_mono_ms() - t0 >= 300 && util_mono_ms() - t0 < 2000);
	blackhole_stop(&b);
	fx_free(f);
}

static void
dial_dns_error(void **state)
{
	char servers[32];
	struct fx *f;

	/* A DNS server on a closed port: the query is refused. */
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", closed_port());
	f = fx_new(servers);
	dial_and_wait(f, "nothing.invalid", 80, NULL);
	assert_int_equal(f->res.err, DIAL_DNS);
	assert_int_not_equal(f->res.dns, DNS_OK);
	assert_int_equal(f->fd, -1);
	assert_int_equal(f->res.attempts, 0);
	fx_free(f);
}

static void
dial_bad_args(void **state)
{
	struct fx *f = fx_new(NULL);

	assert_int_equal(dial_start(&f->d, "", 80, NULL), -EINVAL);
	assert_int_equal(dial_start(&f->d, "[]", 80, NULL), -EINVAL);
	assert_int_equal(dial_start(&f->d, "127.0.0.1", 0, NULL), -EINVAL);
	assert_int_equal(dial_start(&f->d, "a b", 80, NULL), -EINVAL);
	assert_int_equal(dial_start(&f->d, "127.0.0.1", 9, NULL), 0);
	assert_int_equal(dial_start(&f->d, "127.0.0.1", 9, NULL), -EALREADY);
	fx_free(f);
}

static void
dial_cancel_anytime(void **state)
{
	struct dial_opts o = {.attempt_ms = 300, .total_ms = 600};
	struct fx *f = fx_new(NULL);
	struct blackhole b;
	struct server s;
	int i;

	blackhole_start(&b);
	server_start(&f->loop, &s, "127.0.0.1");
	/* While resolving, while connecting, and after n iterations. */
	for (i = 0; i < 4; i++) {
		f->calls = 0;
		assert_int_equal(dial_start(&f->d, "localhost", b.port, &o), 0);
		for (int k = 0; k < i; k++)
			rx_run_once(&f->loop, 10);
		dial_cancel(&f->d);
		dial_cancel(&f->d);
		assert_false(dial_active(&f->d));
	}
	run_for(f, 800, false);
	assert_int_equal(f->calls, 0);
	/* Cancel and restart within one iteration, towards a live server. */
	assert_int_equal(dial_start(&f->d, "127.0.0.1", b.port, &o), 0);
	rx_run_once(&f->loop, 10);
	dial_free(&f->d);
	dial_and_wait(f, "127.0.0.1", s.port, &o);
	assert_int_equal(f->res.err, DIAL_OK);
	expect_banner(f, &s);
	server_stop(&f->loop, &s);
	blackhole_stop(&b);
	fx_free(f);
}

/* --- target policy ------------------------------------------------------ */

static struct netpolicy *policy(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static struct netpolicy *
policy(const char *fmt, ...)
{
	struct netpolicy *p = NULL;
	char list[128], err[NETPOLICY_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(list, sizeof(list), fmt, ap);
	va_end(ap);
	if (netpolicy_parse(&p, list, err, sizeof(err)) != 0)
		fail_msg("%s: %s", list, err);
	return p;
}

/* The dial ended in DIAL_POLICY and the listener accepted nothing. */
static void
expect_refused(struct fx *f, struct server *s, size_t accepted)
{
	assert_int_equal(f->res.err, DIAL_POLICY);
	assert_string_equal(dial_error_str(f->res.err), "policy");
	assert_int_equal(f->fd, -1);
	assert_int_equal(f->res.attempts, 0);
	run_for(f, 100, false);
	assert_int_equal(s->nconns, accepted);
}

static void
dial_policy_refuses_before_resolving(void **state)
{
	struct dial_opts o = {.total_ms = 3000};
	char servers[32];
	struct server s;
	struct fx *f;

	/* Any DNS query would be refused (DIAL_DNS): none is made. */
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", closed_port());
	f = fx_new(servers);
	server_start(&f->loop, &s, "127.0.0.1");
	o.policy =
	    policy("127.0.0.1:%u,db.test:%u", closed_port(), closed_port());
	dial_and_wait(f, "127.0.0.1", s.port, &o);
	expect_refused(f, &s, 0);
	assert_non_null(strstr(f->res.detail, "refuses 127.0.0.1:"));
	dial_and_wait(f, "db.test", s.port, &o);
	expect_refused(f, &s, 0);
	assert_int_equal(f->res.dns, DNS_OK);
	/* Cancelled before the deferred refusal ran: no callback. */
	f->calls = 0;
	assert_int_equal(dial_start(&f->d, "127.0.0.1", s.port, &o), 0);
	dial_cancel(&f->d);
	run_for(f, 100, false);
	assert_int_equal(f->calls, 0);
	netpolicy_free((struct netpolicy *)o.policy);
	/* The same target listed: connected. */
	o.policy = policy("127.0.0.1:%u", s.port);
	dial_and_wait(f, "127.0.0.1", s.port, &o);
	assert_int_equal(f->res.err, DIAL_OK);
	expect_banner(f, &s);
	assert_int_equal(s.nconns, 1);
	netpolicy_free((struct netpolicy *)o.policy);
	server_stop(&f->loop, &s);
	fx_free(f);
}

static void
dial_policy_checks_every_address(void **state)
{
	struct dial_opts o = {.total_ms = 3000};
	struct fx *f = fx_hosts();
	struct server s;

	/* nine.test is 127.0.0.9, outside 127.0.0.1/32: refused after DNS,
	 * and so is two.test (127.0.0.1 and 127.0.0.9). */
	server_start(&f->loop, &s, "127.0.0.9");
	o.policy = policy("127.0.0.1/32:%u", s.port);
	dial_and_wait(f, "nine.test", s.port, &o);
	expect_refused(f, &s, 0);
	assert_non_null(strstr(f->res.detail, "127.0.0.9"));
	assert_int_equal(f->res.peer.sa.sa_family, AF_INET);
	dial_and_wait(f, "two.test", s.port, &o);
	expect_refused(f, &s, 0);
	assert_non_null(strstr(f->res.detail, "127.0.0.9"));
	netpolicy_free((struct netpolicy *)o.policy);
	/* Inside the CIDR: connected, to the address checked. */
	o.policy = policy("127.0.0.0/24:%u", s.port);
	dial_and_wait(f, "nine.test", s.port, &o);
	assert_int_equal(f->res.err, DIAL_OK);
	expect_banner(f, &s);
	assert_int_equal(s.nconns, 1);
	netpolicy_free((struct netpolicy *)o.policy);
	net_close(f->fd);
	f->fd = -1;
	/* Listed by name: its addresses need no CIDR rule. */
	o.policy = policy("nine.test:%u", s.port);
	dial_and_wait(f, "nine.test", s.port, &o);
	assert_int_equal(f->res.err, DIAL_OK);
	netpolicy_free((struct netpolicy *)o.policy);
	server_stop(&f->loop, &s);
	fx_free(f);
}

/* --- proxy URL ---------------------------------------------------------- */

static void
dial_proxy_urls(void **state)
{
	struct dial_proxy p;
	const char *why = NULL;

	assert_true(dial_proxy_parse(&p, "http://proxy.internal:3128", &why));
	assert_string_equal(p.host, "proxy.internal");
	assert_int_equal(p.port, 3128);
	assert_string_equal(p.auth, "");
	assert_true(
	    dial_proxy_parse(&p, "http://u1:p%40ss%3Aw@[::1]:8080/", &why));
	assert_string_equal(p.host, "::1");
	assert_string_equal(p.auth, "Basic dTE6cEBzczp3"); /* u1:p@ss:w */
	assert_true(dial_proxy_parse(&p, "http://user@h", &why));
	assert_int_equal(p.port, 80);
	assert_string_equal(p.auth, "Basic dXNlcjo="); /* user: */
	assert_false(dial_proxy_parse(&p, "https://h:3128", &why));
	assert_non_null(strstr(why, "https"));
	assert_false(dial_proxy_parse(&p, "http://h:3128/path", &why));
	assert_false(dial_proxy_parse(&p, "http://u:%zz@h:3128", &why));
	assert_null(strstr(why, "%zz"));
	assert_false(dial_proxy_parse(&p, "socks5://h:1080", &why));
	dial_proxy_wipe(&p);
}

static void
dial_proxy_early_bytes(void **state)
{
	struct fx *f = fx_new(NULL);
	struct dial_opts o = {.total_ms = 3000};
	struct dial_proxy p;
	const char *why;
	struct server s;
	char url[64];

	/* A minimal proxy whose answer and the far end's first bytes arrive
	 * in one segment: those bytes reach the owner as res.early. */
	server_start(&f->loop, &s, "127.0.0.1");
	s.greeting = "HTTP/1.1 200 Connection established\r\n\r\n" BANNER;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", s.port);
	assert_true(dial_proxy_parse(&p, url, &why));
	o.proxy = &p;
	dial_and_wait(f, "internal.example", 22, &o);
	assert_int_equal(f->res.err, DIAL_OK);
	assert_int_equal(f->res.proxy_status, 200);
	assert_int_equal(f->early_len, strlen(BANNER));
	expect_banner(f, &s);
	server_stop(&f->loop, &s);
	fx_free(f);
}

/* --- through a real squid ------------------------------------------------ */

struct squid {
	pid_t pid;
	char dir[64];
	uint16_t port;
	struct rx_loop *loop;
	struct server open, authed;
	struct fx *f;
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, 0644);
}

static void
squid_config(struct squid *sq)
{
	char conf[2048], cmd[256];
	int n;

	/* The password file: u1 / "p@ss:w" (apr1 hash from openssl). */
	snprintf(cmd, sizeof(cmd),
	    "printf 'u1:%%s\\n' \"$(openssl passwd -apr1 'p@ss:w')\" "
	    "> %s/passwd",
	    sq->dir);
	assert_int_equal(system(cmd), 0);
	n = snprintf(conf, sizeof(conf),
	    "http_port 127.0.0.1:%u\n"
	    "pid_filename %s/squid.pid\n"
	    "cache_log %s/cache.log\n"
	    "access_log none\n"
	    "cache deny all\n"
	    "coredump_dir %s\n"
	    "visible_hostname outpost-test\n"
	    "dns_nameservers 127.0.0.1\n"
	    "pinger_enable off\n"
	    "shutdown_lifetime 0 seconds\n"
	    "auth_param basic program /usr/lib/squid/basic_ncsa_auth "
	    "%s/passwd\n"
	    "acl CONNECT method CONNECT\n"
	    "acl lo src 127.0.0.1/32\n"
	    "acl open_port port %u\n"
	    "acl auth_port port %u\n"
	    "acl authed proxy_auth REQUIRED\n"
	    "http_access allow CONNECT lo open_port\n"
	    "http_access allow CONNECT lo auth_port authed\n"
	    "http_access deny all\n",
	    sq->port, sq->dir, sq->dir, sq->dir, sq->dir, sq->open.port,
	    sq->authed.port);
	assert_true(n > 0 && (size_t)n < sizeof(conf));
	write_file(sq->dir, "squid.conf", conf);
}

/* Wait until squid accepts connections, at most 15 s. */
static bool
squid_ready(struct squid *sq)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int64_t end = util_mono_ms() + 15000;
	int fd, r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(sq->port);
	while (util_mono_ms() < end) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (r == 0)
			return true;
		if (waitpid(sq->pid, NULL, WNOHANG) == sq->pid)
			return false;
		usleep(100 * 1000);
	}
	return false;
}

static int
squid_setup(void **state)
{
	struct squid *sq = calloc(1, sizeof(*sq));
	char conf[128];

	if (access("/usr/sbin/squid", X_OK) != 0) {
		fprintf(stderr, "squid missing: run scripts/setup.sh\n");
		return -1;
	}
	sq->f = fx_hosts();
	sq->loop = &sq->f->loop;
	snprintf(sq->dir, sizeof(sq->dir), "/tmp/outpost-squid-XXXXXX");
	assert_non_null(mkdtemp(sq->dir));
	chmod(sq->dir, 0777); /* squid runs as its own user */
	server_start(sq->loop, &sq->open, "127.0.0.1");
	server_start(sq->loop, &sq->authed, "127.0.0.1");
	sq->port = closed_port();
	squid_config(sq);
	snprintf(conf, sizeof(conf), "%s/squid.conf", sq->dir);
	if ((sq->pid = fork()) == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl(
		    "/usr/sbin/squid", "squid", "-N", "-f", conf, (char *)NULL);
		_exit(127);
	}
	*state = sq;
	return squid_ready(sq) ? 0 : -1;
}

static int
squid_teardown(void **state)
{
	struct squid *sq = *state;
	char cmd[128];
	int i;

	if (sq == NULL)
		return 0;
	kill(sq->pid, SIGTERM);
	for (i = 0; i < 50 && waitpid(sq->pid, NULL, WNOHANG) != sq->pid; i++)
		usleep(100 * 1000);
	if (i == 50) {
		kill(sq->pid, SIGKILL);
		waitpid(sq->pid, NULL, 0);
	}
	server_stop(sq->loop, &sq->open);
	server_stop(sq->loop, &sq->authed);
	fx_free(sq->f);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sq->dir);
	(void)system(cmd);
	free(sq);
	return 0;
}

static void
proxy_dial(struct squid *sq, const char *userinfo, uint16_t port)
{
	struct dial_opts o = {.total_ms = 5000};
	struct dial_proxy p;
	const char *why = NULL;
	char url[128];

	snprintf(url, sizeof(url), "http://%s127.0.0.1:%u", userinfo, sq->port);
	assert_true(dial_proxy_parse(&p, url, &why));
	o.proxy = &p;
	dial_and_wait(sq->f, "127.0.0.1", port, &o);
	dial_proxy_wipe(&p);
}

static void
proxy_connect_ok(void **state)
{
	struct squid *sq = *state;

	proxy_dial(sq, "", sq->open.port);
	assert_int_equal(sq->f->res.err, DIAL_OK);
	assert_int_equal(sq->f->res.proxy_status, 200);
	/* The far end's banner comes through the tunnel. */
	expect_banner(sq->f, &sq->open);
	net_close(sq->f->fd);
	sq->f->fd = -1;
}

static void
proxy_forbidden(void **state)
{
	struct squid *sq = *state;

	proxy_dial(sq, "", closed_port());
	assert_int_equal(sq->f->res.err, DIAL_PROXY);
	assert_int_equal(sq->f->res.proxy_status, 403);
	assert_int_equal(sq->f->fd, -1);
	assert_non_null(strstr(sq->f->res.detail, "403"));
}

static void
proxy_auth(void **state)
{
	struct squid *sq = *state;

	proxy_dial(sq, "", sq->authed.port);
	assert_int_equal(sq->f->res.err, DIAL_PROXY);
	assert_int_equal(sq->f->res.proxy_status, 407);
	proxy_dial(sq, "u1:wrong@", sq->authed.port);
	assert_int_equal(sq->f->res.proxy_status, 407);
	assert_null(strstr(sq->f->res.detail, "wrong"));
	proxy_dial(sq, "u1:p%40ss%3Aw@", sq->authed.port);
	assert_int_equal(sq->f->res.err, DIAL_OK);
	assert_int_equal(sq->f->res.proxy_status, 200);
	expect_banner(sq->f, &sq->authed);
	net_close(sq->f->fd);
	sq->f->fd = -1;
}

static void
proxy_unreachable(void **state)
{
	struct squid *sq = *state;
	struct dial_opts o = {.total_ms = 3000};
	struct dial_proxy p;
	const char *why;
	char url[64];

	/* The proxy itself refuses: a proxy error, not the target's. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", closed_port());
	assert_true(dial_proxy_parse(&p, url, &why));
	o.proxy = &p;
	dial_and_wait(sq->f, "127.0.0.1", sq->open.port, &o);
	assert_int_equal(sq->f->res.err, DIAL_PROXY);
	assert_int_equal(sq->f->res.sys, -ECONNREFUSED);
	assert_int_equal(sq->f->res.proxy_status, 0);
}

static void
proxy_faulty_network(void **state)
{
	const struct wrapfd_plan p = {.faults = WRAPFD_SHORT_READ |
		WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    .percent = 60,
	    .reset_after = -1};
	struct squid *sq = *state;
	const struct wrapfd_stats *st = wrapfd_stats();
	int i;

	/* Every send/recv of this process may be cut short or interrupted:
	 * the CONNECT exchange and the banner after it still come through. */
	wrapfd_clear();
	for (i = 0; i < 5; i++) {
		wrapfd_seed(1000 + i);
		wrapfd_set(WRAPFD_ALL, &p);
		proxy_dial(sq, "u1:p%40ss%3Aw@", sq->authed.port);
		assert_int_equal(sq->f->res.err, DIAL_OK);
		expect_banner(sq->f, &sq->authed);
		wrapfd_set(WRAPFD_ALL, NULL);
		net_close(sq->f->fd);
		sq->f->fd = -1;
	}
	assert_true(st->short_reads > 0 && st->short_writes > 0);
	assert_true(st->eintr > 0 && st->eagain > 0);
	wrapfd_clear();
}

static void
proxy_reset(void **state)
{
	const struct wrapfd_plan p = {.reset_after = 12};
	struct squid *sq = *state;

	/* The proxy connection resets in the middle of the CONNECT. */
	wrapfd_clear();
	wrapfd_set(WRAPFD_ALL, &p);
	proxy_dial(sq, "", sq->open.port);
	wrapfd_clear();
	assert_int_equal(sq->f->res.err, DIAL_PROXY);
	assert_int_equal(sq->f->res.sys, -ECONNRESET);
	assert_int_equal(sq->f->fd, -1);
}

static void
proxy_policy_connects_to_the_checked_address(void **state)
{
	struct squid *sq = *state;
	struct dial_opts o = {.total_ms = 5000};
	struct dial_proxy p;
	const char *why = NULL;
	size_t before = sq->open.nconns;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", sq->port);
	assert_true(dial_proxy_parse(&p, url, &why));
	o.proxy = &p;
	/* A CIDR miss: resolved here, refused, the proxy never asked. */
	o.policy = policy("127.0.0.2/32:%u", sq->open.port);
	dial_and_wait(sq->f, "one.test", sq->open.port, &o);
	expect_refused(sq->f, &sq->open, before);
	netpolicy_free((struct netpolicy *)o.policy);
	/* A CIDR hit: squid cannot resolve one.test (only this process's
	 * hosts file has it), so the tunnel works only because CONNECT named
	 * the checked address 127.0.0.1. */
	o.policy = policy("127.0.0.1/32:%u", sq->open.port);
	dial_and_wait(sq->f, "one.test", sq->open.port, &o);
	assert_int_equal(sq->f->res.err, DIAL_OK);
	assert_int_equal(sq->f->res.proxy_status, 200);
	expect_banner(sq->f, &sq->open);
	assert_int_equal(sq->open.nconns, before + 1);
	net_close(sq->f->fd);
	sq->f->fd = -1;
	netpolicy_free((struct netpolicy *)o.policy);
	dial_proxy_wipe(&p);
}

static int
hosts_file(void)
{
	FILE *fp;
	int fd;

	snprintf(hosts_path, sizeof(hosts_path), "/tmp/outpost-hosts-XXXXXX");
	if ((fd = mkstemp(hosts_path)) < 0 || (fp = fdopen(fd, "w")) == NULL)
		return -1;
	fputs(TEST_HOSTS, fp);
	fclose(fp);
	return setenv("CARES_HOSTS", hosts_path, 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest direct[] = {
	    cmocka_unit_test(dial_connects),
	    cmocka_unit_test(dial_falls_back),
	    cmocka_unit_test(dial_refused),
	    cmocka_unit_test(dial_attempt_timeout),
	    cmocka_unit_test(dial_total_timeout),
	    cmocka_unit_test(dial_dns_error),
	    cmocka_unit_test(dial_bad_args),
	    cmocka_unit_test(dial_cancel_anytime),
	    cmocka_unit_test(dial_policy_refuses_before_resolving),
	    cmocka_unit_test(dial_policy_checks_every_address),
	    cmocka_unit_test(dial_proxy_urls),
	    cmocka_unit_test(dial_proxy_early_bytes),
	};
	const struct CMUnitTest proxy[] = {
	    cmocka_unit_test(proxy_connect_ok),
	    cmocka_unit_test(proxy_forbidden),
	    cmocka_unit_test(proxy_auth),
	    cmocka_unit_test(proxy_unreachable),
	    cmocka_unit_test(proxy_faulty_network),
	    cmocka_unit_test(proxy_reset),
	    cmocka_unit_test(proxy_policy_connects_to_the_checked_address),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	if (unit_filter(argc, argv) < 0)
		return 2;
	if (hosts_file() < 0) {
		perror("hosts file");
		return 1;
	}
	failed = cmocka_run_group_tests_name("dial", direct, NULL, NULL);
	failed += cmocka_run_group_tests_name(
	    "proxy", proxy, squid_setup, squid_teardown);
	unlink(hosts_path);
	return failed;
}
