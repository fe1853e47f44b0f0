/*
 * Unit tests: the resolver against a real UDP DNS responder on loopback
 * (written below, driven by the same reactor), the real c-ares, and a
 * real hosts file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "net/dial.h"
#include "net/dns.h"
#include "rx/rx.h"

/* --- a tiny authoritative responder ------------------------------------ */

struct responder {
	struct rx_watch w;
	uint16_t port;
	unsigned queries; /* every datagram received */
	unsigned dropped; /* "slow*" queries left unanswered */
};

static size_t
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return 2;
}

/* Decode the question name at p[12..] into out; returns its wire length. */
static size_t
qname(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	size_t i = 12, o = 0;

	while (i < n && p[i] != 0 && o + p[i] + 1 < outlen) {
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i + 1, p[i]);
		o += p[i];
		i += p[i] + 1;
	}
	out[o] = '\0';
	return i + 1 - 12;
}

static size_t
answer(uint8_t *p, size_t off, uint16_t type, const void *rdata, size_t len)
{
	off += put16(p + off, 0xc00c);
	off += put16(p + off, type);
	off += put16(p + off, 1);
	off += put16(p + off, 0);
	off += put16(p + off, 60);
	off += put16(p + off, (uint16_t)len);
	memcpy(p + off, rdata, len);
	return off + len;
}

/* Fill the answers for name/type; returns the rcode. */
static int
zone(const char *name, uint16_t type, uint8_t *p, size_t *off, unsigned *an)
{
	uint8_t a[16];

	if (strcmp(name, "found.test") == 0) {
		if (type == 1)
			inet_pton(AF_INET, "10.1.2.3", a);
		else
			inet_pton(AF_INET6, "fd00::1", a);
		*off = answer(p, *off, type, a, type == 1 ? 4 : 16);
		(*an)++;
		return 0;
	}
	if (strcmp(name, "v4only.test") == 0) {
		if (type != 1)
			return 0;
		inet_pton(AF_INET, "10.0.0.1", a);
		*off = answer(p, *off, type, a, 4);
		inet_pton(AF_INET, "10.0.0.2", a);
		*off = answer(p, *off, type, a, 4);
		*an += 2;
		return 0;
	}
	if (strcmp(name, "servfail.test") == 0)
		return 2; /* SERVFAIL */
	if (strcmp(name, "refused.test") == 0)
		return 5; /* REFUSED */
	return 3; /* NXDOMAIN */
}

static void
responder_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct responder *rs = container_of(w, struct responder, w);
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	uint8_t q[512], p[1024];
	char name[256];
	size_t qlen, off;
	unsigned an = 0;
	uint16_t type;
	ssize_t n;
	int rcode;

	n = recvfrom(w->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < 12)
		return;
	rs->queries++;
	qlen = qname(q, n, name, sizeof(name));
	if (12 + qlen + 4 > (size_t)n)
		return;
	if (strncmp(name, "slow", 4) == 0) {
		rs->dropped++;
		return;
	}
	type = (uint16_t)(q[12 + qlen] << 8 | q[12 + qlen + 1]);
	off = 12 + qlen + 4;
	memcpy(p, q, off);
	rcode = zone(name, type, p, &off, &an);
	p[2] = 0x81 | (q[2] & 0x01);
	p[3] = 0x80 | rcode;
	put16(p + 6, an);
	put16(p + 8, 0);
	put16(p + 10, 0);
	sendto(w->fd, p, off, 0, (struct sockaddr *)&from, flen);
}

static void
responder_start(struct rx_loop *l, struct responder *rs)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*rs = (struct responder){.port = ntohs(sa.sin_port)};
	rx_watch_init(&rs->w, fd, responder_io, NULL);
	rx_watch_set(l, &rs->w, RX_READ);
}

/* --- fixture ---------------------------------------------------------- */

struct fx {
	struct rx_loop loop;
	struct responder rs;
	struct dns_resolver *r;
	char resolvconf[64];
	char hosts[64];
	char servers[64];
};

struct got {
	struct dns_query q;
	int calls;
	enum dns_error err;
	struct dns_result res;
};

static void
on_done(struct dns_query *q, enum dns_error err, const struct dns_result *res)
{
	struct got *g = container_of(q, struct got, q);

	g->calls++;
	g->err = err;
	g->res = *res;
}

static void
tmpfile_with(char *path, size_t n, const char *text)
{
	int fd;

	snprintf(path, n, "/tmp/outpost-dns-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static struct fx *
fx_new(const char *lookups, int64_t timeout_ms, unsigned max_queries)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dns_config c = {0};
	char err[128] = "";

	assert_non_null(f);
	assert_int_equal(rx_init(&f->loop, 64), 0);
	responder_start(&f->loop, &f->rs);
	/* No search domains from the host's resolv.conf. */
	tmpfile_with(f->resolvconf, sizeof(f->resolvconf), "options ndots:1\n");
	tmpfile_with(f->hosts, sizeof(f->hosts), "10.9.8.7 hosts.test\n");
	setenv("CARES_HOSTS", f->hosts, 1);
	snprintf(f->servers, sizeof(f->servers), "127.0.0.1:%u", f->rs.port);
	c.servers = f->servers;
	c.resolvconf = f->resolvconf;
	c.lookups = lookups;
	c.hosts_env = true;
	c.timeout_ms = timeout_ms;
	c.max_queries = max_queries;
	assert_int_equal(dns_new(&f->r, &f->loop, &c, err, sizeof(err)), 0);
	return f;
}

static void
fx_free(struct fx *f)
{
	dns_free(f->r);
	rx_watch_close(&f->loop, &f->rs.w);
	rx_run_once(&f->loop, 0);
	rx_free(&f->loop);
	unlink(f->resolvconf);
	unlink(f->hosts);
	free(f);
}

/* Run the loop until g has its answer or ms pass. */
static void
run_until(struct fx *f, struct got *g, int64_t ms)
{
	int64_t end = util_mono_ms() + ms;

	while (g->calls == 0 && util_mono_ms() < end)
		rx_run_once(&f->loop, 50);
}

static void
resolve(struct fx *f, struct got *g, const char *name)
{
	memset(g, 0, sizeof(*g));
	dns_query_init(&g->q, on_done);
	assert_int_equal(dns_resolve(f->r, &g->q, name), 0);
	assert_int_equal(g->calls, 0); /* never from inside dns_resolve() */
	run_until(f, g, 3000);
	assert_int_equal(g->calls, 1);
}

static bool
has_addr(const struct dns_result *res, const char *text)
{
	char buf[INET6_ADDRSTRLEN];
	size_t i;

	for (i = 0; i < res->n; i++) {
		const union dns_sockaddr *a = &res->addr[i];
		const void *p = a->sa.sa_family == AF_INET
		    ? (const void *)&a->in.sin_addr
		    : (const void *)&a->in6.sin6_addr;
		inet_ntop(a->sa.sa_family, p, buf, sizeof(buf));
		if (strcmp(buf, text) == 0)
			return true;
	}
	return false;
}

/* --- cases -------------------------------------------------------------- */

static void
dns_found(void **state)
{
	struct fx *f = fx_new("b", 2000, 0);
	struct got g;

	resolve(f, &g, "found.test");
	assert_int_equal(g.err, DNS_OK);
	assert_int_equal(g.res.n, 2);
	assert_true(has_addr(&g.res, "10.1.2.3"));
	assert_true(has_addr(&g.res, "fd00::1"));
	assert_true(f->rs.queries >= 2); /* A and AAAA went over the wire */
	resolve(f, &g, "v4only.test");
	assert_int_equal(g.err, DNS_OK);
	assert_int_equal(g.res.n, 2);
	assert_true(has_addr(&g.res, "10.0.0.1"));
	assert_true(has_addr(&g.res, "10.0.0.2"));
	fx_free(f);
}

static void
dns_nxdomain(void **state)
{
	struct fx *f = fx_new("b", 2000, 0);
	struct got g;

	resolve(f, &g, "missing.test");
	assert_int_equal(g.err, DNS_NXDOMAIN);
	assert_string_equal(dns_error_str(g.err), "nxdomain");
	assert_true(f->rs.queries >= 1);
	fx_free(f);
}

static void
dns_timeout(void **state)
{
	struct fx *f = fx_new("b", 400, 0);
	int64_t t0 = util_mono_ms(), dt;
	struct got g;

	resolve(f, &g, "slow.test");
	dt = util_mono_ms() - t0;
	assert_int_equal(g.err, DNS_TIMEOUT);
	assert_string_equal(dns_error_str(g.err), "dns_timeout");
	assert_string_equal(dns_error_detail(g.err), "DNS timeout");
	/* c-ares' own retries end at 3/4 of the deadline, ours at 400 ms. */
	assert_true(dt >= 250 && dt < 1500);
	assert_true(f->rs.dropped >= 1);
	fx_free(f);
}

/*
 * Issue 10 item 10: each of c-ares's outcomes keeps its own error and
 * detail (all were "name not resolved" in the executor's error).
 */
static void
dns_servfail(void **state)
{
	struct fx *f = fx_new("b", 2000, 0);
	struct got g;

	resolve(f, &g, "servfail.test");
	assert_int_equal(g.err, DNS_SERVFAIL);
	assert_string_equal(dns_error_str(g.err), "dns_servfail");
	assert_string_equal(dns_error_detail(g.err), "DNS server failure");
	assert_true(f->rs.queries >= 1);
	fx_free(f);
}

static void
dns_refused(void **state)
{
	struct fx *f = fx_new("b", 2000, 0);
	struct got g;

	resolve(f, &g, "refused.test");
	assert_int_equal(g.err, DNS_REFUSED);
	assert_string_equal(dns_error_str(g.err), "dns_refused");
	assert_string_equal(
	    dns_error_detail(g.err), "refused by the DNS server");
	fx_free(f);
}

struct dialed {
	struct dial d;
	int calls, fd;
	struct dial_result res;
};

static void
on_dialed(struct dial *d, int fd, const struct dial_result *res)
{
	struct dialed *x = container_of(d, struct dialed, d);

	x->calls++;
	x->fd = fd;
	x->res = *res;
}

/* The dialer hands the resolver's outcome on: it is what an error names. */
static void
dns_outcome_reaches_the_dialer(void **state)
{
	static const struct {
		const char *name;
		enum dns_error err;
		const char *detail;
	} cases[] = {
	    {"missing.test", DNS_NXDOMAIN, "no such name"},
	    {"slow.test", DNS_TIMEOUT, "DNS timeout"},
	    {"servfail.test", DNS_SERVFAIL, "DNS server failure"},
	    {"refused.test", DNS_REFUSED, "refused by the DNS server"},
	};
	struct fx *f = fx_new("b", 400, 0);
	struct dial_opts o = {.total_ms = 2000};
	struct dialed x;
	size_t i;
	int64_t end;

	for (i = 0; i < nitems(cases); i++) {
		memset(&x, 0, sizeof(x));
		dial_init(&x.d, &f->loop, f->r, on_dialed);
		assert_int_equal(dial_start(&x.d, cases[i].name, 80, &o), 0);
		end = util_mono_ms() + 3000;
		while (x.calls == 0 && util_mono_ms() < end)
			rx_run_once(&f->loop, 50);
		assert_int_equal(x.calls, 1);
		assert_true(x.fd < 0);
		assert_int_equal(x.res.err, DIAL_DNS);
		assert_int_equal(x.res.dns, cases[i].err);
		assert_string_equal(
		    dns_error_detail(x.res.dns), cases[i].detail);
		dial_free(&x.d);
	}
	fx_free(f);
}

static void
dns_localhost(void **state)
{
	static const char *names[] = {
	    "localhost", "LOCALHOST.", "api.localhost", "a.b.localhost."};
	struct fx *f = fx_new("b", 2000, 0);
	struct got g;
	size_t i;

	for (i = 0; i < nitems(names); i++) {
		resolve(f, &g, names[i]);
		assert_int_equal(g.err, DNS_OK);
		assert_int_equal(g.res.n, 2);
		assert_true(has_addr(&g.res, "127.0.0.1"));
		assert_true(has_addr(&g.res, "::1"));
	}
	/* Not localhost names: these go to the server. */
	resolve(f, &g, "localhostx");
	assert_int_equal(g.err, DNS_NXDOMAIN);
	resolve(f, &g, "localhost.example");
	assert_int_equal(g.err, DNS_NXDOMAIN);
	assert_int_equal(f->rs.queries, 4);
	fx_free(f);
}

static void
dns_literals(void **state)
{
	struct fx *f = fx_new("b", 2000, 0);
	struct got g;

	resolve(f, &g, "192.0.2.7");
	assert_int_equal(g.err, DNS_OK);
	assert_int_equal(g.res.n, 1);
	assert_true(has_addr(&g.res, "192.0.2.7"));
	resolve(f, &g, "2001:db8::1");
	assert_int_equal(g.err, DNS_OK);
	assert_true(has_addr(&g.res, "2001:db8::1"));
	assert_int_equal(f->rs.queries, 0);
	fx_free(f);
}

static void
dns_hosts_file(void **state)
{
	struct fx *f = fx_new("fb", 2000, 0);
	struct got g;

	resolve(f, &g, "hosts.test");
	assert_int_equal(g.err, DNS_OK);
	assert_int_equal(g.res.n, 1);
	assert_true(has_addr(&g.res, "10.9.8.7"));
	assert_int_equal(f->rs.queries, 0);
	resolve(f, &g, "found.test"); /* not in the file: falls to DNS */
	assert_int_equal(g.err, DNS_OK);
	assert_true(has_addr(&g.res, "10.1.2.3"));
	fx_free(f);
}

static void
dns_cancel(void **state)
{
	struct fx *f = fx_new("b", 300, 0);
	struct got g = {0};
	int64_t end;

	dns_query_init(&g.q, on_done);
	assert_int_equal(dns_resolve(f->r, &g.q, "slow.test"), 0);
	dns_query_cancel(&g.q);
	dns_query_cancel(&g.q);
	end = util_mono_ms() + 800;
	while (util_mono_ms() < end)
		rx_run_once(&f->loop, 50);
	assert_int_equal(g.calls, 0);
	/* The query can be reused at once; a local one too. */
	resolve(f, &g, "found.test");
	assert_int_equal(g.err, DNS_OK);
	dns_query_init(&g.q, on_done);
	g.calls = 0;
	assert_int_equal(dns_resolve(f->r, &g.q, "localhost"), 0);
	dns_query_cancel(&g.q);
	rx_run_once(&f->loop, 10);
	assert_int_equal(g.calls, 0);
	/* Freed with a query still inside c-ares. */
	assert_int_equal(dns_resolve(f->r, &g.q, "slow.test"), 0);
	rx_run_once(&f->loop, 10);
	fx_free(f);
}

static void
never_fires(struct rx_loop *l, struct rx_timer *t)
{
	fail_msg("a filler timer fired");
}

/*
 * A local answer is delivered through the query's rx_defer entry, so it
 * takes no reactor timer: with the timer heap full it still resolves
 * (it used to arm a 0 ms timer and fail with -ENOSPC).  A name that goes
 * to c-ares needs its deadline timer and says so.  After a local answer,
 * the query's deadline is not left armed.
 */
static void
dns_local_answer_needs_no_timer(void **state)
{
	struct fx *f = fx_new("b", 2000, 0);
	struct rx_timer fill[65];
	struct got g;
	size_t n, i;

	for (n = 0; n < nitems(fill); n++) {
		rx_timer_init(&fill[n], never_fires);
		if (rx_timer_start(&f->loop, &fill[n], 60000) < 0)
			break;
	}
	assert_true(n > 0 && n < nitems(fill)); /* the heap is full */
	resolve(f, &g, "localhost");
	assert_int_equal(g.err, DNS_OK);
	assert_true(has_addr(&g.res, "127.0.0.1"));
	resolve(f, &g, "192.0.2.7");
	assert_int_equal(g.err, DNS_OK);
	assert_false(rx_timer_active(&g.q.deadline));
	dns_query_init(&g.q, on_done);
	assert_int_equal(dns_resolve(f->r, &g.q, "found.test"), -ENOSPC);
	for (i = 0; i < n; i++)
		rx_timer_stop(&f->loop, &fill[i]);
	resolve(f, &g, "found.test");
	assert_int_equal(g.err, DNS_OK);
	assert_false(rx_timer_active(&g.q.deadline));
	fx_free(f);
}

static void
dns_bounds(void **state)
{
	struct fx *f = fx_new("b", 300, 2);
	struct got a, b, c;
	char name[300];

	dns_query_init(&a.q, on_done);
	dns_query_init(&b.q, on_done);
	dns_query_init(&c.q, on_done);
	a.calls = b.calls = c.calls = 0;
	assert_int_equal(dns_resolve(f->r, &a.q, "slow.test"), 0);
	assert_int_equal(dns_resolve(f->r, &a.q, "slow.test"), -EALREADY);
	assert_int_equal(dns_resolve(f->r, &b.q, "slow2.test"), 0);
	assert_int_equal(dns_resolve(f->r, &c.q, "slow3.test"), -EBUSY);
	/* A name already asked takes no slot: it waits for that answer. */
	assert_int_equal(dns_resolve(f->r, &c.q, "SLOW.test"), 0);
	dns_query_cancel(&c.q);
	/* Literals need no slot. */
	assert_int_equal(dns_resolve(f->r, &c.q, "127.0.0.1"), 0);
	dns_query_cancel(&c.q);
	assert_int_equal(dns_resolve(f->r, &c.q, ""), -EINVAL);
	assert_int_equal(dns_resolve(f->r, &c.q, "a b"), -EINVAL);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(dns_resolve(f->r, &c.q, name), -EINVAL);
	run_until(f, &b, 2000);
	run_until(f, &a, 2000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, DNS_TIMEOUT);
	fx_free(f);
}

/*
 * Queries for one name share its question: with a single slot, 100 of them
 * at once all get the answer, from one A and one AAAA question on the wire;
 * a waiter that cancels gets no call, and the others are not disturbed.
 */
static void
dns_same_name_shares_one_question(void **state)
{
	enum { N = 40 }; /* each waiter has a deadline timer: 64 in fx */
	struct fx *f = fx_new("b", 2000, 1);
	struct got *g = calloc(N, sizeof(*g));
	int64_t end;
	size_t i, done;

	assert_non_null(g);
	for (i = 0; i < N; i++) {
		dns_query_init(&g[i].q, on_done);
		assert_int_equal(dns_resolve(f->r, &g[i].q, "found.test"), 0);
	}
	dns_query_cancel(&g[7].q);
	end = util_mono_ms() + 3000;
	do {
		rx_run_once(&f->loop, 50);
		for (i = done = 0; i < N; i++)
			done += g[i].calls;
	} while (done < N - 1 && util_mono_ms() < end);
	for (i = 0; i < N; i++) {
		assert_int_equal(g[i].calls, i == 7 ? 0 : 1);
		if (i == 7)
			continue;
		assert_int_equal(g[i].err, DNS_OK);
		assert_true(has_addr(&g[i].res, "10.1.2.3"));
		assert_true(has_addr(&g[i].res, "fd00::1"));
	}
	assert_int_equal(f->rs.queries, 2);
	free(g);
	fx_free(f);
}

/* Each waiter keeps its own deadline; one that cancels leaves the others. */
static void
dns_shared_question_deadlines(void **state)
{
	struct fx *f = fx_new("b", 300, 1);
	struct got a = {0}, b = {0};

	dns_query_init(&a.q, on_done);
	dns_query_init(&b.q, on_done);
	assert_int_equal(dns_resolve(f->r, &a.q, "slow.test"), 0);
	assert_int_equal(dns_resolve(f->r, &b.q, "slow.test"), 0);
	dns_query_cancel(&a.q);
	run_until(f, &b, 2000);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, DNS_TIMEOUT);
	/* Freed with a waiter on a question c-ares still holds. */
	assert_int_equal(dns_resolve(f->r, &a.q, "slow.test"), 0);
	fx_free(f);
	assert_int_equal(a.calls, 0);
}

static void
dns_scratch(void **state)
{
	struct dns_config c = {.resolvconf = "/nonexistent/resolv.conf",
	    .hosts_env = true,
	    .lookups = "fb",
	    .timeout_ms = 300};
	struct fx f = {0};
	struct got g;
	char err[128] = "";

	/* As in a FROM-scratch image: no resolv.conf, no hosts file. */
	setenv("CARES_HOSTS", "/nonexistent/hosts", 1);
	assert_int_equal(rx_init(&f.loop, 16), 0);
	assert_int_equal(dns_new(&f.r, &f.loop, &c, err, sizeof(err)), 0);
	resolve(&f, &g, "localhost");
	assert_int_equal(g.err, DNS_OK);
	assert_true(has_addr(&g.res, "127.0.0.1"));
	assert_true(has_addr(&g.res, "::1"));
	resolve(&f, &g, "10.0.0.9");
	assert_true(has_addr(&g.res, "10.0.0.9"));
	dns_free(f.r);
	rx_free(&f.loop);
}

static void
dns_bad_servers(void **state)
{
	struct rx_loop l;
	struct dns_resolver *r = NULL;
	struct dns_config c = {.servers = "not-an-address"};
	char err[128] = "";

	assert_int_equal(rx_init(&l, 8), 0);
	assert_true(dns_new(&r, &l, &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "DNS_SERVERS"));
	rx_free(&l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dns_found),
	    cmocka_unit_test(dns_nxdomain),
	    cmocka_unit_test(dns_timeout),
	    cmocka_unit_test(dns_servfail),
	    cmocka_unit_test(dns_refused),
	    cmocka_unit_test(dns_outcome_reaches_the_dialer),
	    cmocka_unit_test(dns_localhost),
	    cmocka_unit_test(dns_literals),
	    cmocka_unit_test(dns_hosts_file),
	    cmocka_unit_test(dns_cancel),
	    cmocka_unit_test(dns_bounds),
	    cmocka_unit_test(dns_same_name_shares_one_question),
	    cmocka_unit_test(dns_shared_question_deadlines),
	    cmocka_unit_test(dns_local_answer_needs_no_timer),
	    cmocka_unit_test(dns_scratch),
	    cmocka_unit_test(dns_bad_servers),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
