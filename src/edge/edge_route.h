/*
 * edge_route.h — the front door's path router, pure and sans-I/O: it
 * splits a request path (without the query) into one of the API's
 * routes and builds the upstream URL of a proxied request.  Every slice
 * points into the caller's path, which must outlive the struct.  Nothing
 * here allocates; safe anywhere.  Fuzzed by tests/fuzz/fuzz_edge_route.c.
 *
 *   /v1/connectors                                    EDGE_R_LIST
 *   /v1/connectors/{name}                             EDGE_R_CONNECTOR
 *   /v1/connectors/{name}/proxy/{http|https}/{host[:port]}[/{path...}]
 *                                                     EDGE_R_PROXY
 *   /v1/connectors/{name}/tunnels/{id}/drain          EDGE_R_DRAIN
 *   /v1/connectors/{name}/revoke                      EDGE_R_REVOKE
 *   /v1/connectors/{name}/connect/{host}:{port}       EDGE_R_CONNECT
 *
 * Names are 1..EDGE_NAME_MAX-1 bytes of [A-Za-z0-9._-] (not "." or
 * ".."); tunnel ids 1..EDGE_ID_MAX-1 bytes of [A-Za-z0-9_-].
 */
#ifndef EDGE_EDGE_ROUTE_H
#define EDGE_EDGE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDGE_NAME_MAX 64
#define EDGE_ID_MAX 64

enum edge_route_kind {
	EDGE_R_NONE = 0, /* not an API path: 404 */
	EDGE_R_LIST,
	EDGE_R_CONNECTOR,
	EDGE_R_PROXY,
	EDGE_R_DRAIN,
	EDGE_R_REVOKE,
	EDGE_R_CONNECT,
};

struct edge_route {
	enum edge_route_kind kind;
	const char *name;
	size_t namelen;
	bool tls; /* proxy: https */
	const char *hostport; /* proxy: host[:port]; connect: host:port */
	size_t hostportlen;
	const char *rest; /* proxy: "/..." after the host, or empty */
	size_t restlen;
	const char *tunnel; /* drain: the tunnel id */
	size_t tunnellen;
};

/* Route path[0..n).  Returns r->kind; EDGE_R_NONE leaves r unspecified. */
enum edge_route_kind edge_route_parse(
    const char *path, size_t n, struct edge_route *r);

/* True when s[0..n) is a valid connector name (see above). */
bool edge_name_valid(const char *s, size_t n);

/*
 * The upstream URL of a proxy route with the request's query (q may be
 * empty): "scheme://host[:port]/path[?query]", NUL-terminated in out.
 * Returns its length, or -1 when it does not fit or is not a valid
 * absolute http(s) URL (url_parse).
 */
long edge_route_url(const struct edge_route *r, const char *q, size_t qlen,
    char *out, size_t cap);

/*
 * The target of a connect route: host (a name of [A-Za-z0-9.-_], or an
 * IPv4 or [IPv6] literal, brackets dropped) NUL-terminated in host (cap
 * bytes) and the port, 1..65535, which must be given.  False when the
 * target is malformed or does not fit.
 */
bool edge_route_target(
    const struct edge_route *r, char *host, size_t cap, uint16_t *port);

#endif
