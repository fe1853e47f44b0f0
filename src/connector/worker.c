/* `outpost run`: configuration, reactor, signals, health port, loop. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "connector/health.h"
#include "connector/worker.h"
#include "lib/log.h"
#include "rx/rx.h"

/* Timers besides the health server's (tunnels, DNS, executor: later). */
#define WORKER_TIMERS 256

static void
on_signal(struct rx_loop *l, int signo)
{
	log_info("stopping on signal %d", signo);
	rx_stop(l);
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

/* see worker.h */
int
worker_main(int argc, char **argv, char *const *envp)
{
	struct rx_loop loop;
	struct health *h;
	struct cfg *c;
	int r;

	if ((c = load_config(envp)) == NULL)
		return WORKER_EXIT_PERMANENT;
	r = rx_init(&loop,
	    WORKER_TIMERS +
		HEALTH_TIMERS((size_t)cfg_int(c, CFG_HEALTH_MAX_CONNECTIONS)));
	if (r < 0 || start_signals(&loop) < 0) {
		log_error("reactor setup failed");
		return WORKER_EXIT_TEMPORARY;
	}
	if ((h = start_health(&loop, c)) == NULL)
		return WORKER_EXIT_TEMPORARY;
	log_info("outpost %s (%s) running", OUTPOST_VERSION, OUTPOST_REVISION);
	r = rx_run(&loop);
	health_close(h);
	cfg_free(c);
	if (r < 0) {
		log_error("reactor failed: %s", strerror(-r));
		return WORKER_EXIT_TEMPORARY;
	}
	return WORKER_EXIT_OK;
}
