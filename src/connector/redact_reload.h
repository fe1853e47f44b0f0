/*
 * redact_reload.h — REDACTION_RULES_FILE in the running worker: the rules
 * loaded at start, handed to the executor (exec_set_redaction), and the
 * file checked every REDACTION_RELOAD_INTERVAL.
 *
 * The sha256 of the content decides whether the file changed.  A valid
 * change is swapped in between two bodies (redact_live_set: one store on
 * the reactor thread), with no drain and no exit.  An invalid, missing or
 * unreadable file makes every body be refused from that moment (no
 * response is served under rules the worker was not given, nor under the
 * old ones) and calls fatal(), on which the worker stops with
 * EXIT_PERMANENT, as the anchor does.
 *
 * struct redact_reload is embedded in the worker; it owns the live rules.
 * Everything runs on the reactor's thread.
 */
#ifndef CONNECTOR_REDACT_RELOAD_H
#define CONNECTOR_REDACT_RELOAD_H

#include <stdint.h>

#include "rx/rx.h"

struct cfg;
struct exec;
struct metrics;
struct redact_live;

struct redact_reload {
	struct rx_loop *loop;
	struct rx_timer poll;
	struct redact_live *live; /* NULL: no REDACTION_RULES_FILE */
	uint8_t sha256[32];
	int64_t every_ms;
	const char *path; /* the configuration's string */
	void (*fatal)(struct redact_reload *rr);
};

/*
 * With REDACTION_RULES_FILE set: load it (every error logged), make the
 * live rules, hand them to e (may be NULL: nothing to redact for), add
 * their metrics to reg (may be NULL) and start the poll.  Without it: nothing.  0, or -1 (logged) when the file
 * cannot be loaded or memory is short.
 */
int redact_reload_start(struct redact_reload *rr, struct rx_loop *l,
    const struct cfg *c, struct exec *e, struct metrics *reg,
    void (*fatal)(struct redact_reload *rr));

/* Stop the poll and free the live rules (after the executor is freed). */
void redact_reload_stop(struct redact_reload *rr);

#endif
