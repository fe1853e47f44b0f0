/* `outpost run`: configuration, reactor, signals, health port, loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "connector/health.h"
#include "connector/manager.h"
#include "connector/worker.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns.h"
#include "rx/rx.h"

/* Timers of the DNS resolver and other fixed users. */
#define WORKER_TIMERS 64

struct worker {
	struct rx_loop loop;
	struct health *health;
	struct dns_resolver *dns;
	struct manager mgr;
	bool have_mgr;
	bool stopping;
};

static void
on_stopped(struct manager *m)
{
	struct worker *w = container_of(m, struct worker, mgr);

	log_info("tunnels drained");
	rx_stop(&w->loop);
}

/* The first signal drains the tunnels (DRAIN_TIMEOUT), a second one exits. */
static void
on_signal(struct rx_loop *l, int signo)
{
	struct worker *w = container_of(l, struct worker, loop);

	if (w->stopping || !w->have_mgr) {
		log_info("stopping on signal %d", signo);
		rx_stop(l);
		return;
	}
	log_info("draining on signal %d", signo);
	w->stopping = true;
	manager_stop(&w->mgr, on_stopped);
}

/*
 * Timers: per slot (spares included) its own two, its dial's and its DNS
 * query's; the executor's for every request and pooled connection.
 */
static size_t
timers_needed(const struct cfg *c)
{
	size_t slots = 2 * (size_t)cfg_int(c, CFG_MAX_TUNNELS_ALLOWED);
	size_t reqs = (size_t)cfg_int(c, CFG_MAX_CONCURRENT_REQUESTS);

	return WORKER_TIMERS + slots * 5 +
	    EXEC_TIMERS(slots * reqs, exec_pool_size(c)) +
	    HEALTH_TIMERS((size_t)cfg_int(c, CFG_HEALTH_MAX_CONNECTIONS));
}

/* The tunnels, when a controller is configured; -1 on a config error. */
static int
start_tunnels(struct worker *w, const struct cfg *c)
{
	struct dns_config dc = {.servers = cfg_str(c, CFG_DNS_SERVERS)};
	char err[256];

	if (!cfg_is_set(c, CFG_TRAVERSAL_CONTROLLER_URL)) {
		log_warn(
		    "TRAVERSAL_CONTROLLER_URL is not set: serving health only");
		health_set_ready(w->health, false, "not_configured");
		return 0;
	}
	if (dns_new(&w->dns, &w->loop, &dc, err, sizeof(err)) < 0 ||
	    manager_init(&w->mgr, &w->loop, c, w->dns, err, sizeof(err)) < 0) {
		log_error("configuration: %s", err);
		fprintf(stderr, "outpost: %s\n", err);
		return -1;
	}
	w->have_mgr = true;
	w->mgr.health = w->health;
	manager_metrics_add(&w->mgr, health_metrics(w->health));
	health_set_status(w->health, manager_status_fn, &w->mgr);
	health_set_ready(w->health, false, "connecting");
	manager_start(&w->mgr);
	return 0;
}

static int
start_signals(struct rx_loop *l)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	return rx_signal_start(l, &set, on_signal);
}

static struct health *
start_health(struct rx_loop *l, const struct cfg *c)
{
	struct health_conf hc = {
	    .port = (uint16_t)cfg_int(c, CFG_HTTP_PORT),
	    .addr4 = "0.0.0.0",
	    .addr6 = "::",
	    .max_conns = (size_t)cfg_int(c, CFG_HEALTH_MAX_CONNECTIONS),
	    .header_timeout_ms = cfg_int(c, CFG_HEALTH_HEADER_TIMEOUT),
	    .idle_timeout_ms = cfg_int(c, CFG_HEALTH_IDLE_TIMEOUT),
	    .env_name = cfg_str(c, CFG_ENV_NAME),
	};
	struct health *h;
	int err;

	h = health_start(l, &hc, &err);
	if (h == NULL)
		log_error("health port %u: %s", hc.port, strerror(-err));
	else
		log_info("health port listening on %u", health_port(h));
	return h;
}

static struct cfg *
load_config(char *const *envp)
{
	static struct cfg_errors errs; /* ~20 KiB: not on the stack */
	struct cfg *c;

	c = cfg_load(envp, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, STDERR_FILENO);
		return NULL;
	}
	cfg_errors_log(&errs);
	return c;
}

/*
 * Under the appliance's init (which sets OUTPOST_DATA_STATE, see
 * src/init/), a bad configuration or a data partition that needs recovery
 * must not take the health port down: serve health with the defaults, open
 * no tunnel, and report why on /readyz and /status (the configuration
 * errors are on the console).  Returns that reason, or NULL.
 */
static const char *
appliance_problem(struct cfg **c)
{
	static char *defaults[] = {"OUTPOST_CONFIG=/dev/null", NULL};
	static struct cfg_errors errs;
	const char *data = getenv("OUTPOST_DATA_STATE");

	if (data == NULL)
		return NULL;
	if (*c == NULL) {
		*c = cfg_load(defaults, &errs);
		return *c != NULL ? "config_error" : NULL;
	}
	return strcmp(data, "needs_recovery") == 0 ? "needs_recovery" : NULL;
}

/* see worker.h */
int
worker_main(int argc, char **argv, char *const *envp)
{
	static struct worker w;
	const char *problem;
	struct cfg *c;
	int r;

	c = load_config(envp);
	problem = appliance_problem(&c);
	if (c == NULL)
		return WORKER_EXIT_PERMANENT;
	r = rx_init(&w.loop, timers_needed(c));
	if (r < 0 || start_signals(&w.loop) < 0) {
		log_error("reactor setup failed");
		return WORKER_EXIT_TEMPORARY;
	}
	if ((w.health = start_health(&w.loop, c)) == NULL)
		return WORKER_EXIT_TEMPORARY;
	if (problem != NULL)
		health_set_ready(w.health, false, problem);
	else if (start_tunnels(&w, c) < 0)
		return WORKER_EXIT_PERMANENT;
	log_info("outpost %s (%s) running", OUTPOST_VERSION, OUTPOST_REVISION);
	r = rx_run(&w.loop);
	if (w.have_mgr)
		manager_free(&w.mgr);
	if (w.dns != NULL)
		dns_free(w.dns);
	health_close(w.health);
	cfg_free(c);
	if (r < 0) {
		log_error("reactor failed: %s", strerror(-r));
		return WORKER_EXIT_TEMPORARY;
	}
	return WORKER_EXIT_OK;
}
