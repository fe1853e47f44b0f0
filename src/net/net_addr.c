/* net_addr_str and net_cidr_parse, shared by both backends of the socket
 * shim (pure formatting and parsing: no socket call). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"

/* see net.h */
void
net_addr_str(const struct sockaddr *sa, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in *v4 = (const void *)sa;
	const struct sockaddr_in6 *v6 = (const void *)sa;

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
		snprintf(out, n, "%s:%u", host, ntohs(v4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
		snprintf(out, n, "[%s]:%u", host, ntohs(v6->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

/* A prefix length "/N", 1..max, ending the string at end. */
static bool
parse_prefix(const char *s, const char *end, int max, int *len)
{
	int n = 0;

	if (s >= end || *s != '/' || ++s == end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || (n = n * 10 + (*s - '0')) > max)
			return false;
	}
	*len = n;
	return n > 0;
}

/* see net.h */
bool
net_cidr_parse(int af, const char *s, size_t n, void *addr, int *len)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = memchr(s, '/', n);
	size_t an = slash != NULL ? (size_t)(slash - s) : 0;

	if ((af != AF_INET && af != AF_INET6) || an == 0 || an >= sizeof(buf))
		return false;
	memcpy(buf, s, an);
	buf[an] = '\0';
	return inet_pton(af, buf, addr) == 1 &&
	    parse_prefix(slash, s + n, af == AF_INET ? 32 : 128, len);
}
