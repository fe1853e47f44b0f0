/*
 * The target matcher: a flat array of rules, scanned in order (at most
 * NETPOLICY_MAX_RULES; policies are short lists written by hand).
 * Addresses are kept as 16 bytes, IPv4 in the mapped form ::ffff:a.b.c.d,
 * so one prefix comparison serves both families and a mapped IPv6 address
 * is its IPv4 address by construction.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "net/netpolicy.h"

#define ENTRY_SHOW 64 /* bytes of an entry quoted in a message */
#define V4_BITS 96 /* where an IPv4 address starts in the mapped form */

enum kind {
	K_NAME, /* host.name */
	K_SUFFIX, /* *.suffix: name holds ".suffix" */
	K_NET, /* address or CIDR */
};

struct addr16 {
	uint8_t b[16];
};

struct rule {
	enum kind kind;
	uint16_t lo, hi;
	unsigned bits; /* K_NET: prefix length over the 16 bytes */
	bool v6; /* K_NET: an IPv6 rule, never matching an IPv4 address */
	struct addr16 net;
	char name[DNS_NAME_MAX + 2]; /* K_NAME / K_SUFFIX, lower case */
};

struct netpolicy {
	size_t n;
	const struct rule *r; /* n rules: the allocation's rest, or static */
};

/* netpolicy_any(): 0.0.0.0/0 (the mapped prefix) and ::/0, every port. */
static const struct rule any_rules[] = {
    {.kind = K_NET,
	.lo = 1,
	.hi = 65535,
	.bits = 96,
	.net = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}}},
    {.kind = K_NET, .lo = 1, .hi = 65535, .bits = 0, .v6 = true},
};
static const struct netpolicy any = {nitems(any_rules), any_rules};

/* --- addresses ------------------------------------------------------------ */

static const uint8_t mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void
addr_from_v4(struct addr16 *a, const void *v4)
{
	memcpy(a->b, mapped_prefix, sizeof(mapped_prefix));
	memcpy(a->b + 12, v4, 4);
}

static bool
addr_is_v4(const struct addr16 *a)
{
	return memcmp(a->b, mapped_prefix, sizeof(mapped_prefix)) == 0;
}

static bool
addr_from_sa(struct addr16 *a, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		addr_from_v4(a, &((const struct sockaddr_in *)sa)->sin_addr);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(a->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* An IPv4 or IPv6 literal (no brackets) into a. */
static bool
addr_parse(struct addr16 *a, const char *s)
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, s, v4) == 1) {
		addr_from_v4(a, v4);
		return true;
	}
	return inet_pton(AF_INET6, s, a->b) == 1;
}

static bool
prefix_eq(const struct addr16 *a, const struct addr16 *net, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a->b, net->b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a->b[whole] & mask) == (net->b[whole] & mask);
}

/* The special ranges, in the 16-byte form (IPv4 ones as mapped). */
static const struct special {
	const char *addr;
	unsigned bits; /* over the 16 bytes */
} specials[] = {
    {"169.254.0.0", V4_BITS + 16}, /* IPv4 link-local, most metadata */
    {"100.100.100.200", 128}, /* Alibaba Cloud metadata */
    {"168.63.129.16", 128}, /* Azure WireServer */
    {"fe80::", 10}, /* IPv6 link-local */
    {"fd00:ec2::254", 128}, /* AWS IMDS over IPv6 */
    {"fd20:ce::254", 128}, /* Google Cloud metadata over IPv6 */
};

static bool
special_direct(const struct addr16 *a)
{
	struct addr16 net;
	size_t i;

	for (i = 0; i < nitems(specials); i++) {
		if (addr_parse(&net, specials[i].addr) &&
		    prefix_eq(a, &net, specials[i].bits))
			return true;
	}
	return false;
}

/* An address in the NAT64 well-known prefix reaches the IPv4 it embeds. */
static bool
addr_special(const struct addr16 *a)
{
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
	struct addr16 v4;

	if (memcmp(a->b, nat64, sizeof(nat64)) == 0) {
		addr_from_v4(&v4, a->b + 12);
		return special_direct(&v4);
	}
	return special_direct(a);
}

/* see netpolicy.h */
bool
netpolicy_is_special(const struct sockaddr *sa)
{
	struct addr16 a;

	return addr_from_sa(&a, sa) && addr_special(&a);
}

/* --- names ---------------------------------------------------------------- */

/* A host name: labels of letters, digits, '-' and '_' (1-63 bytes, no '-'
 * at either end), at most DNS_NAME_MAX - 1 bytes, not ending in an
 * all-digit label (which resolvers may read as a number). */
static bool
name_valid(const char *s, size_t n)
{
	size_t i, label = 0;
	bool digits = true;

	if (n == 0 || n >= DNS_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			digits = true;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return false;
		if ((label == 0 && ch == '-') || ++label > 63)
			return false;
		digits = digits && isdigit(ch);
	}
	return label > 0 && s[n - 1] != '-' && !digits;
}

/* Copy host without brackets and one trailing dot, lower case; false when
 * it does not fit. */
static bool
host_norm(char *out, size_t cap, const char *host)
{
	size_t n = strlen(host), i;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	} else if (n > 1 && host[n - 1] == '.') {
		n--;
	}
	if (n == 0 || n >= cap)
		return false;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)host[i]);
	out[n] = '\0';
	return true;
}

/* --- parsing -------------------------------------------------------------- */

struct perr {
	char *buf;
	size_t cap;
	unsigned index; /* 1-based */
	const char *text;
	size_t len;
};

static int perr_say(struct perr *e, const char *why) __attribute__((cold));

static int
perr_say(struct perr *e, const char *why)
{
	int show = (int)MIN(e->len, (size_t)ENTRY_SHOW);
	size_t i;
	char quoted[ENTRY_SHOW + 1];

	/* Only printable bytes of the entry; entries hold no secrets. */
	for (i = 0; i < (size_t)show; i++)
		quoted[i] =
		    isprint((unsigned char)e->text[i]) ? e->text[i] : '?';
	quoted[show] = '\0';
	if (e->cap > 0)
		snprintf(e->buf, e->cap, "entry %u \"%s%s\": %s", e->index,
		    quoted, e->len > ENTRY_SHOW ? "..." : "", why);
	return -EINVAL;
}

/* A decimal number 0..max of 1 to 5 digits. */
static bool
dec(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return v <= max;
}

static bool
port_num(const char *s, size_t n, uint16_t *out)
{
	unsigned v;

	if (!dec(s, n, 65535, &v) || v == 0)
		return false;
	*out = (uint16_t)v;
	return true;
}

static int
parse_ports(struct perr *e, struct rule *r, const char *s, size_t n)
{
	const char *dash = memchr(s, '-', n);

	if (n == 0)
		return perr_say(e, "missing port after ':'");
	if (dash == NULL) {
		if (!port_num(s, n, &r->lo))
			return perr_say(e, "port is not a number 1-65535");
		r->hi = r->lo;
		return 0;
	}
	if (!port_num(s, (size_t)(dash - s), &r->lo) ||
	    !port_num(dash + 1, n - (size_t)(dash - s) - 1, &r->hi))
		return perr_say(e, "port range is not N-M with ports 1-65535");
	if (r->lo > r->hi)
		return perr_say(e, "port range is reversed (first > last)");
	return 0;
}

/* "addr/len" or "addr" into r; v6 says which family it must be. */
static int
parse_net(struct perr *e, struct rule *r, const char *s, size_t n, bool v6)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = memchr(s, '/', n);
	size_t alen = slash != NULL ? (size_t)(slash - s) : n;
	unsigned len, i, full = v6 ? 128 : 32;

	if (alen == 0 || alen >= sizeof(buf))
		return perr_say(e, "not an IP address");
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (!addr_parse(&r->net, buf))
		return perr_say(e, "not an IP address");
	if (addr_is_v4(&r->net) != !v6)
		return perr_say(e,
		    v6 ? "IPv4 (or IPv4-mapped) address in "
			 "brackets: write a.b.c.d without them"
		       : "an IPv6 address needs brackets: "
			 "[addr]:port");
	len = full;
	if (slash != NULL && !dec(slash + 1, n - alen - 1, full, &len))
		return perr_say(e,
		    v6 ? "prefix length is not 0-128"
		       : "prefix length is not 0-32");
	r->bits = len + (128 - full);
	for (i = r->bits; i < 128; i++) {
		if (r->net.b[i / 8] & (0x80 >> (i % 8)))
			return perr_say(
			    e, "address has bits set beyond the prefix");
	}
	r->kind = K_NET;
	r->v6 = v6;
	return 0;
}

static int
parse_v6(struct perr *e, struct rule *r, const char *s, size_t n)
{
	const char *close = memchr(s, ']', n);
	size_t inner;
	int rc;

	if (close == NULL)
		return perr_say(e, "'[' without ']'");
	inner = (size_t)(close - s) - 1;
	if (inner + 2 >= n || close[1] != ':')
		return perr_say(e, "expected ':port' after ']'");
	if ((rc = parse_net(e, r, s + 1, inner, true)) < 0)
		return rc;
	return parse_ports(e, r, close + 2, n - inner - 3);
}

static int
parse_host(struct perr *e, struct rule *r, const char *s, size_t n)
{
	bool wild = n >= 2 && s[0] == '*' && s[1] == '.';
	const char *name = wild ? s + 2 : s;
	size_t nlen = wild ? n - 2 : n, i;

	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (!name_valid(name, nlen))
		return perr_say(e,
		    wild ? "not a *.suffix of a host name"
			 : "not a host name, IP address or CIDR");
	r->kind = wild ? K_SUFFIX : K_NAME;
	i = 0;
	if (wild)
		r->name[i++] = '.';
	for (; nlen > 0; nlen--, name++)
		r->name[i++] = (char)tolower((unsigned char)*name);
	r->name[i] = '\0';
	return 0;
}

/* An IPv4 literal or CIDR (digits, dots, one '/'), not a name. */
static bool
looks_v4(const char *s, size_t n)
{
	char buf[INET_ADDRSTRLEN];
	uint8_t v4[4];

	if (memchr(s, '/', n) != NULL)
		return true;
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, v4) == 1;
}

static int
parse_entry(struct perr *e, struct rule *r, const char *s, size_t n)
{
	const char *colon;
	size_t hlen;
	int rc;

	memset(r, 0, sizeof(*r));
	if (s[0] == '[')
		return parse_v6(e, r, s, n);
	if ((colon = memrchr(s, ':', n)) == NULL)
		return perr_say(e, "missing ':port'");
	hlen = (size_t)(colon - s);
	if (memchr(s, ':', hlen) != NULL)
		return perr_say(
		    e, "an IPv6 address needs brackets: [addr]:port");
	if (hlen == 0)
		return perr_say(e, "missing host before ':'");
	if (looks_v4(s, hlen))
		rc = parse_net(e, r, s, hlen, false);
	else
		rc = parse_host(e, r, s, hlen);
	return rc < 0 ? rc : parse_ports(e, r, colon + 1, n - hlen - 1);
}

static size_t
count_entries(const char *list)
{
	size_t n = 1;

	for (; *list != '\0'; list++)
		n += *list == ',';
	return n;
}

/* see netpolicy.h */
int
netpolicy_parse(
    struct netpolicy **out, const char *list, char *err, size_t errlen)
{
	struct perr e = {.buf = err, .cap = errlen};
	struct netpolicy *p;
	struct rule *rules;
	size_t want = count_entries(list);
	const char *s = list, *end;
	int rc = 0;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (strspn(list, " \t") == strlen(list)) {
		snprintf(err, errlen, "empty list");
		return -EINVAL;
	}
	if (want > NETPOLICY_MAX_RULES) {
		snprintf(err, errlen, "%zu entries, at most %d", want,
		    NETPOLICY_MAX_RULES);
		return -EINVAL;
	}
	if ((p = calloc(1, sizeof(*p) + want * sizeof(*rules))) == NULL)
		return -ENOMEM;
	p->r = rules = (struct rule *)(p + 1);
	for (; rc == 0 && p->n < want; s = end + 1) {
		end = strchrnul(s, ',');
		e.index = (unsigned)p->n + 1;
		e.text = s + strspn(s, " \t");
		e.len = (size_t)(end - e.text);
		while (e.len > 0 && strchr(" \t", e.text[e.len - 1]) != NULL)
			e.len--;
		if (e.len == 0)
			rc = perr_say(&e, "empty entry");
		else
			rc = parse_entry(&e, &rules[p->n++], e.text, e.len);
	}
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* see netpolicy.h */
const struct netpolicy *
netpolicy_any(void)
{
	return &any;
}

/* see netpolicy.h */
void
netpolicy_free(struct netpolicy *p)
{
	if (p != &any)
		free(p);
}

/* see netpolicy.h */
size_t
netpolicy_count(const struct netpolicy *p)
{
	return p->n;
}

/* --- matching ------------------------------------------------------------- */

static bool
covers(const struct rule *r, uint16_t port)
{
	return port >= r->lo && port <= r->hi;
}

/* host (normalised) is listed by a name or suffix rule for port. */
static bool
name_listed(const struct netpolicy *p, const char *host, uint16_t port)
{
	size_t i, hn = strlen(host), sn;

	for (i = 0; i < p->n; i++) {
		const struct rule *r = &p->r[i];

		if (!covers(r, port))
			continue;
		if (r->kind == K_NAME && strcmp(r->name, host) == 0)
			return true;
		sn = strlen(r->name);
		if (r->kind == K_SUFFIX && hn > sn &&
		    strcmp(host + hn - sn, r->name) == 0)
			return true;
	}
	return false;
}

/* 1: listed exactly; 0: inside a CIDR rule only; -1: no rule. */
static int
net_match(const struct netpolicy *p, const struct addr16 *a, uint16_t port)
{
	int best = -1;
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct rule *r = &p->r[i];

		if (r->kind != K_NET || !covers(r, port) ||
		    r->v6 == addr_is_v4(a) || !prefix_eq(a, &r->net, r->bits))
			continue;
		if (r->bits == 128)
			return 1;
		best = 0;
	}
	return best;
}

static bool
addr_passes(const struct netpolicy *p, bool named, const struct addr16 *a,
    uint16_t port)
{
	int m = net_match(p, a, port);

	if (m == 1)
		return true;
	if (addr_special(a))
		return false;
	return named || m == 0;
}

static bool
any_net_rule(const struct netpolicy *p, uint16_t port)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->r[i].kind == K_NET && covers(&p->r[i], port))
			return true;
	}
	return false;
}

/* see netpolicy.h */
enum netpolicy_verdict
netpolicy_check_name(const struct netpolicy *p, const char *host, uint16_t port)
{
	char h[DNS_NAME_MAX + 1];
	struct addr16 a;

	if (!host_norm(h, sizeof(h), host))
		return NETPOLICY_DENY;
	if (addr_parse(&a, h))
		return addr_passes(p, false, &a, port) ? NETPOLICY_ALLOW
						       : NETPOLICY_DENY;
	if (!name_valid(h, strlen(h)))
		return NETPOLICY_DENY;
	if (name_listed(p, h, port))
		return NETPOLICY_ALLOW;
	return any_net_rule(p, port) ? NETPOLICY_RESOLVE : NETPOLICY_DENY;
}

/* see netpolicy.h */
bool
netpolicy_check_addrs(const struct netpolicy *p, const char *host,
    uint16_t port, const union dns_sockaddr *addrs, size_t n)
{
	char h[DNS_NAME_MAX + 1];
	struct addr16 a;
	bool named;
	size_t i;

	if (n == 0 || !host_norm(h, sizeof(h), host))
		return false;
	named = !addr_parse(&a, h) && name_listed(p, h, port);
	for (i = 0; i < n; i++) {
		if (!addr_from_sa(&a, &addrs[i].sa) ||
		    !addr_passes(p, named, &a, port))
			return false;
	}
	return true;
}

/* see netpolicy.h */
bool
netpolicy_check_addr(const struct netpolicy *p, const char *host, uint16_t port,
    const struct sockaddr *sa)
{
	union dns_sockaddr u;

	memset(&u, 0, sizeof(u));
	if (sa->sa_family == AF_INET)
		memcpy(&u.in, sa, sizeof(u.in));
	else if (sa->sa_family == AF_INET6)
		memcpy(&u.in6, sa, sizeof(u.in6));
	else
		return false;
	return netpolicy_check_addrs(p, host, port, &u, 1);
}
