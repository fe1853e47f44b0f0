/* The commands' shared start-up; see tool.h. */
#include <stdio.h>
#include <unistd.h>

#include "connector/tool.h"
#include "lib/exit.h"
#include "lib/log.h"

/* see tool.h */
struct cfg *
tool_config(char *const *envp)
{
	static struct cfg_errors errs; /* ~20 KiB: not on the stack */
	struct cfg *c;

	if ((c = cfg_load(envp, &errs)) == NULL) {
		cfg_errors_print(&errs, STDERR_FILENO);
		return NULL;
	}
	cfg_errors_log(&errs);
	return c;
}

/* see tool.h */
int
tool_start(struct tool *t, char *const *envp, size_t max_timers)
{
	*t = (struct tool){0};
	if ((t->cfg = tool_config(envp)) == NULL)
		return EXIT_PERMANENT;
	if (max_timers == 0)
		return 0;
	if (rx_init(&t->loop, max_timers) < 0) {
		fprintf(stderr, "outpost: cannot create the reactor\n");
		cfg_free(t->cfg);
		t->cfg = NULL;
		return EXIT_TEMPORARY;
	}
	t->have_loop = true;
	return 0;
}

/* see tool.h */
void
tool_end(struct tool *t)
{
	fflush(stdout);
	if (t->have_loop)
		rx_free(&t->loop);
	t->have_loop = false;
	cfg_free(t->cfg);
	t->cfg = NULL;
}
