/*
 * noproxy.h — the proxy environment as Go's net/http reads it (the
 * anchor connector's rules): which requests bypass HTTP_PROXY /
 * HTTPS_PROXY (NO_PROXY), and the proxy values themselves.
 *
 * NO_PROXY is a comma-separated list; spaces around an entry are
 * ignored, an empty entry is skipped, matching ignores case and one
 * trailing dot.  Each entry is one of
 *   *                  every host: nothing is proxied
 *   10.0.0.0/8         an IPv4 or IPv6 CIDR (host bits are ignored)
 *   192.0.2.7          an IP address, exactly; IPv6 with or without
 *   [2001:db8::1]      brackets
 *   corp.example       that name and every name under it
 *   .corp.example      only names under it (also written *.corp.example)
 * and a name or an address may carry a port (corp.example:8080,
 * [::1]:443, 192.0.2.7:80): then only requests to that port match.
 * Names match names only and addresses addresses only (an IP host is
 * never compared with a name entry as text).  Whatever the list says,
 * "localhost" and loopback addresses (127.0.0.0/8, ::1) are never
 * proxied, as in Go.  A malformed entry (a bad CIDR or port, a name with
 * characters no host name has, an entry longer than a name) is an error
 * naming its position, not skipped as Go does: a silently ignored entry
 * would send that traffic to the proxy.
 *
 * A proxy value is http://[user[:pass]@]host[:port] (net/dial.h's
 * dial_proxy_parse()), or host[:port] without a scheme, which means
 * http:// as in Go.  https:// and socks5:// proxies are refused.
 *
 * Lifetime: a struct noproxy is a startup object (heap, immutable once
 * parsed, freed with noproxy_free()); matching allocates nothing and
 * only reads, so one list may serve every request.
 */
#ifndef NET_NOPROXY_H
#define NET_NOPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dial.h"

#define NOPROXY_MAX_ENTRIES 128
#define NOPROXY_ERR_MAX 128 /* a useful size for noproxy_parse's err */

struct noproxy;

/*
 * Parse list (NULL or blank: no entries) into a new matcher.  Returns 0
 * with *out set, -EINVAL with err naming the entry and the defect
 * ("entry 2: port out of range"; entries hold no secrets, but only their
 * position is named), or -ENOMEM.
 */
int noproxy_parse(
    struct noproxy **out, const char *list, char *err, size_t errlen);

/* NULL is allowed. */
void noproxy_free(struct noproxy *np);

/*
 * True when a request to host:port goes direct: host is localhost or a
 * loopback address, or an entry of np (NULL: none) matches.  host is a
 * name or an IP literal (brackets allowed); port is the request's,
 * the scheme's default when the URL names none.
 */
bool noproxy_bypass(const struct noproxy *np, const char *host, uint16_t port);

/*
 * Parse a proxy value (see above) into p.  true, or false with *why
 * naming the defect without echoing the value (it may hold a password).
 * Wipe p with dial_proxy_wipe() when done.
 */
bool noproxy_proxy_parse(
    struct dial_proxy *p, const char *value, const char **why);

#endif
