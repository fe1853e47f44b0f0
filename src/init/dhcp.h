/*
 * dhcp.h — a sans-I/O DHCPv4 client engine (RFC 2131, the subset an
 * appliance needs): DISCOVER → OFFER → REQUEST → ACK, renewal at T1,
 * restart from DISCOVER when the lease expires or a NAK arrives.
 *
 * The caller owns the socket (UDP :68 → 255.255.255.255:67, broadcast
 * flag set so replies come before the interface has an address) and the
 * clock.  Bytes in: dhcp_feed() with one received datagram.  Bytes out:
 * dhcp_take() after dhcp_tick() says a packet is due.  The engine never
 * allocates; struct dhcp is caller-allocated and may be copied only before
 * dhcp_init().  Malformed or foreign datagrams are ignored, never fatal.
 * Times are monotonic milliseconds supplied by the caller.
 */
#ifndef INIT_DHCP_H
#define INIT_DHCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCP_PKT_MAX 576 /* RFC 2131 minimum reassembly size */
#define DHCP_DNS_MAX 3
#define DHCP_CLIENT_PORT 68
#define DHCP_SERVER_PORT 67

enum dhcp_state {
	DHCP_INIT, /* DISCOVER due */
	DHCP_SELECTING, /* DISCOVER sent, waiting for an OFFER */
	DHCP_REQUESTING, /* REQUEST sent, waiting for ACK */
	DHCP_BOUND,
	DHCP_RENEWING, /* T1 passed, REQUEST sent */
};

/* What dhcp_feed() or dhcp_tick() changed, for the caller to apply. */
enum dhcp_event {
	DHCP_EV_NONE,
	DHCP_EV_BOUND, /* a new or changed lease: configure the interface */
	DHCP_EV_RENEWED, /* same address, new times */
	DHCP_EV_LOST, /* lease expired or NAKed: remove the address */
};

/* Addresses in network byte order. */
struct dhcp_lease {
	uint32_t addr, mask, router, server;
	uint32_t dns[DHCP_DNS_MAX];
	size_t ndns;
	uint32_t lease_s, t1_s, t2_s;
};

struct dhcp {
	enum dhcp_state state;
	uint8_t mac[6];
	uint32_t xid;
	uint32_t rnd; /* xorshift state for xids and retransmit jitter */
	unsigned tries;
	int64_t due; /* next transmission (or state timeout) */
	int64_t bound_at;
	struct dhcp_lease offer; /* the one being requested */
	struct dhcp_lease lease; /* valid in BOUND and RENEWING */
	uint8_t out[DHCP_PKT_MAX];
	size_t outlen; /* pending datagram, 0 when none */
};

/* Start in DHCP_INIT with a DISCOVER due at now. seed must be random. */
void dhcp_init(
    struct dhcp *d, const uint8_t mac[6], uint32_t seed, int64_t now);

/*
 * Advance the clock: build a due datagram, or drop an expired lease.
 * Returns an event; *wait_ms is set to the time until the next deadline.
 */
enum dhcp_event dhcp_tick(struct dhcp *d, int64_t now, int64_t *wait_ms);

/* Feed one received datagram (the UDP payload). */
enum dhcp_event dhcp_feed(
    struct dhcp *d, const uint8_t *p, size_t n, int64_t now);

/* The datagram to broadcast, or NULL; dhcp_ack() once it is sent. */
const uint8_t *dhcp_take(const struct dhcp *d, size_t *n);
void dhcp_ack(struct dhcp *d);

/* The current lease, or NULL when not bound. */
const struct dhcp_lease *dhcp_lease(const struct dhcp *d);

/* Prefix length of a netmask in network order (0..32). */
int dhcp_prefix_len(uint32_t mask);

#endif
