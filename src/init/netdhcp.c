/* The I/O shell around the DHCP engine: one UDP socket, one timer, and a
 * deferred start. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"
#include "lib/util.h"

static void
dhcp_flush(struct init_net *n)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
	    .sin_port = htons(DHCP_SERVER_PORT),
	    .sin_addr.s_addr = INADDR_BROADCAST};
	const uint8_t *p;
	size_t len;

	if ((p = dhcp_take(&n->dhcp, &len)) == NULL)
		return;
	if (sendto(n->sock.fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		(struct sockaddr *)&to, sizeof(to)) < 0)
		log_debug("init: dhcp send: %s", strerror(errno));
	dhcp_ack(&n->dhcp);
}

static void
lease_apply(struct init *in, enum dhcp_event ev)
{
	struct init_net *n = &in->net;
	const struct dhcp_lease *l = dhcp_lease(&n->dhcp);
	char a[INET_ADDRSTRLEN];
	int r;

	if (ev == DHCP_EV_LOST) {
		(void)init_netif_addr(n->ifname, 0, 0, 0);
		n->addr[0] = '\0';
		init_console("outpost: %s: DHCP lease lost", n->ifname);
		return;
	}
	if (ev != DHCP_EV_BOUND || l == NULL)
		return;
	r = init_netif_addr(n->ifname, l->addr, l->mask, l->router);
	if (r < 0)
		log_warn("init: configure %s: %s", n->ifname, strerror(-r));
	init_net_write_resolv(l->dns, l->ndns);
	inet_ntop(AF_INET, &l->addr, a, sizeof(a));
	snprintf(
	    n->addr, sizeof(n->addr), "%s/%d", a, dhcp_prefix_len(l->mask));
	init_banner(in);
}

static void
dhcp_step(struct init *in, enum dhcp_event ev)
{
	struct init_net *n = &in->net;
	int64_t wait;
	enum dhcp_event tev;

	lease_apply(in, ev);
	tev = dhcp_tick(&n->dhcp, util_mono_ms(), &wait);
	lease_apply(in, tev);
	dhcp_flush(n);
	rx_timer_start(&in->loop, &n->timer, wait);
}

static void
dhcp_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct init *in = container_of(l, struct init, loop);
	uint8_t buf[1500];
	ssize_t r;
	int i;

	/* Bounded: a flood of datagrams cannot starve the loop. */
	for (i = 0; i < 8; i++) {
		r = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0)
			return;
		if (!in->net.active)
			continue; /* before our first DISCOVER: not ours */
		dhcp_step(in,
		    dhcp_feed(&in->net.dhcp, buf, (size_t)r, util_mono_ms()));
	}
}

/*
 * Until the link is up a DISCOVER is lost, and the engine's backoff would
 * then delay the lease by up to its retransmission interval: wait for
 * carrier (polled: a sysfs read every CARRIER_POLL_MS), then start.
 */
#define CARRIER_POLL_MS 50

static void
dhcp_run(struct init *in)
{
	struct init_net *n = &in->net;

	if (!n->active) {
		if (!init_netif_carrier("/sys", n->ifname)) {
			rx_timer_start(&in->loop, &n->timer, CARRIER_POLL_MS);
			return;
		}
		dhcp_init(&n->dhcp, n->mac,
		    init_random_u32() ^ (uint32_t)n->ifindex, util_mono_ms());
		n->active = true;
	}
	dhcp_step(in, DHCP_EV_NONE);
}

static void
dhcp_timer(struct rx_loop *l, struct rx_timer *t)
{
	dhcp_run(container_of(l, struct init, loop));
}

static void
dhcp_start(struct rx_loop *l, struct rx_defer *d)
{
	dhcp_run(container_of(l, struct init, loop));
}

static int
dhcp_socket(const char *ifname)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_port = htons(DHCP_CLIENT_PORT)};
	int fd, on = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		(socklen_t)strlen(ifname)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* see init_int.h */
int
init_dhcp_start(struct init *in)
{
	struct init_net *n = &in->net;
	int fd;

	if ((fd = dhcp_socket(n->ifname)) < 0)
		return fd;
	rx_watch_init(&n->sock, fd, dhcp_io, NULL);
	rx_watch_set(&in->loop, &n->sock, RX_READ);
	rx_timer_init(&n->timer, dhcp_timer);
	rx_defer_init(&n->start, dhcp_start);
	rx_defer(&in->loop, &n->start);
	return 0;
}
