/*
 * Interface configuration through the kernel's ioctls.  This is the one
 * place outside src/net/ that makes socket calls: it configures the
 * kernel's own interfaces (SIOCSIF*, SIOCADDRT), which the socket shim
 * deliberately does not model, and src/init/ is Linux-only (never part of
 * the lwIP build).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"

static int
ifreq_call(unsigned long req, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, req, ifr) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void
ifreq_name(struct ifreq *ifr, const char *ifname)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
}

/* see init_int.h */
int
init_netif_up(const char *ifname)
{
	struct ifreq ifr;
	int r;

	ifreq_name(&ifr, ifname);
	if ((r = ifreq_call(SIOCGIFFLAGS, &ifr)) < 0)
		return r;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_call(SIOCSIFFLAGS, &ifr);
}

static int
set_in(const char *ifname, unsigned long req, uint32_t a)
{
	struct ifreq ifr;
	struct sockaddr_in sin = {.sin_family = AF_INET};

	ifreq_name(&ifr, ifname);
	sin.sin_addr.s_addr = a;
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ifreq_call(req, &ifr);
}

static int
default_route(uint32_t gw)
{
	struct rtentry rt;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, r = 0;

	memset(&rt, 0, sizeof(rt));
	memcpy(&rt.rt_dst, &sin, sizeof(sin));
	memcpy(&rt.rt_genmask, &sin, sizeof(sin));
	sin.sin_addr.s_addr = gw;
	memcpy(&rt.rt_gateway, &sin, sizeof(sin));
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (ioctl(fd, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		r = -errno;
	close(fd);
	return r;
}

/* see init_int.h */
int
init_netif_addr(const char *ifname, uint32_t addr, uint32_t mask, uint32_t gw)
{
	int r;

	if ((r = set_in(ifname, SIOCSIFADDR, addr)) < 0 ||
	    (r = set_in(ifname, SIOCSIFNETMASK, mask)) < 0)
		return r;
	if ((r = init_netif_up(ifname)) < 0)
		return r;
	return gw ? default_route(gw) : 0;
}

/* see init_int.h */
int
init_netif_mac(const char *ifname, uint8_t mac[6], int *ifindex)
{
	struct ifreq ifr;
	int r;

	ifreq_name(&ifr, ifname);
	if ((r = ifreq_call(SIOCGIFHWADDR, &ifr)) < 0)
		return r;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	ifreq_name(&ifr, ifname);
	if ((r = ifreq_call(SIOCGIFINDEX, &ifr)) < 0)
		return r;
	*ifindex = ifr.ifr_ifindex;
	return 0;
}

/* An Ethernet (type 1) interface backed by a device, not a virtual one. */
static bool
is_ether(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[16] = "";
	int fd;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/device", dir, name) >=
		sizeof(path) ||
	    access(path, F_OK) < 0)
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/type", dir, name) >=
		sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && atoi(buf) == 1;
}

/* see init_int.h */
bool
init_netif_carrier(const char *sysfs, const char *ifname)
{
	char path[PATH_MAX], c = '0';
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/class/net/%s/carrier",
		sysfs, ifname) >= sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = '0'; /* EINVAL while the interface is down */
	close(fd);
	return c == '1';
}

/* see init_int.h */
int
init_netif_first_ether(const char *sysfs, char *name, size_t n)
{
	char dir[PATH_MAX], best[IFNAMSIZ] = "";
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/class/net", sysfs);
	if ((d = opendir(dir)) == NULL)
		return -errno;
	/* "First" is the lowest name, so the choice is stable across boots. */
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strlen(de->d_name) < IFNAMSIZ &&
		    (best[0] == '\0' || strcmp(de->d_name, best) < 0) &&
		    is_ether(dir, de->d_name))
			memcpy(best, de->d_name, strlen(de->d_name) + 1);
	closedir(d);
	if (best[0] == '\0')
		return -ENOENT;
	snprintf(name, n, "%s", best);
	return 0;
}

/* see init_int.h */
void
init_net_write_resolv(const uint32_t *dns, size_t n)
{
	char text[256], a[INET_ADDRSTRLEN];
	size_t i, len = 0;
	int fd;

	for (i = 0; i < n && len < sizeof(text) - 40; i++) {
		inet_ntop(AF_INET, &dns[i], a, sizeof(a));
		len += (size_t)snprintf(
		    text + len, sizeof(text) - len, "nameserver %s\n", a);
	}
	fd = open("/run/resolv.conf.new",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, len) != (ssize_t)len)
		log_warn("init: write resolv.conf: %s", strerror(errno));
	close(fd);
	if (rename("/run/resolv.conf.new", "/run/resolv.conf") < 0)
		log_warn("init: rename resolv.conf: %s", strerror(errno));
}
