/*
 * `outpost keygen` and `outpost csr` (see pki_cmd.h).  Setup-phase code:
 * blocking file I/O, errors on stderr, an exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connector/pki_cmd.h"
#include "lib/util.h"
#include "tls/pki.h"

#define PKI_EXIT_USAGE 100
#define PKI_EXIT_IO 111

static const char keygen_usage[] =
    "usage: outpost keygen [--type p256|p384|rsa2048|rsa3072|rsa4096] "
    "[--out FILE] [--force]\n";

static int
usage(const char *cmd, const char *text, const char *why)
{
	fprintf(stderr, "outpost %s: %s\n%s", cmd, why, text);
	return PKI_EXIT_USAGE;
}

/*
 * Write PEM to path atomically (0600), or to stdout when path is NULL.
 * Returns an exit code.
 */
static int
emit(const char *cmd, const char *path, const struct buf *pem, bool excl)
{
	char err[512];

	if (path == NULL) {
		if (fwrite(pem->p, 1, pem->len, stdout) != pem->len ||
		    fflush(stdout) != 0) {
			fprintf(stderr, "outpost %s: write stdout: %s\n", cmd,
			    strerror(errno));
			return PKI_EXIT_IO;
		}
		return 0;
	}
	if (pki_write_file_atomic(
		path, pem->p, pem->len, 0600, excl, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost %s: %s\n", cmd, err);
		return PKI_EXIT_IO;
	}
	return 0;
}

/* see pki_cmd.h */
int
keygen_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"type", required_argument, NULL, 't'},
	    {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {0},
	};
	enum pki_key_type type = PKI_KEY_P256;
	const char *out = NULL;
	bool force = false;
	struct pki_key *key;
	uint8_t mem[PKI_KEY_PEM_MAX];
	struct buf pem;
	char err[256];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 't' && (type = pki_key_type_parse(optarg)) == 0)
			return usage(
			    "keygen", keygen_usage, "--type: unknown key type");
		else if (ch == 'o')
			out = optarg;
		else if (ch == 'f')
			force = true;
		else if (ch == '?')
			return usage("keygen", keygen_usage, "bad option");
	}
	if (optind != argc)
		return usage("keygen", keygen_usage, "unexpected argument");
	if (out != NULL && !force && access(out, F_OK) == 0) {
		fprintf(
		    stderr, "outpost keygen: %s exists (use --force)\n", out);
		return PKI_EXIT_USAGE;
	}
	if (pki_key_generate(type, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost keygen: %s\n", err);
		return PKI_EXIT_IO;
	}
	buf_init(&pem, mem, sizeof(mem));
	rc = pki_key_pem(key, &pem, err, sizeof(err));
	pki_key_free(key);
	if (rc < 0) {
		fprintf(stderr, "outpost keygen: %s\n", err);
		rc = PKI_EXIT_IO;
	} else {
		rc = emit("keygen", out, &pem, !force);
	}
	util_wipe(mem, sizeof(mem));
	return rc;
}
