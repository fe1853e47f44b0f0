/*
 * `outpost ntp`: one SNTP exchange on a private reactor.
 */
#include <stdio.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/timesync.h"
#include "connector/tool.h"
#include "lib/buf.h"
#include "lib/exit.h"
#include "lib/json.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/sntp.h"

/* The resolver, its one query and the client's timer. */
#define TIMESYNC_TIMERS 4

struct timesync {
	struct sntp_client c;
	bool step, done;
	int rc;
};

/* Write the JSON line in a bounded buffer; a too-long line is cut. */
static void
print_answer(const struct sntp_result *r, const char *server, bool stepped)
{
	char mem[512];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"server\":");
	json_cstr(&b, server);
	buf_printf(&b,
	    ",\"offset_ms\":%lld,\"delay_ms\":%lld,\"stratum\":%u,"
	    "\"stepped\":%s}\n",
	    (long long)r->offset_ms, (long long)r->delay_ms, r->stratum,
	    stepped ? "true" : "false");
	fwrite(b.p, 1, b.len, stdout);
}

static void
print_error(const char *detail)
{
	char mem[512];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"error\":\"no_answer\",\"detail\":");
	json_cstr(&b, detail);
	buf_adds(&b, "}\n");
	fwrite(b.p, 1, b.len, stdout);
}

static void
on_done(struct sntp_client *c, enum sntp_error err,
    const struct sntp_result *res, const char *server, const char *detail)
{
	struct timesync *t = container_of(c, struct timesync, c);
	int rc = 0;

	t->done = true;
	if (err != SNTP_DONE) {
		print_error(detail);
		t->rc = EXIT_TEMPORARY;
		return;
	}
	if (t->step && (rc = sntp_clock_step(res->offset_ms)) < 0)
		fprintf(stderr, "outpost ntp: cannot set the clock: %s\n",
		    strerror(-rc));
	print_answer(res, server, t->step && rc == 0);
	t->rc = rc == 0 ? 0 : EXIT_TEMPORARY;
}

static int
run(struct timesync *t, const struct cfg *cfg, struct rx_loop *loop)
{
	struct dns_config dc = {.servers = cfg_str(cfg, CFG_DNS_SERVERS)};
	struct dns_resolver *dns = NULL;
	const char *servers = cfg_str(cfg, CFG_NTP_SERVERS);
	char err[256] = "NTP_SERVERS is not set";
	int rc = servers != NULL ? 0 : -1;

	if (rc == 0)
		rc = dns_new(&dns, loop, &dc, err, sizeof(err));
	if (rc == 0)
		rc = sntp_client_init(
		    &t->c, loop, dns, servers, 0, on_done, err, sizeof(err));
	/* cfg_load() refused a list that names no server. */
	if (rc == 0 && (rc = sntp_client_start(&t->c)) < 0)
		snprintf(err, sizeof(err), "NTP_SERVERS: no reactor timer");
	if (rc < 0) {
		fprintf(stderr, "outpost ntp: %s\n", err);
		dns_free(dns);
		return EXIT_PERMANENT;
	}
	/* Bounded: every address has a deadline, the list is bounded. */
	while (!t->done && rx_run_once(loop, -1) == 0)
		;
	sntp_client_stop(&t->c);
	dns_free(dns);
	rx_run_once(loop, 0);
	return t->done ? t->rc : EXIT_TEMPORARY;
}

/* see timesync.h */
int
timesync_main(int argc, char **argv, char *const *envp)
{
	static struct timesync t;
	static struct tool tl;
	int rc;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--step") != 0)) {
		fprintf(stderr, "usage: outpost ntp [--step]\n");
		return EXIT_PERMANENT;
	}
	t.step = argc == 2;
	if ((rc = tool_start(&tl, envp, TIMESYNC_TIMERS)) != 0)
		return rc;
	rc = run(&t, tl.cfg, &tl.loop);
	tool_end(&tl);
	return rc;
}
