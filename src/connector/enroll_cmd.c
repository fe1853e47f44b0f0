/*
 * `outpost enroll`: obtain and store an identity once, then exit (for an
 * init container or an installer).  The same controller as `outpost run`
 * (identity_ctl.h) in once mode, on a reactor of its own.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cfg/cfg.h"
#include "connector/enroll_cmd.h"
#include "connector/identity_ctl.h"
#include "connector/manager.h"
#include "lib/exit.h"
#include "net/dns.h"
#include "rx/rx.h"

#define ENROLL_TIMERS 32

struct enroll_run {
	bool done;
	int code;
};

static struct enroll_run run_state;

static void
on_done(struct identity_ctl *ic, int code)
{
	run_state.done = true;
	run_state.code = code;
}

/*
 * The manager is never started: it gives the Enrollment calls their
 * controller, TLS settings, DNS and egress proxy (manager_init validates
 * them as `outpost run` does).
 */
static int
run(const struct cfg *c, struct rx_loop *l)
{
	static struct manager m;
	struct dns_config dc = {.servers = cfg_str(c, CFG_DNS_SERVERS)};
	struct identity_ctl_conf icc = {
	    .loop = l, .cfg = c, .net = &m, .mc = &m.conf, .done = on_done};
	struct dns_resolver *dns = NULL;
	struct identity_ctl *ic = NULL;
	char err[256];
	int rc = EXIT_PERMANENT;

	if (dns_new(&dns, l, &dc, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost enroll: %s\n", err);
		return EXIT_PERMANENT;
	}
	if (manager_init(&m, l, c, dns, err, sizeof(err)) < 0 ||
	    (ic = identity_ctl_new(&icc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "outpost enroll: %s\n", err);
		goto out;
	}
	identity_ctl_start(ic);
	while (!run_state.done && rx_run_once(l, -1) == 0)
		;
	rc = run_state.done ? run_state.code : EXIT_TEMPORARY;
out:
	identity_ctl_free(ic);
	manager_free(&m);
	dns_free(dns);
	rx_run_once(l, 0);
	return rc;
}

/* see enroll_cmd.h */
int
enroll_main(int argc, char **argv, char *const *envp)
{
	static struct cfg_errors errs;
	struct rx_loop loop;
	struct cfg *c;
	int rc;

	if (argc > 1) {
		fprintf(stderr,
		    "usage: outpost enroll (settings from the "
		    "environment and the config file)\n");
		return EXIT_PERMANENT;
	}
	if ((c = cfg_load(envp, &errs)) == NULL) {
		cfg_errors_print(&errs, 2);
		return EXIT_PERMANENT;
	}
	if (!cfg_is_set(c, CFG_TRAVERSAL_CONTROLLER_URL)) {
		fprintf(stderr,
		    "outpost enroll: TRAVERSAL_CONTROLLER_URL is "
		    "not set\n");
		cfg_free(c);
		return EXIT_PERMANENT;
	}
	if (rx_init(&loop, ENROLL_TIMERS) < 0) {
		cfg_free(c);
		return EXIT_TEMPORARY;
	}
	rc = run(c, &loop);
	rx_free(&loop);
	cfg_free(c);
	return rc;
}
