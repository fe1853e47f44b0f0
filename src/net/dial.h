/*
 * dial.h — an asynchronous TCP dialer on the reactor: resolve, then connect
 * to each address in turn (IPv4 and IPv6 interleaved) with a per-attempt
 * and a total deadline, optionally through an HTTP CONNECT proxy, and hand
 * the owner a connected non-blocking socket or a typed reason.
 *
 * struct dial is embedded in its owner (dial_init() allocates nothing; a
 * dial through a proxy allocates its request buffer once, dial_free()).
 * The owner's callback runs exactly once per dial_start() that returned 0,
 * unless dial_cancel() comes first, and never from inside dial_start().
 * On success it receives fd >= 0: the socket is connected (and, through a
 * proxy, the tunnel is established), it is no longer watched by the
 * reactor, and it belongs to the owner from then on.  On failure fd is -1
 * and r says why.  The callback may restart or cancel the dialer.
 *
 * dial_cancel() is safe at any time, from any callback, idempotent.  The
 * attempt's socket is detached from the reactor (rx_watch_release) and
 * closed at once; events already collected for it in this iteration are
 * dropped, and a dialer restarted within the same iteration ignores them
 * too.  The struct must stay valid until the reactor iteration in which it
 * was cancelled ends (as for any embedded watcher).
 *
 * Through a proxy, failing to resolve or reach the proxy, and a bad or
 * non-2xx answer from it, are DIAL_PROXY (proxy_status set when it
 * answered, sys/dns kept for detail); the deadlines are still
 * DIAL_TIMEOUT.  The proxy's credentials are sent once and never logged,
 * and the request buffer is wiped after it is written.
 *
 * With a target policy (dial_opts.policy, net/netpolicy.h) the dialer
 * connects only to addresses the policy passed: host:port is checked
 * first (a target no rule could match ends in DIAL_POLICY without a DNS
 * query), then EVERY address the name resolved to (one refused address
 * refuses the dial: DIAL_POLICY, nothing connected, detail naming the
 * address), and only those addresses are dialled.  Through a proxy, a
 * CIDR rule cannot be checked by the proxy: a target that the policy
 * passes only by its addresses (NETPOLICY_RESOLVE) is resolved here,
 * checked, and the CONNECT names the first checked address as an IP
 * literal; a target listed by name is sent to the proxy by name (the
 * proxy resolves it, as without a policy), and an IP literal as itself.
 *
 * Timers: one per dialer, plus one for its DNS query while resolving.
 */
#ifndef NET_DIAL_H
#define NET_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/url.h"
#include "net/dns.h"
#include "net/netpolicy.h"
#include "rx/rx.h"

#define DIAL_DEFAULT_ATTEMPT_MS 5000
#define DIAL_DEFAULT_TOTAL_MS 10000
#define DIAL_PROXY_AUTH_MAX 512 /* "Basic " and base64 of user:pass */
#define DIAL_PROXY_BUF 4096 /* CONNECT request, then the answer's head */

enum dial_error {
	DIAL_OK = 0,
	DIAL_DNS, /* see r->dns */
	DIAL_REFUSED, /* every address refused (RST to SYN) */
	DIAL_UNREACHABLE, /* no route, network down, no usable address */
	DIAL_TIMEOUT, /* an attempt or the whole dial ran out of time */
	DIAL_RESET, /* reset or aborted while connecting */
	DIAL_PROXY, /* the proxy failed or refused: proxy_status, detail */
	DIAL_POLICY, /* dial_opts.policy refused the target or an address */
};

struct dial_result {
	enum dial_error err;
	enum dns_error dns; /* for DIAL_DNS */
	int sys; /* -errno behind the last failed attempt, or 0 */
	int proxy_status; /* the proxy's HTTP status, 0 when none */
	unsigned attempts; /* connect attempts made */
	/* Connected to, or last tried (port set); through a proxy, the
	 * proxy's address. */
	union dns_sockaddr peer;
	/* Bytes the far end sent right after the proxy's 2xx answer (a
	 * server that speaks first); valid only during the callback. */
	const uint8_t *early;
	size_t early_len;
	char detail[128]; /* for logs; never holds credentials */
};

/* An HTTP CONNECT proxy, parsed from EGRESS_PROXY_URL.  auth is secret. */
struct dial_proxy {
	char host[URL_HOST_MAX + 1];
	uint16_t port;
	char auth[DIAL_PROXY_AUTH_MAX + 1]; /* "Basic ..." or "" */
};

struct dial_opts {
	int64_t attempt_ms; /* per address; DIAL_DEFAULT_ATTEMPT_MS */
	int64_t
	    total_ms; /* DNS + all attempts + proxy; DIAL_DEFAULT_TOTAL_MS */
	const struct dial_proxy *proxy; /* NULL: direct; outlives the dial */
	/* With proxy: connect to the proxy and hand the socket over without
	 * a CONNECT (its owner sends absolute-form HTTP requests); the
	 * policy checks the target exactly as for a CONNECT. */
	bool proxy_plain;
	/* NULL: any address; else the addresses dialled must pass it (see
	 * above); outlives the dial. */
	const struct netpolicy *policy;
};

struct dial;
typedef void dial_done_fn(struct dial *d, int fd, const struct dial_result *r);

/* Embedded in its owner; fields are private to dial.c. */
struct dial {
	struct rx_loop *loop;
	struct dns_resolver *dns;
	dial_done_fn *done;
	struct dns_query q;
	struct rx_watch w;
	struct rx_timer timer;
	struct rx_defer refuse; /* DIAL_POLICY before any query */
	int state;
	uint64_t born; /* reactor iteration the attempt's socket was made */
	int64_t deadline, attempt_deadline;
	struct dial_opts o;
	/* The target; through a proxy, what CONNECT names (the checked
	 * address once a policy made the dialer resolve it). */
	char host[DNS_NAME_MAX + 1];
	uint16_t port;
	struct dns_result addrs;
	size_t next;
	struct dial_result res;
	size_t plen, poff;
	uint8_t *pbuf; /* DIAL_PROXY_BUF bytes, on the first proxied dial */
};

void dial_init(struct dial *d, struct rx_loop *l, struct dns_resolver *dns,
    dial_done_fn *done);

/*
 * Dial host:port (host: a name, an IPv4 literal, or an IPv6 literal with or
 * without brackets).  o may be NULL for the defaults.  Returns 0 (the
 * callback will run), -EALREADY if d is dialling, -EINVAL for a bad host,
 * or another -errno (no timer left, resolver busy).
 */
int dial_start(
    struct dial *d, const char *host, uint16_t port, const struct dial_opts *o);

/* Stop d: no callback afterwards, the socket is closed. */
void dial_cancel(struct dial *d);

/* Cancel d and release its proxy buffer (allocated by the first dial
 * through a proxy; direct dials never allocate). */
void dial_free(struct dial *d);

bool dial_active(const struct dial *d);

/* "ok", "dns", "refused", "unreachable", "timeout", "reset", "proxy",
 * "policy". */
const char *dial_error_str(enum dial_error err);

/*
 * Parse an http://[user[:pass]@]host[:port][/] proxy URL (userinfo may be
 * percent-encoded).  Returns true, or false with *why naming the defect
 * (never echoing the URL, which may hold a password).  Wipe p with
 * dial_proxy_wipe() when done.
 */
bool dial_proxy_parse(struct dial_proxy *p, const char *url, const char **why);
void dial_proxy_wipe(struct dial_proxy *p);

#endif
