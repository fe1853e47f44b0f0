/* `outpost run`: configuration, reactor, signals, health port, loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "connector/deliver.h"
#include "connector/health.h"
#include "connector/identity_ctl.h"
#include "connector/initctl_client.h"
#include "connector/manager.h"
#include "connector/session.h"
#include "connector/notify.h"
#include "connector/redact_reload.h"
#include "connector/tool.h"
#include "connector/update_ctl.h"
#include "connector/worker.h"
#include "lib/log.h"
#include "lib/privdrop.h"
#include "lib/sandbox.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/net.h"
#include "net/sntp.h"
#include "otel/otel.h"
#include "rx/rx.h"
#include "trace/trace.h"

/* Timers of the DNS resolver, the SNTP client and other fixed users. */
#define WORKER_TIMERS 64
/* Retry an unanswered time sync after this long. */
#define WORKER_NTP_RETRY_MS 5000
/* Smaller offsets are left to the system's own time keeping. */
#define WORKER_NTP_STEP_MS 1000

struct worker {
	struct rx_loop loop;
	struct health *health;
	struct dns_resolver *dns;
	struct manager mgr;
	bool have_mgr;
	struct identity_ctl *ic; /* https:// controllers: the identity */
	bool stopping;
	struct sntp_client ntp; /* NTP_SERVERS: before the first dial */
	bool have_ntp;
	struct rx_timer ntp_retry;
	struct redact_reload rules; /* REDACTION_RULES_FILE */
	struct otel *otel; /* OTLP export, when an endpoint is set */
	int64_t drain_until; /* the first signal's DRAIN_TIMEOUT deadline */
	int exit_code;
};

static void
on_flushed(void *arg)
{
	struct worker *w = arg;

	rx_stop(&w->loop);
}

/* The last spans and log records go out within the drain deadline (#15). */
static void
on_stopped(struct manager *m)
{
	struct worker *w = container_of(m, struct worker, mgr);

	log_info("tunnels drained");
	if (m->trace != NULL)
		trace_recorder_flush(m->trace);
	if (w->otel != NULL)
		otel_flush(
		    w->otel, w->drain_until - rx_now(&w->loop), on_flushed, w);
	else
		rx_stop(&w->loop);
}

/* The first signal drains the tunnels (DRAIN_TIMEOUT), a second one exits. */
static void
on_signal(struct rx_loop *l, int signo)
{
	struct worker *w = container_of(l, struct worker, loop);

	notify_stopping();
	if (w->stopping || !w->have_mgr) {
		log_info("stopping on signal %d", signo);
		rx_stop(l);
		return;
	}
	log_info("draining on signal %d", signo);
	w->stopping = true;
	w->drain_until = rx_now(l) + w->mgr.conf.drain_ms;
	manager_stop(&w->mgr, on_stopped);
}

/* The rules file became unusable (redact_reload.h): stop with 100. */
static void
on_rules_fatal(struct redact_reload *rr)
{
	struct worker *w = container_of(rr, struct worker, rules);

	w->exit_code = EXIT_PERMANENT;
	on_signal(&w->loop, SIGTERM);
}

/*
 * Timers: per slot (spares included) its own two, its dial's and its DNS
 * query's; the executor's for every request and pooled connection, a
 * Deliver call's for every request, and the call memory cache's trim
 * (tunnel_call.c).
 */
static size_t
timers_needed(const struct cfg *c)
{
	size_t slots =
	    2 * (size_t)cfg_int(c, CFG_MAX_TUNNELS_ALLOWED) * manager_groups(c);
	size_t reqs = (size_t)cfg_int(c, CFG_MAX_CONCURRENT_REQUESTS);

	/* 2: discovery's timer and its DNS query's deadline; 1: the call
	 * memory's trim. */
	return WORKER_TIMERS + 2 + 1 + OTEL_TIMERS + slots * 5 +
	    SESSION_TIMERS(cfg_int(c, CFG_SESSION_MAX)) +
	    EXEC_TIMERS(slots * reqs, exec_pool_size(c)) +
	    slots * reqs * DELIVER_TIMERS +
	    HEALTH_TIMERS((size_t)cfg_int(c, CFG_HEALTH_MAX_CONNECTIONS));
}

/* Dial: through the identity controller when there is one. */
static void
begin(struct worker *w)
{
	if (w->ic != NULL)
		identity_ctl_start(w->ic);
	else
		manager_start(&w->mgr);
}

static int
start_identity(struct worker *w, const struct cfg *c, char *err, size_t errlen)
{
	const struct identity_ctl_conf ic = {.loop = &w->loop,
	    .cfg = c,
	    .net = &w->mgr,
	    .mc = &w->mgr.conf,
	    .mgr = &w->mgr,
	    .health = w->health};

	if (!w->mgr.conf.url.tls)
		return 0;
	w->ic = identity_ctl_new(&ic, err, errlen);
	return w->ic != NULL ? 0 : -1;
}

static void
ntp_retry(struct rx_loop *l, struct rx_timer *t)
{
	struct worker *w = container_of(t, struct worker, ntp_retry);

	if (!w->stopping)
		sntp_client_start(&w->ntp);
}

/*
 * The clock is set before the first dial: a board without a real-time
 * clock cannot validate the edge's certificate until it is.  The tunnels
 * wait (readiness "time_sync") and the exchange is retried until a server
 * answers.
 */
static void
ntp_done(struct sntp_client *c, enum sntp_error err,
    const struct sntp_result *res, const char *server, const char *detail)
{
	struct worker *w = container_of(c, struct worker, ntp);
	int r;

	if (err != SNTP_DONE) {
		log_warn("time: no NTP answer (%s); retrying in %d s", detail,
		    WORKER_NTP_RETRY_MS / 1000);
		rx_timer_start(&w->loop, &w->ntp_retry, WORKER_NTP_RETRY_MS);
		return;
	}
	if (res->offset_ms > WORKER_NTP_STEP_MS ||
	    res->offset_ms < -WORKER_NTP_STEP_MS) {
		r = sntp_clock_step(res->offset_ms);
		if (r < 0)
			log_warn("time: %s says the clock is off by %lld ms, "
				 "but it cannot be set: %s",
			    server, (long long)res->offset_ms, strerror(-r));
		else
			log_info("time: clock stepped by %lld ms (%s)",
			    (long long)res->offset_ms, server);
	} else {
		log_info("time: clock within %lld ms of %s",
		    (long long)res->offset_ms, server);
	}
	sntp_client_stop(c);
	health_set_ready(w->health, false, "connecting");
	begin(w);
}

static int
start_ntp(struct worker *w, const struct cfg *c, char *err, size_t errlen)
{
	if (sntp_client_init(&w->ntp, &w->loop, w->dns,
		cfg_str(c, CFG_NTP_SERVERS), 0, ntp_done, err, errlen) < 0)
		return -1;
	w->have_ntp = true;
	rx_timer_init(&w->ntp_retry, ntp_retry);
	/* cfg_load() refused a list that names no server. */
	if (sntp_client_start(&w->ntp) < 0) {
		snprintf(err, errlen, "NTP_SERVERS: no reactor timer");
		return -1;
	}
	health_set_ready(w->health, false, "time_sync");
	return 0;
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
	if (start_identity(w, c, err, sizeof(err)) < 0) {
		log_error("configuration: %s", err);
		fprintf(stderr, "outpost: %s\n", err);
		return -1;
	}
	manager_metrics_add(&w->mgr, health_metrics(w->health));
	if ((w->mgr.upd = update_ctl_new(&w->mgr, c)) != NULL) {
		update_ctl_metrics_add(w->mgr.upd, health_metrics(w->health));
		health_set_extra(w->health, update_ctl_status_fn, w->mgr.upd);
	}
	health_set_status(w->health, manager_status_fn, &w->mgr);
	health_set_degraded(w->health, manager_degraded_fn, &w->mgr);
	if (cfg_is_set(c, CFG_NTP_SERVERS)) {
		if (start_ntp(w, c, err, sizeof(err)) < 0) {
			log_error("configuration: %s", err);
			fprintf(stderr, "outpost: %s\n", err);
			return -1;
		}
		return 0;
	}
	health_set_ready(w->health, false, "connecting");
	begin(w);
	return 0;
}

/* OTLP export (issue #15), with the tunnels' resolver when they have one. */
static int
start_otel(struct worker *w, const struct cfg *c)
{
	struct otel_conf oc = {.loop = &w->loop,
	    .dns = w->dns,
	    .cfg = c,
	    .service_version = OUTPOST_VERSION,
	    .instance_id = cfg_str(c, CFG_TRAVERSAL_CONNECTOR_ID),
	    .registry = health_metrics(w->health)};
	char err[256];

	if (otel_new(&oc, &w->otel, err, sizeof(err)) == 0) {
		/* The requests' and tunnels' spans (trace/trace.h). */
		if (w->have_mgr && w->mgr.trace != NULL &&
		    otel_enabled(w->otel, OTEL_TRACES))
			trace_recorder_set_export(w->mgr.trace,
			    trace_otlp_export, trace_otlp_dropped, w->otel);
		return 0;
	}
	log_error("configuration: %s", err);
	fprintf(stderr, "outpost: %s\n", err);
	return -1;
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

/* The socket backend's own interface (the lwIP build's tap device), up
 * before the health port listens and the first dial. */
static int
start_iface(const struct cfg *c)
{
	struct net_iface_conf ic;
	char err[256];

	cfg_iface_conf(c, &ic);
	if (net_iface_start(&ic, err, sizeof(err)) == 0)
		return 0;
	log_error("configuration: %s", err);
	fprintf(stderr, "outpost: %s\n", err);
	return -1;
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

/*
 * Under the appliance's init (which sets OUTPOST_DATA_STATE, see
 * src/init/), a bad configuration must not take the health port down:
 * serve health with the defaults, open no tunnel, and report why on
 * /readyz and /status (the configuration errors are on the console).  A
 * data partition that needs recovery is the identity controller's to
 * report (identity_ctl.h: NEEDS RECOVERY and a pairing code); without a
 * controller to recover with it is reported here.  Returns the reason for
 * serving health only, or NULL.
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
	return strcmp(data, "needs_recovery") == 0 &&
		!cfg_is_set(*c, CFG_TRAVERSAL_CONTROLLER_URL)
	    ? "needs_recovery"
	    : NULL;
}

/* OUTPOST_USER (lib/privdrop.h): the rules file is read again while running. */
static int
drop_privileges(const struct cfg *c, char *err, size_t errlen)
{
	const char *reread[] = {cfg_str(c, CFG_REDACTION_RULES_FILE), NULL};
	const struct privdrop_conf pc = {.user = cfg_str(c, CFG_OUTPOST_USER),
	    .allow_root = cfg_bool(c, CFG_ALLOW_ROOT),
	    .sys_time = cfg_is_set(c, CFG_NTP_SERVERS),
	    .data_key = "DATA_DIR",
	    .data_dir = cfg_str(c, CFG_DATA_DIR),
	    .reread = reread};

	return privdrop_start(&pc, err, errlen);
}

/* see worker.h */
int
worker_main(int argc, char **argv, char *const *envp)
{
	static struct worker w;
	const char *problem;
	char err[256];
	struct cfg *c;
	int r;

	c = tool_config(envp);
	/* The configuration holds its own copies: wipe the environment's
	 * (issue #17 item 2: /proc/PID/environ no longer shows them). */
	cfg_env_wipe_secrets(envp);
	problem = appliance_problem(&c);
	if (c == NULL)
		return EXIT_PERMANENT;
	r = rx_init(&w.loop, timers_needed(c));
	if (r < 0 || start_signals(&w.loop) < 0) {
		log_error("reactor setup failed");
		return EXIT_TEMPORARY;
	}
	if (notify_start(&w.loop, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_PERMANENT;
	}
	if (start_iface(c) < 0)
		return EXIT_PERMANENT;
	if ((w.health = start_health(&w.loop, c)) == NULL)
		return EXIT_TEMPORARY;
	initctl_client_log_status();
	if (problem != NULL)
		health_set_ready(w.health, false, problem);
	else if (start_tunnels(&w, c) < 0)
		return EXIT_PERMANENT;
	if (problem == NULL && start_otel(&w, c) < 0)
		return EXIT_PERMANENT;
	if (redact_reload_start(&w.rules, &w.loop, c,
		w.have_mgr ? w.mgr.exec : NULL, health_metrics(w.health),
		on_rules_fatal) < 0)
		return EXIT_PERMANENT;
	if (drop_privileges(c, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_PERMANENT;
	}
	if (sandbox_start(SANDBOX_WORKER,
		&(struct sandbox_conf){.enabled = cfg_bool(c, CFG_SECCOMP),
		    .debug = cfg_int(c, CFG_ENV_LEVEL) == LOG_DEBUG,
		    .set_clock = cfg_is_set(c, CFG_NTP_SERVERS),
		    .threads = net_backend_threads()},
		err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_PERMANENT;
	}
	log_info("outpost %s (%s) running", OUTPOST_VERSION, OUTPOST_REVISION);
	r = rx_run(&w.loop);
	if (w.have_ntp) {
		sntp_client_stop(&w.ntp);
		rx_timer_stop(&w.loop, &w.ntp_retry);
	}
	identity_ctl_free(w.ic);
	if (w.have_mgr)
		manager_free(&w.mgr);
	redact_reload_stop(&w.rules);
	otel_free(w.otel);
	if (w.dns != NULL)
		dns_free(w.dns);
	notify_stop(&w.loop);
	health_close(w.health);
	cfg_free(c);
	if (r < 0) {
		log_error("reactor failed: %s", strerror(-r));
		return EXIT_TEMPORARY;
	}
	return w.exit_code;
}
