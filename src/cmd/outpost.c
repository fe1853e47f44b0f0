/*
 * outpost — the connector.  One binary, several roles chosen by argv[1]
 * (or by being PID 1).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "init/init.h"

static int
cmd_version(int argc, char **argv)
{
	printf("outpost %s (%s)\n", OUTPOST_VERSION, OUTPOST_REVISION);
	return 0;
}

static int
cmd_check_config(int argc, char **argv)
{
	return cfg_check_main(argc, argv, environ);
}

static int
cmd_help(int argc, char **argv)
{
	printf("usage: outpost [run|version|help]\n");
	return 0;
}

static const struct command {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
    {"version", cmd_version},
    {"check-config", cmd_check_config},
    {"init", init_main},
    {"help", cmd_help},
};

int
main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (argc > 1 && strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	/*
	 * PID 1 without a command is the appliance's /sbin/init (the kernel
	 * may pass stray cmdline words).  In a container PID 1 is what the
	 * runtime was told to run: the image's CMD ("run") or the user's.
	 */
	if (getpid() == 1 && cmd == NULL)
		return init_main(argc, argv);
	if (cmd != NULL)
		return cmd->fn(argc - 1, argv + 1);
	return cmd_help(argc, argv);
}
