/*
 * The SNTP client on the reactor: servers in order, each name resolved,
 * each address asked once over a connected UDP socket with a deadline.
 * Datagrams that are not the answer (wrong cookie, garbage) are dropped
 * and the wait goes on; the deadline bounds it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"
#include "net/net.h"
#include "net/sntp.h"

/* Datagrams read per readiness event: a flood cannot hold the loop. */
#define SNTP_READS_PER_EVENT 8

static void next_server(struct sntp_client *c);
static void try_addr(struct sntp_client *c);

static void
drop_socket(struct sntp_client *c)
{
	int fd;

	if (c->w.fd < 0)
		return;
	fd = rx_watch_release(c->loop, &c->w);
	if (fd >= 0)
		net_close(fd);
	c->w.fd = -1;
}

static void
finish(struct sntp_client *c, const struct sntp_result *res)
{
	const struct sntp_server *s =
	    &c->server[c->si < c->n_servers ? c->si : 0];

	rx_timer_stop(c->loop, &c->timer);
	rx_defer_cancel(c->loop, &c->kick);
	dns_query_cancel(&c->q);
	drop_socket(c);
	c->active = false;
	c->done(c, res != NULL ? SNTP_DONE : SNTP_NO_ANSWER, res,
	    res != NULL ? s->host : NULL, c->detail);
}

static void
next_addr(struct sntp_client *c)
{
	rx_timer_stop(c->loop, &c->timer);
	drop_socket(c);
	c->ai++;
	try_addr(c);
}

static void
on_answer(struct sntp_client *c, const uint8_t *buf, size_t n)
{
	struct sntp_result res;
	int rc;

	rc = sntp_parse(&c->query, buf, n, c->t1_ms, util_wall_ms(), &res);
	if (rc == SNTP_OK) {
		finish(c, &res);
		return;
	}
	if (rc == SNTP_EFORMAT || rc == SNTP_EORIGIN)
		return; /* not our answer: keep waiting until the deadline */
	snprintf(c->detail, sizeof(c->detail), "%s: %s%s%s",
	    c->server[c->si].host, sntp_status_str(rc), res.kod[0] ? " " : "",
	    res.kod);
	/* A refusal or an unsynchronised server: its other addresses too. */
	drop_socket(c);
	rx_timer_stop(c->loop, &c->timer);
	c->si++;
	next_server(c);
}

static void
on_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct sntp_client *c = container_of(w, struct sntp_client, w);
	uint8_t buf[512];
	ssize_t n;
	int i;

	for (i = 0; i < SNTP_READS_PER_EVENT && c->active && c->w.fd >= 0;
	     i++) {
		n = net_read(c->w.fd, buf, sizeof(buf));
		if (n == -EAGAIN)
			return;
		if (n < 0) { /* e.g. ECONNREFUSED from an ICMP error */
			snprintf(c->detail, sizeof(c->detail), "%s: %s",
			    c->server[c->si].host, strerror((int)-n));
			next_addr(c);
			return;
		}
		on_answer(c, buf, (size_t)n);
	}
}

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	struct sntp_client *c = container_of(t, struct sntp_client, timer);

	snprintf(c->detail, sizeof(c->detail), "%s: no answer",
	    c->server[c->si].host);
	next_addr(c);
}

/* Open, connect and send on address ai of server si; 0 or -errno. */
static int
send_request(struct sntp_client *c)
{
	union dns_sockaddr *a = &c->addrs.addr[c->ai];
	uint8_t req[SNTP_PACKET_LEN];
	socklen_t len;
	ssize_t n;
	int fd, rc;

	if (a->sa.sa_family == AF_INET) {
		a->in.sin_port = htons(c->server[c->si].port);
		len = sizeof(a->in);
	} else {
		a->in6.sin6_port = htons(c->server[c->si].port);
		len = sizeof(a->in6);
	}
	if ((fd = net_socket(a->sa.sa_family, SOCK_DGRAM)) < 0)
		return fd;
	rx_watch_init(&c->w, fd, on_io, NULL);
	if ((rc = net_connect(fd, &a->sa, len)) < 0 ||
	    (rc = sntp_request(&c->query, req)) < 0)
		return rc;
	c->t1_ms = util_wall_ms();
	if ((n = net_write(fd, req, sizeof(req))) < 0)
		return (int)n;
	rx_watch_set(c->loop, &c->w, RX_READ);
	return rx_timer_start(c->loop, &c->timer, c->try_ms);
}

static void
try_addr(struct sntp_client *c)
{
	int rc;

	while (c->ai < c->addrs.n) {
		if ((rc = send_request(c)) == 0)
			return;
		snprintf(c->detail, sizeof(c->detail), "%s: %s",
		    c->server[c->si].host, strerror(-rc));
		drop_socket(c);
		c->ai++;
	}
	c->si++;
	next_server(c);
}

static void
on_resolved(
    struct dns_query *q, enum dns_error err, const struct dns_result *res)
{
	struct sntp_client *c = container_of(q, struct sntp_client, q);

	if (err != DNS_OK) {
		snprintf(c->detail, sizeof(c->detail), "%s: %s",
		    c->server[c->si].host, dns_error_str(err));
		c->si++;
		next_server(c);
		return;
	}
	c->addrs = *res;
	c->ai = 0;
	try_addr(c);
}

static void
next_server(struct sntp_client *c)
{
	int rc;

	while (c->si < c->n_servers) {
		rc = dns_resolve(c->resolver, &c->q, c->server[c->si].host);
		if (rc == 0)
			return;
		snprintf(c->detail, sizeof(c->detail), "%s: %s",
		    c->server[c->si].host, strerror(-rc));
		c->si++;
	}
	finish(c, NULL);
}

/* sntp_client_start()'s first step, run from the loop. */
static void
on_kick(struct rx_loop *l, struct rx_defer *d)
{
	next_server(container_of(d, struct sntp_client, kick));
}

/* One "host", "host:port", "[v6]", "[v6]:port" or bare IPv6 entry. */
static int
parse_server(struct sntp_server *s, const char *p, size_t n)
{
	const char *host = p, *colon = NULL, *end = p + n;
	size_t hlen = n;
	char *stop;
	long port = SNTP_PORT;

	if (n > 0 && p[0] == '[') {
		const char *rb = memchr(p, ']', n);
		if (rb == NULL)
			return -EINVAL;
		host = p + 1;
		hlen = (size_t)(rb - host);
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return -EINVAL;
			colon = rb + 1;
		}
	} else if ((colon = memchr(p, ':', n)) != NULL) {
		if (memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
			colon = NULL; /* a bare IPv6 literal */
		else
			hlen = (size_t)(colon - p);
	}
	if (colon != NULL) {
		char num[8];
		size_t plen = (size_t)(end - colon - 1);
		if (plen == 0 || plen >= sizeof(num))
			return -EINVAL;
		memcpy(num, colon + 1, plen);
		num[plen] = '\0';
		port = strtol(num, &stop, 10);
		if (*stop != '\0' || port < 1 || port > 65535)
			return -EINVAL;
	}
	if (hlen == 0 || hlen > SNTP_HOST_MAX)
		return -EINVAL;
	memcpy(s->host, host, hlen);
	s->host[hlen] = '\0';
	s->port = (uint16_t)port;
	return 0;
}

static int
parse_servers(struct sntp_server server[SNTP_MAX_SERVERS], size_t *count,
    const char *list, char *err, size_t errlen)
{
	const char *p = list, *e;
	size_t n;

	*count = 0;
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		e = p + strcspn(p, ", ");
		n = (size_t)(e - p);
		if (*count == SNTP_MAX_SERVERS) {
			snprintf(err, errlen,
			    "NTP_SERVERS: more than %d servers",
			    SNTP_MAX_SERVERS);
			return -EINVAL;
		}
		if (parse_server(&server[*count], p, n) < 0) {
			snprintf(err, errlen, "NTP_SERVERS: bad server '%.*s'",
			    (int)(n > 64 ? 64 : n), p);
			return -EINVAL;
		}
		(*count)++;
		p = e;
	}
	return 0;
}

/* see sntp.h */
int
sntp_servers_check(const char *servers, char *err, size_t errlen)
{
	struct sntp_server server[SNTP_MAX_SERVERS];
	size_t n;

	if (parse_servers(server, &n, servers, err, errlen) < 0)
		return -EINVAL;
	if (n == 0) {
		snprintf(err, errlen, "NTP_SERVERS: names no server");
		return -EINVAL;
	}
	return 0;
}

/* see sntp.h */
int
sntp_client_init(struct sntp_client *c, struct rx_loop *l,
    struct dns_resolver *r, const char *servers, int64_t try_ms,
    sntp_done_fn *done, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->loop = l;
	c->resolver = r;
	c->done = done;
	c->try_ms = try_ms > 0 ? try_ms : SNTP_DEFAULT_TRY_MS;
	c->w.fd = -1;
	rx_timer_init(&c->timer, on_timer);
	rx_defer_init(&c->kick, on_kick);
	dns_query_init(&c->q, on_resolved);
	return parse_servers(c->server, &c->n_servers, servers, err, errlen);
}

/* see sntp.h */
int
sntp_client_start(struct sntp_client *c)
{
	if (c->active)
		return -EALREADY;
	if (c->n_servers == 0)
		return -ENOENT;
	c->si = c->ai = 0;
	c->addrs.n = 0;
	c->detail[0] = '\0';
	/* Begin from the loop, so done never runs inside this call. */
	rx_defer(c->loop, &c->kick);
	c->active = true;
	return 0;
}

/* see sntp.h */
void
sntp_client_stop(struct sntp_client *c)
{
	rx_timer_stop(c->loop, &c->timer);
	rx_defer_cancel(c->loop, &c->kick);
	dns_query_cancel(&c->q);
	drop_socket(c);
	c->active = false;
}

/* see sntp.h */
int
sntp_clock_step(int64_t offset_ms)
{
	struct timespec ts;
	int64_t ns;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -errno;
	ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + offset_ms * 1000000;
	if (ns < 0)
		return -EINVAL;
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
}
