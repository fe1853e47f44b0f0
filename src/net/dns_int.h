/* dns_int.h — declarations shared by the resolver's own files. */
#ifndef NET_DNS_INT_H
#define NET_DNS_INT_H

#include <ares.h>

#include "net/dns.h"
#include "rx/rx.h"

/* c-ares keeps at most a UDP and a TCP socket per server; this bounds the
 * servers we accept times two, with room to spare. */
#define DNS_MAX_SOCKS 16
#define DNS_MAX_SERVERS 6

/* One c-ares socket: the reactor watch and the peer it was connected to
 * (a connected datagram socket only receives from that peer, so this is
 * what recvfrom() would report). */
struct dns_sock {
	struct dns_resolver *r;
	struct rx_watch w;
	bool used;
	bool dgram; /* UDP: each read is one whole DNS message */
	uint64_t born; /* reactor iteration it was opened in */
	union dns_sockaddr peer;
	socklen_t peerlen;
};

/* c-ares' handle on a question: owners may go away before c-ares lets go,
 * so c-ares points at a slot, and the slot at the queries waiting for its
 * answer (struct dns_query.wait; empty once they all left). */
struct dns_slot {
	struct dns_resolver *r;
	struct list_node waiters; /* valid while busy */
	bool busy;
	uint8_t rcode; /* SERVFAIL (2) or REFUSED (5) answered, else 0 */
	char name[DNS_NAME_MAX + 1]; /* asked for */
};

struct dns_resolver {
	struct rx_loop *loop;
	ares_channel ch;
	struct rx_timer timer; /* ares_timeout() */
	bool hosts_env;
	int64_t timeout_ms;
	unsigned nslots;
	struct dns_slot *slots;
	struct dns_sock socks[DNS_MAX_SOCKS];
};

/* Install the shim-backed socket functions and the socket-state callback
 * target on r->ch (dns_sock.c). */
void dns_sock_setup(struct dns_resolver *r);
void dns_sock_state(void *arg, ares_socket_t fd, int readable, int writable);

/*
 * A datagram c-ares is about to read (dns_sock.c calls it, dns.c defines
 * it).  c-ares 1.18 tries the next server on a SERVFAIL or REFUSED answer
 * and, when none is left, ends the query with ARES_ECONNREFUSED, the same
 * status as an unreachable server: the answer's code is noted on the slots
 * asking for its name so that the query's error keeps the distinction.
 */
void dns_note_answer(struct dns_resolver *r, const uint8_t *p, size_t n);

/* Re-arm the c-ares timer from ares_timeout() (dns.c). */
void dns_timer_update(struct dns_resolver *r);

#endif
