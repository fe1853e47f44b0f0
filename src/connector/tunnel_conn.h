/*
 * tunnel_conn.h — one HTTP/2 connection from the connector to the edge
 * (struct tunnel_conn), and the gRPC calls it carries (struct conn_call).
 *
 * The connection owns the transport: the dial (through the egress proxy
 * when configured), TLS (skipped for h2c), the HTTP/2 session with its
 * keepalive PINGs and the peer's GOAWAY, the state deadlines, and the
 * backoff before the next dial.  It knows nothing of what the calls mean:
 * the Tunnel call and its requests are tunnel.c's; session calls
 * (spec/sessions.md) open theirs the same way.  The identity controller's
 * Enrollment calls (spec/enrollment.md, enroll_call.c) use connections of
 * their own (conn_init_aux): Renew with the current client certificate,
 * Enroll, Pair and PairPoll with a configuration without one
 * (conn_set_tls).
 *
 * States (enum conn_state): IDLE (no socket; a dial may be scheduled) →
 * DIALING → HANDSHAKING (TLS only) → OPEN (session up: calls may be opened)
 * → DRAINING (the owner takes no new work; the connection closes once its
 * last call has ended or half-closed, see conn_call_end(), or at
 * DRAIN_TIMEOUT) → CLOSING (teardown done, the socket's close is pending;
 * lasts one loop iteration) → IDLE.  Any transport or protocol
 * error closes the connection: conn_close() records the reason and defers
 * the teardown to the reactor (rx_defer), so code that called out never
 * finds its session or stream freed under it, and needs no re-check after
 * the call returns.  The owner's ops->closed() runs once the socket is gone.
 *
 * Calls: up to CONN_CALLS_MAX per connection (the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS may allow fewer: conn_call_open() then
 * says -EAGAIN).  Each call is caller memory (struct conn_call, embedded in
 * its owner) with rings and a message buffer conn_call_init() allocates
 * once; nothing is allocated per message but the outgoing messages
 * themselves (bounded by the call's send queue).  A call's receive window
 * is its receive ring (rxcap), so a call whose owner stops reading holds
 * at most that much of the connection: the connection window is the
 * largest HTTP/2 allows, and never what stops a call.  Calls end
 * independently: one call's reset or trailers never touch another's.
 *
 * All functions run on the reactor thread.  Callbacks (struct
 * conn_call_ops, struct conn_ops) are never called from inside nghttp2 and
 * may call any function here, conn_close() included.
 */
#ifndef CONNECTOR_TUNNEL_CONN_H
#define CONNECTOR_TUNNEL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connector/backoff.h"
#include "grpc/grpc.h"
#include "h2/h2.h"
#include "net/dial.h"
#include "net/stream.h"
#include "rx/rx.h"
#include "tls/tls.h"
#include "trace/trace.h"

/* Calls on one connection: the Tunnel call and up to SESSION_MAX sessions
 * (connector/session.h), with room for refusals. */
#define CONN_CALLS_MAX 4160
#define CONN_WINDOW (1u << 20) /* the Tunnel call's receive window */
/* The smallest call window (SETTINGS_INITIAL_WINDOW_SIZE): each call's
 * window is its receive ring, chosen at conn_call_init(). */
#define CONN_MIN_WINDOW (16u << 10)

enum conn_state {
	CONN_IDLE,
	CONN_DIALING,
	CONN_HANDSHAKING,
	CONN_OPEN,
	CONN_DRAINING,
	CONN_CLOSING,
	CONN__STATES
};

struct manager;
struct tunnel_conn;
struct conn_call;

/* --- calls ----------------------------------------------------------------- */

struct conn_call_ops {
	/*
	 * One whole message arrived (p, n valid during the callback).  Return
	 * NULL, or a static text saying why the message is refused: the call
	 * is then reset (RST_STREAM CANCEL), reads stop, and on_end follows
	 * with reason "protocol" and that text.  The callback may call
	 * conn_call_pause(): no further message is delivered (nor window
	 * returned for it) until conn_call_resume().
	 */
	const char *(*on_message)(
	    struct conn_call *c, const uint8_t *p, size_t n);
	/*
	 * The call ended, from the reactor (never inside conn_call_* calls):
	 * status is the edge's grpc-status (0 OK), or -1 when the call ended
	 * without one; reason a typed reason ("stream": reset or no status,
	 * or a non-zero status; "protocol": a bad gRPC frame or a refused
	 * message; "closed": the connection went away; "cancelled"), NULL
	 * when status is 0; detail a short text (the grpc-message, or what
	 * failed), valid during the callback.  The last callback: afterwards
	 * the call is idle and may be opened again or freed.
	 */
	void (*on_end)(struct conn_call *c, int status, const char *reason,
	    const char *detail);
	/* Optional: room to send again after conn_call_send() said full. */
	void (*on_writable)(struct conn_call *c);
};

enum conn_call_state {
	CALL_IDLE, /* not open */
	CALL_OPEN, /* HEADERS sent; messages both ways */
	CALL_HALF_CLOSED, /* END_STREAM queued after the messages */
	CALL_ENDING, /* the outcome is known; waiting for the stream's close */
};

struct conn_call {
	/* Private: use the functions below. */
	const struct conn_call_ops *ops;
	void *arg; /* the owner's, see conn_call_arg() */
	struct tunnel_conn *conn; /* while open */
	enum conn_call_state state;
	struct h2_stream st;
	struct grpc_reader reader;
	struct grpc_sendq outq;
	uint64_t ping_after; /* routable once this many PINGs were acked */
	uint64_t stall_sent; /* bytes the stream had let out at stall_since */
	int64_t stall_since; /* since then nothing left; 0: not waiting */
	uint8_t *mem, *rx, *tx, *msgbuf; /* one mapping: rx, tx, msgbuf */
	size_t memlen, rxcap, txcap;
	size_t memhot; /* of mem possibly resident when it was taken */
	bool paused; /* conn_call_pause() */
	struct rx_defer resume; /* conn_call_resume(): read outside callers */
	int status; /* CALL_ENDING: the outcome for on_end */
	int end_status; /* CALL_HALF_CLOSED: trailers to end with, or -1 */
	const char *end_msg; /* their grpc-message, static */
	const char *reason;
	char detail[128];
};

/*
 * Allocate a call's rings (rxcap receive: the call's window, at least
 * CONN_MIN_WINDOW; txcap send), a buffer for the largest message accepted
 * (max_message) and bound its send queue to max_queued messages.  0,
 * -EINVAL (rxcap too small) or -ENOMEM.
 */
int conn_call_init(struct conn_call *c, const struct conn_call_ops *ops,
    void *arg, size_t rxcap, size_t txcap, size_t max_message,
    unsigned max_queued);

/*
 * Release what conn_call_init() allocated; the call must be idle (or its
 * init failed).  The memory goes to a process-wide cache for the next
 * call of the same sizes (a streamed answer is a call per request), kept
 * resident and given back by a timer once no call took it for a second.
 */
void conn_call_free(struct conn_call *c);

/*
 * The loop l goes away (manager_free): stop the call-memory cache's timer
 * if it runs on l and give every cached mapping back.  Calls freed later
 * give theirs back at once until a call opens on another loop.
 */
void conn_call_mem_release(struct rx_loop *l);

/*
 * Give the pages of an open call's rings and message buffer back to the
 * system while they hold nothing (both rings empty, no partial message);
 * a no-op otherwise.  For calls that sit idle for long (sessions): a
 * system call, so not per message.
 */
void conn_call_trim(struct conn_call *c);

void *conn_call_arg(const struct conn_call *c);

/*
 * Open a call: POST path (e.g. "/outpost.v1.Sessions/Attach") with the
 * gRPC request headers plus nhdr extra ones (up to H2_EXTRA_HEADERS_MAX;
 * hdr may be NULL when nhdr is 0; copied before this returns).  A
 * DRAINING connection still takes calls (a session refused because its
 * tunnel drains is still answered on a call of its own, spec/sessions.md);
 * it closes once the last one ended.  Returns 0, -EINVAL (the call is not
 * idle, or a bad header), -EAGAIN (the connection is neither OPEN nor
 * DRAINING, carries CONN_CALLS_MAX calls, or the edge sent GOAWAY or
 * allows no more streams) or -ENOMEM.  A PING is sent behind the HEADERS:
 * the call is routable once it comes back.
 */
int conn_call_open(struct tunnel_conn *n, struct conn_call *c, const char *path,
    const struct h2_header *hdr, size_t nhdr);

/*
 * Send one message: packed straight into the call's send ring when it fits
 * there and nothing waits before it, else packed and queued
 * (grpc_sendq_put(); m is not kept).  Returns true, or false when the call
 * is not open for sending, out of memory or the send queue is full: the
 * caller waits for on_writable, or ends the call.  Bytes leave as the
 * edge's flow-control window allows; several sends in one loop turn share
 * one write.
 */
bool conn_call_send(struct conn_call *c, const ProtobufCMessage *m);

/* The same for a message packed before (taking ownership of o, from
 * grpc_out_pack(); NULL: false): a request packed before its call opened. */
bool conn_call_send_packed(struct conn_call *c, struct grpc_out *o);

/* True when no queued message waits to be handed to the stream. */
bool conn_call_send_idle(const struct conn_call *c);

/*
 * Bytes a message may have to go out without waiting: the send ring's
 * free room while no message is queued, else 0 (on_writable follows).
 */
size_t conn_call_send_room(const struct conn_call *c);

/*
 * Stop delivering messages (backpressure: what arrives stays in the
 * receive ring, and the edge's window for the call is not reopened), and
 * take them up again.  Resuming delivers from the reactor, never from
 * inside conn_call_resume().  Harmless on an idle call.
 */
void conn_call_pause(struct conn_call *c);
void conn_call_resume(struct conn_call *c);

/*
 * Half-close: END_STREAM after the queued messages.  Harmless twice.  A
 * draining connection does not wait for the edge to end a half-closed call
 * once its END_STREAM is written: it closes then (the Tunnel call after
 * START_CLOSE; a session ends its call only when both directions are done).
 */
void conn_call_end(struct conn_call *c);

/*
 * Half-close as conn_call_end(), the END_STREAM carried by grpc-status
 * trailers (status >= 0; msg NULL or a static text): a session's Attach
 * call ends so on a target reset (status 14 "reset", spec/sessions.md).
 * status -1 is conn_call_end().
 */
void conn_call_end_status(struct conn_call *c, int status, const char *msg);

/*
 * Abort the call with RST_STREAM CANCEL; on_end follows from the reactor
 * (status -1, reason "cancelled").  Harmless on an idle or ending call.
 */
void conn_call_cancel(struct conn_call *c);

/*
 * True when the edge has the call: a PING sent behind its HEADERS was
 * acknowledged, and it was neither reset nor ended.  Nothing is needed
 * from the edge's application: standard gRPC servers send response
 * headers only with their first message.
 */
bool conn_call_routable(const struct conn_call *c);

/* True from conn_call_open() until on_end. */
bool conn_call_busy(const struct conn_call *c);

/* --- the connection ------------------------------------------------------- */

/* Callbacks to the connection's owner (the tunnel slot). */
struct conn_ops {
	/* The session is up (state OPEN): open calls now.  Return 0, or a
	 * negative errno to close the connection (counted as an h2 dial
	 * failure). */
	int (*opened)(struct tunnel_conn *n);
	/* State changed, or a call became routable (readiness, drains). */
	void (*changed)(struct tunnel_conn *n);
	/* The connection is gone (state IDLE); clean: a normal end. */
	void (*closed)(struct tunnel_conn *n, bool clean);
};

struct tunnel_conn {
	/* Read-only for the owner. */
	struct manager *mgr;
	unsigned index; /* for logs */
	enum conn_state state;
	int64_t since; /* entered the current state */
	int64_t opened_at; /* OPEN reached; 0 before */
	unsigned generation; /* connections made so far */
	const char *last_error; /* static text, "" when none */
	char last_detail[96];
	uint64_t bytes_in, bytes_out; /* of closed connections */

	/* Set by the owner while IDLE: what the next dials reach instead of
	 * the URL's host and port (an edge replica's address, or a
	 * TRAVERSAL_CONTROLLER_CONNECT_TO entry; borrowed).  NULL: the URL's.
	 * TLS verifies the manager's server_name either way. */
	const char *dial_host;
	uint16_t dial_port;

	/* Private. */
	const struct conn_ops *ops;
	const char *kind; /* "tunnel", or an aux connection's name (logs) */
	bool aux; /* not a tunnel: see conn_init_aux() */
	const struct tls_client_config *tls_cfg; /* conn_set_tls(); NULL: m's */
	struct backoff backoff;
	int64_t retry_ms; /* delay before the next dial */
	unsigned quick_closes; /* clean closes right after opening */
	bool clean; /* how the closing connection ended */
	const char *drain_reason; /* conn_drain()'s, while draining */
	struct rx_timer timer; /* retry, state deadline or h2 timers */
	struct rx_timer drain_timer; /* DRAIN_TIMEOUT */
	struct rx_defer flush; /* one write per loop turn */
	struct rx_defer teardown; /* conn_close() */
	struct dial dial;
	struct tls_conn tls;
	struct stream st;
	struct h2_session h2;
	uint8_t *plain_in, *plain_out; /* h2c only */
	struct conn_call *calls[CONN_CALLS_MAX];
	unsigned ncalls;
	/* The current state's lifecycle span and the connection's trace (its
	 * dial span), conn_trace.c; tunnels only. */
	struct trace_span phase;
	struct trace_ctx phase_root;
	bool rooted; /* phase_root is set */
};

/* Allocate the connection's buffers.  0 or -ENOMEM (setup phase). */
int conn_init(struct tunnel_conn *n, struct manager *m, unsigned index,
    const struct conn_ops *ops);

/*
 * A connection that is not a tunnel (enroll_call.c): like conn_init(), but
 * its dials bypass the manager's dial budget and stopping, and it counts in
 * none of the tunnels' metrics, last error or refusal hook (a refused
 * Renew handshake is the identity controller's to judge).  The owner dials
 * with conn_schedule_now() and closes it when done; kind names it in logs.
 * With TRAVERSAL_CONTROLLER_CONNECT_TO it dials the first listed address.
 */
int conn_init_aux(struct tunnel_conn *n, struct manager *m, const char *kind,
    const struct conn_ops *ops);

/*
 * The TLS client configuration of this connection's next dials instead of
 * the manager's (borrowed: it must outlive the connection made with it):
 * one without a client certificate for Enroll, Pair and PairPoll.  NULL:
 * the manager's (its current identity).  An h2c controller ignores it.
 */
void conn_set_tls(struct tunnel_conn *n, const struct tls_client_config *tls);

/* The configuration a dial uses now; NULL for an h2c controller. */
const struct tls_client_config *conn_tls(const struct tunnel_conn *n);

/* Free what conn_init() allocated; the connection must be IDLE. */
void conn_free(struct tunnel_conn *n);

/*
 * Close at once, outside the reactor's order (the owner is being freed):
 * the calls' on_end run from here, the owner's ops do not; then IDLE.
 */
void conn_abort(struct tunnel_conn *n);

/* Dial after the backoff delay (0 at first, or after a clean close). */
void conn_schedule(struct tunnel_conn *n);

/* Dial as soon as the budget allows (a replacement). */
void conn_schedule_now(struct tunnel_conn *n);

/* Dial in ms, then as the budget allows. */
void conn_schedule_in(struct tunnel_conn *n, int64_t ms);

/*
 * The delay before a replacement for n (draining) dials: 0, unless n
 * drains within CONN_QUICK_MS of opening and its last closes were quick
 * too (as many as make a clean close back off); then the next step of n's
 * backoff.  An edge that asks every new tunnel to close (START_CLOSE)
 * gets paced replacements, not a dial storm.
 */
int64_t conn_replace_delay(struct tunnel_conn *n);

/* Forget a scheduled dial (shutdown). */
void conn_unschedule(struct tunnel_conn *n);

/* IDLE with a dial pending. */
bool conn_scheduled(const struct tunnel_conn *n);

/*
 * Take no new calls; close once the last call has ended, or at
 * DRAIN_TIMEOUT.  A connection not yet OPEN closes at once.  why (a static
 * typed reason: "start_close", "identity_renewed", ...) is what the close
 * is counted as, and at DRAIN_TIMEOUT the last error.
 */
void conn_drain(struct tunnel_conn *n, const char *why);

/*
 * Close (deferred, see above): reason and detail are recorded as the last
 * error unless reason is NULL (a normal end); clean picks the re-dial
 * delay (at once after a clean close, unless that keeps happening right
 * after opening).  Harmless while already closing or idle.
 */
void conn_close(
    struct tunnel_conn *n, const char *reason, const char *detail, bool clean);

/* Ask for the session's output to be written (end of this loop turn). */
void conn_kick(struct tunnel_conn *n);

/* Socket bytes so far, the live connection's included. */
uint64_t conn_bytes_in(const struct tunnel_conn *n);
uint64_t conn_bytes_out(const struct tunnel_conn *n);

const char *conn_state_name(enum conn_state s);

/* Between the connection and its calls (tunnel_conn.c, tunnel_call.c). */
void conn_calls_event(struct h2_stream *st, unsigned ev, void *arg);
bool conn_calls_routable_now(const struct tunnel_conn *n, uint64_t acked);
bool conn_calls_finished(const struct tunnel_conn *n);

/*
 * True when a call has had bytes waiting to go out, none of which the
 * edge's flow control let out, for limit_ms or longer at now: the edge
 * stopped reading.  Called at the connection's timer ticks.
 */
bool conn_calls_stalled(struct tunnel_conn *n, int64_t now, int64_t limit_ms);
void conn_call_ended(struct tunnel_conn *n, struct conn_call *c);

/*
 * conn_trace.c: a tunnel's lifecycle as spans (issue #15 item 4).  state:
 * n leaves its state for to (before n->state changes): the span of the
 * state left ends, one for to starts (tunnel.dial, tunnel.handshake,
 * tunnel.open, tunnel.drain; the others have none).  fail: the
 * connection closes for reason (NULL: a normal end): the current span
 * records it as error.type.  No-ops for aux connections and with tracing
 * off.
 */
void conn_trace_state(struct tunnel_conn *n, enum conn_state to);
void conn_trace_fail(struct tunnel_conn *n, const char *reason);

#endif
