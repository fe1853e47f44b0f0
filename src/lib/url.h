/*
 * url.h — absolute http/https URL parsing, zero-copy.
 *
 * Accepts scheme "http" or "https" (case-insensitive), an optional
 * userinfo (user[:password]@, reported separately and never logged), a
 * host (reg-name, IPv4, or [IPv6] literal), an optional port, and a
 * path-and-query.  The fragment is rejected (never sent on the wire).
 * All slices point into the caller's string, which must outlive the
 * struct.  Control bytes, spaces and over-long components are errors.
 */
#ifndef LIB_URL_H
#define LIB_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URL_HOST_MAX 253
#define URL_MAX 8192

struct url {
	bool tls; /* https */
	const char *host; /* without brackets for IPv6 literals */
	size_t hostlen;
	bool ipv6; /* host was a [literal] */
	uint16_t port; /* explicit or the scheme's default */
	bool port_given;
	const char *userinfo; /* NULL when absent; secret-bearing */
	size_t userinfolen;
	const char *path; /* "/" when the URL has none */
	size_t pathlen; /* path and query */
};

/* Parse s[0..n).  Returns true, or false with *why naming the defect. */
bool url_parse(const char *s, size_t n, struct url *u, const char **why);

/*
 * Parse an authority s[0..n) of the form host:port (host a name, IPv4, or
 * [IPv6] literal; the port required; no credentials, path or query), as in
 * TRAVERSAL_CONTROLLER_CONNECT_TO.  Fills host, hostlen, ipv6, port and
 * port_given (tls false, path "/").  Returns true, or false with *why.
 */
bool url_parse_hostport(
    const char *s, size_t n, struct url *u, const char **why);

#endif
