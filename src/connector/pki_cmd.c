/*
 * `outpost keygen` and `outpost csr` (see pki_cmd.h).  Setup-phase code:
 * blocking file I/O, errors on stderr, an exit code.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connector/pki_cmd.h"
#include "lib/exit.h"
#include "lib/util.h"
#include "tls/pki.h"

#define PKI_KEYFILE_MAX (64 * 1024)

static const char keygen_usage[] =
    "usage: outpost keygen [--type p256|p384|rsa2048|rsa3072|rsa4096] "
    "[--out FILE] [--force]\n";

static const char csr_usage[] =
    "usage: outpost csr --key FILE (--spiffe-id URI | --uri URI)... "
    "[--cn NAME] [--dns NAME]... [--out FILE]\n";

static int
usage(const char *cmd, const char *text, const char *why)
{
	fprintf(stderr, "outpost %s: %s\n%s", cmd, why, text);
	return EXIT_PERMANENT;
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
			return EXIT_TEMPORARY;
		}
		return 0;
	}
	if (pki_write_file_atomic(
		path, pem->p, pem->len, 0600, excl, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost %s: %s\n", cmd, err);
		return EXIT_TEMPORARY;
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
		return EXIT_PERMANENT;
	}
	if (pki_key_generate(type, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost keygen: %s\n", err);
		return EXIT_TEMPORARY;
	}
	buf_init(&pem, mem, sizeof(mem));
	rc = pki_key_pem(key, &pem, err, sizeof(err));
	pki_key_free(key);
	if (rc < 0) {
		fprintf(stderr, "outpost keygen: %s\n", err);
		rc = EXIT_TEMPORARY;
	} else {
		rc = emit("keygen", out, &pem, !force);
	}
	util_wipe(mem, sizeof(mem));
	return rc;
}

/* Load the --key file (under PKI_KEYFILE_MAX bytes); an exit code (0 when
 * *key is set). */
static int
csr_load_key(const char *path, struct pki_key **key)
{
	char err[256], *mem;
	size_t n;
	int rc;

	if ((rc = util_read_file(path, PKI_KEYFILE_MAX - 1, &mem, &n)) < 0) {
		fprintf(
		    stderr, "outpost csr: read %s: %s\n", path, strerror(-rc));
		return EXIT_TEMPORARY;
	}
	rc = 0;
	if (pki_key_load(
		key, (const uint8_t *)mem, n, "--key", err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost csr: %s (%s)\n", err, path);
		rc = EXIT_PERMANENT;
	}
	util_wipe(mem, n);
	free(mem);
	return rc;
}

struct csr_args {
	const char *key, *cn, *out;
	const char *uris[PKI_SAN_MAX], *dns[PKI_SAN_MAX];
	size_t nuris, ndns;
};

/* Parse the command line into a; 0 or a usage exit code. */
static int
csr_parse_args(int argc, char **argv, struct csr_args *a)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"spiffe-id", required_argument, NULL, 's'},
	    {"uri", required_argument, NULL, 'u'},
	    {"cn", required_argument, NULL, 'c'},
	    {"dns", required_argument, NULL, 'd'},
	    {"out", required_argument, NULL, 'o'},
	    {0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 's' && strncmp(optarg, "spiffe://", 9) != 0)
			return usage("csr", csr_usage,
			    "--spiffe-id: must start with spiffe://");
		if ((ch == 's' || ch == 'u') && a->nuris == PKI_SAN_MAX)
			return usage("csr", csr_usage, "too many URIs");
		if (ch == 'd' && a->ndns == PKI_SAN_MAX)
			return usage("csr", csr_usage, "too many --dns");
		if (ch == 'k')
			a->key = optarg;
		else if (ch == 's' || ch == 'u')
			a->uris[a->nuris++] = optarg;
		else if (ch == 'c')
			a->cn = optarg;
		else if (ch == 'd')
			a->dns[a->ndns++] = optarg;
		else if (ch == 'o')
			a->out = optarg;
		else
			return usage("csr", csr_usage, "bad option");
	}
	if (optind != argc)
		return usage("csr", csr_usage, "unexpected argument");
	if (a->key == NULL)
		return usage("csr", csr_usage, "--key is required");
	if (a->nuris == 0)
		return usage("csr", csr_usage, "--spiffe-id or --uri required");
	return 0;
}

/* see pki_cmd.h */
int
csr_main(int argc, char **argv)
{
	struct csr_args a = {0};
	struct pki_key *key = NULL;
	uint8_t der[PKI_DER_MAX], mem[PKI_PEM_MAX];
	struct buf d, pem;
	char err[256];
	int rc;

	if ((rc = csr_parse_args(argc, argv, &a)) != 0 ||
	    (rc = csr_load_key(a.key, &key)) != 0)
		return rc;
	buf_init(&d, der, sizeof(der));
	buf_init(&pem, mem, sizeof(mem));
	if (pki_csr_write(key, a.cn, a.uris, a.nuris, a.dns, a.ndns, &d, err,
		sizeof(err)) < 0 ||
	    pki_pem("CERTIFICATE REQUEST", d.p, d.len, &pem, err, sizeof(err)) <
		0) {
		fprintf(stderr, "outpost csr: %s\n", err);
		rc = EXIT_PERMANENT;
	} else {
		rc = emit("csr", a.out, &pem, false);
	}
	pki_key_free(key);
	return rc;
}
