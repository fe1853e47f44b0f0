/*
 * outpost — the connector.  One binary, several roles chosen by argv[1]
 * (or by being PID 1).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ares_version.h>
#include <nghttp2/nghttp2ver.h>
#include <pcre2.h>
#include <protobuf-c/protobuf-c.h>
#include <zlib.h>

#include "cfg/cfg.h"
#include "connector/enroll_cmd.h"
#include "connector/fetch.h"
#include "connector/identity_cmd.h"
#include "connector/pki_cmd.h"
#include "connector/redact_cmd.h"
#include "connector/timesync.h"
#include "connector/update_cmd.h"
#include "connector/worker.h"
#include "init/init.h"
#include "lib/exit.h"

/* Generated at build time by scripts/embed-licenses.sh. */
extern const char outpost_licenses[], outpost_dep_sources[];

#define STR(x) #x
#define XSTR(x) STR(x)

static int
cmd_version(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--licenses") == 0) {
		fputs(outpost_licenses, stdout);
		return 0;
	}
	printf("outpost %s (revision %s)\n", OUTPOST_VERSION, OUTPOST_REVISION);
	printf("libraries: BearSSL, nghttp2 %s, c-ares %s, PCRE2 %s.%s, "
	       "protobuf-c %s, zlib %s\n",
	    NGHTTP2_VERSION, ARES_VERSION_STR, XSTR(PCRE2_MAJOR),
	    XSTR(PCRE2_MINOR), PROTOBUF_C_VERSION, ZLIB_VERSION);
	printf("Debian sources:\n%s", outpost_dep_sources);
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
#ifdef OUTPOST_TEST_NEVER_READY
	/* Test builds only (make next-update, the rollback test of #21): the
	 * worker of an image whose root carries the marker exits 100 at once,
	 * so it never gets ready.  Never compiled into a release. */
	if (access("/etc/outpost/test-never-ready", F_OK) == 0) {
		fputs("outpost: test build: never ready (exit 100)\n", stderr);
		return EXIT_PERMANENT;
	}
#endif
	return worker_main(argc, argv, environ);
}

static int
cmd_probe(int argc, char **argv)
{
	return probe_main(argc, argv, environ);
}

static int
cmd_check_config(int argc, char **argv)
{
	return cfg_check_main(argc, argv, environ);
}

static int
cmd_fetch(int argc, char **argv)
{
	return fetch_main(argc, argv, environ);
}

static int
cmd_ntp(int argc, char **argv)
{
	return timesync_main(argc, argv, environ);
}

static int
cmd_enroll(int argc, char **argv)
{
	return enroll_main(argc, argv, environ);
}

static int
cmd_identity(int argc, char **argv)
{
	return identity_main(argc, argv, environ);
}

static int
cmd_help(int argc, char **argv)
{
	printf("usage: outpost [command]\n\n"
	       "  run            the connector (default without arguments)\n"
	       "  check-config   validate the configuration [--print]\n"
	       "  probe          exit 0 if /readyz on HTTP_PORT answers 200\n"
	       "  fetch URL      one upstream request, printed as JSON lines\n"
	       "  ntp [--step]   time from NTP_SERVERS [and set the clock]\n"
	       "  enroll         obtain an identity once (ENROLLMENT_TOKEN or "
	       "PAIRING)\n"
	       "  identity show  the identity in DATA_DIR; identity import "
	       "--cert F --key F\n"
	       "  keygen         a private key [--type p256|p384|rsa2048|"
	       "rsa3072|rsa4096]\n"
	       "                 [--out FILE] [--force]\n"
	       "  csr            a certification request --key FILE "
	       "(--spiffe-id URI | --uri URI)...\n"
	       "                 [--cn NAME] [--dns NAME]... [--out FILE]\n"
	       "  version        version and libraries [--licenses]\n"
	       "  init           PID 1 (default when started as PID 1)\n"
	       "  redact         dry run of redaction rules --rules FILE "
	       "[--check]\n"
	       "                 [--url URL] [--content-type T] "
	       "[--content-encoding E] [FILE|-]\n"
	       "  update verify FILE  check a signed update bundle [--cert F]\n"
	       "                 [--allow-downgrade]\n"
	       "  update status|apply FILE|reboot  ask init (appliance only)\n"
	       "  help           this text\n\n"
	       "exit codes: 0 ok, 100 permanent error (configuration), "
	       "111 temporary error\n");
	return 0;
}

static const struct command {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
    {"run", cmd_run},
    {"probe", cmd_probe},
    {"version", cmd_version},
    {"check-config", cmd_check_config},
    {"fetch", cmd_fetch},
    {"ntp", cmd_ntp},
    {"identity", cmd_identity},
    {"enroll", cmd_enroll},
    {"keygen", keygen_main},
    {"csr", csr_main},
    {"redact", redact_main},
    {"update", update_main},
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
	if (argc <= 1)
		return cmd_run(argc, argv);
	fprintf(stderr, "outpost: unknown command '%s'\n", argv[1]);
	cmd_help(argc, argv);
	return EXIT_PERMANENT;
}
