/*
 * worker.h — `outpost run`: the connector process.
 *
 * Setup (may fail): load the configuration (errors → printed, exit 100),
 * ignore SIGPIPE, create the reactor, route SIGTERM/SIGINT through a
 * signalfd, start the health port (failure → exit 111, e.g. the port is
 * taken).  Then the loop, which never exits on bad input; a SIGTERM or
 * SIGINT ends it and the process exits 0.
 *
 * Exit codes (DESIGN.md): 0 clean stop, 100 permanent (configuration),
 * 111 temporary (resources, port in use).
 */
#ifndef CONNECTOR_WORKER_H
#define CONNECTOR_WORKER_H

#include "lib/exit.h" /* EXIT_OK, EXIT_PERMANENT, EXIT_TEMPORARY */

int worker_main(int argc, char **argv, char *const *envp);

/*
 * `outpost probe`: GET /readyz on 127.0.0.1:HTTP_PORT with a deadline of
 * PROBE_TIMEOUT_MS; 0 when it answers 200, 1 otherwise (including a bad
 * configuration, a refused connection or a timeout).
 */
#define PROBE_TIMEOUT_MS 2000

int probe_main(int argc, char **argv, char *const *envp);

#endif
