/*
 * sntp.h — a Simple Network Time Protocol client (RFC 4330, the client
 * side of RFC 5905), for boards without a real-time clock: TLS cannot
 * validate a certificate until the clock is roughly right.
 *
 * Two layers:
 *
 *   the engine (sntp_request, sntp_parse): sans-I/O, one 48-byte request
 *   out, one datagram in.  No clock reads, no sockets; the caller passes
 *   its own send and receive times.
 *
 *   the client (struct sntp_client): asks the servers of NTP_SERVERS one
 *   after the other on the reactor, through the resolver (dns.h) and the
 *   socket shim (UDP), and reports the first good answer.  It never sets
 *   the clock itself: the owner decides, with sntp_clock_step().
 *
 * Spoofing: the request's transmit timestamp is a random 64-bit cookie
 * (RFC 9109 data minimisation; the client's clock is not revealed), and
 * an answer counts only if it echoes the cookie as its origin timestamp,
 * comes from the connected peer, and is a synchronised server (mode 4,
 * stratum 1..15, leap indicator not 3).  A Kiss-o'-Death (stratum 0)
 * ends the exchange with that server.
 *
 * Time range: NTP seconds wrap every 136 years.  Server times are read as
 * falling in [2024-01-01, 2160), so the 2036 era change is handled.
 */
#ifndef NET_SNTP_H
#define NET_SNTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dns.h"
#include "rx/rx.h"

#define SNTP_PACKET_LEN 48
#define SNTP_PORT 123

/* Results of sntp_parse(); SNTP_OK is 0, errors are negative. */
enum sntp_status {
	SNTP_OK = 0,
	SNTP_EFORMAT = -1, /* short, not a server reply, bad version */
	SNTP_EORIGIN = -2, /* not the answer to our request (cookie) */
	SNTP_EKOD = -3, /* Kiss-o'-Death: the server says go away */
	SNTP_EUNSYNC = -4, /* server not synchronised (LI 3, stratum 16+) */
	SNTP_ETIME = -5, /* timestamps zero, out of range or inconsistent */
};

/* One exchange; caller-allocated, filled by sntp_request(). */
struct sntp_query {
	uint8_t cookie[8]; /* our transmit timestamp, echoed as origin */
};

struct sntp_result {
	int64_t offset_ms; /* add to the local clock to get the server's */
	int64_t delay_ms; /* round trip minus the server's own time, >= 0 */
	int64_t server_ms; /* the server's transmit time, Unix ms */
	unsigned stratum; /* 1..15 */
	char kod[5]; /* the Kiss-o'-Death code with SNTP_EKOD, else "" */
};

/*
 * Write a client request into out (SNTP_PACKET_LEN bytes) and remember
 * its cookie in q.  Returns 0, or -errno when no random bytes could be
 * had (then nothing should be sent).
 */
int sntp_request(struct sntp_query *q, uint8_t out[SNTP_PACKET_LEN]);

/*
 * Check the datagram buf[0..len) against q and compute the clock offset.
 * t1_ms and t4_ms are the local wall-clock times (Unix ms, may be as
 * wrong as 1970) when the request left and the answer arrived.  Returns
 * SNTP_OK with *res filled, or a negative enum sntp_status (res->kod set
 * for SNTP_EKOD).  Never reads beyond len; any bytes are safe input.
 */
int sntp_parse(const struct sntp_query *q, const uint8_t *buf, size_t len,
    int64_t t1_ms, int64_t t4_ms, struct sntp_result *res);

/* Static text for a status: "ok", "format", "origin", "kod", ... */
const char *sntp_status_str(int status);

/* --- the client on the reactor --------------------------------------- */

#define SNTP_MAX_SERVERS 8
#define SNTP_HOST_MAX DNS_NAME_MAX
#define SNTP_DEFAULT_TRY_MS 2000 /* per address */

enum sntp_error {
	SNTP_DONE = 0,
	SNTP_NO_ANSWER, /* every server failed or timed out */
};

struct sntp_client;

/*
 * Called once per sntp_client_start() that returned 0, never from inside
 * it.  With SNTP_DONE, res holds the first good answer and server names
 * the server that gave it; otherwise res is NULL and detail says what
 * the last server did.  The callback may stop, restart or reset c.
 */
typedef void sntp_done_fn(struct sntp_client *c, enum sntp_error err,
    const struct sntp_result *res, const char *server, const char *detail);

struct sntp_server {
	char host[SNTP_HOST_MAX + 1];
	uint16_t port;
};

/* Embedded in its owner; fields are private to sntp_client.c. */
struct sntp_client {
	struct rx_loop *loop;
	struct dns_resolver *resolver;
	sntp_done_fn *done;
	int64_t try_ms;
	struct sntp_server server[SNTP_MAX_SERVERS];
	size_t n_servers;
	/* One exchange at a time: server si, its address ai. */
	size_t si, ai;
	struct dns_query q;
	struct dns_result addrs;
	struct rx_watch w; /* the UDP socket */
	struct rx_timer timer; /* per-address deadline */
	struct rx_defer kick; /* sntp_client_start(): begin from the loop */
	struct sntp_query query;
	int64_t t1_ms;
	bool active;
	char detail[96];
};

/*
 * Parse servers ("host[:port],[v6]:port,...": at most SNTP_MAX_SERVERS;
 * NTP_SERVERS) into c and tie it to loop l and resolver r (both outlive
 * c).  try_ms bounds each address (0: SNTP_DEFAULT_TRY_MS).  Returns 0,
 * or -EINVAL with a message in err naming the bad entry.  No allocation.
 * A list naming no server ("", ",,") is accepted here; sntp_client_start()
 * then fails with -ENOENT.
 */
int sntp_client_init(struct sntp_client *c, struct rx_loop *l,
    struct dns_resolver *r, const char *servers, int64_t try_ms,
    sntp_done_fn *done, char *err, size_t errlen);

/*
 * Configuration check of an NTP_SERVERS value: the parse of
 * sntp_client_init() plus at least one server.  Returns 0, or -EINVAL
 * with a message in err.
 */
int sntp_servers_check(const char *servers, char *err, size_t errlen);

/*
 * Start asking, first server first.  Returns 0 (done will be called), or
 * -EALREADY when active, -ENOENT with no servers.  The start itself is
 * deferred work (rx_defer), no timer; the client then uses one reactor
 * timer (each address's deadline), and the resolver one more while a name
 * resolves.
 */
int sntp_client_start(struct sntp_client *c);

/* Stop: no callback afterwards; closes the socket.  Idempotent. */
void sntp_client_stop(struct sntp_client *c);

/*
 * Step CLOCK_REALTIME by offset_ms (from a good sntp_result).  Needs
 * CAP_SYS_TIME: call it from the process that holds it, before the first
 * dial.  Returns 0 or -errno.
 */
int sntp_clock_step(int64_t offset_ms);

#endif
