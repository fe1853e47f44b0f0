/*
 * dns.h — name resolution on the reactor, with c-ares underneath.
 *
 * The resolver is a startup object (dns_new/dns_free); queries are hot
 * objects embedded in their owner (struct dns_query).  c-ares never blocks:
 * its sockets are opened, connected, read, written and closed through the
 * socket shim (net.h) via ares_set_socket_functions(), watched by the
 * reactor through the socket-state callback, and its retransmissions are
 * driven by one reactor timer set from ares_timeout().  getaddrinfo() is
 * never called.
 *
 * Answered without any query: "localhost", "localhost." and any name under
 * ".localhost" (127.0.0.1 then ::1, RFC 6761, even with no /etc/hosts as
 * in a scratch container), and numeric IPv4/IPv6 literals.  Everything
 * else goes to c-ares, which honours /etc/hosts and resolv.conf unless the
 * configuration says otherwise.
 *
 * Queries for the same name while one is in c-ares share it: one question
 * on the wire, every waiter called back with the answer (each still has its
 * own deadline).  Many requests to one upstream name at once thus cost one
 * slot, not one each.
 *
 * Bounds: at most max_queries distinct names are in c-ares at once (a name
 * whose waiters all cancelled or passed their deadline keeps its slot until
 * c-ares lets go of it, which its own retry budget, derived from
 * timeout_ms, bounds); at most DNS_MAX_ADDRS addresses per answer; each
 * query has a deadline of timeout_ms.
 *
 * Timers: the resolver uses one reactor timer and each active query one;
 * size rx_init()'s max_timers accordingly.
 */
#ifndef NET_DNS_H
#define NET_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/list.h"
#include "rx/rx.h"

#define DNS_MAX_ADDRS 16
#define DNS_NAME_MAX 254 /* 253 and an optional trailing dot */
#define DNS_DEFAULT_QUERIES 64
#define DNS_DEFAULT_TIMEOUT_MS 5000

/* c-ares's distinctions a user acts on differently are kept apart. */
enum dns_error {
	DNS_OK = 0,
	DNS_NXDOMAIN, /* the name (or any address for it) does not exist */
	DNS_TIMEOUT, /* no answer within the deadline */
	DNS_FAIL, /* anything else: bad reply, no memory, ... */
	DNS_SERVFAIL, /* the server answered SERVFAIL */
	DNS_REFUSED, /* the server answered REFUSED */
};

union dns_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* Addresses with port 0; IPv4 and IPv6 interleaved, starting with the
 * family of the first answer.  Duplicates removed. */
struct dns_result {
	size_t n;
	union dns_sockaddr addr[DNS_MAX_ADDRS];
};

/*
 * Configuration; every field may be zero/NULL for the default.  Strings
 * are copied by dns_new().
 *   servers     "ip[:port],[ipv6]:port,..." replaces resolv.conf's
 *               nameservers (DNS_SERVERS, for scratch images).
 *   resolvconf  path of resolv.conf (default /etc/resolv.conf).
 *   lookups     c-ares lookup order: "fb" (hosts file, then DNS; the
 *               default) or "b" (DNS only) or "f".
 *   hosts_env   let the CARES_HOSTS environment variable name the hosts
 *               file (tests); otherwise /etc/hosts.
 */
struct dns_config {
	const char *servers;
	const char *resolvconf;
	const char *lookups;
	bool hosts_env;
	unsigned max_queries; /* DNS_DEFAULT_QUERIES */
	int64_t timeout_ms; /* DNS_DEFAULT_TIMEOUT_MS */
};

struct dns_resolver;
struct dns_query;

/*
 * Called exactly once per dns_resolve() that returned 0, unless the query
 * is cancelled first; never from inside dns_resolve().  res is valid for
 * the duration of the call (n > 0 when err is DNS_OK).  The callback may
 * free or restart q, and call anything in this module.
 */
typedef void dns_done_fn(
    struct dns_query *q, enum dns_error err, const struct dns_result *res);

/* Embedded in its owner; fields are private to dns.c. */
struct dns_query {
	struct dns_resolver *r;
	struct dns_slot *slot; /* our entry in c-ares, NULL when none */
	struct list_node wait; /* on slot's waiters while slot != NULL */
	struct rx_timer deadline; /* armed while c-ares is asked */
	struct rx_defer deliver; /* queued once the result below is final */
	dns_done_fn *done;
	bool active; /* between dns_resolve() and the callback */
	enum dns_error err;
	const char *detail; /* static text: why, for logs */
	struct dns_result res;
};

/*
 * Create a resolver on loop l.  Returns 0, or -errno with a message in
 * err (never containing secrets).  Setup phase only.
 */
int dns_new(struct dns_resolver **out, struct rx_loop *l,
    const struct dns_config *c, char *err, size_t errlen);

/*
 * Configuration check of a DNS_SERVERS value with c-ares's own parser (the
 * one dns_new() uses), on a channel that is never used.  NULL or "" is
 * valid.  Returns 0, or -EINVAL / -ENOMEM with a message in err.
 */
int dns_servers_check(const char *servers, char *err, size_t errlen);

/* Destroy r; active queries are cancelled silently (no callbacks). */
void dns_free(struct dns_resolver *r);

void dns_query_init(struct dns_query *q, dns_done_fn *done);

/*
 * Resolve name into addresses.  Returns 0 (the callback will run), or
 * -EINVAL for a malformed name, -EALREADY if q is active, -EBUSY when
 * max_queries other names are in flight, -ENOSPC when the reactor has no timer left
 * for the deadline of a query that goes to c-ares (a local answer, see
 * dns_resolve_local(), needs no timer: it is delivered by rx_defer()).
 */
int dns_resolve(struct dns_resolver *r, struct dns_query *q, const char *name);

/* Stop q: no callback afterwards.  Safe at any time, idempotent. */
void dns_query_cancel(struct dns_query *q);

/*
 * Static token for err, for logs and counters: "ok", "nxdomain",
 * "dns_timeout", "dns_servfail", "dns_refused", "dns".
 */
const char *dns_error_str(enum dns_error err);

/*
 * Static text for err, for an error's detail shown to a user: "no such
 * name", "DNS timeout", "DNS server failure", "refused by the DNS server",
 * "DNS failure" ("ok" for DNS_OK).
 */
const char *dns_error_detail(enum dns_error err);

/* Static text with the last query's detail (c-ares' reason), for logs. */
static inline const char *
dns_query_detail(const struct dns_query *q)
{
	return q->detail != NULL ? q->detail : "";
}

/*
 * Fill res for the names answered without a query (localhost names and
 * numeric literals).  Returns true when name is one of them.
 */
bool dns_resolve_local(const char *name, struct dns_result *res);

#endif
