/*
 * edge.h — outpost-edge, the reference controller: a tunnel server
 * (mTLS or loopback h2c, HTTP/2, gRPC connector.v1 Tunnel), a registry of
 * connectors and their tunnels with heartbeats, and an HTTP/1.1 front door
 * that turns requests into HttpRequest messages on a connector's
 * least-loaded tunnel.
 *
 * Lifetime: edge_conf_load() runs in the setup phase (it reads files and
 * may fail with a message naming the setting); edge_start() allocates the
 * edge and opens both listeners; edge_stop() closes every connection and
 * frees the edge once the reactor has finished the closes (keep running
 * the loop for one more iteration).  The configuration must outlive the
 * edge.  Single-threaded: everything runs on the caller's reactor.
 */
#ifndef EDGE_EDGE_H
#define EDGE_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"
#include "rx/rx.h"

struct tls_server_config;
struct edge_id;

struct edge_conf {
	uint32_t listen_addr; /* network order */
	uint16_t listen_port;
	bool h2c;
	struct tls_server_config *tls; /* NULL with h2c */
	struct edge_id *id; /* CA and stores; NULL: enrolment off */
	char trust_domain[256];
	bool allow_cn;
	uint32_t api_addr; /* network order */
	uint16_t api_port;
	uint8_t *token; /* heap; wiped by edge_conf_free */
	size_t token_len;
	size_t api_max_conns;
	size_t max_tunnels;
	int64_t heartbeat_ms;
	int64_t request_timeout_ms;
	int64_t drain_timeout_ms; /* edge_drain() */
	size_t max_request_body;
	size_t max_response_body;
	uint64_t update_max_bytes; /* POST /v1/updates (edge_update.c) */
};

/*
 * Fill ec from the loaded configuration: listener addresses, the TLS
 * server configuration (certificate, key, client CA), the API token, the
 * identity (edge_id.h).  check (`outpost-edge check-config`): the same
 * checks without side effects: a missing EDGE_DATA_DIR is not created and
 * no CA is generated in it.  Returns 0, or -1 with err naming the setting
 * (never a secret value).
 */
int edge_conf_load(struct edge_conf *ec, const struct cfg *c, bool check,
    char *err, size_t errlen);

/* Only the front door's address and token (for the CLI commands). */
int edge_conf_load_api(
    struct edge_conf *ec, const struct cfg *c, char *err, size_t errlen);

/*
 * The identity commands (token, pair, revoke: argv[0] is the command),
 * through the running edge's front door.  Returns the exit code.
 */
int edge_cli_main(int argc, char **argv, char *const *envp);

/*
 * The session clients (argv[0] "connect" or "forward", see
 * edge_session_cli.c), through the running edge's front door.  Returns
 * the exit code.
 */
int edge_session_cli_main(int argc, char **argv, char *const *envp);

/* Release what edge_conf_load() allocated; wipes the token.  Idempotent. */
void edge_conf_free(struct edge_conf *ec);

/* Timers the edge may need in the loop's heap (for rx_init). */
size_t edge_timers_needed(const struct edge_conf *ec);

struct edge;

/*
 * Open the tunnel listener and the front door.  Returns the edge, or NULL
 * with *err = -errno (-EADDRINUSE, -ENOMEM, ...).
 */
struct edge *edge_start(
    struct rx_loop *l, const struct edge_conf *ec, int *err);

/* Port actually bound by the tunnel listener and by the front door. */
uint16_t edge_tunnel_port(const struct edge *e);
uint16_t edge_api_port(const struct edge *e);

/* The registry GET /metrics shows (owned by e), for the OTLP exporter. */
struct metrics *edge_metrics(struct edge *e);

/*
 * Record the front door's spans with r (trace/trace.h; borrowed, it must
 * outlive e, and NULL turns them off): each proxied request's span
 * edge.front_door, whose context the HttpRequest's traceparent carries.
 */
struct trace_recorder;
void edge_set_trace(struct edge *e, struct trace_recorder *r);

/* Close listeners and connections; the edge is freed by the reactor. */
void edge_stop(struct edge *e);

/*
 * Graceful stop (SIGTERM): close the tunnel listener (/readyz answers 503
 * from now on), send START_CLOSE on every tunnel (also on one registered
 * later on an open connection) so that connectors open replacements
 * elsewhere, keep serving the requests and sessions in flight, and call
 * done(e, arg) once no request or session is left and the connectors
 * closed their connections (or 2 s later: a connector with no other edge
 * keeps its draining tunnels), or once drain_timeout_ms has passed, at most
 * once (possibly before edge_drain returns).  done usually calls
 * edge_stop(); edge_stop() before done cancels the drain.  A second call
 * does nothing.
 */
void edge_drain(
    struct edge *e, void (*done)(struct edge *e, void *arg), void *arg);

#endif
