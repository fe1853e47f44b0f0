/*
 * cfg_print.c — everything the module writes for people: the error list,
 * `outpost check-config [--print|--markdown]`.  Secret values are shown
 * only as <set>/<unset>; a URL's or a proxy's userinfo is masked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/exit.h"
#include "lib/log.h"
#include "lib/url.h"

/* see cfg.h */
void
cfg_errors_print(const struct cfg_errors *errs, int fd)
{
	unsigned i, dropped;

	for (i = 0; i < errs->n; i++)
		dprintf(fd, "%s: %s\n",
		    errs->msg[i].warning ? "warning" : "error",
		    errs->msg[i].text);
	dropped = errs->n_errors + errs->n_warnings - errs->n;
	if (dropped > 0)
		dprintf(fd, "error: %u more messages not shown\n", dropped);
}

/* see cfg.h */
void
cfg_errors_log(const struct cfg_errors *errs)
{
	unsigned i;

	for (i = 0; i < errs->n; i++) {
		if (errs->msg[i].warning)
			log_warn("config: %s", errs->msg[i].text);
		else
			log_error("config: %s", errs->msg[i].text);
	}
}

/* One value per line: control bytes are written as \xNN. */
static void
print_escaped(FILE *f, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i] != '\0'; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			fprintf(f, "\\x%02x", (unsigned char)s[i]);
		else
			fputc(s[i], f);
	}
}

/* Print a URL with any user:password replaced by "***". */
static void
print_url(FILE *f, const char *s)
{
	const char *why;
	struct url u;

	if (!url_parse(s, strlen(s), &u, &why) || u.userinfo == NULL) {
		print_escaped(f, s, strlen(s));
		return;
	}
	print_escaped(f, s, (size_t)(u.userinfo - s));
	fputs("***", f);
	print_escaped(f, u.userinfo + u.userinfolen, strlen(s));
}

/* A proxy value, with or without a scheme: what precedes the last '@'
 * after the scheme is user:password. */
static void
print_proxy(FILE *f, const char *s)
{
	const char *scheme = strstr(s, "://");
	const char *host = scheme != NULL ? scheme + 3 : s;
	const char *at = strrchr(host, '@');

	if (at == NULL) {
		print_escaped(f, s, strlen(s));
		return;
	}
	print_escaped(f, s, (size_t)(host - s));
	fputs("***", f);
	print_escaped(f, at, strlen(at));
}

static void
print_value(FILE *f, const struct cfg *c, int k)
{
	const char *v = c->slot[k].str;

	if (cfg_defs[k].flags & CFG_F_SECRET)
		fputs(v != NULL ? "<set>" : "<unset>", f);
	else if (v == NULL)
		fputs("<unset>", f);
	else if (cfg_defs[k].type == CFG_T_URL)
		print_url(f, v);
	else if (cfg_defs[k].type == CFG_T_PROXY)
		print_proxy(f, v);
	else
		print_escaped(f, v, strlen(v));
}

static void
print_settings(FILE *f, const struct cfg *c)
{
	char where[300];
	int k;

	for (k = 0; k < CFG__COUNT; k++) {
		cfg_source_fmt(c, k, where, sizeof(where));
		fprintf(f, "%s=", cfg_defs[k].name);
		print_value(f, c, k);
		fprintf(f, "  # %s%s%s\n", where,
		    c->slot[k].via_alias ? ", as " : "",
		    c->slot[k].via_alias ? cfg_defs[k].alias : "");
	}
}

static void
markdown_row(FILE *f, const struct cfg_def *d)
{
	char lo[32], hi[32];

	fprintf(f, "| `%s` | %s | %s%s%s | ", d->name, cfg_type_name(d->type),
	    d->def ? "`" : "", d->def ? d->def : "", d->def ? "`" : "");
	if (d->min != 0 || d->max != 0) {
		cfg_bound_fmt(d, lo, sizeof(lo), d->min);
		cfg_bound_fmt(d, hi, sizeof(hi), d->max);
		fprintf(f, "%s..%s", lo, hi);
	}
	fprintf(f, " | %s", d->doc);
	if (d->alias)
		fprintf(f, " Alias: `%s`.", d->alias);
	if (d->flags & CFG_F_SECRET)
		fputs(
		    " **Secret**: never shown, refused in the config file.", f);
	if (d->flags & CFG_F_SECRET_FILE)
		fputs(" The file's contents are secret.", f);
	if (d->flags & CFG_F_ENV_ONLY)
		fputs(" Environment only.", f);
	fputs(" |\n", f);
}

static void
print_markdown(FILE *f)
{
	int k;

	fputs("| Setting | Type | Default | Range | Description |\n", f);
	fputs("|---|---|---|---|---|\n", f);
	for (k = 0; k < CFG__COUNT; k++)
		markdown_row(f, &cfg_defs[k]);
}

static int
check_usage(void)
{
	fputs("usage: outpost check-config [--print | --markdown]\n", stderr);
	return EXIT_PERMANENT;
}

/* see cfg.h */
int
cfg_check_main(int argc, char **argv, char *const *envp)
{
	struct cfg_errors *errs;
	struct cfg *c;
	bool print = false;

	if (argc > 2)
		return check_usage();
	if (argc == 2 && strcmp(argv[1], "--markdown") == 0) {
		print_markdown(stdout);
		return fflush(stdout) == 0 ? 0 : EXIT_PERMANENT;
	}
	if (argc == 2 && strcmp(argv[1], "--print") != 0)
		return check_usage();
	print = argc == 2;
	if ((errs = malloc(sizeof(*errs))) == NULL)
		return EXIT_PERMANENT;
	c = cfg_load(envp, errs);
	cfg_errors_print(errs, 2);
	if (c == NULL) {
		fprintf(stderr, "config invalid: %u error%s\n", errs->n_errors,
		    errs->n_errors == 1 ? "" : "s");
		free(errs);
		return EXIT_PERMANENT;
	}
	if (print)
		print_settings(stdout, c);
	printf("config ok\n");
	cfg_free(c);
	free(errs);
	return fflush(stdout) == 0 ? 0 : EXIT_PERMANENT;
}
