/* net_addr_str, shared by both backends of the socket shim (pure
 * formatting: no socket call). */
#include <arpa/inet.h>
#include <stdio.h>

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
