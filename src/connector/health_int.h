/* health_int.h — shared by health.c and health_metrics.c. */
#ifndef CONNECTOR_HEALTH_INT_H
#define CONNECTOR_HEALTH_INT_H

#include "connector/health.h"
#include "http/http_server.h"
#include "lib/metrics.h"

/* The largest /metrics or /status body. */
#define HEALTH_BODY_MAX (48 * 1024)

enum {
	HEALTH_CONN_ACCEPTED,
	HEALTH_CONN_EVICTED,
	HEALTH_CONN_REFUSED,
	HEALTH_CONN_TIMEOUT,
	HEALTH_CONN_EVENTS
};

struct health {
	struct rx_loop *l;
	struct http_server *srv;
	struct health_conf conf;
	struct http_route routes[4];
	int64_t started_ms;
	bool ready;
	const char *reason;
	unsigned tunnels_up;
	unsigned tunnels_max;
	health_status_fn *status_fn;
	void *status_arg;
	const char *blocker; /* overrides readiness while set */
	health_status_fn *extra_fn[HEALTH_EXTRAS];
	void *extra_arg[HEALTH_EXTRAS];
	health_status_fn *degraded_fn;
	void *degraded_arg;

	struct metrics reg;
	struct metric_family f_build, f_uptime, f_rss, f_fds, f_req, f_conn,
	    f_open, f_ready, f_tunnels, f_replaced;
	struct metric m_build, m_uptime, m_rss, m_fds, m_open, m_ready,
	    m_tunnels, m_replaced;
	struct metric m_req[HTTP_STATS_CODES];
	struct metric m_conn[HEALTH_CONN_EVENTS];
	char code_labels[HTTP_STATS_CODES][16];

	uint8_t body[HEALTH_BODY_MAX];
};

/* Register the built-in families (health_metrics.c). */
void health_metrics_init(struct health *h);

/* Resident set size in bytes and open descriptors, or -1. */
long long health_rss_bytes(void);
long health_open_fds(void);

#endif
