/*
 * Fuzz target: net_cidr_parse() (net/net.h), the "addr/len" reader of
 * LWIP_ADDRESS.  Input: the text (no NUL needed), tried as IPv4 and IPv6.
 * Invariants: an accepted text has a prefix length in 1..32 (1..128), and
 * its canonical form (inet_ntop + "/len") parses back to the same address
 * and length; no read past the input (ASan).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

#define INPUT_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int af, const char *s, size_t n)
{
	unsigned char a[16], b[16];
	char text[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
	int len, len2, max = af == AF_INET ? 32 : 128;

	if (!net_cidr_parse(af, s, n, a, &len))
		return;
	if (len < 1 || len > max)
		abort();
	if (inet_ntop(af, a, host, sizeof(host)) == NULL)
		abort();
	snprintf(text, sizeof(text), "%s/%d", host, len);
	if (!net_cidr_parse(af, text, strlen(text), b, &len2) || len2 != len ||
	    memcmp(a, b, af == AF_INET ? 4 : 16) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > INPUT_MAX)
		return 0;
	/* An exact-size copy: ASan sees any read past the input. */
	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	check(AF_INET, s, size);
	check(AF_INET6, s, size);
	free(s);
	return 0;
}
