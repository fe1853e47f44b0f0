/*
 * session.h — brokered TCP sessions, the connector's side
 * (spec/sessions.md): a SessionOpen on a Tunnel call is checked against
 * SESSION_ALLOW, dialled, and answered on a new call on the same edge
 * connection (POST /outpost.v1.Sessions/Attach, outpost-session-id), whose
 * SessionFrames then carry the target's bytes both ways.
 *
 * The table is a startup object owned by the manager: at most SESSION_MAX
 * sessions plus SESSION_REFUSALS answers of refused ones (overloaded,
 * policy_denied, ...) exist at once; a SessionOpen beyond both is dropped
 * with a warning (the edge's wait for the Attach times out).  Each session
 * is allocated when its SessionOpen arrives and freed when it ends: its
 * call's rings (SESSION_BUFFER each way, the receive ring being the call's
 * HTTP/2 window) and one message buffer.
 *
 * Backpressure is HTTP/2 flow control only: the target is not read while
 * the call's send ring (SESSION_BUFFER) has no room for another read, and
 * the call is paused (no window returned) while the target's socket holds
 * back bytes the edge sent.  So a session never buffers more than its
 * rings, whatever the peers do.
 *
 * Ends (one log line each, with target, duration, bytes each way and the
 * reason; never payload): both directions closed ("ok"); a target reset
 * ("reset": the call is ended without half_close, see
 * docs/protocol-extensions.md); the edge cancelling the call ("cancelled":
 * the target socket is closed at once) or ending it early ("ended");
 * SESSION_IDLE_TIMEOUT ("idle_timeout") or SESSION_MAX_LIFETIME
 * ("lifetime"): the call is reset; the connection going away ("closed").
 *
 * All functions run on the reactor thread.
 */
#ifndef CONNECTOR_SESSION_H
#define CONNECTOR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/metrics.h"
#include "proto/outpost/v1/sessions.pb-c.h"

#define SESSION_REFUSALS 32 /* answers of refused sessions at once */
/* Reactor timers a table of max sessions may hold (dial, its DNS query
 * and the session's own). */
#define SESSION_TIMERS(max) (3 * ((size_t)(max) + SESSION_REFUSALS))

struct cfg;
struct manager;
struct netpolicy;
struct session_table;
struct tunnel_slot;

struct session_conf {
	unsigned max; /* SESSION_MAX */
	int64_t idle_ms; /* SESSION_IDLE_TIMEOUT */
	int64_t lifetime_ms; /* SESSION_MAX_LIFETIME */
	int64_t connect_ms; /* CONNECT_TIMEOUT: a SessionOpen's 0 */
	size_t buffer; /* SESSION_BUFFER, per direction */
	const struct netpolicy *policy; /* SESSION_ALLOW; NULL: sessions off */
	const char *no_proxy; /* NO_PROXY: targets EGRESS_PROXY_URL skips */
};

/* The limits and SESSION_ALLOW from the configuration (the policy is c's:
 * c must outlive the table). */
void session_conf_load(struct session_conf *sc, const struct cfg *c);

/*
 * Allocate an empty table for m's tunnels (setup phase; c is copied, the
 * policy it points to must outlive the table).  Sessions dial through
 * m's EGRESS_PROXY_URL unless NO_PROXY (net/noproxy.h) lets the target go
 * direct.  0, -EINVAL (a bad NO_PROXY: check-config reports it first) or
 * -ENOMEM.
 */
int session_table_new(struct session_table **out, struct manager *m,
    const struct session_conf *c);

/*
 * Free the table and any session left (their connections must be gone:
 * after manager_stop(), or before manager_start()).  NULL is allowed.
 */
void session_table_free(struct session_table *t);

/* True when SESSION_ALLOW is set: the Tunnel call advertises "sessions". */
bool session_enabled(const struct session_table *t);

/*
 * A SessionOpen arrived on slot's Tunnel call (so valid during the call):
 * refuse it, or dial and answer it, on slot's connection.
 */
void session_open(struct session_table *t, struct tunnel_slot *slot,
    const Outpost__V1__SessionOpen *so);

/*
 * A SessionOpen's checks before any policy: the session_id is 1..64 of
 * [A-Za-z0-9._-] (else it cannot be answered: the SessionOpen is dropped
 * with a warning), and the target is a host of 1..DNS_NAME_MAX bytes and a port
 * 1..65535 (else the answer is bad_request).
 */
bool session_id_valid(const char *id);
bool session_target_valid(const Outpost__V1__SessionOpen *so);

/* Sessions open now (dialling, or carrying bytes). */
unsigned session_count(const struct session_table *t);

/* Register outpost_sessions_open, outpost_sessions_total{result} and
 * outpost_session_bytes_total{direction} with r (at start). */
void session_metrics_add(struct session_table *t, struct metrics *r);

#endif
