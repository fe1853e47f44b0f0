/*
 * tool.h — the start-up every command of `outpost` shares: load the
 * configuration (every error printed on stderr; warnings logged), then,
 * for the commands that run one, a reactor.  Setup phase only.
 *
 * struct tool is caller-owned (static in the command's main is fine);
 * tool_end() releases what tool_start() made.  The configuration's
 * strings live until tool_end().
 */
#ifndef CONNECTOR_TOOL_H
#define CONNECTOR_TOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg/cfg.h"
#include "rx/rx.h"

struct tool {
	struct cfg *cfg;
	struct rx_loop loop; /* valid when have_loop */
	bool have_loop;
};

/*
 * The configuration from envp: the loaded struct cfg, or NULL when it is
 * invalid (every error printed on stderr already).  On success warnings go
 * to the log.  The caller frees the result with cfg_free().
 */
struct cfg *tool_config(char *const *envp);

/*
 * tool_config() into t->cfg, then a reactor with max_timers timers (none
 * when max_timers is 0).  Returns 0, or the exit code to return at once:
 * EXIT_PERMANENT (bad configuration) or EXIT_TEMPORARY (no reactor); t
 * then holds nothing.
 */
int tool_start(struct tool *t, char *const *envp, size_t max_timers);

/* Flush stdout, free the reactor and the configuration.  Idempotent. */
void tool_end(struct tool *t);

#endif
