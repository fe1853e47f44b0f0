/*
 * tunnel.h — one tunnel slot: an edge connection (tunnel_conn.h) carrying
 * one gRPC Tunnel call (connector.v1, spec/tunnel-protocol.md), and the
 * requests executing on it.
 *
 * The connection's states are the slot's (enum conn_state): IDLE → DIALING
 * → HANDSHAKING (TLS only) → OPEN → DRAINING → CLOSING → IDLE.  Once the
 * connection is OPEN the slot opens the Tunnel call and queues the
 * unsolicited HealthCheckResponse.  The slot is *routable* (takes requests,
 * counts for readiness, and is a replacement a draining slot may close
 * for) while its connection is OPEN and the Tunnel call is routable: the
 * edge acked a PING sent behind the call's HEADERS and the call was neither
 * reset nor ended.  Nothing is needed from the edge's application:
 * standard gRPC servers (grpc-js, grpc-go) send response headers only with
 * their first message.
 *
 * Draining (START_CLOSE, send queue overflow, shutdown): no new requests,
 * in-flight ones finish; then, once another slot is routable (or the
 * process is stopping), the Tunnel call is half-closed; the edge ends it,
 * and the connection closes after its last call, or at DRAIN_TIMEOUT.
 * The edge ending the Tunnel call with nothing in flight is a rebalance:
 * the connection drains and re-dials at once (unless that keeps happening
 * right after opening); any other end is an error, re-dialled after the
 * backoff.
 *
 * Other calls on the same connection (sessions, spec/sessions.md) are
 * opened on &slot->conn with conn_call_open() (tunnel_conn.h) by whoever
 * handles the Tunnel call's message that asks for them; they end
 * independently of the Tunnel call, and keep a draining connection open
 * until they end or DRAIN_TIMEOUT.
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
#include "connector/tunnel_conn.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "trace/trace.h"

struct deliver;
struct manager;
struct tunnel_slot;

/* One request executing on a tunnel. */
struct tunnel_req {
	struct tunnel_slot *slot;
	Connector__V1__ControllerMessage *msg; /* owns the HttpRequest */
	struct exec_job job;
	struct deliver *dl; /* streamed (connector/deliver.h), else NULL */
	int64_t started;
	bool busy;
	/* connector.handle_http_request and its child executor.upstream_http
	 * (tunnel_trace.c), by reference (recorded only for an exporter),
	 * and the traceparent naming the child, sent upstream. */
	struct trace_ref span, up;
	char traceparent[TRACE_PARENT_LEN + 1];
};

struct tunnel_slot {
	struct tunnel_conn conn; /* the edge connection */
	struct conn_call call; /* the Tunnel call on it */
	struct manager *mgr;
	unsigned index;
	char uuid[37]; /* per connection */
	struct tunnel_req *reqs; /* MAX_CONCURRENT_REQUESTS */
	unsigned inflight;
	uint64_t served, errors;
};

/* Allocate the slot's buffers.  0 or -ENOMEM (setup phase). */
int tunnel_slot_init(struct tunnel_slot *t, struct manager *m, unsigned index);

/* Free the buffers of an idle slot (its connection closed). */
void tunnel_slot_free(struct tunnel_slot *t);

/* Another slot became routable: a draining slot waiting for it may finish. */
void tunnel_slot_poke(struct tunnel_slot *t);

/* Stop taking requests; close once in-flight ones are done (or on timeout).
 * why: a static typed reason (the close is counted as it, conn_drain()). */
void tunnel_slot_drain(struct tunnel_slot *t, const char *why);

/* True when the slot can take requests from the edge (see above). */
bool tunnel_slot_routable(const struct tunnel_slot *t);

/* True while the slot drains (no new requests). */
bool tunnel_slot_draining(const struct tunnel_slot *t);

/* Called by the message layer (tunnel_msg.c). */
/* Decode and act on one ControllerMessage: 0, -EBADMSG (undecodable) or
 * -ENOMEM (decoding it would take more than its memory bound). */
int tunnel_msg_dispatch(struct tunnel_slot *t, const uint8_t *p, size_t n);
void tunnel_msg_hello(struct tunnel_slot *t);
void tunnel_msg_cancel_all(struct tunnel_slot *t);
/* Queue ConnectorMessage{request_id: id, sub in oneof member field}. */
bool tunnel_queue(struct tunnel_slot *t, const char *id, unsigned field,
    const ProtobufCMessage *sub);
void tunnel_request_done(struct tunnel_slot *t);
/* Answer r on the Tunnel call (resp, or an ErrorResponse with the reason
 * and detail), then tunnel_req_finish(); for exec_done_fn callers. */
void tunnel_req_answer(struct tunnel_req *r, enum exec_reason why,
    const char *detail, const Connector__V1__HttpResponse *resp);
/* r is answered: counted under result ("ok" or a reason; NULL: not
 * counted, the tunnel went away), its message freed, its slot free.
 * status and size: the answer's HTTP status and body bytes for its spans
 * (a streamed answer's, counted as it went); status 0: there was none. */
void tunnel_req_finish(
    struct tunnel_req *r, const char *result, int status, uint64_t size);

/*
 * tunnel_trace.c: the request's spans.  start: before the request goes
 * to the executor, joining the trace of req's traceparent (and
 * tracestate) field when it is valid; returns the traceparent to send
 * upstream (r->traceparent, while r->up.active), or NULL when tracing is
 * off.  end: ends both spans with the outcome: result "ok" or the typed
 * reason (NULL: cancelled, the tunnel went away), status and size the
 * answer's HTTP status and body bytes (status 0: no answer); the first call
 * counts, later ones do nothing.
 */
const char *tunnel_trace_start(struct manager *m, struct tunnel_req *r,
    const Connector__V1__HttpRequest *req);
void tunnel_trace_end(struct manager *m, struct tunnel_req *r,
    const char *result, int status, uint64_t size);

/*
 * The log lines of a callback handling r name its request span
 * (lib/log.h's trace context; cleared when r has no span): called first
 * by such a callback, which calls log_clear_trace() before it returns.
 * on_http, tunnel_req_answer, tunnel_req_finish and deliver's callbacks
 * do; tunnel_req_answer and tunnel_req_finish clear it on return.
 */
void tunnel_trace_log(const struct tunnel_req *r);

#endif
