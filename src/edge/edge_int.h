/*
 * edge_int.h — private to src/edge/: the objects of the edge and how they
 * own each other.
 *
 *   struct edge            one per process; owns the listeners, the
 *                          connection list, the connector registry and the
 *                          pool of pending front-door requests.
 *   struct edge_conn       one accepted TCP connection: TLS (or h2c), one
 *                          HTTP/2 server session.  Heap; freed from the
 *                          stream's close callback.
 *   struct edge_tunnel     one gRPC Tunnel call on a connection (a
 *                          connection may carry several).  Heap; freed at
 *                          its H2_EV_CLOSE.  Listed on its connector once
 *                          the connector's name is known.
 *   struct edge_connector  a name seen at least once; kept (Offline) after
 *                          its last tunnel is gone, so the API can say so.
 *   struct edge_req        a proxied request waiting for its answer: the
 *                          HTTP exchange, the tunnel, a deadline.  Pool
 *                          slot; its index is part of the request_id.
 */
#ifndef EDGE_EDGE_INT_H
#define EDGE_EDGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net_listen.h"
#include "edge/edge.h"
#include "edge/edge_route.h"
#include "edge/edge_session.h"
#include "edge/edge_update.h"
#include "grpc/grpc.h"
#include "h2/h2.h"
#include "http/http_server.h"
#include "lib/buf.h"
#include "lib/list.h"
#include "lib/metrics.h"
#include "net/net.h"
#include "net/stream.h"
#include "rx/rx_mcache.h"
#include "rx/rx.h"
#include "trace/trace.h"
#include "tls/tls.h"

#define EDGE_TUNNEL_PATH "/connector.v1.ConnectorService/Tunnel"
#define EDGE_CONN_STREAMS 8 /* Tunnel calls per connection */
#define EDGE_MISSES 3 /* unanswered heartbeats: Offline */
#define EDGE_WINDOW (1u << 20) /* HTTP/2 stream receive window */
#define EDGE_TX_RING (256u << 10) /* per tunnel send ring */
#define EDGE_PLAIN_BUF (64u << 10) /* h2c socket buffers, each way */
#define EDGE_HANDSHAKE_MS 10000
#define EDGE_MSG_OVERHEAD (256u << 10) /* headers + framing per message */
#define EDGE_MAX_CONNECTORS 1024
#define EDGE_REQ_ID_MAX 32
#define EDGE_HOST_MAX 256
#define EDGE_SCRATCH (32u << 10)
#define EDGE_RWATCH_MS 1000 /* revocation file poll (edge_rwatch.c) */

/* Stream memory (struct edge's spares, rx/rx_mcache.h, anonymous mappings,
 * never malloc's): the rings of an accepted call and a Deliver call's
 * message buffer come from there and go back there, instead of an
 * mmap/munmap pair and fresh page faults per call (with streamed responses
 * each request is a call).  Three a call (two rings and a Deliver call's
 * message buffer) for as many calls as run at once under load, at most
 * EDGE_SPARE_HOT bytes of them resident, each given back once no call took
 * it for EDGE_SPARE_IDLE_MS.  Bound at edge_start(), released at its end. */
#define EDGE_SPARES (3 * 128)
#define EDGE_SPARE_HOT (32u << 20)
#define EDGE_SPARE_IDLE_MS 1000

struct edge;
struct edge_connector;
struct edge_call;

/* A message queued for a tunnel: gRPC prefix + protobuf bytes. */

enum edge_tstate { EDGE_T_ONLINE, EDGE_T_OFFLINE, EDGE_T_DRAINING };

struct edge_req;

struct edge_tunnel {
	struct edge_conn *c;
	struct edge_connector *owner; /* NULL until named */
	struct edge_call *call; /* an Enrollment call instead of a Tunnel */
	struct edge_session *sess; /* an Attach call instead (sessions) */
	bool deliver; /* a Deliver call instead (edge_deliver.c) */
	struct edge_ucall *ucall; /* an Updates call instead (edge_update*) */
	struct edge_req *dreq; /* its request while it relays one */
	unsigned nsessions; /* sessions opened on this Tunnel call */
	bool slotted; /* holds a slot in c->tun */
	struct list_node link; /* on owner's tunnels while owner != NULL */
	struct h2_stream hs;
	struct grpc_reader rd;
	uint8_t *rdbuf, *rx, *tx;
	size_t rx_hot, tx_hot; /* of rx, tx possibly resident when taken */
	struct grpc_sendq oq; /* bounded by the requests routed here */
	struct rx_timer hb;
	bool accepted; /* right path; response headers sent */
	bool closed; /* H2_EV_CLOSE seen */
	bool ended; /* we ended the call (refused) */
	bool blocked; /* the send ring was full */
	bool progress; /* the peer consumed a backlog since the last tick */
	enum edge_tstate state;
	unsigned missed; /* intervals since the last answer */
	unsigned in_flight;
	uint64_t served;
	int32_t max_concurrent; /* from MetadataResponse; 0 unknown */
	int64_t since_ms; /* wall clock */
	int64_t last_hb_ms; /* wall clock of the last answer; 0 none */
	int64_t alive_at; /* monotonic: last answer or backlog progress */
	int64_t hb_due; /* monotonic: next HealthCheckRequest */
	int64_t last_pick; /* monotonic: tie-break for least-loaded */
	uint64_t seq;
	char id[EDGE_ID_MAX]; /* uuid from MetadataResponse or "t<seq>" */
	char hostname[EDGE_HOST_MAX];
};

struct edge_conn {
	struct edge *e;
	struct list_node link; /* on e->conns */
	struct stream st;
	struct rx_timer timer; /* handshake deadline, then h2 timers */
	struct rx_defer kick; /* flush at the end of the loop turn */
	struct h2_session h2;
	bool h2_up;
	bool tls;
	bool identified;
	bool closing;
	size_t ntun;
	size_t nstreams; /* accepted calls, Attach calls included */
	struct edge_tunnel *tun[EDGE_CONN_STREAMS];
	char name[EDGE_NAME_MAX]; /* from the certificate; "" for h2c */
	char addr[NET_ADDR_STRLEN];
	uint8_t *plain; /* h2c: both socket buffers */
	struct tls_conn tlsc;
};

struct edge_connector {
	char name[EDGE_NAME_MAX];
	struct list_node link; /* on e->connectors */
	struct list_node tunnels; /* struct edge_tunnel: newest first */
	int64_t first_seen_ms;
	int64_t last_seen_ms; /* last tunnel open or close */
	int64_t cert_not_after; /* Unix s of the last issued cert; 0 none */
	uint64_t requests;
	struct edge_ustatus ust; /* its last Updates/Report */
};

/* Where a streamed response is (edge_part_check). */
enum edge_pstate { EDGE_P_HEAD, EDGE_P_BODY, EDGE_P_END };

/*
 * A front-door request in flight.  Ownership: the exchange x is the
 * request's from edge_proxy_start() until it answers, ends (a whole
 * streamed body: x is NULL from then on, only the Deliver call's End is
 * owed) or hears the abort; edge_proxy_release() detaches x (no abort or
 * drain callback reaches the slot afterwards).  The Deliver call dlv and
 * the request point at each other until unbound (edge_deliver.c).  The
 * slot is free when neither holds it (edge_req_free).
 */
struct edge_req {
	struct edge *e;
	struct http_exchange *x; /* the front door's, while ours */
	struct edge_tunnel *t; /* NULL once a streaming tunnel closed */
	struct rx_timer timer; /* until the answer, or a streamed head */
	bool streamed; /* asked with stream_response */
	struct edge_tunnel *dlv; /* its Deliver call once matched */
	enum edge_pstate pstate;
	struct rx_defer again; /* the Deliver ring has more parts */
	int64_t left; /* streamed: Content-Length still owed; < 0 none */
	/* The client has its whole body (x is gone): only End is owed. */
	bool whole;
	uint32_t gen;
	char id[EDGE_REQ_ID_MAX];
	struct edge_route route; /* points into x's request: a retry */
	/* The front door's span (edge.front_door), from edge_proxy_start to
	 * edge_proxy_release, which ends it. */
	struct trace_span span;
};

static inline bool
edge_req_free(const struct edge_req *q)
{
	return q->x == NULL && q->dlv == NULL;
}

struct edge {
	struct rx_loop *l;
	const struct edge_conf *conf;
	struct net_listener lw; /* the tunnel port */
	bool lw_open;
	bool stopping;
	uint16_t tport;
	struct http_server *api;
	struct list_node conns; /* struct edge_conn: newest first */
	size_t nconns;
	/* struct edge_connector: newest first (prepended), the order of
	 * GET /v1/connectors. */
	struct list_node connectors;
	size_t nconnectors;
	struct edge_req *reqs;
	size_t nreqs;
	uint64_t seq;
	struct http_route routes[8];
	struct edge_updates *upd; /* edge_update.c */
	struct edge_sessions *ss;
	struct metrics metrics; /* GET /metrics (edge_api.c) */
	struct trace_recorder *trace; /* edge_set_trace(); NULL: off */
	struct rx_mcache spares; /* stream memory: see edge_tunnel_accept() */
	struct mcache_ent spare_ent[EDGE_SPARES];
	uint8_t *scratch; /* EDGE_SCRATCH bytes: response header lines */
	struct rx_timer rwatch; /* edge_rwatch.c */
	/* edge_drain(): draining from then on; done set until it is called */
	bool draining;
	void (*drain_done)(struct edge *, void *);
	void *drain_arg;
	int64_t drain_end; /* rx_now() deadline */
	int64_t drain_idle; /* rx_now() since nothing is in flight; 0: busy */
	struct rx_timer drain;
};

/* edge.c: a connection finished closing (the edge may be freed now). */
void edge_conn_gone(struct edge *e);

/* edge_conn.c */
void edge_conn_accept(struct edge *e, int fd, const struct sockaddr *peer);
void edge_conn_close(struct edge_conn *c, const char *why);
/*
 * New HTTP/2 output is queued: flush it at the end of this loop turn.
 * Safe from anywhere, h2 event callbacks included.
 */
void edge_conn_kick(struct edge_conn *c);

/* edge_tunnel.c */
struct h2_stream *edge_tunnel_accept(struct h2_session *s, void *arg);
void edge_tunnel_event(struct h2_stream *st, unsigned ev, void *arg);
/* Queue a packed message (takes ownership of o).  0 or -errno. */
int edge_tunnel_send(struct edge_tunnel *t, struct grpc_out *o);
bool edge_tunnel_routable(const struct edge_tunnel *t);
/*
 * Send START_CLOSE on t and route nothing more to it (the connector opens
 * a replacement, finishes what runs here, then ends the call).  0, or
 * -errno when t cannot take it (closing).
 */
int edge_tunnel_start_close(struct edge_tunnel *t);
/* Whether t's outpost-capabilities list cap ("sessions", "stream"). */
bool edge_tunnel_has_cap(const struct edge_tunnel *t, const char *cap);
const char *edge_tunnel_state_name(const struct edge_tunnel *t);

/* edge_msg.c: ControllerMessage builders (heap; NULL on ENOMEM). */
struct grpc_out *edge_msg_health(const char *id, int64_t unix_ms);
struct grpc_out *edge_msg_metadata(const char *id);
struct grpc_out *edge_msg_start_close(const char *id);
struct grpc_out *edge_msg_http(const char *id, const struct http_request *rq,
    const char *url, const void *body, size_t blen, bool stream,
    const struct trace_ctx *tc);
/*
 * Start q's front-door span: a child of rq's one valid traceparent field
 * (with its tracestate), or the root of a new trace (W3C: several or an
 * invalid one start a new trace).  tc: the context the HttpRequest
 * carries, so the connector continues it.  With tracing off (r NULL) tc
 * is a fresh sampled span id of the same trace, recorded nowhere.  false:
 * no randomness (the request goes without a traceparent).
 */
bool edge_msg_front_door(struct trace_recorder *r, struct trace_span *s,
    const struct http_request *rq, struct trace_ctx *tc);

/* edge_registry.c */
int edge_registry_add(struct edge *e, struct edge_tunnel *t, const char *name);
void edge_registry_remove(struct edge_tunnel *t);
struct edge_connector *edge_registry_find(
    struct edge *e, const char *name, size_t n);
struct edge_tunnel *edge_registry_pick(struct edge_connector *k, int64_t now);
bool edge_connector_online(const struct edge_connector *k);
void edge_heartbeat_start(struct edge_tunnel *t);
void edge_heartbeat_answered(struct edge_tunnel *t);

/* edge_json.c: state as JSON into b (b->overflow on truncation). */
void edge_json_connector(struct buf *b, const struct edge_connector *k);
void edge_json_list(struct buf *b, const struct edge *e);

/* edge_proxy.c */
void edge_proxy_start(
    struct edge *e, struct http_exchange *x, const struct edge_route *r);
/* A reply arrived on t for request_id: answers the exchange. */
struct Connector__V1__ConnectorMessage;
void edge_proxy_reply(
    struct edge_tunnel *t, const struct Connector__V1__ConnectorMessage *m);
/* t is going away: fail its pending requests with 502 (those whose
 * streamed response is under way go on: their Deliver call is theirs). */
void edge_proxy_tunnel_gone(struct edge_tunnel *t);
struct Connector__V1__HttpResponse;
/* The live request "r<slot>-<gen>" names, or NULL. */
struct edge_req *edge_proxy_find(struct edge *e, const char *id);
/* The request is over: its slot (and Deliver call: cancelled) is freed. */
void edge_proxy_release(struct edge_req *q);
/* The answer q's span records: the client's status and, for an error,
 * error.type (static text, or NULL). */
void edge_proxy_span(struct edge_req *q, int status, const char *error_type);
/*
 * An answer's status and headers as header lines in b (the edge's
 * scratch); false after answering x with 502 when they are unusable.
 */
bool edge_proxy_head(struct http_exchange *x,
    const struct Connector__V1__HttpResponse *r, struct buf *b);
/* The answer's Content-Length; -1 when it has none or a bad one. */
int64_t edge_proxy_length(const struct Connector__V1__HttpResponse *r);

/*
 * edge_deliver.c: streamed responses (spec/streaming.md).  A Deliver
 * call (t->deliver) is matched by its outpost-request-id to a request
 * asked with stream_response on a Tunnel call of the same connection;
 * its ResponseParts go to the front-door client as they come (chunked,
 * or the upstream's Content-Length), parts taken only while the client
 * has room for a whole one, so the call's HTTP/2 window is the
 * backpressure.  A bad call is ended with a typed reason, its client
 * sees a 502 or a cut body.
 */
#define EDGE_DELIVER_PATH "/outpost.v1.Responses/Deliver"
#define EDGE_PART_DATA_MAX 65536u /* bytes per data part (spec) */
/* t's request headers name EDGE_DELIVER_PATH: match it to its request. */
void edge_deliver_attach(struct edge_tunnel *t);
/* Events of a Deliver call; H2_EV_CLOSE before t is freed. */
void edge_deliver_event(struct edge_tunnel *t, unsigned ev);
/* The request is going away: cancel its Deliver call (RST_STREAM
 * CANCEL); q->dlv is NULL afterwards. */
void edge_deliver_cancel(struct edge_req *q);
/*
 * One message of a Deliver call as edge_part_decode() gives it.  m is
 * protobuf-c's message (a head, an end, or a data part in an unusual
 * encoding), freed with edge_part_free(); it is NULL for a data part in
 * its plain encoding (the tag of field 2, a length of at most three bytes,
 * then exactly those bytes), which is read in place, without protobuf-c's
 * copy and allocation.  data / len: a data part's bytes (in the decoded
 * input or in m), valid while both are.
 */
struct Outpost__V1__ResponsePart;
struct edge_part {
	struct Outpost__V1__ResponsePart *m;
	const uint8_t *data;
	size_t len;
};
/*
 * Decode one message of a Deliver call (n bytes at p) and check that it
 * may follow what came before (*st; advanced when it may).  NULL with
 * *out set (the caller frees it with edge_part_free()), or the typed
 * reason it is refused with ("malformed_part", "data_before_head",
 * "second_head", "data_too_large", "part_after_end", "empty_part",
 * "bad_head", "end_before_head") and *out empty.  Sans-I/O (fuzzed,
 * in place against protobuf-c: tests/fuzz/fuzz_response_part.c).
 */
#define EDGE_PART_MSG_MAX (EDGE_PART_DATA_MAX + EDGE_SCRATCH)
const char *edge_part_decode(
    enum edge_pstate *st, const uint8_t *p, size_t n, struct edge_part *out);
void edge_part_free(struct edge_part *part);

/* edge_enroll.c: Enrollment calls and the per-call access check. */
/* The session's event callback: routes each call (see edge_enroll.c). */
void edge_call_event(struct h2_stream *st, unsigned ev, void *arg);
/* The TLS peer check: refuses revoked certificates (arg: the conf). */
bool edge_peer_check(const struct tls_conn *tc, void *arg);
/* The connector name a verified certificate carries; false: none. */
bool edge_peer_name(
    const struct tls_conn *tc, const struct edge_conf *ec, char *name);

/* edge_registry.c: name was just issued a certificate until not_after. */
int edge_registry_enrolled(struct edge *e, const char *name, int64_t not_after);

/* edge_idapi.c: the identity routes of the front door. */
void edge_idapi_tokens(struct http_exchange *x, void *arg);
void edge_idapi_pairings(struct http_exchange *x, void *arg);
void edge_idapi_revoke(
    struct edge *e, struct http_exchange *x, const struct edge_route *r);

/* edge_json.c: an RFC 3339 UTC time from Unix ms ("null" for <= 0). */
void edge_json_time(struct buf *b, int64_t ms);

/* edge_rwatch.c */
/*
 * Close every TLS connection (of name; NULL: of any name) whose
 * certificate is revoked now, logging why.  Returns how many.
 */
unsigned edge_revoked_close(struct edge *e, const char *name, const char *why);
/* Poll the revocation file (with EDGE_DATA_DIR); stop before freeing. */
void edge_rwatch_start(struct edge *e);
void edge_rwatch_stop(struct edge *e);

/* edge_health.c: GET /healthz and /readyz, without the token. */
void edge_health_routes(
    struct edge *e, struct http_route *live, struct http_route *ready);

/* edge_update*.c (edge_update.h) */
int edge_update_init(struct edge *e); /* 0 or -ENOMEM */
void edge_update_free(struct edge *e);
void edge_update_api(struct http_exchange *x, void *arg); /* /v1/updates */
void edge_update_metrics_add(struct edge *e, struct metrics *r);
/* t (named, Tunnel call) opened: its connector's offer, if "update". */
void edge_update_tunnel_open(struct edge_tunnel *t);
/* t's path names an Updates method: serve it (t->ucall, or ended). */
void edge_update_attach(struct edge_tunnel *t);
void edge_update_event(struct edge_tunnel *t, unsigned ev);
void edge_update_closed(struct edge_tunnel *t); /* before t is freed */
/* "update": the connector's last report as JSON (null: none). */
void edge_update_json_connector(struct buf *b, const struct edge_connector *k);

/* edge_api.c */
int edge_api_start(struct edge *e);
void edge_api_json(struct http_exchange *x, int status, const char *error,
    const char *reason, const char *message);
/* 200 with the JSON fill(b, arg) writes (1 MiB at most; else 500). */
void edge_api_state(struct http_exchange *x,
    void (*fill)(struct buf *, const void *), const void *arg);

#endif
