/*
 * edge_route.c — the front door's path router (see edge_route.h).
 */
#include <string.h>

#include "edge/edge_route.h"
#include "lib/url.h"

#define PREFIX "/v1/connectors"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* The next segment of p[0..n) starting at *i (just after a '/'). */
static bool
segment(const char *p, size_t n, size_t *i, const char **s, size_t *len)
{
	size_t j = *i;

	while (j < n && p[j] != '/')
		j++;
	*s = p + *i;
	*len = j - *i;
	*i = j < n ? j + 1 : j;
	return *len > 0;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* see edge_route.h */
bool
edge_name_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= EDGE_NAME_MAX)
		return false;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static bool
id_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= EDGE_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!name_char(s[i]) || s[i] == '.')
			return false;
	return true;
}

static bool
is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* /proxy/{scheme}/{hostport}[/rest] after the name; i is past "proxy/". */
static enum edge_route_kind
route_proxy(const char *p, size_t n, size_t i, struct edge_route *r)
{
	const char *s;
	size_t len, j;

	if (!segment(p, n, &i, &s, &len))
		return EDGE_R_NONE;
	if (is(s, len, "https"))
		r->tls = true;
	else if (!is(s, len, "http"))
		return EDGE_R_NONE;
	j = i;
	if (!segment(p, n, &i, &r->hostport, &r->hostportlen))
		return EDGE_R_NONE;
	/* rest keeps its leading '/'; i skipped it. */
	j += r->hostportlen;
	r->rest = p + j;
	r->restlen = n - j;
	return r->kind = EDGE_R_PROXY;
}

/* see edge_route.h */
enum edge_route_kind
edge_route_parse(const char *p, size_t n, struct edge_route *r)
{
	const char *s;
	size_t len, i = PREFIX_LEN + 1;

	memset(r, 0, sizeof(*r));
	if (n < PREFIX_LEN || memcmp(p, PREFIX, PREFIX_LEN) != 0)
		return EDGE_R_NONE;
	if (n == PREFIX_LEN)
		return r->kind = EDGE_R_LIST;
	if (p[PREFIX_LEN] != '/')
		return EDGE_R_NONE;
	if (!segment(p, n, &i, &r->name, &r->namelen) ||
	    !edge_name_valid(r->name, r->namelen))
		return EDGE_R_NONE;
	if (r->name + r->namelen == p + n)
		return r->kind = EDGE_R_CONNECTOR;
	if (!segment(p, n, &i, &s, &len))
		return EDGE_R_NONE;
	if (is(s, len, "proxy"))
		return route_proxy(p, n, i, r);
	if (is(s, len, "revoke") && i == n && p[n - 1] != '/')
		return r->kind = EDGE_R_REVOKE;
	if (is(s, len, "connect") &&
	    segment(p, n, &i, &r->hostport, &r->hostportlen) && i == n &&
	    p[n - 1] != '/')
		return r->kind = EDGE_R_CONNECT;
	if (!is(s, len, "tunnels") ||
	    !segment(p, n, &i, &r->tunnel, &r->tunnellen) ||
	    !id_valid(r->tunnel, r->tunnellen) ||
	    !segment(p, n, &i, &s, &len) || !is(s, len, "drain") || i != n ||
	    p[n - 1] == '/')
		return EDGE_R_NONE;
	return r->kind = EDGE_R_DRAIN;
}

static bool
add(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
	if (n >= cap - *at)
		return false;
	memcpy(out + *at, s, n);
	*at += n;
	out[*at] = '\0';
	return true;
}

/* see edge_route.h */
long
edge_route_url(const struct edge_route *r, const char *q, size_t qlen,
    char *out, size_t cap)
{
	const char *scheme = r->tls ? "https://" : "http://", *why;
	size_t at = 0, i;
	struct url u;

	if (r->kind != EDGE_R_PROXY || cap == 0)
		return -1;
	out[0] = '\0';
	/* The host must not smuggle a path, query, fragment or userinfo. */
	for (i = 0; i < r->hostportlen; i++)
		if (strchr("/?#@\\%", r->hostport[i]) != NULL)
			return -1;
	if (!add(out, cap, &at, scheme, strlen(scheme)) ||
	    !add(out, cap, &at, r->hostport, r->hostportlen) ||
	    !add(out, cap, &at, r->restlen > 0 ? r->rest : "/",
		r->restlen > 0 ? r->restlen : 1))
		return -1;
	if (qlen > 0 &&
	    (!add(out, cap, &at, "?", 1) || !add(out, cap, &at, q, qlen)))
		return -1;
	if (!url_parse(out, at, &u, &why))
		return -1;
	return (long)at;
}

static bool
host_valid(const char *h, size_t n, bool v6)
{
	const char *set = v6 ? "0123456789abcdefABCDEF:." : NULL;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (h[i] == '\0' ||
		    (set != NULL ? strchr(set, h[i]) == NULL
				 : !name_char(h[i])))
			return false;
	return true;
}

/* see edge_route.h */
bool
edge_route_target(
    const struct edge_route *r, char *host, size_t cap, uint16_t *port)
{
	const char *hp = r->hostport, *colon;
	size_t n = r->hostportlen, hl, i;
	unsigned long v = 0;
	bool v6;

	if (r->kind != EDGE_R_CONNECT || n == 0 ||
	    (colon = memrchr(hp, ':', n)) == NULL)
		return false;
	hl = (size_t)(colon - hp);
	v6 = hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']';
	if (v6) {
		hp++;
		hl -= 2;
	}
	if (!host_valid(hp, hl, v6) || hl >= cap)
		return false;
	for (i = (size_t)(colon - r->hostport) + 1; i < n; i++) {
		if (r->hostport[i] < '0' || r->hostport[i] > '9' || v > 65535)
			return false;
		v = v * 10 + (unsigned long)(r->hostport[i] - '0');
	}
	if (colon + 1 == r->hostport + n || v == 0 || v > 65535)
		return false;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return true;
}
