/*
 * outpost-edge — the reference edge controller: `outpost-edge [run]`
 * serves tunnels and the front door until SIGTERM (a drain bounded by
 * EDGE_DRAIN_TIMEOUT: edge_drain) or SIGINT;
 * `outpost-edge check-config` runs the same checks as `run` (without
 * creating EDGE_DATA_DIR or a CA); `version`;
 * `token`, `pair` and `revoke` manage identities through the running
 * edge's front door (edge_cli.c); `connect` and `forward` carry local
 * bytes through a session (edge_session_cli.c).
 * Exit codes: 0 clean stop, 100 bad configuration, 111 temporary
 * failure (e.g. a port in use).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "edge/edge.h"
#include "lib/exit.h"
#include "lib/log.h"
#include "lib/privdrop.h"
#include "lib/sandbox.h"
#include "otel/otel.h"
#include "rx/rx.h"
#include "trace/trace.h"

extern char **environ;

static struct edge *the_edge;
static bool draining;
/* The telemetry, flushed at the end of a drain (#15). */
static struct otel *the_otel;
static struct trace_recorder *the_trace;
static int64_t drain_ms, drain_until;

static void
stop(struct rx_loop *l)
{
	if (the_edge != NULL)
		edge_stop(the_edge);
	the_edge = NULL;
	rx_stop(l);
}

static void
on_flushed(void *arg)
{
	rx_stop(arg);
}

/* The last spans and log records go out within EDGE_DRAIN_TIMEOUT. */
static void
on_drained(struct edge *e, void *arg)
{
	struct rx_loop *l = arg;

	(void)e;
	if (the_otel == NULL) {
		stop(l);
		return;
	}
	edge_stop(the_edge);
	the_edge = NULL;
	if (the_trace != NULL)
		trace_recorder_flush(the_trace);
	otel_flush(the_otel, drain_until - rx_now(l), on_flushed, l);
}

/* The first SIGTERM drains (edge_drain); SIGINT or a second one stops. */
static void
on_signal(struct rx_loop *l, int signo)
{
	if (signo == SIGTERM && !draining && the_edge != NULL) {
		log_info(
		    "edge: SIGTERM: draining (a second one stops at once)");
		draining = true;
		drain_until = rx_now(l) + drain_ms;
		edge_drain(the_edge, on_drained, l);
		return;
	}
	log_info("edge: signal %d: stopping", signo);
	stop(l);
}

/* Like cfg_errors_log(), without the connector's own warnings. */
static void
log_cfg_messages(const struct cfg_errors *errs)
{
	unsigned i;

	for (i = 0; i < errs->n; i++) {
		const struct cfg_msg *m = &errs->msg[i];

		if (!m->warning)
			log_error("config: %s", m->text);
		else if (strstr(m->text, "TRAVERSAL_CONTROLLER_URL") == NULL)
			log_warn("config: %s", m->text);
	}
}

/* SECCOMP and ENV_LEVEL for the allow-list (installed once edge_start() is done). */
static struct sandbox_conf edge_sandbox;
/* OUTPOST_USER, ALLOW_ROOT, EDGE_DATA_DIR for the privilege drop before it. */
static char edge_user[32], edge_data[4096];
static struct privdrop_conf edge_priv = {
    .user = edge_user, .data_key = "EDGE_DATA_DIR"};

/*
 * The settings and everything built from them: the one validation path of
 * `run` and `check-config` (check: no side effects, see edge_conf_load).
 * *out: the settings (the caller frees them with cfg_free), NULL when
 * they did not load.
 */
static int
load(struct edge_conf *ec, bool check, struct cfg **out)
{
	struct cfg_errors *errs = malloc(sizeof(*errs));
	char err[512];
	struct cfg *c;
	int rc = 0;

	*out = NULL;
	if (errs == NULL)
		return -1;
	*out = c = cfg_load(environ, errs);
	cfg_env_wipe_secrets(environ);
	log_cfg_messages(errs);
	free(errs);
	if (c == NULL)
		return -1;
	if (edge_conf_load(ec, c, check, err, sizeof(err)) < 0) {
		log_error("config: %s", err);
		rc = -1;
	}
	edge_sandbox =
	    (struct sandbox_conf){.enabled = cfg_bool(c, CFG_SECCOMP),
		.debug = cfg_int(c, CFG_ENV_LEVEL) == LOG_DEBUG};
	snprintf(
	    edge_user, sizeof(edge_user), "%s", cfg_str(c, CFG_OUTPOST_USER));
	edge_priv.allow_root = cfg_bool(c, CFG_ALLOW_ROOT);
	if (cfg_is_set(c, CFG_EDGE_DATA_DIR) &&
	    snprintf(edge_data, sizeof(edge_data), "%s",
		cfg_str(c, CFG_EDGE_DATA_DIR)) < (int)sizeof(edge_data))
		edge_priv.data_dir = edge_data;
	return rc;
}

/*
 * OTLP export (issue #15), like the connector's: the edge's registry as
 * metrics, its log lines, and the front door's spans (edge_set_trace).
 * 0, or -1 logged (the setting at fault, or out of memory).
 */
static int
start_telemetry(struct rx_loop *l, const struct cfg *c, struct otel **o,
    struct trace_recorder **tr)
{
	struct otel_conf oc = {.loop = l,
	    .cfg = c,
	    .service_version = OUTPOST_VERSION,
	    .registry = edge_metrics(the_edge)};
	char err[256];

	if (otel_new(&oc, o, err, sizeof(err)) < 0) {
		log_error("config: %s", err);
		return -1;
	}
	if (trace_recorder_from_cfg(tr, l, c) < 0) {
		log_error("edge: traces: out of memory");
		return -1;
	}
	if (*tr != NULL && otel_enabled(*o, OTEL_TRACES))
		trace_recorder_set_export(
		    *tr, trace_otlp_export, trace_otlp_dropped, *o);
	edge_set_trace(the_edge, *tr);
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	static struct edge_conf ec;
	struct trace_recorder *tr = NULL;
	struct otel *o = NULL;
	struct rx_loop loop;
	struct cfg *c;
	char msg[256];
	sigset_t set;
	int err = 0, i;

	signal(SIGPIPE, SIG_IGN);
	if (load(&ec, false, &c) < 0)
		return EXIT_PERMANENT;
	/* 1: the span recorder's batch timer. */
	if ((err = rx_init(&loop, edge_timers_needed(&ec) + OTEL_TIMERS + 1)) <
	    0) {
		log_error("edge: reactor: %s", strerror(-err));
		return EXIT_TEMPORARY;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	rx_signal_start(&loop, &set, on_signal);
	if ((the_edge = edge_start(&loop, &ec, &err)) == NULL) {
		log_error("edge: start: %s", strerror(-err));
		return err == -EINVAL ? EXIT_PERMANENT : EXIT_TEMPORARY;
	}
	if (start_telemetry(&loop, c, &o, &tr) < 0)
		return EXIT_PERMANENT;
	the_otel = o;
	the_trace = tr;
	drain_ms = ec.drain_timeout_ms;
	if (privdrop_start(&edge_priv, msg, sizeof(msg)) < 0 ||
	    sandbox_start(SANDBOX_EDGE, &edge_sandbox, msg, sizeof(msg)) < 0) {
		log_error("edge: %s", msg);
		return EXIT_PERMANENT;
	}
	rx_run(&loop);
	/* Let the deferred closes finish (bounded). */
	for (i = 0; i < 8; i++)
		rx_run_once(&loop, 0);
	trace_recorder_free(tr);
	otel_free(o);
	rx_free(&loop);
	edge_conf_free(&ec);
	cfg_free(c);
	log_info("edge: stopped");
	return 0;
}

static int
cmd_version(int argc, char **argv)
{
	printf("outpost-edge %s (%s)\n", OUTPOST_VERSION, OUTPOST_REVISION);
	return 0;
}

/*
 * What `run` would refuse at start, reported without starting: exit 100
 * with the reasons on stderr, or "config ok".  --print and --markdown are
 * the settings' own (cfg_check_main), after the same checks.
 */
static int
cmd_check_config(int argc, char **argv)
{
	static struct edge_conf ec;
	struct cfg *c;
	int rc;

	if (argc == 2 && strcmp(argv[1], "--markdown") == 0)
		return cfg_check_main(argc, argv, environ);
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--print") != 0))
		return cfg_check_main(argc, argv, environ); /* its usage */
	rc = load(&ec, true, &c);
	edge_conf_free(&ec);
	cfg_free(c);
	if (rc < 0) {
		fprintf(stderr, "config invalid\n");
		return EXIT_PERMANENT;
	}
	if (argc == 2)
		return cfg_check_main(argc, argv, environ);
	printf("config ok\n");
	return fflush(stdout) == 0 ? 0 : EXIT_PERMANENT;
}

static int
cmd_identity(int argc, char **argv)
{
	return edge_cli_main(argc, argv, environ);
}

static int
cmd_session(int argc, char **argv)
{
	return edge_session_cli_main(argc, argv, environ);
}

static int
cmd_help(int argc, char **argv)
{
	printf("usage: outpost-edge [run|check-config|version|help]\n"
	       "       outpost-edge token create NAME [--ttl 1h]\n"
	       "       outpost-edge pair list|approve CODE --name NAME|deny "
	       "CODE\n"
	       "       outpost-edge revoke NAME\n"
	       "       outpost-edge update offer NAME|--all FILE | update "
	       "status [NAME] | update withdraw NAME|--all | update "
	       "reboot NAME|--all\n"
	       "       outpost-edge connect [--edge URL] [--token-file F] "
	       "NAME HOST:PORT\n"
	       "       outpost-edge forward [--listen ADDR:PORT] [--edge URL] "
	       "[--token-file F] NAME HOST:PORT\n");
	return 0;
}

static const struct command {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
    {"run", cmd_run},
    {"check-config", cmd_check_config},
    {"version", cmd_version},
    {"token", cmd_identity},
    {"pair", cmd_identity},
    {"revoke", cmd_identity},
    {"update", cmd_identity},
    {"connect", cmd_session},
    {"forward", cmd_session},
    {"help", cmd_help},
};

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return cmd_run(argc, argv);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	cmd_help(argc, argv);
	return EXIT_PERMANENT;
}
