/*
 * manager.h — the tunnel manager: MAX_TUNNELS_ALLOWED slots per edge
 * address sharing one dial budget, one executor and one TLS client
 * configuration, and the counters /metrics and /status report.
 *
 * Edge addresses (scale-out, README "Scaling out"): the slots come in
 * groups of 2 * MAX_TUNNELS_ALLOWED (half of them spares for
 * make-before-break), one group per edge address.  There is one group
 * dialling the URL's host as before when that host is an address literal
 * or a localhost name, or when an egress proxy resolves names for us; one
 * group per TRAVERSAL_CONTROLLER_CONNECT_TO entry; else MAX_EDGE_ADDRESSES
 * groups filled by discovery: the host is resolved (net/dns.h) at start
 * and every TUNNEL_DISCOVERY_INTERVAL, a new address gets a free group at
 * once (its dials go through the shared budget), an address gone from the
 * answer drains its group make-before-break (its tunnels finish once a
 * tunnel elsewhere is routable) and the group is free again once idle.  A
 * failed or empty answer keeps the addresses known: DNS trouble never
 * takes working tunnels down.  Every dial verifies the same name
 * (conf.server_name).
 *
 * A startup object: manager_init() reads the configuration and allocates
 * everything; errors there are configuration errors (exit 100).  After
 * manager_start() it runs on the reactor until manager_stop() drains it.
 */
#ifndef CONNECTOR_MANAGER_H
#define CONNECTOR_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connector/backoff.h"
#include "connector/tunnel.h"
#include "lib/buf.h"
#include "lib/metrics.h"
#include "lib/url.h"
#include "net/dns.h"
#include "rx/rx.h"

struct cfg;
struct health;
struct session_table;
struct update_ctl;
struct dns_resolver;

struct manager_conf {
	char controller[URL_MAX + 1]; /* TRAVERSAL_CONTROLLER_URL */
	struct url url; /* slices into controller */
	char authority[300]; /* host[:port] for :authority */
	char server_name[256]; /* SNI and the name verified */
	/* TRAVERSAL_CONNECTOR_ID for X-Traversal-Connector-ID ("": none);
	 * cfg_load() checked it (at most CFG_CONNECTOR_ID_MAX). */
	char connector_id[129];
	unsigned slots;
	unsigned max_concurrent;
	int64_t reconnect_ms, max_backoff_ms;
	int64_t connect_ms, handshake_ms, keepalive_ms, drain_ms;
	unsigned dial_budget;
	size_t max_message;
	int64_t discovery_ms; /* TUNNEL_DISCOVERY_INTERVAL */
	unsigned max_addrs; /* MAX_EDGE_ADDRESSES */
	bool stream; /* STREAM_RESPONSES: advertise "stream" (deliver.h) */
};

/* One edge address and its group of slots (see above). */
struct edge_addr {
	char host[URL_HOST_MAX + 1]; /* dialled; "" while the group is free */
	uint16_t port;
	bool url; /* the URL's own host: the slots dial as before */
	bool wanted; /* in the last answer, or configured */
	char label[URL_HOST_MAX + 28]; /* address="host:port" (metrics) */
	char name[URL_HOST_MAX + 10]; /* host:port ([v6]:port) */
	struct metric tunnels; /* routable tunnels there */
};

/* Dial outcomes counted for /metrics. */
enum manager_dial {
	DIAL_RESULT_OK,
	DIAL_RESULT_DNS,
	DIAL_RESULT_CONNECT,
	DIAL_RESULT_PROXY,
	DIAL_RESULT_TLS,
	DIAL_RESULT_H2,
	DIAL_RESULT__N
};

#define MANAGER_OUTCOMES 16
#define MANAGER_LAT_BUCKETS 12
#define MANAGER_SIZE_BUCKETS 10
/* Distinct tunnel close reasons counted; the last series is "other". */
#define MANAGER_CLOSE_REASONS 32

/* The manager's /metrics families (see lib/metrics.h). */
struct manager_metrics {
	struct metric_family tunnels, dials, reconnects, requests, inflight,
	    latency, bytes, closes;
	struct metric tunnel_state[CONN__STATES];
	struct metric dial[DIAL_RESULT__N];
	struct metric reconnect;
	/* Tunnel closes by typed reason, a series added at a reason's first
	 * close: its reason (static text) and label. */
	struct metric close[MANAGER_CLOSE_REASONS];
	const char *close_reason[MANAGER_CLOSE_REASONS];
	char close_label[MANAGER_CLOSE_REASONS][40];
	unsigned ncloses;
	struct metric outcome[MANAGER_OUTCOMES];
	struct metric inflight_now;
	struct metric lat;
	uint64_t lat_buckets[MANAGER_LAT_BUCKETS];
	struct metric_exemplar lat_ex[MANAGER_LAT_BUCKETS + 1];
	/* Body sizes of answered requests (the anchor's
	 * upstream_{request,response}_body_size, issue #15). */
	struct metric_family req_size, resp_size;
	struct metric req_body, resp_body;
	uint64_t req_buckets[MANAGER_SIZE_BUCKETS],
	    resp_buckets[MANAGER_SIZE_BUCKETS];
	struct metric bytes_in, bytes_out;
	struct metric_family addr_tunnels;
};

struct manager {
	struct rx_loop *loop;
	struct manager_conf conf;
	struct budget budget;
	struct exec *exec;
	struct dns_resolver *dns;
	struct tls_client_config *tls; /* NULL for h2c */
	struct dial_proxy *proxy; /* NULL: dial directly */
	struct session_table *sessions; /* brokered TCP (session.h) */
	struct update_ctl *upd; /* appliance updates (update_ctl.h), or NULL */
	struct tunnel_slot *slots; /* nslots = 2 * conf.slots * naddrs */
	unsigned nslots;
	struct edge_addr *addrs; /* naddrs groups */
	unsigned naddrs;
	bool discover; /* resolve conf.url's host for the addresses */
	struct dns_query disc;
	struct rx_timer disc_timer;
	struct health *health; /* readiness is reported there */
	char hostname[256];
	bool stopping;
	void (*stopped)(struct manager *);
	struct manager_metrics mx;
	uint64_t start_close, send_overflow;
	const char *last_error; /* last typed failure, for /readyz */
	/* The previous identity's TLS configuration while connections made
	 * with it drain (manager_set_tls), and which slots use it. */
	struct tls_client_config *tls_old;
	bool *on_old;
	bool retiring; /* old tunnels wait for a routable new one */
	/* Called when a handshake fails in a way that suggests the edge
	 * refused our certificate (handshake_closed, peer_rejected); NULL:
	 * nobody asks.  Set by the identity controller. */
	void (*on_refused)(struct manager *m, void *arg);
	void *refused_arg;
	/* Spans of the requests and tunnels (trace/trace.h), from the
	 * settings; NULL: tracing off.  Owned. */
	struct trace_recorder *trace;
};

/* TRAVERSAL_CONTROLLER_URL and the limits; 0 or -1 with err. */
int manager_conf_load(
    struct manager_conf *mc, const struct cfg *c, char *err, size_t errlen);

/*
 * Read the configuration and allocate.  0, or -1 with err filled.  For an
 * https:// controller without TLS_CERT and TLS_KEY the TLS configuration
 * has no client certificate: set one with manager_set_tls() before
 * manager_start().
 */
int manager_init(struct manager *m, struct rx_loop *l, const struct cfg *c,
    struct dns_resolver *dns, char *err, size_t errlen);

void manager_start(struct manager *m);

/*
 * Release everything manager_init() allocated.  Only after manager_stop()
 * reported stopped (or before manager_start()), and outside callbacks:
 * connections must be closed.
 */
void manager_free(struct manager *m);

/* Drain every slot; stopped() runs once all are closed (or DRAIN_TIMEOUT). */
void manager_stop(struct manager *m, void (*stopped)(struct manager *));

/*
 * Use tls (owned by the manager from now on) for every dial from now on.
 * Before manager_start() it just replaces the configuration.  Afterwards
 * make-before-break: each open tunnel gets a spare dialled with tls, and
 * once one of those is routable the old ones drain (in-flight requests
 * finish; a request arriving meanwhile is answered "draining", which the
 * edge retries elsewhere).  The previous configuration is freed when the
 * last connection made with it is gone.
 */
void manager_set_tls(struct manager *m, struct tls_client_config *tls);

/* Tunnels that can take requests (routable: see tunnel.h). */
unsigned manager_open_tunnels(const struct manager *m);

/* Called by the slots. */
void manager_count_dial(struct manager *m, enum manager_dial r);
void manager_count_request(struct manager *m, const char *reason);
/* A tunnel closed for reason (a static typed reason, e.g. "h2",
 * "send_stalled", "start_close"; "clean" for an orderly close): counted in
 * outpost_tunnel_closes_total{reason}. */
void manager_count_close(struct manager *m, const char *reason);
/* A request's latency; span (NULL: none) is its span, whose trace becomes
 * the bucket's exemplar when it was sampled. */
struct trace_ref;
void manager_observe_latency(
    struct manager *m, int64_t ms, const struct trace_ref *span);
/* The body sizes of a request answered from its upstream. */
void manager_observe_bodies(struct manager *m, size_t req, size_t resp);
void manager_slot_changed(struct manager *m);
/* A slot's connection is gone: dial again, or rest as a spare. */
void manager_slot_idle(struct manager *m, struct tunnel_slot *t);
/* A replacement for a draining slot: start a spare dial. */
void manager_replace(struct manager *m, struct tunnel_slot *draining);

/* Register the manager's families with a registry (at start). */
void manager_metrics_add(struct manager *m, struct metrics *r);

/* The group (index into addrs) a slot belongs to. */
unsigned manager_slot_group(
    const struct manager *m, const struct tunnel_slot *t);

/* Dialling, or open and not draining: a slot that is, or will be, a tunnel. */
bool manager_slot_active(const struct tunnel_slot *t);

/* --- edge addresses (manager_addr.c) -------------------------------------- */

/* Groups of slots the configuration makes (see above); at least 1. */
unsigned manager_groups(const struct cfg *c);

/* Allocate and fill addrs (after the slots exist); 0 or -1 with err. */
int manager_addrs_init(
    struct manager *m, const struct cfg *c, char *err, size_t errlen);

/* Routable tunnels of group g. */
unsigned manager_group_open(const struct manager *m, unsigned g);

/* Schedule dials in group g until MAX_TUNNELS_ALLOWED are active. */
void manager_group_fill(struct manager *m, unsigned g);

/* A slot of group g went idle: forget a dropped address once all are. */
void manager_group_idle(struct manager *m, unsigned g);

/* Discovery: the timer resolving the host, and its answer. */
void manager_discover_now(struct rx_loop *l, struct rx_timer *t);
void manager_discovered(
    struct dns_query *q, enum dns_error err, const struct dns_result *res);

/* Stop discovery (shutdown). */
void manager_addrs_stop(struct manager *m);

/* outpost_edge_address_tunnels{address} (with manager_metrics_add). */
void manager_addrs_metrics_add(struct manager *m, struct metrics *r);

/* The addresses as a JSON array for /status. */
void manager_addrs_json(const struct manager *m, struct buf *b);

/* ',"degraded":[...]' for /readyz: the wanted addresses without a routable
 * tunnel, when there are some and more than one address is wanted. */
void manager_degraded_fn(struct buf *b, void *arg);

/* JSON for /status: the controller, every slot's state and last error. */
void manager_status_json(const struct manager *m, struct buf *b);

/* The same as a health_status_fn (arg: the manager). */
void manager_status_fn(struct buf *b, void *arg);

#endif
