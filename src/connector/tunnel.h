/*
 * tunnel.h — one tunnel slot: a connection to the edge carrying one gRPC
 * Tunnel call, and the requests executing on it.
 *
 * Lifecycle (struct tunnel_slot, states below): IDLE (waiting for its
 * backoff timer and a token from the process-wide dial budget) → DIALING
 * (resolve + connect, optionally through the egress proxy) → HANDSHAKING
 * (TLS; skipped for h2c) → OPEN (HTTP/2 session, the call is open, the
 * unsolicited HealthCheckResponse sent; the slot is routable once the edge
 * acked a PING sent behind the call's HEADERS and the call was neither
 * reset nor ended: the edge has the call, whether or not its application
 * wrote anything yet) → DRAINING (START_CLOSE or shutdown: no new
 * requests, in-flight ones finish, and the call ends only once another
 * slot is routable, or at DRAIN_TIMEOUT) → back to IDLE.  Each state has
 * its own deadline.  Any transport or protocol error closes the slot's
 * connection only, records a typed reason, and schedules a re-dial: at
 * once after a clean close by the edge, unless that keeps happening right
 * after opening, else after the backoff.
 *
 * Slots are owned by the manager (manager.h), allocated once at start with
 * all their buffers; nothing in here allocates per byte.  Requests on a
 * tunnel are bounded by MAX_CONCURRENT_REQUESTS; each holds the decoded
 * ControllerMessage (heap, bounded by the message size limit) until its
 * answer is queued.
 */
#ifndef CONNECTOR_TUNNEL_H
#define CONNECTOR_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connector/exec.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "grpc/grpc.h"
#include "h2/h2.h"
#include "net/dial.h"
#include "net/stream.h"
#include "rx/rx.h"
#include "tls/tls.h"

enum tunnel_state {
	TUNNEL_IDLE,
	TUNNEL_DIALING,
	TUNNEL_HANDSHAKING,
	TUNNEL_OPEN,
	TUNNEL_DRAINING,
	TUNNEL__STATES
};

struct manager;
struct tunnel_slot;

/* One request executing on a tunnel. */
struct tunnel_req {
	struct tunnel_slot *slot;
	Connector__V1__ControllerMessage *msg; /* owns the HttpRequest */
	struct exec_job job;
	int64_t started;
	bool busy;
};

struct tunnel_slot {
	struct manager *mgr;
	unsigned index;
	enum tunnel_state state;
	int64_t since; /* entered the current state */
	int64_t opened_at; /* OPEN reached; 0 before */
	unsigned generation; /* connections made by this slot */
	char uuid[37]; /* per connection */
	const char *last_error; /* static text, "" when none */
	char last_detail[96];

	struct backoff backoff;
	int64_t retry_ms; /* delay before the next dial */
	bool scheduled; /* IDLE with a dial pending */
	struct rx_timer timer; /* retry, state deadline or h2 tick */
	struct rx_timer drain_timer; /* DRAIN_TIMEOUT */
	struct rx_timer flush_timer; /* 0 ms: one write per loop turn */
	struct dial dial;
	struct tls_conn tls;
	struct stream st;
	bool have_stream;
	struct h2_session h2;
	bool have_h2;
	struct h2_stream call;
	bool call_open;
	bool confirmed; /* the edge acked a PING sent after the call */
	bool call_ended; /* END_STREAM sent while draining */
	uint8_t *plain_in, *plain_out; /* h2c only */
	uint8_t *rxring, *txring;
	struct grpc_reader reader;
	uint8_t *msgbuf; /* grpc_reader memory, max message */

	struct grpc_sendq outq;

	struct tunnel_req *reqs; /* MAX_CONCURRENT_REQUESTS */
	unsigned inflight;
	bool replaced; /* the replacement for a drain was asked */
	unsigned quick_closes; /* clean closes right after opening */

	uint64_t served, errors;
	uint64_t bytes_in,
	    bytes_out; /* of closed connections, plus the live one */
};

/* Allocate the slot's buffers.  0 or -ENOMEM (setup phase). */
int tunnel_slot_init(struct tunnel_slot *t, struct manager *m, unsigned index);

/* Free the buffers of an idle slot (its connection closed). */
void tunnel_slot_free(struct tunnel_slot *t);

/* Dial after retry_ms (0 at first), as soon as the budget allows. */
void tunnel_slot_schedule(struct tunnel_slot *t);

/* Another slot opened: a draining slot waiting for it may finish. */
void tunnel_slot_poke(struct tunnel_slot *t);

/* Stop taking requests; close once in-flight ones are done (or on timeout). */
void tunnel_slot_drain(struct tunnel_slot *t, const char *why);

/* True when the slot can take requests from the edge. */
bool tunnel_slot_routable(const struct tunnel_slot *t);

const char *tunnel_state_name(enum tunnel_state s);

/* Called by the message layer (tunnel_msg.c). */
int tunnel_msg_dispatch(struct tunnel_slot *t, const uint8_t *p, size_t n);
void tunnel_msg_hello(struct tunnel_slot *t);
void tunnel_msg_cancel_all(struct tunnel_slot *t);
bool tunnel_queue(struct tunnel_slot *t, Connector__V1__ConnectorMessage *m);
void tunnel_pump(struct tunnel_slot *t);
void tunnel_request_done(struct tunnel_slot *t);

#endif
