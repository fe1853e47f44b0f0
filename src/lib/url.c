#include <string.h>
#include <strings.h>

#include "lib/url.h"

static bool
fail(const char **why, const char *msg)
{
	*why = msg;
	return false;
}

static bool
parse_scheme(const char **p, const char *end, struct url *u)
{
	size_t n = (size_t)(end - *p);

	if (n >= 7 && strncasecmp(*p, "http://", 7) == 0) {
		u->tls = false;
		u->port = 80;
		*p += 7;
		return true;
	}
	if (n >= 8 && strncasecmp(*p, "https://", 8) == 0) {
		u->tls = true;
		u->port = 443;
		*p += 8;
		return true;
	}
	return false;
}

static bool
parse_port(const char *p, const char *end, struct url *u)
{
	unsigned long v = 0;

	if (p == end || end - p > 5)
		return false;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	u->port = (uint16_t)v;
	u->port_given = true;
	return true;
}

static bool
host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static bool
parse_authority(const char *p, const char *end, struct url *u, const char **why)
{
	const char *at, *hend, *q;

	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL) {
		u->userinfo = p;
		u->userinfolen = (size_t)(at - p);
		p = at + 1;
	}
	if (p < end && *p == '[') {
		hend = memchr(p, ']', (size_t)(end - p));
		if (hend == NULL)
			return fail(why, "unterminated IPv6 literal");
		u->host = p + 1;
		u->hostlen = (size_t)(hend - p - 1);
		u->ipv6 = true;
		for (q = u->host; q < hend; q++)
			if (!(host_char_ok(*q) || *q == ':'))
				return fail(
				    why, "bad character in IPv6 literal");
		q = hend + 1;
	} else {
		for (q = p; q < end && *q != ':'; q++)
			if (!host_char_ok(*q))
				return fail(why, "bad character in host");
		u->host = p;
		u->hostlen = (size_t)(q - p);
	}
	if (u->hostlen == 0)
		return fail(why, "missing host");
	if (u->hostlen > URL_HOST_MAX)
		return fail(why, "host too long");
	if (q < end) {
		if (*q != ':' || !parse_port(q + 1, end, u))
			return fail(why, "bad port");
	}
	return true;
}

/* see url.h */
bool
url_parse(const char *s, size_t n, struct url *u, const char **why)
{
	const char *p = s, *end = s + n, *aend, *c;

	memset(u, 0, sizeof(*u));
	if (n > URL_MAX)
		return fail(why, "URL too long");
	for (c = s; c < end; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return fail(why, "control character or space in URL");
	if (memchr(s, '#', n) != NULL)
		return fail(why, "fragment in URL");
	if (!parse_scheme(&p, end, u))
		return fail(why, "scheme is not http or https");
	for (aend = p; aend < end && *aend != '/' && *aend != '?'; aend++)
		;
	if (!parse_authority(p, aend, u, why))
		return false;
	if (aend == end) {
		u->path = "/";
		u->pathlen = 1;
	} else {
		u->path = aend;
		u->pathlen = (size_t)(end - aend);
	}
	return true;
}

/* see url.h */
bool
url_parse_hostport(const char *s, size_t n, struct url *u, const char **why)
{
	const char *c;

	memset(u, 0, sizeof(*u));
	for (c = s; c < s + n; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '/' ||
		    *c == '?' || *c == '#')
			return fail(why, "not host:port");
	if (!parse_authority(s, s + n, u, why))
		return false;
	if (u->userinfo != NULL)
		return fail(why, "credentials in host:port");
	if (!u->port_given)
		return fail(why, "missing port");
	u->path = "/";
	u->pathlen = 1;
	return true;
}
