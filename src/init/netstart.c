/* Network bring-up: loopback, then the first Ethernet, static or DHCP. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_int.h"
#include "lib/log.h"

/* see init_int.h */
bool
init_net_parse_cidr(const char *s, uint32_t *addr, uint32_t *mask)
{
	char a[20];
	const char *slash = strchr(s, '/');
	char *end;
	long len = 24;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(a))
		return false;
	snprintf(a, sizeof(a), "%.*s", (int)(slash - s), s);
	len = strtol(slash + 1, &end, 10);
	if (*end != '\0' || len < 1 || len > 32 ||
	    inet_pton(AF_INET, a, addr) != 1)
		return false;
	*mask = htonl(len == 32 ? 0xffffffffu : ~(0xffffffffu >> len));
	return true;
}

/* see init_int.h */
size_t
init_net_parse_dns(const char *s, uint32_t *dns)
{
	char buf[128], *tok, *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ", ", &save); tok && n < DHCP_DNS_MAX;
	     tok = strtok_r(NULL, ", ", &save))
		if (inet_pton(AF_INET, tok, &dns[n]) == 1)
			n++;
	return n;
}

static int
net_static(struct init *in)
{
	uint32_t addr, mask, gw = 0, dns[DHCP_DNS_MAX];
	size_t ndns;
	int r;

	if (!init_net_parse_cidr(in->net_address, &addr, &mask) ||
	    (in->net_gateway[0] &&
		inet_pton(AF_INET, in->net_gateway, &gw) != 1)) {
		init_console("outpost: NET_ADDRESS/NET_GATEWAY invalid "
			     "(want a.b.c.d/len and a.b.c.d): using DHCP");
		return -EINVAL;
	}
	if ((r = init_netif_addr(in->net.ifname, addr, mask, gw)) < 0)
		return r;
	ndns = init_net_parse_dns(in->net_dns, dns);
	init_net_write_resolv(dns, ndns);
	in->net.is_static = true;
	snprintf(in->net.addr, sizeof(in->net.addr), "%s", in->net_address);
	return 0;
}

/* see init_int.h */
int
init_net_start(struct init *in)
{
	struct init_net *n = &in->net;
	int r;

	if ((r = init_netif_up("lo")) < 0)
		log_warn("init: loopback: %s", strerror(-r));
	if ((r = init_netif_first_ether("/sys", n->ifname, sizeof(n->ifname))) <
	    0) {
		init_console("outpost: no Ethernet interface found");
		return r;
	}
	if ((r = init_netif_mac(n->ifname, n->mac, &n->ifindex)) < 0 ||
	    (r = init_netif_up(n->ifname)) < 0) {
		init_console("outpost: %s: %s", n->ifname, strerror(-r));
		return r;
	}
	if (in->net_address[0] && net_static(in) == 0)
		return 0;
	if ((r = init_dhcp_start(in)) < 0)
		init_console("outpost: %s: DHCP: %s", n->ifname, strerror(-r));
	return r;
}
