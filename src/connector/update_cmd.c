/*
 * update_cmd.c — `outpost update verify|status|apply|reboot` (see
 * update_cmd.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connector/initctl_client.h"
#include "connector/update_cmd.h"
#include "lib/exit.h"
#include "lib/util.h"
#include "update/update.h"

#define CERT_DEFAULT "/etc/outpost/update-signing.crt"

static void
print_manifest(const struct update_manifest *m)
{
	char hex[65];
	size_t i;

	printf("version %s\narch %s\nmin-version %s\n", m->version, m->arch,
	    m->min_version);
	for (i = 0; i < m->nparts; i++) {
		util_hex(m->part[i].sha256, sizeof(m->part[i].sha256), hex);
		printf("part %s %llu %llu %s\n", m->part[i].name,
		    (unsigned long long)m->part[i].off,
		    (unsigned long long)m->part[i].size, hex);
	}
}

/* The verdict on the bundle at fd: 0 or -1 with the reason in err. */
static int
verdict(int fd, const char *pem, size_t pem_len, bool downgrade, char *err,
    size_t errlen)
{
	struct update_manifest m;
	size_t i;

	if (update_open(fd, pem, pem_len, &m, err, errlen) < 0)
		return -1;
	print_manifest(&m);
	if (update_check(
		&m, OUTPOST_VERSION, UPDATE_ARCH, downgrade, err, errlen) < 0)
		return -1;
	for (i = 0; i < m.nparts; i++)
		if (update_part_copy(
			fd, &m.part[i], -1, NULL, NULL, err, errlen) < 0)
			return -1;
	return 0;
}

static void
print_state(const struct initctl_reply *r)
{
	printf("slot %s\nversion %s\nother-version %s\nstate %s\n"
	       "percent %u\nreason %s\n",
	    r->slot, r->version, r->other_version, initctl_state_name(r->state),
	    (unsigned)r->percent, r->reason);
}

/* `status`, `apply PATH`, `reboot`: one request to init. */
static int
ask_init(enum initctl_op op, const char *path)
{
	struct initctl_reply r;
	char err[256];
	int fd = initctl_client_fd(err, sizeof(err));

	if (fd < 0) {
		fprintf(stderr, "update: %s\n", err);
		return EXIT_PERMANENT;
	}
	if (initctl_client_call(fd, op, path, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "update: %s\n", err);
		return EXIT_TEMPORARY;
	}
	print_state(&r);
	if (r.result != 0) {
		fprintf(stderr, "update: init refused: %s\n", r.reason);
		return r.result == EBUSY ? EXIT_TEMPORARY : EXIT_PERMANENT;
	}
	return EXIT_OK;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: outpost update verify [--cert FILE] [--allow-downgrade] "
	    "FILE\n"
	    "       outpost update status | apply FILE | reboot\n");
	return EXIT_PERMANENT;
}

/* see update_cmd.h */
int
update_main(int argc, char **argv)
{
	const char *cert = CERT_DEFAULT;
	bool downgrade = false;
	char err[256], *pem;
	size_t pem_len;
	int i, fd, r;

	if (argc == 3 && strcmp(argv[1], "apply") == 0)
		return ask_init(INITCTL_APPLY, argv[2]);
	if (argc == 2 && strcmp(argv[1], "status") == 0)
		return ask_init(INITCTL_STATUS, NULL);
	if (argc == 2 && strcmp(argv[1], "reboot") == 0)
		return ask_init(INITCTL_REBOOT, NULL);
	for (i = 2; i < argc - 1; i++) {
		if (strcmp(argv[i], "--allow-downgrade") == 0)
			downgrade = true;
		else if (strcmp(argv[i], "--cert") == 0 && i + 2 < argc)
			cert = argv[++i];
		else
			break;
	}
	if (argc < 3 || strcmp(argv[1], "verify") != 0 || i != argc - 1)
		return usage();
	if ((r = util_read_file(cert, 65536, &pem, &pem_len)) < 0) {
		fprintf(stderr, "update: %s: %s\n", cert, strerror(-r));
		return EXIT_TEMPORARY;
	}
	if ((fd = open(argv[i], O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "update: %s: cannot open\n", argv[i]);
		free(pem);
		return EXIT_PERMANENT;
	}
	r = verdict(fd, pem, pem_len, downgrade, err, sizeof(err));
	close(fd);
	free(pem);
	if (r < 0) {
		printf("refused: %s\n", err);
		fprintf(stderr, "update: refused: %s\n", err);
		return EXIT_PERMANENT;
	}
	printf("ok\n");
	return EXIT_OK;
}
