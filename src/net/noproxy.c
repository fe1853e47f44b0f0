/*
 * noproxy.c — NO_PROXY matching and proxy values (noproxy.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/url.h"
#include "lib/util.h"
#include "net/noproxy.h"

enum np_kind {
	NP_ALL, /* "*" */
	NP_NAME, /* name, or .suffix when sub_only */
	NP_ADDR, /* an address, exactly */
	NP_CIDR,
};

struct np_entry {
	enum np_kind kind;
	bool sub_only; /* ".corp": names under it, not "corp" itself */
	uint16_t port; /* 0: any */
	int family; /* AF_INET or AF_INET6 for NP_ADDR / NP_CIDR */
	unsigned prefix; /* bits, NP_CIDR */
	uint8_t addr[16];
	char name[URL_HOST_MAX + 1]; /* lower case, no trailing dot */
};

struct noproxy {
	size_t n;
	struct np_entry e[NOPROXY_MAX_ENTRIES];
};

/* An IP literal (brackets allowed for IPv6) into family and addr. */
static bool
parse_ip(const char *s, size_t n, int *family, uint8_t addr[16])
{
	char tmp[INET6_ADDRSTRLEN + 2];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, addr) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* True when the first bits of a and b agree. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 ||
	    ((a[full] ^ b[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static bool
parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* Letters, digits, '-', '_' and dots between labels. */
static bool
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > URL_HOST_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' ||
			(c == '.' && s[i + 1] != '.')))
			return false;
	}
	return true;
}

/* The "/n" of a CIDR whose address parse_ip() put into e; false when it is
 * not a valid prefix length. */
static bool
parse_cidr(struct np_entry *e, const char *s, size_t n, const char *slash)
{
	const char *p, *end = s + n;
	unsigned bits = 0;

	if (slash + 1 == end || end - slash > 4)
		return false;
	for (p = slash + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		bits = bits * 10 + (unsigned)(*p - '0');
	}
	if (bits > (e->family == AF_INET ? 32u : 128u))
		return false;
	e->kind = NP_CIDR;
	e->prefix = bits;
	return true;
}

/* Split "host:port" / "[v6]:port" / "host"; false on a bad port. */
static bool
split_port(const char *s, size_t *n, uint16_t *port)
{
	const char *colon = memrchr(s, ':', *n);

	*port = 0;
	if (colon == NULL)
		return true;
	/* A bare IPv6 address has colons but no port. */
	if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)) != NULL)
		return true;
	if (s[0] == '[' && colon[-1] != ']')
		return true;
	if (!parse_port(colon + 1, (size_t)(s + *n - colon - 1), port))
		return false;
	*n = (size_t)(colon - s);
	return true;
}

/* One trimmed, non-empty entry; NULL or the defect. */
static const char *
parse_entry(struct noproxy *np, const char *s, size_t n)
{
	struct np_entry *e = &np->e[np->n];
	const char *slash = memchr(s, '/', n);

	memset(e, 0, sizeof(*e));
	if (n == 1 && s[0] == '*') {
		e->kind = NP_ALL;
		return NULL;
	}
	if (slash != NULL &&
	    !parse_ip(s, (size_t)(slash - s), &e->family, e->addr))
		return "not a host name, address or CIDR";
	if (slash != NULL)
		return parse_cidr(e, s, n, slash) ? NULL : "bad CIDR";
	if (!split_port(s, &n, &e->port))
		return "bad port";
	if (parse_ip(s, n, &e->family, e->addr)) {
		e->kind = NP_ADDR;
		return NULL;
	}
	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		s++;
		n--;
	}
	if (n > 0 && s[0] == '.') {
		e->sub_only = true;
		s++;
		n--;
	}
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (!name_ok(s, n))
		return "not a host name, address or CIDR";
	e->kind = NP_NAME;
	memcpy(e->name, s, n);
	e->name[n] = '\0';
	return NULL;
}

/* see noproxy.h */
int
noproxy_parse(struct noproxy **out, const char *list, char *err, size_t errlen)
{
	struct noproxy *np = calloc(1, sizeof(*np));
	const char *s = list != NULL ? list : "", *why;
	unsigned pos = 0;

	*out = NULL;
	if (np == NULL)
		return -ENOMEM;
	while (*s != '\0') {
		size_t len = strcspn(s, ","), lead = strspn(s, " \t");
		size_t n = lead < len ? len - lead : 0;
		const char *p = s + lead;

		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		pos++;
		s += len + (s[len] == ',');
		if (n == 0)
			continue;
		if (np->n == NOPROXY_MAX_ENTRIES) {
			snprintf(err, errlen, "more than %d entries",
			    NOPROXY_MAX_ENTRIES);
			free(np);
			return -EINVAL;
		}
		if ((why = parse_entry(np, p, n)) != NULL) {
			snprintf(err, errlen, "entry %u: %s", pos, why);
			free(np);
			return -EINVAL;
		}
		np->n++;
	}
	*out = np;
	return 0;
}

/* see noproxy.h */
void
noproxy_free(struct noproxy *np)
{
	free(np);
}

/* 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104 (Go's IsLoopback). */
static bool
is_loopback(int family, const uint8_t *a)
{
	static const uint8_t v6[16] = {[15] = 1};
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

	if (family == AF_INET)
		return a[0] == 127;
	return memcmp(a, v6, 16) == 0 ||
	    (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

static bool
name_match(const struct np_entry *e, const char *host, size_t n)
{
	size_t m = strlen(e->name);

	if (n == m && !e->sub_only)
		return strncasecmp(host, e->name, n) == 0;
	return n > m && host[n - m - 1] == '.' &&
	    strncasecmp(host + n - m, e->name, m) == 0;
}

static bool
entry_match(const struct np_entry *e, const char *host, size_t n, int family,
    const uint8_t *addr, uint16_t port)
{
	if (e->port != 0 && e->port != port)
		return false;
	switch (e->kind) {
	case NP_ALL:
		return true;
	case NP_NAME:
		return family == 0 && name_match(e, host, n);
	case NP_ADDR:
		return family == e->family &&
		    memcmp(addr, e->addr, family == AF_INET ? 4 : 16) == 0;
	case NP_CIDR:
		return family == e->family &&
		    prefix_equal(addr, e->addr, e->prefix);
	}
	return false;
}

/* see noproxy.h */
bool
noproxy_bypass(const struct noproxy *np, const char *host, uint16_t port)
{
	size_t n = strlen(host), i;
	uint8_t addr[16];
	int family = 0;

	if (n > 0 && host[n - 1] == '.')
		n--;
	if (!parse_ip(host, n, &family, addr))
		family = 0;
	if (family != 0 ? is_loopback(family, addr)
			: n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return true;
	if (np == NULL)
		return false;
	for (i = 0; i < np->n; i++)
		if (entry_match(&np->e[i], host, n, family, addr, port))
			return true;
	return false;
}

/* see noproxy.h */
bool
noproxy_proxy_parse(struct dial_proxy *p, const char *value, const char **why)
{
	char *url;
	size_t n = strlen(value);
	bool ok;

	if (strstr(value, "://") != NULL)
		return dial_proxy_parse(p, value, why);
	/* No scheme: http://, as Go reads it. */
	if (n > URL_MAX - 7 || (url = malloc(n + 8)) == NULL) {
		memset(p, 0, sizeof(*p));
		*why = n > URL_MAX - 7 ? "too long" : "out of memory";
		return false;
	}
	memcpy(url, "http://", 7);
	memcpy(url + 7, value, n + 1);
	ok = dial_proxy_parse(p, url, why);
	util_wipe(url, n + 8);
	free(url);
	return ok;
}
