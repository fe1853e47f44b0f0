/*
 * netpolicy.h — the one target matcher: SESSION_ALLOW (sessions, #13) and
 * EGRESS_ALLOW (the executor's HTTP egress, #14) are lists of it.
 *
 * Syntax: a comma-separated list of targets (spaces around an entry are
 * ignored; an empty entry is an error), each TARGET:PORTS where
 *   TARGET  host.name          a host name, listed literally (case-
 *                              insensitive, one trailing dot ignored)
 *           *.suffix           any name ending in ".suffix" (at least one
 *                              label more; not "suffix" itself)
 *           1.2.3.4            an IPv4 address, listed literally
 *           10.0.0.0/8         an IPv4 CIDR (host bits must be zero)
 *           [::1] [fd00::/8]   an IPv6 address or CIDR, in brackets
 *   PORTS   5432 or 5432-5433  a port 1-65535 or an inclusive range
 * e.g. "10.0.0.0/8:5432, db.internal:5432-5433, [fd00::/8]:22".
 * At most NETPOLICY_MAX_RULES entries.
 *
 * Matching is two-step, so a caller can decide before it resolves:
 *   1. netpolicy_check_name(p, host, port) on the requested target;
 *   2. unless that said DENY, netpolicy_check_addrs() on EVERY address the
 *      name resolved to, and dial only those addresses (net/dial.h does
 *      both when dial_opts.policy is set).
 * An address passes when
 *   - it is listed exactly (an address rule, or a /32 or /128 CIDR) for
 *     the port; otherwise
 *   - it is refused when it is a cloud metadata or link-local address
 *     (netpolicy_is_special(): 169.254.0.0/16, fe80::/10, fd00:ec2::254,
 *     fd20:ce::254, 100.100.100.200, 168.63.129.16): no wider CIDR and no
 *     listed name lets one through, so neither "0.0.0.0/0" nor a listed
 *     name that resolves (or is rebound) to 169.254.169.254 reaches it;
 *   - it passes when the host it was resolved from is listed by a name or
 *     *.suffix rule for the port, or when a CIDR rule for the port
 *     contains it.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), as addresses to check and
 * as hosts, are checked as the IPv4 address a.b.c.d: "10.0.0.0/8" matches
 * ::ffff:10.1.2.3 and "[::/0]" does not.  A rule inside ::ffff:0:0/96 is a
 * parse error (write the IPv4 form).  An address in the NAT64 prefix
 * 64:ff9b::/96 counts as special when the IPv4 address it embeds is.
 * Host names never match address rules textually and addresses never
 * match name rules: "10.0.0.1" as a host is an address.
 *
 * Lifetime: a policy is a startup object (heap, immutable once built),
 * freed with netpolicy_free(); checking is read-only and allocates
 * nothing, so one policy may be shared by any number of dials.
 */
#ifndef NET_NETPOLICY_H
#define NET_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/dns.h"

#define NETPOLICY_MAX_RULES 256
#define NETPOLICY_ERR_MAX 160 /* a useful size for netpolicy_parse's err */

struct netpolicy;

enum netpolicy_verdict {
	NETPOLICY_DENY = 0, /* no rule could ever match host:port */
	NETPOLICY_ALLOW, /* host is listed (by name or as the address) */
	NETPOLICY_RESOLVE, /* address rules may match: resolve, then check */
};

/*
 * Parse list (see the syntax above) into a new policy.  Returns 0 with
 * *out set, -EINVAL with err naming the entry and the defect ("entry 2
 * \"db:99999\": port is not a number 1-65535"; entries hold no secrets),
 * or -ENOMEM.  An empty or blank list is -EINVAL ("empty list"): an unset
 * setting is the caller's decision (sessions off; egress netpolicy_any()).
 */
int netpolicy_parse(
    struct netpolicy **out, const char *list, char *err, size_t errlen);

/*
 * The policy of an unset EGRESS_ALLOW: every address on every port
 * ("0.0.0.0/0:1-65535,[::/0]:1-65535"), so metadata and link-local
 * addresses are refused and nothing else.  Static: never fails, never
 * freed.
 */
const struct netpolicy *netpolicy_any(void);

/* NULL (and netpolicy_any()) are allowed: nothing happens. */
void netpolicy_free(struct netpolicy *p);

/*
 * Step 1.  host is a name or an IPv4/IPv6 literal (brackets allowed).
 *   an address: ALLOW when it passes (see above), else DENY (final: its
 *     resolution is itself);
 *   a name: ALLOW when a name or *.suffix rule lists it for port (its
 *     addresses are still checked in step 2, for metadata and link-local
 *     only); else RESOLVE when some address rule covers port; else DENY.
 * A malformed host (empty, too long) is DENY.
 */
enum netpolicy_verdict netpolicy_check_name(
    const struct netpolicy *p, const char *host, uint16_t port);

/*
 * Step 2.  True only when n > 0 and EVERY address in addrs[0..n) (ports
 * ignored; a struct dns_result's addr and n) passes for host:port; host is
 * what was resolved (as given to step 1).  An address of another family
 * than AF_INET/AF_INET6 fails.
 */
bool netpolicy_check_addrs(const struct netpolicy *p, const char *host,
    uint16_t port, const union dns_sockaddr *addrs, size_t n);

/* One address, with the same rules (a convenience of the above). */
bool netpolicy_check_addr(const struct netpolicy *p, const char *host,
    uint16_t port, const struct sockaddr *sa);

/* Cloud metadata or link-local (see above), after IPv4-mapped unwrapping. */
bool netpolicy_is_special(const struct sockaddr *sa);

/* Number of rules (for logs: "SESSION_ALLOW: 3 targets"). */
size_t netpolicy_count(const struct netpolicy *p);

#endif
