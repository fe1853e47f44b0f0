/*
 * sandbox-probe: a test-only program (never shipped) that installs one of
 * the real allow-lists and then makes one system call, so the integration
 * test can watch what the filter does to it (tests/integration/test_seccomp.py).
 *
 *   sandbox-probe worker|edge kill|trap ok|ptrace|execve|packet
 *
 * ok: allowed calls only (a UDP socket, a write, getrandom), exit 0;
 * ptrace, execve, packet (an AF_PACKET socket): forbidden, so the process
 * dies by SIGSYS (kill) or exits 111 naming the call (trap).
 */
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/sandbox.h"

static int
call(const char *what)
{
	char *argv[] = {"/bin/true", NULL};
	unsigned char r[16];

	if (strcmp(what, "ok") == 0)
		return socket(AF_INET, SOCK_DGRAM, 0) >= 0 &&
			getrandom(r, sizeof(r), 0) == sizeof(r) &&
			write(STDOUT_FILENO, "ok\n", 3) == 3
		    ? 0
		    : 1;
	if (strcmp(what, "ptrace") == 0)
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	else if (strcmp(what, "execve") == 0)
		execve(argv[0], argv, argv + 1);
	else if (strcmp(what, "packet") == 0)
		socket(AF_PACKET, SOCK_RAW, 0);
	else
		return 2;
	return 3; /* survived a forbidden call */
}

int
main(int argc, char **argv)
{
	struct sandbox_conf conf = {.enabled = true};
	char err[256];

	if (argc != 4)
		return 2;
	conf.debug = strcmp(argv[2], "trap") == 0;
	if (sandbox_start(
		strcmp(argv[1], "edge") == 0 ? SANDBOX_EDGE : SANDBOX_WORKER,
		&conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 4;
	}
	return call(argv[3]);
}
