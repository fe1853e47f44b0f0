/*
 * libFuzzer target: the edge front door's path router and its JSON writer.
 *
 * Input byte 0 picks the mode:
 *   even: the rest is "path[?query]": edge_route_parse() must agree with
 *         itself (slices inside the input, valid names), and a proxy
 *         route's URL, when built, must parse as an absolute http(s) URL
 *         whose host is exactly the route's host; a connect route's
 *         target, when accepted, has a port and a host of safe bytes.
 *   odd:  the rest is split at NUL bytes into connector name, tunnel id,
 *         hostname and address; the registry JSON written from them must
 *         be valid JSON (checked by a small strict validator below).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "lib/url.h"

#define DEPTH_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static bool
inside(const char *s, size_t n, const char *p, size_t len)
{
	return len == 0 || (s >= p && s + n <= p + len);
}

/* A connect route's target: a port 1..65535 and a host of safe bytes. */
static void
fuzz_target(const struct edge_route *r, const char *p, size_t plen)
{
	char host[EDGE_HOST_MAX];
	uint16_t port = 0;

	check(edge_name_valid(r->name, r->namelen));
	check(inside(r->hostport, r->hostportlen, p, plen));
	if (!edge_route_target(r, host, sizeof(host), &port))
		return;
	check(port > 0 && strlen(host) > 0 && strlen(host) < r->hostportlen);
	check(strspn(host,
		  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		  "0123456789.-_:") == strlen(host));
}

static void
fuzz_route(const char *p, size_t n)
{
	const char *q = memchr(p, '?', n), *why;
	size_t plen = q != NULL ? (size_t)(q - p) : n;
	size_t qlen = q != NULL ? n - plen - 1 : 0;
	char url[URL_MAX + 1];
	struct edge_route r;
	struct url u;
	long len;

	switch (edge_route_parse(p, plen, &r)) {
	case EDGE_R_NONE:
	case EDGE_R_LIST:
		return;
	case EDGE_R_DRAIN:
		check(inside(r.tunnel, r.tunnellen, p, plen));
		/* fallthrough */
	case EDGE_R_CONNECTOR:
	case EDGE_R_REVOKE:
		check(edge_name_valid(r.name, r.namelen));
		check(inside(r.name, r.namelen, p, plen));
		return;
	case EDGE_R_CONNECT:
		fuzz_target(&r, p, plen);
		return;
	case EDGE_R_PROXY:
		break;
	}
	check(edge_name_valid(r.name, r.namelen));
	check(inside(r.hostport, r.hostportlen, p, plen));
	check(inside(r.rest, r.restlen, p, plen));
	check(r.restlen == 0 || r.rest[0] == '/');
	len =
	    edge_route_url(&r, q != NULL ? q + 1 : "", qlen, url, sizeof(url));
	if (len < 0)
		return;
	check((size_t)len == strlen(url));
	check(url_parse(url, (size_t)len, &u, &why));
	check(u.tls == r.tls && u.userinfo == NULL);
	/* The host the connector will dial is the one in the route. */
	check(u.hostlen <= r.hostportlen);
}

/* A strict JSON validator: returns the position after one value or NULL. */
static const char *value(const char *p, const char *end, int depth);

static const char *
string(const char *p, const char *end)
{
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c != '\\')
			continue;
		if (++p >= end)
			return NULL;
		if (*p == 'u') {
			if (end - p < 5)
				return NULL;
			for (int i = 1; i <= 4; i++)
				if (!strchr("0123456789abcdefABCDEF", p[i]) ||
				    p[i] == '\0')
					return NULL;
			p += 4;
		} else if (!strchr("\"\\/bfnrt", *p) || *p == '\0') {
			return NULL;
		}
	}
	return NULL;
}

static const char *
container(const char *p, const char *end, int depth, char close, bool obj)
{
	if (++p < end && *p == close)
		return p + 1;
	for (;;) {
		if (obj) {
			if ((p = string(p, end)) == NULL || p >= end ||
			    *p++ != ':')
				return NULL;
		}
		if ((p = value(p, end, depth + 1)) == NULL || p >= end)
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
value(const char *p, const char *end, int depth)
{
	if (p >= end || depth > DEPTH_MAX)
		return NULL;
	if (*p == '{')
		return container(p, end, depth, '}', true);
	if (*p == '[')
		return container(p, end, depth, ']', false);
	if (*p == '"')
		return string(p, end);
	if (end - p >= 4 && memcmp(p, "null", 4) == 0)
		return p + 4;
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			;
		return p;
	}
	return NULL;
}

/* Copy the next NUL-separated field (truncated to cap - 1). */
static void
field(const char **p, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (*p < end && **p != '\0') {
		if (n + 1 < cap)
			out[n++] = **p;
		(*p)++;
	}
	if (*p < end)
		(*p)++;
	out[n] = '\0';
}

static void
fuzz_json(const char *p, size_t n)
{
	static struct edge e;
	static struct edge_conn c;
	static struct edge_tunnel t;
	static char mem[64 * 1024];
	struct edge_connector k = {0};
	const char *end = p + n, *v;
	struct buf b;

	memset(&c, 0, sizeof(c));
	memset(&t, 0, sizeof(t));
	field(&p, end, k.name, sizeof(k.name));
	field(&p, end, t.id, sizeof(t.id));
	field(&p, end, t.hostname, sizeof(t.hostname));
	field(&p, end, c.addr, sizeof(c.addr));
	t.c = &c;
	c.e = &e;
	if (e.ss == NULL)
		check(
		    edge_sessions_init(&e) == 0); /* none open: "sessions":[] */
	t.accepted = n & 1;
	t.since_ms = (int64_t)n * 1000003;
	t.in_flight = (unsigned)n;
	list_init(&k.tunnels);
	list_append(&k.tunnels, &t.link);
	buf_init(&b, mem, sizeof(mem));
	edge_json_connector(&b, &k);
	check(!b.overflow);
	v = value((const char *)b.p, (const char *)b.p + b.len, 0);
	check(v == (const char *)b.p + b.len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_json((const char *)data + 1, size - 1);
	else
		fuzz_route((const char *)data + 1, size - 1);
	return 0;
}
