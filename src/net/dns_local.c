/*
 * Names answered without asking anyone: localhost names (RFC 6761 6.3)
 * and numeric literals.  A scratch container has neither /etc/hosts nor
 * resolv.conf, and "localhost" must still work there.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "net/dns.h"

static bool
is_localhost(const char *name)
{
	static const char suffix[] = ".localhost";
	size_t n = strlen(name), k = sizeof(suffix) - 1;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == k - 1 && strncasecmp(name, suffix + 1, n) == 0)
		return true;
	return n > k && strncasecmp(name + n - k, suffix, k) == 0;
}

static void
add_v4(struct dns_result *res, const struct in_addr *a)
{
	union dns_sockaddr *sa = &res->addr[res->n++];

	memset(sa, 0, sizeof(*sa));
	sa->in.sin_family = AF_INET;
	sa->in.sin_addr = *a;
}

static void
add_v6(struct dns_result *res, const struct in6_addr *a)
{
	union dns_sockaddr *sa = &res->addr[res->n++];

	memset(sa, 0, sizeof(*sa));
	sa->in6.sin6_family = AF_INET6;
	sa->in6.sin6_addr = *a;
}

/* see dns.h */
bool
dns_resolve_local(const char *name, struct dns_result *res)
{
	struct in_addr v4;
	struct in6_addr v6;

	res->n = 0;
	if (is_localhost(name)) {
		v4.s_addr = htonl(INADDR_LOOPBACK);
		add_v4(res, &v4);
		add_v6(res, &in6addr_loopback);
		return true;
	}
	if (inet_pton(AF_INET, name, &v4) == 1) {
		add_v4(res, &v4);
		return true;
	}
	if (inet_pton(AF_INET6, name, &v6) == 1) {
		add_v6(res, &v6);
		return true;
	}
	return false;
}
