/*
 * `outpost identity show` and `outpost identity import`: the identity
 * store from the command line.  Setup-phase code: blocking file I/O.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/identity.h"
#include "connector/identity_cmd.h"
#include "connector/worker.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/util.h"

#define ID_EXIT_NONE 1

static int
usage(const char *why)
{
	fprintf(stderr,
	    "outpost identity: %s\n"
	    "usage: outpost identity show\n"
	    "       outpost identity import --cert FILE --key FILE "
	    "[--ca FILE] [--name NAME]\n",
	    why);
	return EXIT_PERMANENT;
}

static void
print_json(const struct idstore_files *f)
{
	char mem[512];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	buf_printf(&b, "{\"generation\":%u,\"source\":", f->generation);
	json_cstr(&b, f->source);
	buf_adds(&b, ",\"name\":");
	json_cstr(&b, f->name);
	buf_printf(&b,
	    ",\"not_after\":%" PRId64 ",\"renew_at\":%" PRId64
	    ",\"expired\":%s}\n",
	    f->not_after, f->renew_at,
	    f->not_after <= util_wall_ms() / 1000 ? "true" : "false");
	fwrite(b.p, 1, b.len, stdout);
}

static int
show(const char *data_dir)
{
	struct idstore_files f;
	char err[256] = "";
	int r;

	r = idstore_load(data_dir, &f, err, sizeof(err));
	if (r == -ENOENT) {
		fprintf(
		    stderr, "outpost identity: no identity in %s\n", data_dir);
		return ID_EXIT_NONE;
	}
	if (r == 0 && identity_check(&f, err, sizeof(err)) < 0)
		r = -EINVAL;
	if (r < 0) {
		fprintf(stderr, "outpost identity: %s\n", err);
		idstore_files_free(&f);
		return EXIT_PERMANENT;
	}
	print_json(&f);
	idstore_files_free(&f);
	return 0;
}

struct import_args {
	const char *cert, *key, *ca, *name;
};

static int
parse_import(struct import_args *a, int argc, char **argv)
{
	static const struct option opts[] = {{"cert", 1, NULL, 'c'},
	    {"key", 1, NULL, 'k'}, {"ca", 1, NULL, 'a'}, {"name", 1, NULL, 'n'},
	    {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'c')
			a->cert = optarg;
		else if (ch == 'k')
			a->key = optarg;
		else if (ch == 'a')
			a->ca = optarg;
		else if (ch == 'n')
			a->name = optarg;
		else
			return usage("unknown option");
	}
	if (a->cert == NULL || a->key == NULL || optind != argc)
		return usage("--cert and --key are required");
	if (a->name != NULL && strlen(a->name) >= IDSTORE_NAME_MAX)
		return usage("--name is too long");
	return 0;
}

static int
read_inputs(struct idstore_files *f, const struct import_args *a)
{
	const char *what = a->cert;
	int r;

	r = idstore_read(a->cert, &f->chain, &f->chain_len);
	if (r == 0 && (what = a->key) != NULL)
		r = idstore_read(a->key, &f->key, &f->key_len);
	if (r == 0 && a->ca != NULL && (what = a->ca) != NULL)
		r = idstore_read(a->ca, &f->ca, &f->ca_len);
	if (r < 0)
		fprintf(
		    stderr, "outpost identity: %s: %s\n", what, strerror(-r));
	return r;
}

static int
import(const char *data_dir, int argc, char **argv, unsigned permille)
{
	struct import_args a = {.name = "imported"};
	struct idstore_files f = {0};
	int64_t nb, na;
	uint32_t rnd = 0;
	char err[256] = "";
	int r;

	if ((r = parse_import(&a, argc, argv)) != 0)
		return r;
	if (read_inputs(&f, &a) < 0) {
		idstore_files_free(&f);
		return EXIT_PERMANENT;
	}
	snprintf(f.source, sizeof(f.source), "import");
	snprintf(f.name, sizeof(f.name), "%s", a.name);
	r = identity_check(&f, err, sizeof(err));
	if (r == 0)
		r = identity_leaf_validity(
		    f.chain, f.chain_len, &nb, &na, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "outpost identity: %s\n", err);
		idstore_files_free(&f);
		return EXIT_PERMANENT;
	}
	util_random(&rnd, sizeof(rnd));
	f.not_after = na;
	f.renew_at =
	    identity_renew_at(util_wall_ms() / 1000, na, permille, rnd);
	r = idstore_save(data_dir, &f, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "outpost identity: %s\n", err);
	else
		print_json(&f);
	idstore_files_free(&f);
	return r < 0 ? EXIT_TEMPORARY : 0;
}

/* see identity_cmd.h */
int
identity_main(int argc, char **argv, char *const *envp)
{
	static struct cfg_errors errs;
	struct cfg *c;
	const char *dir;
	int rc;

	if (argc < 2)
		return usage("show or import expected");
	if ((c = cfg_load(envp, &errs)) == NULL) {
		cfg_errors_print(&errs, 2);
		return EXIT_PERMANENT;
	}
	if ((dir = cfg_str(c, CFG_DATA_DIR)) == NULL)
		rc = usage("DATA_DIR is not set");
	else if (strcmp(argv[1], "show") == 0)
		rc = argc == 2 ? show(dir) : usage("show takes no arguments");
	else if (strcmp(argv[1], "import") == 0)
		rc = import(dir, argc - 1, argv + 1,
		    (unsigned)cfg_int(c, CFG_RENEW_AT));
	else
		rc = usage("show or import expected");
	cfg_free(c);
	return rc;
}
