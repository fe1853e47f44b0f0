/*
 * health.h — the health port: /healthz, /readyz, /metrics, /status.
 *
 *   /healthz  200 {"status":"healthy"} while the loop runs.
 *   /readyz   200 {"status":"ready","active_tunnels":N} once
 *             health_set_ready(h, true, ...) was called, else 503
 *             {"status":"not ready","active_tunnels":0,"reason":"..."}
 *             (initially "no_tunnel").  These bodies are byte for byte
 *             the anchor connector's (no trailing newline); fields added
 *             later go after them.  Every readiness change is also told
 *             to the service manager (notify.h).
 *   /metrics  Prometheus text: build info, uptime, RSS, open fds, the
 *             health server's request and connection counters, readiness
 *             and tunnel gauges, and whatever other modules add to
 *             health_metrics().
 *   /status   JSON: status, reason, version, revision, uptime, tunnels.
 *
 * The tunnel manager reports through health_set_ready() and
 * health_set_tunnels(); both are cheap stores, callable from any reactor
 * callback.  Reason strings are borrowed and must be static.
 *
 * struct health is a start-up object: health_start() allocates it and
 * starts the server; health_close() stops serving and frees it (the
 * server's sockets close at the end of the reactor iteration).
 */
#ifndef CONNECTOR_HEALTH_H
#define CONNECTOR_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http_server.h"
#include "lib/buf.h"
#include "lib/metrics.h"
#include "rx/rx.h"

struct health;

struct health_conf {
	uint16_t port;
	const char *addr4; /* "0.0.0.0" */
	const char *addr6; /* "::" */
	size_t max_conns;
	int64_t header_timeout_ms;
	int64_t idle_timeout_ms;
	const char *env_name; /* for /status; may be NULL; borrowed */
};

/* Timers the health server needs in the loop's heap. */
#define HEALTH_TIMERS(max_conns) HTTP_SERVER_TIMERS(max_conns)

/* Start serving; NULL with *err = -errno (e.g. -EADDRINUSE). */
struct health *health_start(
    struct rx_loop *l, const struct health_conf *c, int *err);

void health_close(struct health *h);

/* Readiness; reason (static string) is reported while not ready. */
void health_set_ready(struct health *h, bool ready, const char *reason);

/* Tunnels up now and allowed (for /status and /metrics). */
void health_set_tunnels(struct health *h, unsigned up, unsigned max);

/* A module's detail for /status, appended as its "detail" member. */
typedef void health_status_fn(struct buf *b, void *arg);

/* Set the /status detail writer (one; NULL to remove). */
void health_set_status(struct health *h, health_status_fn *fn, void *arg);

/*
 * A problem that keeps the connector not ready whatever the tunnels say
 * (the identity controller's needs_recovery, enrolling, pairing): reason
 * (static) is reported by /readyz and /status until cleared with NULL.
 */
void health_set_blocker(struct health *h, const char *reason);

/*
 * Members appended to the top level of /status: fn appends ',"name":value'
 * pieces.  One writer per arg (up to HEALTH_EXTRAS: the identity
 * controller, the update controller), in the order set; a second call
 * with the same arg replaces its writer, fn NULL removes it.
 */
#define HEALTH_EXTRAS 4
void health_set_extra(struct health *h, health_status_fn *fn, void *arg);

/*
 * Members appended to /readyz's body, ready or not (one writer; NULL to
 * remove): the tunnel manager's ',"degraded":[addresses]'.
 */
void health_set_degraded(struct health *h, health_status_fn *fn, void *arg);

/* The registry /metrics renders; other modules add families at start. */
struct metrics *health_metrics(struct health *h);

uint16_t health_port(const struct health *h);

#endif
