/*
 * edge_session.h — private to src/edge/: brokered TCP sessions
 * (spec/sessions.md) on the edge's side.
 *
 * A front-door request GET /v1/connectors/{name}/connect/{host}:{port}
 * (Connection: Upgrade, Upgrade: outpost-tcp, behind the token) becomes a
 * struct edge_session: the edge sends SessionOpen on the connector's
 * least-loaded routable Tunnel call that advertised "sessions", and waits
 * (EDGE_CONF request timeout) for the connector's Attach call on the same
 * HTTP/2 connection and its first frame, the result.  ok: the client gets
 * 101 Switching Protocols and its socket is carried both ways as
 * SessionFrame data; otherwise it gets a JSON error like the proxy's.
 *
 * Ownership: the edge lists its sessions (struct edge_sessions).  A
 * session owns the client socket after the upgrade (a struct stream with
 * two EDGE_SESSION_BUF buffers); the Attach call rides on the stream
 * memory of a struct edge_tunnel (t->sess, like an Enrollment call), whose
 * close comes back here before the tunnel code frees it.  A session is
 * freed once it has ended, its client socket is closed and its Attach call
 * is gone.
 *
 * Bounds: EDGE_SESSIONS_MAX per edge; per session the Attach stream's
 * rings (its HTTP/2 window one way, the send ring the other) and the
 * client buffers.  The client is read only while the Attach send ring has
 * room for a whole frame, and Attach data is taken (its window reopened)
 * only while the client buffer has room for a whole frame.
 */
#ifndef EDGE_EDGE_SESSION_H
#define EDGE_EDGE_SESSION_H

#include <stdint.h>

#include "lib/buf.h"
#include "lib/list.h"
#include "lib/metrics.h"

#define EDGE_SESSION_PATH "/outpost.v1.Sessions/Attach"
#define EDGE_SESSIONS_MAX 4096 /* sessions per edge, pending included */
#define EDGE_CONN_SESSIONS 2048 /* Attach calls per connection */
#define EDGE_SID_MAX 65 /* 1..64 chars [A-Za-z0-9._-] */

struct edge;
struct edge_tunnel;
struct edge_route;
struct http_exchange;

enum edge_sess_result {
	EDGE_SR_OK,
	EDGE_SR_POLICY_DENIED,
	EDGE_SR_DNS,
	EDGE_SR_REFUSED,
	EDGE_SR_UNREACHABLE,
	EDGE_SR_TIMEOUT,
	EDGE_SR_OVERLOADED,
	EDGE_SR_DRAINING,
	EDGE_SR_BAD_REQUEST,
	EDGE_SR_INTERNAL,
	EDGE_SR_NO_TUNNEL, /* edge side: nowhere to open it */
	EDGE_SR_TUNNEL_CLOSED, /* edge side: lost before the result */
	EDGE_SR_CANCELLED, /* edge side: the client left first */
	EDGE_SR_RESET, /* open, then ended by the connector's trailers */
	EDGE_SR_COUNT,
};

/* Per edge (e->ss): the sessions and their counters. */
struct edge_sessions {
	struct list_node all; /* of struct edge_session, by link */
	size_t n; /* listed (not yet freed) */
	size_t open; /* not yet ended */
	uint64_t total[EDGE_SR_COUNT];
	uint64_t to_target, from_target; /* bytes */
	uint8_t *scratch; /* one packed frame, or the bytes after a head */
	/* The counters above as metric series (refreshed at scrape). */
	struct metric_family f_open, f_total, f_bytes;
	struct metric m_open, m_total[EDGE_SR_COUNT], m_to, m_from;
	char labels[EDGE_SR_COUNT][48];
};

/* Allocate e->ss; 0 or -ENOMEM.  edge_sessions_free() at the end. */
int edge_sessions_init(struct edge *e);
void edge_sessions_free(struct edge *e);

/* The edge stops: end every session (their sockets close). */
void edge_sessions_stop(struct edge *e);

/* True when no session is left (the edge may be freed). */
bool edge_sessions_idle(const struct edge *e);

/* The connect route (EDGE_R_CONNECT) of connector r->name. */
void edge_session_start(
    struct edge *e, struct http_exchange *x, const struct edge_route *r);

/* t's request headers name EDGE_SESSION_PATH: match it to its session. */
void edge_session_attach(struct edge_tunnel *t);

/* H2_EV_READ / H2_EV_WRITE of an Attach call (t->sess set). */
void edge_session_event(struct edge_tunnel *t, unsigned ev);

/* H2_EV_CLOSE of an Attach call, before t is freed. */
void edge_session_stream_closed(struct edge_tunnel *t);

/* Tunnel call t closes: sessions still waiting for it fail. */
void edge_session_tunnel_gone(struct edge_tunnel *t);

/* ,"sessions":[...] of tunnel t: id, target, bytes, age; never data. */
void edge_session_json(struct buf *b, const struct edge_tunnel *t);

/* Add the session metric families to r (after edge_sessions_init). */
void edge_session_metrics_add(struct edge *e, struct metrics *r);

#endif
