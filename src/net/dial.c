/*
 * The dialer's state machine: [policy: resolving the target through a
 * proxy] → resolving → connecting (address after address) → [proxy:
 * sending CONNECT → reading the answer] → done.  One reactor timer holds
 * the nearer of the attempt and total deadlines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "net/dial_int.h"
#include "net/net.h"

enum {
	ST_IDLE,
	ST_REFUSING, /* the policy refused host:port; refuse deferred */
	ST_RESOLVING_TARGET, /* a policy check through a proxy */
	ST_RESOLVING,
	ST_CONNECTING,
	ST_PROXY_SEND,
	ST_PROXY_RECV,
};

static void attempt_next(struct dial *d);

/* see dial.h */
const char *
dial_error_str(enum dial_error err)
{
	static const char *const names[] = {"ok", "dns", "refused",
	    "unreachable", "timeout", "reset", "proxy", "policy"};

	return (size_t)err < nitems(names) ? names[err] : "dial";
}

/* see dial.h */
bool
dial_active(const struct dial *d)
{
	return d->state != ST_IDLE;
}

/* Detach the attempt's socket from the reactor and close it now. */
static void
sock_drop(struct dial *d)
{
	int fd;

	if (d->w.fd < 0)
		return;
	if ((fd = rx_watch_release(d->loop, &d->w)) >= 0)
		net_close(fd);
}

/* The request once sent (its credentials), or whatever a failure left. */
static void
wipe_pbuf(struct dial *d)
{
	if (d->pbuf != NULL)
		util_wipe(d->pbuf, d->plen);
}

static void
finish(struct dial *d, int fd)
{
	rx_timer_stop(d->loop, &d->timer);
	rx_defer_cancel(d->loop, &d->refuse);
	dns_query_cancel(&d->q);
	/*
	 * On success res.early points into pbuf, which then holds only the
	 * proxy's answer (the request with its credentials was wiped once
	 * sent): keep it for the callback.  A failure may hold the request.
	 */
	if (fd < 0) {
		sock_drop(d);
		wipe_pbuf(d);
	}
	d->plen = 0;
	d->state = ST_IDLE;
	d->done(d, fd, &d->res);
}

static void fail(struct dial *d, enum dial_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct dial *d, enum dial_error err, const char *fmt, ...)
{
	va_list ap;

	d->res.err = err;
	va_start(ap, fmt);
	vsnprintf(d->res.detail, sizeof(d->res.detail), fmt, ap);
	va_end(ap);
	finish(d, -1);
}

static void
succeed(struct dial *d, const uint8_t *early, size_t n)
{
	d->res.err = DIAL_OK;
	d->res.early = early;
	d->res.early_len = n;
	finish(d, rx_watch_release(d->loop, &d->w));
}

static enum dial_error
classify(int e)
{
	switch (-e) {
	case ECONNREFUSED:
		return DIAL_REFUSED;
	case ETIMEDOUT:
		return DIAL_TIMEOUT;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
		return DIAL_RESET;
	default:
		return DIAL_UNREACHABLE;
	}
}

/* Keep the most telling failure over all attempts: a host that refused
 * says more than one that timed out, which says more than no route. */
static void
note(struct dial *d, int e)
{
	static const int rank[] = {[DIAL_UNREACHABLE] = 1,
	    [DIAL_TIMEOUT] = 2,
	    [DIAL_RESET] = 3,
	    [DIAL_REFUSED] = 4};
	enum dial_error err = classify(e);

	if (d->res.sys == 0 || rank[err] >= rank[classify(d->res.sys)])
		d->res.sys = e;
}

static void
out_of_addresses(struct dial *d)
{
	char peer[NET_ADDR_STRLEN];
	int e = d->res.sys != 0 ? d->res.sys : -ENETUNREACH;

	net_addr_str(&d->res.peer.sa, peer, sizeof(peer));
	if (d->o.proxy != NULL)
		fail(d, DIAL_PROXY, "proxy %s: %s", peer, strerror(-e));
	else
		fail(d, classify(e), "%s: %s", peer, strerror(-e));
}

static void
on_connected(struct dial *d)
{
	int r = net_connect_result(d->w.fd);

	if (r < 0) {
		note(d, r);
		sock_drop(d);
		attempt_next(d);
		return;
	}
	/* Connected: only the total deadline applies from here. */
	rx_timer_start(d->loop, &d->timer, d->deadline - rx_now(d->loop));
	if (d->o.proxy == NULL || d->o.proxy_plain) {
		succeed(d, NULL, 0);
		return;
	}
	if (d->pbuf == NULL && (d->pbuf = malloc(DIAL_PROXY_BUF)) == NULL) {
		fail(d, DIAL_PROXY, "out of memory");
		return;
	}
	if (dial_proxy_request(d) < 0) {
		fail(d, DIAL_PROXY, "CONNECT request too long");
		return;
	}
	d->state = ST_PROXY_SEND;
	rx_watch_set(d->loop, &d->w, RX_WRITE);
}

static void
proxy_send(struct dial *d)
{
	ssize_t n;

	while (d->poff < d->plen) {
		n = net_write(d->w.fd, d->pbuf + d->poff, d->plen - d->poff);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			d->res.sys = (int)n;
			fail(d, DIAL_PROXY, "sending CONNECT: %s",
			    strerror((int)-n));
			return;
		}
		d->poff += (size_t)n;
	}
	/* The request may carry credentials. */
	wipe_pbuf(d);
	d->plen = 0;
	d->state = ST_PROXY_RECV;
	rx_watch_set(d->loop, &d->w, RX_READ);
}

static void
proxy_recv(struct dial *d)
{
	ssize_t n;
	int r, status = 0;

	n = net_read(d->w.fd, d->pbuf + d->plen, DIAL_PROXY_BUF - d->plen);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		d->res.sys = (int)n;
		fail(d, DIAL_PROXY, "proxy closed before answering: %s",
		    n == 0 ? "eof" : strerror((int)-n));
		return;
	}
	d->plen += (size_t)n;
	r = dial_proxy_answer(d, &status);
	if (r == DIAL_PROXY_PARTIAL && d->plen < DIAL_PROXY_BUF)
		return;
	if (r < 0) {
		fail(d, DIAL_PROXY, "malformed or oversized proxy answer");
		return;
	}
	d->res.proxy_status = status;
	if (status < 200 || status > 299) {
		fail(d, DIAL_PROXY, "proxy answered %d", status);
		return;
	}
	succeed(d, d->pbuf + r, d->plen - (size_t)r);
}

static void
dial_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct dial *d = container_of(w, struct dial, w);

	/* Collected before this socket was registered: it was for a socket
	 * this dialer has dropped since, within this iteration. */
	if (l->iterations == d->born)
		return;
	if (d->state == ST_CONNECTING)
		on_connected(d);
	else if (d->state == ST_PROXY_SEND)
		proxy_send(d);
	else if (d->state == ST_PROXY_RECV)
		proxy_recv(d);
}

static int
attempt(struct dial *d, const union dns_sockaddr *a)
{
	union dns_sockaddr sa = *a;
	uint16_t port = d->o.proxy != NULL ? d->o.proxy->port : d->port;
	socklen_t len;
	int64_t now = rx_now(d->loop);
	int fd, r;

	if (sa.sa.sa_family == AF_INET) {
		sa.in.sin_port = htons(port);
		len = sizeof(sa.in);
	} else {
		sa.in6.sin6_port = htons(port);
		len = sizeof(sa.in6);
	}
	d->res.peer = sa;
	d->res.attempts++;
	if ((fd = net_socket(sa.sa.sa_family, SOCK_STREAM)) < 0)
		return fd;
	/* Every user writes whole messages (TLS records, HTTP/2 frames,
	 * requests): no Nagle delay behind the peer's delayed ACK. */
	net_set_opt(fd, NET_NODELAY, true);
	r = net_connect(fd, &sa.sa, len);
	if (r < 0 && r != -EINPROGRESS) {
		net_close(fd);
		return r;
	}
	rx_watch_init(&d->w, fd, dial_io, NULL);
	rx_watch_set(d->loop, &d->w, RX_WRITE);
	d->born = d->loop->iterations;
	d->state = ST_CONNECTING;
	d->attempt_deadline = MIN(now + d->o.attempt_ms, d->deadline);
	rx_timer_start(d->loop, &d->timer, d->attempt_deadline - now);
	return 0;
}

static void
attempt_next(struct dial *d)
{
	int r;

	while (d->next < d->addrs.n) {
		r = attempt(d, &d->addrs.addr[d->next++]);
		if (r == 0)
			return;
		note(d, r);
	}
	out_of_addresses(d);
}

/* Every address passes the policy (see dial.h), or DIAL_POLICY naming the
 * first refused one. */
static bool
policy_passes(struct dial *d, const struct dns_result *res)
{
	char a[NET_ADDR_STRLEN];
	size_t i;

	for (i = 0; i < res->n; i++) {
		if (!netpolicy_check_addr(
			d->o.policy, d->host, d->port, &res->addr[i].sa))
			break;
	}
	if (i == res->n)
		return true;
	d->res.peer = res->addr[i];
	net_addr_str(&res->addr[i].sa, a, sizeof(a));
	fail(d, DIAL_POLICY, "%s resolved to %s, which the policy refuses",
	    d->host, a);
	return false;
}

/* The target through a proxy, resolved here for the policy: CONNECT will
 * name its first (checked) address; now resolve the proxy. */
static void
on_target(struct dial *d, enum dns_error err, const struct dns_result *res)
{
	const union dns_sockaddr *a = &res->addr[0];
	int rc;

	if (err != DNS_OK) {
		fail(d, DIAL_DNS, "%s (%s)", dns_error_str(err),
		    dns_query_detail(&d->q));
		return;
	}
	if (!policy_passes(d, res))
		return;
	if (a->sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->in.sin_addr, d->host, sizeof(d->host));
	else
		inet_ntop(
		    AF_INET6, &a->in6.sin6_addr, d->host, sizeof(d->host));
	d->state = ST_RESOLVING;
	if ((rc = dns_resolve(d->dns, &d->q, d->o.proxy->host)) < 0)
		fail(d, DIAL_PROXY, "proxy name %s: %s", d->o.proxy->host,
		    strerror(-rc));
}

static void
on_dns(struct dns_query *q, enum dns_error err, const struct dns_result *res)
{
	struct dial *d = container_of(q, struct dial, q);

	d->res.dns = err;
	if (d->state == ST_RESOLVING_TARGET) {
		on_target(d, err, res);
		return;
	}
	if (err != DNS_OK && d->o.proxy != NULL) {
		fail(d, DIAL_PROXY, "proxy name %s: %s", d->o.proxy->host,
		    dns_error_str(err));
		return;
	}
	if (err != DNS_OK) {
		fail(d, DIAL_DNS, "%s (%s)", dns_error_str(err),
		    dns_query_detail(q));
		return;
	}
	if (d->o.policy != NULL && d->o.proxy == NULL && !policy_passes(d, res))
		return;
	d->addrs = *res;
	d->next = 0;
	attempt_next(d);
}

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	struct dial *d = container_of(t, struct dial, timer);

	if (d->state == ST_RESOLVING || d->state == ST_RESOLVING_TARGET) {
		/* The resolver's own deadline is longer than ours. */
		d->res.dns = DNS_TIMEOUT;
		fail(d,
		    d->o.proxy != NULL && d->state == ST_RESOLVING ? DIAL_PROXY
								   : DIAL_DNS,
		    "dns_timeout (dial deadline)");
	} else if (rx_now(l) >= d->deadline) {
		d->res.sys = -ETIMEDOUT;
		fail(d, DIAL_TIMEOUT, "dial deadline (%lld ms) passed%s",
		    (long long)d->o.total_ms,
		    d->state >= ST_PROXY_SEND ? " waiting for the proxy" : "");
	} else {
		note(d, -ETIMEDOUT);
		sock_drop(d);
		attempt_next(d);
	}
}

static void
on_refuse(struct rx_loop *l, struct rx_defer *q)
{
	struct dial *d = container_of(q, struct dial, refuse);

	fail(d, DIAL_POLICY, "the policy refuses %s:%u", d->host, d->port);
}

/* see dial.h */
void
dial_init(struct dial *d, struct rx_loop *l, struct dns_resolver *dns,
    dial_done_fn *done)
{
	memset(d, 0, sizeof(*d));
	d->loop = l;
	d->dns = dns;
	d->done = done;
	rx_watch_init(&d->w, -1, NULL, NULL);
	rx_timer_init(&d->timer, on_timer);
	rx_defer_init(&d->refuse, on_refuse);
	dns_query_init(&d->q, on_dns);
}

static int
set_host(struct dial *d, const char *host)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(d->host))
		return -EINVAL;
	memcpy(d->host, host, n);
	d->host[n] = '\0';
	return 0;
}

/* see dial.h */
int
dial_start(
    struct dial *d, const char *host, uint16_t port, const struct dial_opts *o)
{
	enum netpolicy_verdict v;
	int rc;

	if (d->state != ST_IDLE)
		return -EALREADY;
	if (port == 0 || set_host(d, host) < 0)
		return -EINVAL;
	d->o = o != NULL ? *o : (struct dial_opts){0};
	if (d->o.attempt_ms <= 0)
		d->o.attempt_ms = DIAL_DEFAULT_ATTEMPT_MS;
	if (d->o.total_ms <= 0)
		d->o.total_ms = DIAL_DEFAULT_TOTAL_MS;
	d->port = port;
	d->res = (struct dial_result){0};
	d->addrs.n = d->next = 0;
	d->deadline = rx_now(d->loop) + d->o.total_ms;
	v = d->o.policy != NULL
	    ? netpolicy_check_name(d->o.policy, d->host, port)
	    : NETPOLICY_ALLOW;
	if (v == NETPOLICY_DENY) {
		d->state = ST_REFUSING;
		rx_defer(d->loop, &d->refuse);
		return 0;
	}
	if ((rc = rx_timer_start(d->loop, &d->timer, d->o.total_ms)) < 0)
		return rc;
	/* Through a proxy, a target that only its addresses can pass is
	 * resolved here first (see dial.h). */
	d->state = d->o.proxy != NULL && v == NETPOLICY_RESOLVE
	    ? ST_RESOLVING_TARGET
	    : ST_RESOLVING;
	rc = dns_resolve(d->dns, &d->q,
	    d->o.proxy != NULL && d->state == ST_RESOLVING ? d->o.proxy->host
							   : d->host);
	if (rc < 0) {
		rx_timer_stop(d->loop, &d->timer);
		d->state = ST_IDLE;
		return rc;
	}
	return 0;
}

/* see dial.h */
void
dial_cancel(struct dial *d)
{
	if (d->state == ST_IDLE)
		return;
	rx_timer_stop(d->loop, &d->timer);
	rx_defer_cancel(d->loop, &d->refuse);
	dns_query_cancel(&d->q);
	sock_drop(d);
	wipe_pbuf(d);
	d->plen = 0;
	d->state = ST_IDLE;
}

/* see dial.h */
void
dial_free(struct dial *d)
{
	dial_cancel(d);
	free(d->pbuf);
	d->pbuf = NULL;
}
