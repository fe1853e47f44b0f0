/*
 * enroll_call.h — one unary gRPC call to the edge's Enrollment service on
 * a short-lived connection of its own (spec/enrollment.md): an edge
 * connection that is not a tunnel (tunnel_conn.h, conn_init_aux: the same
 * dial through EGRESS_PROXY_URL, TLS, HTTP/2 and gRPC framing), with the
 * caller's TLS client configuration (one without a client certificate for
 * Enroll/Pair/PairPoll, the current one for Renew), POST
 * /outpost.v1.Enrollment/<method>, one message each way, then the
 * connection is closed.
 *
 * struct enroll_call is a heap object (enroll_call_new), reusable for one
 * call after another; the whole exchange has one deadline.  The callback
 * runs exactly once per enroll_call_start() that returned 0 (unless
 * enroll_call_cancel() came first), never from inside enroll_call_start(),
 * and only once the connection is gone: it may start the next call or
 * free the object.  The TLS configuration must outlive the call.
 */
#ifndef CONNECTOR_ENROLL_CALL_H
#define CONNECTOR_ENROLL_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rx/rx.h"
#include "tls/tls.h"

#define ENROLL_MESSAGE_MAX (64u << 10) /* largest answer accepted */
#define ENROLL_DETAIL_MAX 160

struct manager;
struct enroll_call;

/* How a call ended. */
enum enroll_outcome {
	ENROLL_OK, /* grpc-status 0 and one message */
	ENROLL_STATUS, /* the edge answered with a non-zero grpc-status */
	ENROLL_TRANSPORT, /* dial, TLS, HTTP/2 or framing failed; timeout */
};

struct enroll_result {
	enum enroll_outcome outcome;
	int status; /* grpc-status (ENROLL_STATUS); -1 otherwise */
	enum tls_reason tls; /* TLS_R_NONE unless the handshake failed */
	/* ENROLL_STATUS: the grpc-message's first word ("invalid_token",
	 * "slow_down", ...); ENROLL_TRANSPORT: a dial error (dial_error_str:
	 * "dns", "refused", ...), "timeout", a TLS reason name ("unknown_ca",
	 * ...), "h2", "closed", "stream" or "protocol". */
	char reason[48];
	char detail[ENROLL_DETAIL_MAX]; /* the whole grpc-message, or why */
	const uint8_t *msg; /* ENROLL_OK: the answer, valid in the callback */
	size_t msg_len;
};

typedef void enroll_call_fn(
    struct enroll_call *c, const struct enroll_result *r, void *arg);

/*
 * NULL when out of memory.  m (borrowed; it need not be started) gives the
 * reactor, the controller (host, port, :authority, server name,
 * CONNECT_TIMEOUT, TLS_HANDSHAKE_TIMEOUT), DNS and the egress proxy.
 */
struct enroll_call *enroll_call_new(struct manager *m);

/* Cancel any call (no callback) and free. NULL is a no-op. */
void enroll_call_free(struct enroll_call *c);

/*
 * Call method ("Enroll", "Pair", "PairPoll", "Renew") at the manager's
 * controller with req as the request, within timeout_ms.  tls: the client
 * configuration (with or without a certificate); NULL: the manager's
 * current one (an http:// (h2c) controller uses none).  Returns 0, or
 * -EALREADY while a call runs or its connection is still closing, -ENOMEM
 * when req cannot be encoded.
 */
int enroll_call_start(struct enroll_call *c,
    const struct tls_client_config *tls, const char *method,
    const ProtobufCMessage *req, int64_t timeout_ms, enroll_call_fn *done,
    void *arg);

/* Stop the call: no callback. */
void enroll_call_cancel(struct enroll_call *c);

bool enroll_call_active(const struct enroll_call *c);

#endif
