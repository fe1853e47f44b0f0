/*
 * redact_reload.c — the rules file of the running worker (see
 * redact_reload.h).
 */
#include "connector/redact_reload.h"

#include <errno.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/exec.h"
#include "http/redact.h"
#include "lib/log.h"
#include "lib/util.h"

/* Log every error of an invalid file, one line each. */
static void
log_errors(const struct redact_errors *errs)
{
	unsigned i;

	for (i = 0; i < errs->n; i++)
		log_error("REDACTION_RULES_FILE: %s", errs->msg[i]);
	if (errs->n_errors > errs->n)
		log_error("REDACTION_RULES_FILE: ... and %u more errors",
		    errs->n_errors - errs->n);
}

static void
poll_fire(struct rx_loop *l, struct rx_timer *t)
{
	struct redact_reload *rr = container_of(t, struct redact_reload, poll);
	struct redact_errors errs;
	struct redact_rules *r;
	uint8_t now[32];
	int rc = redact_file_sha256(rr->path, now);

	if (rc == 0 && memcmp(now, rr->sha256, sizeof(now)) == 0) {
		rx_timer_start(l, t, rr->every_ms);
		return;
	}
	r = rc < 0 ? NULL : redact_rules_load(rr->path, now, &errs);
	if (r == NULL) {
		if (rc < 0)
			log_error("REDACTION_RULES_FILE %s: %s", rr->path,
			    strerror(-rc));
		else
			log_errors(&errs);
		log_error("REDACTION_RULES_FILE %s: not usable any more; "
			  "refusing every body and stopping",
		    rr->path);
		redact_live_set(rr->live, NULL);
		rr->fatal(rr);
		return;
	}
	memcpy(rr->sha256, now, sizeof(now));
	log_info("REDACTION_RULES_FILE %s: %zu rules loaded", rr->path,
	    redact_rules_count(r));
	redact_live_set(rr->live, r);
	rx_timer_start(l, t, rr->every_ms);
}

/* see redact_reload.h */
int
redact_reload_start(struct redact_reload *rr, struct rx_loop *l,
    const struct cfg *c, struct exec *e, struct metrics *reg,
    void (*fatal)(struct redact_reload *rr))
{
	struct redact_live_conf lc = {
	    .binary_pass =
		strcmp(cfg_str(c, CFG_REDACTION_BINARY), "pass") == 0,
	    .requests = cfg_bool(c, CFG_REDACT_REQUESTS),
	    .max_out = (size_t)cfg_int(c, CFG_MAX_RESPONSE_BODY_SIZE_MB),
	    .max_decoded =
		(size_t)cfg_int(c, CFG_MAX_DECODED_RESPONSE_BODY_SIZE_MB),
	};
	struct redact_errors errs;
	struct redact_rules *r;

	*rr = (struct redact_reload){.loop = l, .fatal = fatal};
	rx_timer_init(&rr->poll, poll_fire);
	if (!cfg_is_set(c, CFG_REDACTION_RULES_FILE))
		return 0;
	rr->path = cfg_str(c, CFG_REDACTION_RULES_FILE);
	rr->every_ms = cfg_int(c, CFG_REDACTION_RELOAD_INTERVAL);
	if ((r = redact_rules_load(rr->path, rr->sha256, &errs)) == NULL) {
		log_errors(&errs);
		return -1;
	}
	if ((rr->live = redact_live_new(&lc, r)) == NULL) {
		log_error("REDACTION_RULES_FILE: out of memory");
		return -1;
	}
	log_info("REDACTION_RULES_FILE %s: %zu rules loaded", rr->path,
	    redact_rules_count(r));
	if (e != NULL)
		exec_set_redaction(e, rr->live);
	if (reg != NULL)
		redact_live_metrics_add(rr->live, reg);
	return rx_timer_start(l, &rr->poll, rr->every_ms);
}

/* see redact_reload.h */
void
redact_reload_stop(struct redact_reload *rr)
{
	if (rr->loop != NULL)
		rx_timer_stop(rr->loop, &rr->poll);
	redact_live_free(rr->live);
	rr->live = NULL;
}
