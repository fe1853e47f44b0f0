/*
 * cfg.c — loading: defaults, then the config file, ENV_FILE and the
 * environment, each assignment validated as it arrives.  This is the
 * only file of the module that reads files (startup only).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/netpolicy.h"

/* A config file larger than this is refused before it is parsed. */
#define CFG_FILE_MAX (1024 * 1024)
#define CFG_ENVKEY_MAX 64

struct cfg_ctx {
	struct cfg *c;
	struct cfg_errors *errs;
	enum cfg_src src;
};

/* see cfg_int.h */
void
cfg_err(struct cfg_errors *e, bool warning, const char *fmt, ...)
{
	va_list ap;

	if (warning)
		e->n_warnings++;
	else
		e->n_errors++;
	if (e->n == CFG_ERRORS_MAX)
		return;
	e->msg[e->n].warning = warning;
	va_start(ap, fmt);
	vsnprintf(e->msg[e->n].text, sizeof(e->msg[e->n].text), fmt, ap);
	va_end(ap);
	e->n++;
}

/* see cfg_int.h */
void
cfg_source_fmt(const struct cfg *c, enum cfg_key k, char *out, size_t cap)
{
	const struct cfg_slot *s = &c->slot[k];

	switch (s->src) {
	case CFG_SRC_FILE:
	case CFG_SRC_ENVFILE:
		snprintf(
		    out, cap, "%s:%u", c->path[s->src - CFG_SRC_FILE], s->line);
		break;
	case CFG_SRC_ENV:
		snprintf(out, cap, "environment");
		break;
	default:
		snprintf(out, cap, "default");
	}
}

static void
ctx_where(const struct cfg_ctx *x, unsigned line, char *out, size_t cap)
{
	if (x->src == CFG_SRC_ENV)
		snprintf(out, cap, "environment");
	else
		snprintf(
		    out, cap, "%s:%u", x->c->path[x->src - CFG_SRC_FILE], line);
}

static void
slot_clear(struct cfg_slot *s, const struct cfg_def *d)
{
	if (s->str != NULL) {
		if (d->flags & CFG_F_SECRET)
			util_wipe(s->str, strlen(s->str));
		free(s->str);
	}
	memset(s, 0, sizeof(*s));
}

/* Put the default back (it was validated by the unit tests). */
static bool
slot_default(struct cfg_slot *s, const struct cfg_def *d)
{
	char why[8];

	slot_clear(s, d);
	if (d->def == NULL)
		return true;
	s->str = strdup(d->def);
	return s->str != NULL && cfg_value_parse(d, d->def, &s->num, why, 0);
}

/* May the key be set from this source at all? */
static bool
source_allows(
    struct cfg_ctx *x, const char *where, const char *key, enum cfg_key k)
{
	const struct cfg_def *d = &cfg_defs[k];
	int twin = cfg_pair(k);

	if ((d->flags & CFG_F_SECRET) && x->src == CFG_SRC_FILE) {
		cfg_err(x->errs, false,
		    "%s: %s: secrets are refused in the config file; use %s, "
		    "ENV_FILE or the environment",
		    where, key, twin >= 0 ? cfg_defs[twin].name : "ENV_FILE");
		return false;
	}
	if ((d->flags & CFG_F_ENV_ONLY) && x->src != CFG_SRC_ENV) {
		cfg_err(x->errs, false,
		    "%s: %s: can only be set in the environment", where, key);
		return false;
	}
	if (k == CFG_ENV_FILE && x->src == CFG_SRC_ENVFILE) {
		cfg_err(x->errs, false, "%s: %s: cannot be set inside ENV_FILE",
		    where, key);
		return false;
	}
	return true;
}

/* An alias loses to the canonical name given in the same source. */
static bool
alias_allows(struct cfg_ctx *x, const char *where, const char *key,
    enum cfg_key k, bool via_alias)
{
	const struct cfg_slot *s = &x->c->slot[k];

	if (!s->set || s->src != x->src || s->via_alias == via_alias)
		return true;
	cfg_err(x->errs, true, "%s: %s: ignored, %s is also set", where,
	    via_alias ? key : cfg_defs[k].alias, cfg_defs[k].name);
	return !via_alias;
}

static void
assign(struct cfg_ctx *x, const char *key, const char *value, unsigned line)
{
	char where[300], why[200];
	struct cfg_slot *s;
	bool via_alias;
	int64_t num;
	int k;

	ctx_where(x, line, where, sizeof(where));
	k = cfg_lookup(key, &via_alias);
	if (k < 0) {
		const char *hint = cfg_suggest(key);

		cfg_err(x->errs, false, "%s: %s: unknown setting%s%s%s", where,
		    key, hint ? "; did you mean " : "", hint ? hint : "",
		    hint ? "?" : "");
		return;
	}
	if (!source_allows(x, where, key, (enum cfg_key)k) ||
	    !alias_allows(x, where, key, (enum cfg_key)k, via_alias))
		return;
	s = &x->c->slot[k];
	if (*value == '\0') {
		/* Empty means unset at this level: back to the default. */
		if (!slot_default(s, &cfg_defs[k]))
			cfg_err(x->errs, false, "%s: %s: out of memory", where,
			    key);
		return;
	}
	if (!cfg_value_parse(&cfg_defs[k], value, &num, why, sizeof(why))) {
		cfg_err(x->errs, false, "%s: %s: %s", where, key, why);
		return;
	}
	slot_clear(s, &cfg_defs[k]);
	if ((s->str = strdup(value)) == NULL) {
		cfg_err(x->errs, false, "%s: %s: out of memory", where, key);
		return;
	}
	s->num = num;
	s->set = true;
	s->via_alias = via_alias;
	s->src = x->src;
	s->line = line;
}

static void
on_entry(void *arg, const struct cfg_entry *e)
{
	struct cfg_ctx *x = arg;
	char where[300];

	if (e->error == NULL) {
		assign(x, e->key, e->value, e->line);
		return;
	}
	ctx_where(x, e->line, where, sizeof(where));
	if (e->key != NULL)
		cfg_err(x->errs, false, "%s: %s: %s", where, e->key, e->error);
	else
		cfg_err(x->errs, false, "%s: %s", where, e->error);
}

/* Feed the file's text to a parser. */
static void
parse_text(struct cfg_ctx *x, const char *path, const char *text, size_t n)
{
	struct cfg_parser *p = malloc(sizeof(*p));

	if (p == NULL) {
		cfg_err(x->errs, false, "%s: out of memory", path);
		return;
	}
	cfg_parser_init(p, on_entry, x);
	cfg_parser_feed(p, text, n);
	cfg_parser_finish(p);
	cfg_parser_wipe(p);
	free(p);
}

/*
 * Read a source file; a missing file is fine only when !required.  where
 * and key name the setting that named the file.
 */
static void
load_file(struct cfg_ctx *x, const char *where, const char *key,
    const char *path, bool required)
{
	char *text;
	size_t n;
	int rc;

	x->c->path[x->src - CFG_SRC_FILE] = strdup(path);
	if (x->c->path[x->src - CFG_SRC_FILE] == NULL) {
		cfg_err(x->errs, false, "%s: out of memory", path);
		return;
	}
	rc = util_read_file(path, CFG_FILE_MAX, &text, &n);
	if (rc == -EFBIG)
		cfg_err(x->errs, false, "%s: larger than 1 MiB", path);
	else if (rc < 0 && (rc != -ENOENT || required))
		cfg_err(x->errs, false, "%s: %s: cannot open %s: %s", where,
		    key, path, strerror(-rc));
	if (rc < 0)
		return;
	parse_text(x, path, text, n);
	util_wipe(text, n);
	free(text);
}

/* The raw value of key in envp, or NULL. */
static const char *
env_get(char *const *envp, const char *key)
{
	size_t n = strlen(key);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* An unknown variable close to one of ours (same first word) warns. */
static void
env_unknown(struct cfg_ctx *x, const char *key)
{
	const char *hint = cfg_suggest(key), *us;
	unsigned d;

	if (hint == NULL || (us = strchr(hint, '_')) == NULL ||
	    strncmp(key, hint, (size_t)(us - hint) + 1) != 0)
		return;
	d = cfg_distance(key, hint);
	if (d >= 1 && d <= 2)
		cfg_err(x->errs, true,
		    "environment: %s: not a setting, ignored; did you mean %s?",
		    key, hint);
}

/*
 * The name of environment entry e ("KEY=value") into key; its value, or
 * NULL when e has no '=' or a name too long to be a setting.
 */
static char *
env_split(char *e, char key[CFG_ENVKEY_MAX + 1])
{
	char *eq = strchr(e, '=');
	size_t n;

	if (eq == NULL || (n = (size_t)(eq - e)) > CFG_ENVKEY_MAX)
		return NULL;
	memcpy(key, e, n);
	key[n] = '\0';
	return eq + 1;
}

static void
load_env(struct cfg_ctx *x, char *const *envp)
{
	char key[CFG_ENVKEY_MAX + 1];
	const char *v;
	bool via_alias;

	for (; envp && *envp; envp++) {
		if ((v = env_split(*envp, key)) == NULL)
			continue;
		if (cfg_lookup(key, &via_alias) >= 0)
			assign(x, key, v, 0);
		else
			env_unknown(x, key);
	}
}

static struct cfg *
cfg_new(struct cfg_errors *errs)
{
	struct cfg *c = calloc(1, sizeof(*c));
	int k;

	if (c == NULL) {
		cfg_err(errs, false, "configuration: out of memory");
		return NULL;
	}
	for (k = 0; k < CFG__COUNT; k++)
		if (!slot_default(&c->slot[k], &cfg_defs[k]))
			cfg_err(
			    errs, false, "%s: bad default", cfg_defs[k].name);
	return c;
}

/*
 * The user:password@ of a URL or proxy value, removed in place: the host
 * part moves left over it and the bytes freed at the end are zeroed.
 */
static void
wipe_userinfo(char *v)
{
	char *a = strstr(v, "://"), *at;
	size_t n, tail;

	a = a != NULL ? a + 3 : v;
	n = strcspn(a, "/?#");
	if ((at = memrchr(a, '@', n)) == NULL)
		return;
	tail = strlen(at + 1);
	memmove(a, at + 1, tail + 1);
	explicit_bzero(a + tail + 1, (size_t)(at - a));
}

/* see cfg.h */
void
cfg_env_wipe_secrets(char *const *envp)
{
	char key[CFG_ENVKEY_MAX + 1];
	bool via_alias;
	char *v;
	int k;

	for (; envp && *envp; envp++) {
		if ((v = env_split(*envp, key)) == NULL)
			continue;
		k = cfg_lookup(key, &via_alias);
		if (k >= 0 && (cfg_defs[k].flags & CFG_F_SECRET))
			explicit_bzero(v, strlen(v));
		else if (k >= 0 &&
		    (cfg_defs[k].type == CFG_T_PROXY ||
			cfg_defs[k].type == CFG_T_URL))
			wipe_userinfo(v);
	}
}

/* ENV_FILE from the environment wins; an empty one disables it. */
static void
load_env_file(struct cfg_ctx *x, char *const *envp)
{
	const char *path = env_get(envp, "ENV_FILE");
	char where[300] = "environment";

	if (path == NULL) {
		path = x->c->slot[CFG_ENV_FILE].str;
		cfg_source_fmt(x->c, CFG_ENV_FILE, where, sizeof(where));
	}
	if (path == NULL || *path == '\0')
		return;
	x->src = CFG_SRC_ENVFILE;
	load_file(x, where, "ENV_FILE", path, true);
}

/* see cfg.h */
struct cfg *
cfg_load(char *const *envp, struct cfg_errors *errs)
{
	const char *conf = env_get(envp, "OUTPOST_CONFIG");
	struct cfg_ctx x = {NULL, errs, CFG_SRC_FILE};

	memset(errs, 0, sizeof(*errs));
	if ((x.c = cfg_new(errs)) == NULL)
		return NULL;
	if (conf == NULL)
		load_file(&x, "default", "OUTPOST_CONFIG",
		    cfg_defs[CFG_OUTPOST_CONFIG].def, false);
	else if (*conf != '\0')
		load_file(&x, "environment", "OUTPOST_CONFIG", conf, true);
	load_env_file(&x, envp);
	x.src = CFG_SRC_ENV;
	load_env(&x, envp);
	cfg_check_all(x.c, errs);
	cfg_start_policies(x.c, errs);
	if (errs->n_errors > 0) {
		cfg_free(x.c);
		return NULL;
	}
	log_set_level((enum log_level)x.c->slot[CFG_ENV_LEVEL].num);
	return x.c;
}

/* see cfg.h */
void
cfg_free(struct cfg *c)
{
	int k;

	if (c == NULL)
		return;
	for (k = 0; k < CFG__COUNT; k++)
		slot_clear(&c->slot[k], &cfg_defs[k]);
	free(c->path[0]);
	free(c->path[1]);
	netpolicy_free(c->session_allow);
	netpolicy_free(c->egress_allow);
	free(c);
}

/* see cfg.h */
const char *
cfg_str(const struct cfg *c, enum cfg_key k)
{
	return (unsigned)k < CFG__COUNT ? c->slot[k].str : NULL;
}

/* see cfg.h */
int64_t
cfg_int(const struct cfg *c, enum cfg_key k)
{
	return (unsigned)k < CFG__COUNT ? c->slot[k].num : 0;
}

/* see cfg.h */
bool
cfg_bool(const struct cfg *c, enum cfg_key k)
{
	return (unsigned)k < CFG__COUNT && cfg_defs[k].type == CFG_T_BOOL &&
	    c->slot[k].num != 0;
}

/* see cfg.h */
bool
cfg_is_set(const struct cfg *c, enum cfg_key k)
{
	return (unsigned)k < CFG__COUNT && c->slot[k].set;
}
