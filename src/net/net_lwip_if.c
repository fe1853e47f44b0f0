/*
 * The lwIP build's network interface (net.h net_iface_*): lwIP's tap
 * netif (the unix port's tapif.c) on the tap device LWIP_TAP, with the
 * static LWIP_ADDRESS (IPv4 with its prefix, optionally one IPv6 address
 * after a comma) and LWIP_GATEWAY as the IPv4 default route.  The device
 * is created beforehand by the system (`ip tuntap add NAME mode tap`) and
 * linked there to a bridge or veth; lwIP is the only host on it that has
 * outpost's address: the kernel sees frames, not this address.
 *
 * tapif.c exits the process when it cannot attach the device and runs
 * /sbin/ifconfig unless PRECONFIGURED_TAPIF names the device: the device
 * is attached once here first (so a missing device or a lack of
 * permission is a setup error naming LWIP_TAP) and PRECONFIGURED_TAPIF is
 * set to it.  tapif.c gives every netif the same MAC address: it is
 * replaced by a random locally administered one, so that two lwIP
 * connectors can share a segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <lwip/netif.h>
#include <lwip/tcpip.h>
#include <netif/tapif.h>

#include "lib/util.h"
#include "net/net.h"
#include "net/net_lwip_int.h"

/* <linux/if_tun.h>, which musl does not ship. */
#define TAP_TUNSETIFF _IOW('T', 202, int)
#define TAP_IFF_TAP 0x0002
#define TAP_IFF_NO_PI 0x1000
#define TAP_DEV "/dev/net/tun"

struct iface {
	ip4_addr_t ip, mask, gw;
	bool has6;
	ip6_addr_t ip6;
};

static struct netif tap_netif;
static bool tap_started;

/* LWIP_TAP: an interface name the kernel accepts. */
static int
check_tap(const char *tap, char *err, size_t errlen)
{
	size_t n;

	if (tap == NULL)
		return util_fail(err, errlen,
		    "%s: not set; the lwIP build needs "
		    "its tap device",
		    "LWIP_TAP");
	n = strlen(tap);
	if (n == 0 || n >= IFNAMSIZ || strcspn(tap, "/: \t\n") != n)
		return util_fail(err, errlen,
		    "LWIP_TAP: not an interface name (1 to 15 characters, no "
		    "'/', ':' or space): %s",
		    tap);
	return 0;
}

/* LWIP_ADDRESS: "a.b.c.d/len" and optionally ",ipv6/64". */
static int
parse_address(const char *s, struct iface *ifc, char *err, size_t errlen)
{
	const char *comma, *end;
	struct in_addr a;
	int len;

	if (s == NULL)
		return util_fail(err, errlen,
		    "%s: not set; the lwIP build needs "
		    "its IPv4 address (a.b.c.d/len)",
		    "LWIP_ADDRESS");
	comma = strchr(s, ',');
	end = comma != NULL ? comma : s + strlen(s);
	if (!net_cidr_parse(AF_INET, s, (size_t)(end - s), &a, &len) ||
	    len > 30)
		return util_fail(err, errlen,
		    "LWIP_ADDRESS: %s: not an IPv4 address with a prefix "
		    "length of 1 to 30 (a.b.c.d/len)",
		    s);
	ip4_addr_set_u32(&ifc->ip, a.s_addr);
	ip4_addr_set_u32(&ifc->mask, lwip_htonl(~0u << (32 - len)));
	ifc->has6 = comma != NULL;
	if (!ifc->has6)
		return 0;
	s = comma + 1;
	/* lwIP 2.1 takes every IPv6 address as a /64 (ip6_addr_netcmp). */
	if (!net_cidr_parse(AF_INET6, s, strlen(s), ifc->ip6.addr, &len) ||
	    len != 64)
		return util_fail(err, errlen,
		    "LWIP_ADDRESS: %s: not an IPv6 address with the prefix "
		    "length 64 (lwIP's only one)",
		    s);
	ip6_addr_clear_zone(&ifc->ip6);
	return 0;
}

/* LWIP_GATEWAY: an IPv4 address on the interface's network. */
static int
parse_gateway(const char *s, struct iface *ifc, char *err, size_t errlen)
{
	struct in_addr g;

	ip4_addr_set_zero(&ifc->gw);
	if (s == NULL)
		return 0;
	if (inet_pton(AF_INET, s, &g) != 1)
		return util_fail(err, errlen,
		    "LWIP_GATEWAY: %s: not an IPv4 address (a.b.c.d)", s);
	ip4_addr_set_u32(&ifc->gw, g.s_addr);
	if (!ip4_addr_netcmp(&ifc->gw, &ifc->ip, &ifc->mask) ||
	    ip4_addr_cmp(&ifc->gw, &ifc->ip))
		return util_fail(err, errlen,
		    "LWIP_GATEWAY: %s: not another address on LWIP_ADDRESS's "
		    "network",
		    s);
	return 0;
}

static int
parse(const struct net_iface_conf *conf, struct iface *ifc, char *err,
    size_t errlen)
{
	if (check_tap(conf->tap, err, errlen) < 0 ||
	    parse_address(conf->address, ifc, err, errlen) < 0)
		return -1;
	return parse_gateway(conf->gateway, ifc, err, errlen);
}

/* see net.h */
int
net_iface_check(const struct net_iface_conf *conf, char *err, size_t errlen)
{
	struct iface ifc;

	return parse(conf, &ifc, err, errlen);
}

/* Attach the tap device once (and let go of it), as tapif.c will. */
static int
probe_tap(const char *tap, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, e = 0;

	/* As root, TUNSETIFF would create a missing device, unconnected. */
	if (if_nametoindex(tap) == 0) {
		snprintf(err, errlen,
		    "LWIP_TAP: %s: no such device (create it first: ip tuntap "
		    "add %s mode tap)",
		    tap, tap);
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap, strlen(tap));
	ifr.ifr_flags = TAP_IFF_TAP | TAP_IFF_NO_PI;
	fd = open(TAP_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TAP_TUNSETIFF, &ifr) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e == 0)
		return 0;
	snprintf(err, errlen,
	    "LWIP_TAP: %s: cannot attach the tap device "
	    "(" TAP_DEV "): %s",
	    tap, strerror(e));
	return -1;
}

/* A random locally administered unicast MAC address. */
static void
random_mac(struct netif *n)
{
	if (getrandom(n->hwaddr, sizeof(n->hwaddr), 0) !=
	    (ssize_t)sizeof(n->hwaddr))
		return; /* tapif.c's fixed address stays */
	n->hwaddr[0] = (uint8_t)((n->hwaddr[0] & 0xfc) | 0x02);
}

/* Add, address, route and raise the tap netif. */
static int
add_locked(const struct iface *ifc)
{
	s8_t idx;

	if (netif_add(&tap_netif, &ifc->ip, &ifc->mask, &ifc->gw, NULL,
		tapif_init, tcpip_input) == NULL)
		return -1;
	random_mac(&tap_netif);
	/* Neighbour solicitations come to the solicited-node groups, which
	 * only a netif flagged for MLD joins (tapif.c does not flag it). */
	tap_netif.flags |= NETIF_FLAG_MLD6;
	netif_create_ip6_linklocal_address(&tap_netif, 1);
	netif_ip6_addr_set_state(&tap_netif, 0, IP6_ADDR_PREFERRED);
	if (ifc->has6) {
		if (netif_add_ip6_address(&tap_netif, &ifc->ip6, &idx) !=
			ERR_OK ||
		    idx < 0)
			return -1;
		netif_ip6_addr_set_state(&tap_netif, idx, IP6_ADDR_PREFERRED);
	}
	netif_set_default(&tap_netif);
	netif_set_up(&tap_netif);
	return 0;
}

struct add {
	const struct iface *ifc;
	int r;
};

/* Under the core lock: add_locked() (tapif_init starts the tap thread). */
static void
add_netif(void *arg)
{
	struct add *a = arg;

	LOCK_TCPIP_CORE();
	a->r = add_locked(a->ifc);
	UNLOCK_TCPIP_CORE();
}

/* see net.h */
int
net_iface_start(const struct net_iface_conf *conf, char *err, size_t errlen)
{
	struct iface ifc;
	struct add a = {.ifc = &ifc};

	if (tap_started)
		return util_fail(
		    err, errlen, "%s: the interface is up already", "LWIP_TAP");
	if (parse(conf, &ifc, err, errlen) < 0 ||
	    probe_tap(conf->tap, err, errlen) < 0)
		return -1;
	if (setenv("PRECONFIGURED_TAPIF", conf->tap, 1) < 0)
		return util_fail(err, errlen, "%s: out of memory", "LWIP_TAP");
	net_lwip_start();
	net_lwip_masked(add_netif, &a);
	if (a.r < 0)
		return util_fail(
		    err, errlen, "%s: lwIP refused the interface", "LWIP_TAP");
	tap_started = true;
	return 0;
}
