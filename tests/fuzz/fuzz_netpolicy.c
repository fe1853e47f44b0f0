/*
 * Fuzz target: the SESSION_ALLOW / EGRESS_ALLOW parser and matcher
 * (net/netpolicy.h).  Input: the list, then optionally a NUL byte and a
 * host to check.  Invariants: a parse either succeeds with 1 to
 * NETPOLICY_MAX_RULES rules or fails with -EINVAL/-ENOMEM and a message
 * that begins "entry N" (or names the whole list); checking never reads
 * out of bounds; 169.254.169.254 (metadata) passes only when the list
 * names that address literally, whatever the host it was resolved from.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/netpolicy.h"

#define INPUT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct netpolicy *p, const char *list, const char *host)
{
	static const uint16_t ports[] = {1, 22, 80, 443, 5432, 65535};
	union dns_sockaddr a[2];
	size_t i;

	memset(a, 0, sizeof(a));
	a[0].in.sin_family = AF_INET;
	inet_pton(AF_INET, "169.254.169.254", &a[0].in.sin_addr);
	a[1].in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &a[1].in6.sin6_addr);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (netpolicy_check_name(p, host, ports[i]) > NETPOLICY_RESOLVE)
			abort();
		if (netpolicy_check_addrs(p, host, ports[i], a, 1) &&
		    strstr(list, "169.254.169.254") == NULL)
			abort();
		(void)netpolicy_check_addrs(p, host, ports[i], a + 1, 1);
		(void)netpolicy_check_addrs(p, host, ports[i], a, 2);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[INPUT_MAX + 2];
	char err[NETPOLICY_ERR_MAX];
	struct netpolicy *p = NULL;
	const char *host;
	int r;

	if (size > INPUT_MAX)
		return 0;
	memcpy(in, data, size);
	in[size] = in[size + 1] = '\0';
	/* The list ends at the first NUL; the host follows it. */
	host = in + strlen(in) + 1;
	if (host > in + size)
		host = "db.internal";
	r = netpolicy_parse(&p, in, err, sizeof(err));
	if (r == 0) {
		if (p == NULL || netpolicy_count(p) == 0 ||
		    netpolicy_count(p) > NETPOLICY_MAX_RULES)
			abort();
		check(p, in, host);
		netpolicy_free(p);
		return 0;
	}
	if (p != NULL || (r != -EINVAL && r != -ENOMEM) ||
	    (r == -EINVAL && err[0] == '\0'))
		abort();
	return 0;
}
