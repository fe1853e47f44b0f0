/*
 * redact.c — loading a rules file: TOML (lib/toml) to compiled rules.
 */
#include "http/redact.h"

#include <bearssl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/redact_int.h"
#include "lib/toml.h"
#include "lib/util.h"

struct rload {
	const char *name;
	struct redact_errors *errs;
	const struct toml *at; /* where the current rule starts */
	size_t index; /* current rule, 1-based; 0: top level */
	const char *rule_name;
};

static void rl_err(struct rload *l, const struct toml *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rl_err(struct rload *l, const struct toml *at, const char *fmt, ...)
{
	struct redact_errors *e = l->errs;
	char msg[160], where[80] = "";
	va_list ap;

	e->n_errors++;
	if (e->n >= REDACT_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->index > 0)
		snprintf(where, sizeof(where),
		    "rules[%zu]%s%.40s%s: ", l->index,
		    l->rule_name ? " (\"" : "",
		    l->rule_name ? l->rule_name : "",
		    l->rule_name ? "\")" : "");
	snprintf(e->msg[e->n++], REDACT_ERROR_LEN, "%.240s:%u:%u: %s%.150s",
	    l->name, at->line, at->col, where, msg);
}

/*
 * RE2 has no back-references, look-around, atomic groups, recursion,
 * conditionals or verbs: refuse their openers.  Escapes and classes are
 * skipped so that "\(?=" or "[(?=]" pass.
 */
static const char *
re2_refused(const char *p)
{
	static const char *const bad[] = {"(?=", "(?!", "(?<=", "(?<!", "(?>",
	    "(?(", "(?R", "(?&", "(?P=", "(?P>", "(*", "(?|", "(?C", NULL};
	bool in_class = false;
	size_t i;

	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (in_class) {
			in_class = *p != ']';
			continue;
		}
		if (*p == '[') {
			in_class = true;
			if (p[1] == ']' || (p[1] == '^' && p[2] == ']'))
				p += p[1] == ']' ? 1 : 2;
			continue;
		}
		for (i = 0; bad[i] != NULL; i++)
			if (strncmp(p, bad[i], strlen(bad[i])) == 0)
				return "look-around, atomic groups, recursion "
				       "and conditionals are not RE2 syntax";
		if (p[0] == '(' && p[1] == '?' && p[2] >= '0' && p[2] <= '9')
			return "recursion is not RE2 syntax";
	}
	return NULL;
}

static pcre2_code *
rl_compile(
    struct rload *l, const struct toml *v, const char *what, uint32_t opts)
{
	char msg[160];
	const char *why;
	PCRE2_SIZE off;
	int rc;
	uint32_t backrefs = 0;
	pcre2_code *re;

	if (v->len != strlen(v->s)) {
		rl_err(l, v, "%s: contains a NUL character", what);
		return NULL;
	}
	why = re2_refused(v->s);
	if (why != NULL) {
		rl_err(l, v, "%s: %s", what, why);
		return NULL;
	}
	re = pcre2_compile((PCRE2_SPTR)v->s, v->len, opts, &rc, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof(msg));
		rl_err(l, v, "%s: invalid at offset %zu: %s", what, (size_t)off,
		    msg);
		return NULL;
	}
	pcre2_pattern_info(re, PCRE2_INFO_BACKREFMAX, &backrefs);
	if (backrefs > 0) {
		rl_err(l, v, "%s: back-references are not RE2 syntax", what);
		pcre2_code_free(re);
		return NULL;
	}
	return re;
}

/* A string member (NULL when missing; an error when not a string). */
static const struct toml *
rl_str(struct rload *l, const struct toml *t, const char *key, bool required)
{
	const struct toml *v = toml_get(t, key);

	if (v == NULL && required)
		rl_err(l, t, "missing '%s'", key);
	if (v != NULL && v->type != TOML_STRING) {
		rl_err(l, v, "'%s' must be a string, not %s", key,
		    toml_type_name(v->type));
		return NULL;
	}
	return v;
}

/* An array of strings (NULL when missing or wrong). */
static const struct toml *
rl_strs(struct rload *l, const struct toml *t, const char *key)
{
	const struct toml *v = toml_get(t, key), *k;

	if (v == NULL)
		return NULL;
	if (v->type != TOML_ARRAY) {
		rl_err(l, v, "'%s' must be an array of strings", key);
		return NULL;
	}
	for (k = v->kids; k != NULL; k = k->next)
		if (k->type != TOML_STRING) {
			rl_err(l, k, "'%s' must be an array of strings", key);
			return NULL;
		}
	return v;
}

/* Checks $N / ${N} / ${name} / $$ against re; returns a heap copy. */
static char *
rl_replacement(
    struct rload *l, const struct toml *v, const pcre2_code *re, bool literal)
{
	uint32_t groups = 0;
	char *out = malloc(v->len * 2 + 1), *o = out;
	const char *p = v->s, *e = v->s + v->len;

	if (out == NULL) {
		rl_err(l, v, "out of memory");
		return NULL;
	}
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
	while (p < e) {
		if (*p != '$' || literal) {
			if (*p == '$')
				*o++ = '$';
			*o++ = *p++;
			continue;
		}
		if (p + 1 < e && p[1] == '$') {
			*o++ = *p++;
			*o++ = *p++;
			continue;
		}
		{
			const char *q = p + 1;
			bool brace = q < e && *q == '{';
			unsigned long n = 0;
			const char *d;

			q += brace;
			for (d = q; d < e && *d >= '0' && *d <= '9'; d++)
				n = n * 10 + (unsigned long)(*d - '0');
			if (d == q || n > groups ||
			    (brace && (d >= e || *d != '}'))) {
				rl_err(l, v,
				    "replacement: '$' must be followed "
				    "by a group number (at most %u) "
				    "or '$'",
				    groups);
				free(out);
				return NULL;
			}
			d += brace;
			memcpy(o, p, (size_t)(d - p));
			o += d - p;
			p = d;
		}
	}
	*o = '\0';
	return out;
}

static bool
rl_paths(struct rload *l, const struct toml *arr, struct redact_path **out,
    size_t *n)
{
	const struct toml *k;
	size_t i = 0;

	*n = 0;
	if (arr == NULL)
		return true;
	*out = calloc(arr->n ? arr->n : 1, sizeof(**out));
	if (*out == NULL)
		return false;
	for (k = arr->kids; k != NULL; k = k->next, i++) {
		struct redact_path *p = &(*out)[i];
		const char *s = k->s, *bar;

		if (k->len == 0 || k->len != strlen(k->s)) {
			rl_err(l, k, "an empty JSON path");
			continue;
		}
		p->part = calloc(k->len + 1, sizeof(char *));
		if (p->part == NULL)
			return false;
		for (;;) {
			bar = strchr(s, '|');
			p->part[p->n] =
			    strndup(s, bar ? (size_t)(bar - s) : strlen(s));
			if (p->part[p->n++] == NULL)
				return false;
			if (bar == NULL)
				break;
			s = bar + 1;
		}
	}
	*n = arr->n;
	return true;
}

static const char *const rule_keys[] = {"name", "type", "pattern",
    "replacement", "hosts", "redact_fields", "skip_fields", NULL};

static void
rl_unknown_keys(struct rload *l, const struct toml *t, const char *const *known)
{
	const struct toml *k;
	size_t i;

	for (k = t->kids; k != NULL; k = k->next) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k->key, known[i]) == 0)
				break;
		if (known[i] == NULL)
			rl_err(l, k, "unknown key '%.64s'", k->key);
	}
}

static void
rl_rule(struct rload *l, const struct toml *t, const char *def_repl,
    struct redact_rule *rule)
{
	const struct toml *name = rl_str(l, t, "name", true);
	const struct toml *type = rl_str(l, t, "type", true);
	const struct toml *pat = rl_str(l, t, "pattern", true);
	const struct toml *repl = rl_str(l, t, "replacement", false);
	const struct toml *hosts = rl_strs(l, t, "hosts"), *h;
	struct toml dflt = {
	    .type = TOML_STRING, .line = t->line, .col = t->col};

	if (name != NULL && name->len == 0)
		rl_err(l, name, "'name' is empty");
	if (name != NULL)
		rule->name = strdup(name->s);
	l->rule_name = rule->name;
	rl_unknown_keys(l, t, rule_keys);
	if (type != NULL && strcmp(type->s, "regex") == 0)
		rule->type = REDACT_REGEX;
	else if (type != NULL && strcmp(type->s, "regex-structured-data") == 0)
		rule->type = REDACT_STRUCTURED;
	else if (type != NULL)
		rl_err(l, type,
		    "unknown type (expected \"regex\" or "
		    "\"regex-structured-data\")");
	if (pat != NULL)
		rule->re = rl_compile(l, pat, "pattern", 0);
	if (rule->re != NULL) {
		dflt.s = (char *)def_repl;
		dflt.len = strlen(def_repl);
		rule->replacement = rl_replacement(
		    l, repl ? repl : &dflt, rule->re, repl == NULL);
	}
	if (hosts != NULL) {
		rule->hosts =
		    calloc(hosts->n ? hosts->n : 1, sizeof(*rule->hosts));
		for (h = hosts->kids; h != NULL && rule->hosts != NULL;
		     h = h->next)
			rule->hosts[rule->n_hosts++] = rl_compile(l, h, "hosts",
			    PCRE2_CASELESS | PCRE2_ANCHORED |
				PCRE2_ENDANCHORED);
	}
	if (!rl_paths(l, rl_strs(l, t, "redact_fields"), &rule->redact,
		&rule->n_redact) ||
	    !rl_paths(
		l, rl_strs(l, t, "skip_fields"), &rule->skip, &rule->n_skip))
		rl_err(l, t, "out of memory");
	if (rule->type == REDACT_REGEX && (rule->n_redact || rule->n_skip))
		rl_err(l, t,
		    "redact_fields and skip_fields need type "
		    "\"regex-structured-data\"");
}

static void
rl_dup_names(
    struct rload *l, const struct toml *rules, const struct redact_rules *r)
{
	const struct toml *t = rules->kids;
	size_t i, j;

	for (i = 0; i < r->n; i++, t = t->next)
		for (j = 0; j < i && r->rule[i].name != NULL; j++)
			if (r->rule[j].name != NULL &&
			    strcmp(r->rule[i].name, r->rule[j].name) == 0) {
				l->index = i + 1;
				l->rule_name = r->rule[i].name;
				rl_err(l, t, "duplicate name (also rules[%zu])",
				    j + 1);
			}
}

static const char *const top_keys[] = {
    "version", "default_replacement", "rules", NULL};

static void
rl_document(struct rload *l, const struct toml *doc, struct redact_rules *r)
{
	const struct toml *ver = toml_get(doc, "version");
	const struct toml *def = rl_str(l, doc, "default_replacement", false);
	const struct toml *rules = toml_get(doc, "rules"), *t;

	rl_unknown_keys(l, doc, top_keys);
	if (ver == NULL)
		rl_err(l, doc, "missing 'version' (expected version = 1)");
	else if (!(ver->type == TOML_INT && ver->i == 1) &&
	    !(ver->type == TOML_STRING && strcmp(ver->s, "1") == 0))
		rl_err(l, ver, "unsupported version (expected 1)");
	if (rules != NULL &&
	    (rules->type != TOML_ARRAY || rules->kids == NULL ||
		rules->kids->type != TOML_TABLE)) {
		rl_err(l, rules, "'rules' must be [[rules]] tables");
		return;
	}
	if (rules == NULL)
		return;
	r->rule = calloc(rules->n, sizeof(*r->rule));
	if (r->rule == NULL) {
		rl_err(l, doc, "out of memory");
		return;
	}
	for (t = rules->kids; t != NULL; t = t->next) {
		l->index = r->n + 1;
		l->rule_name = NULL;
		if (t->type != TOML_TABLE) {
			rl_err(l, t, "'rules' must be [[rules]] tables");
			continue;
		}
		rl_rule(l, t, def ? def->s : "[REDACTED]", &r->rule[r->n++]);
	}
	rl_dup_names(l, rules, r);
}

/* see redact.h */
struct redact_rules *
redact_rules_parse(
    const char *text, size_t len, const char *name, struct redact_errors *errs)
{
	struct rload l = {.name = name, .errs = errs};
	struct redact_rules *r;
	struct toml *doc;
	char err[TOML_ERR_LEN];

	memset(errs, 0, sizeof(*errs));
	doc = toml_parse(text, len, name, err, sizeof(err));
	if (doc == NULL) {
		errs->n_errors = errs->n = 1;
		snprintf(errs->msg[0], REDACT_ERROR_LEN, "%s", err);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rl_err(&l, doc, "out of memory");
	} else {
		rl_document(&l, doc, r);
		r->mctx = pcre2_match_context_create(NULL);
		if (r->mctx == NULL)
			rl_err(&l, doc, "out of memory");
		else {
			pcre2_set_match_limit(r->mctx, REDACT_MATCH_MAX);
			pcre2_set_depth_limit(r->mctx, REDACT_DEPTH_MAX);
		}
	}
	toml_free(doc);
	if (errs->n_errors > 0) {
		redact_rules_free(r);
		return NULL;
	}
	return r;
}

static int
read_file(const char *path, char **out, size_t *len)
{
	return util_read_file(path, REDACT_FILE_MAX, out, len);
}

static void
sha256_of(const char *s, size_t n, uint8_t sha256[32])
{
	br_sha256_context c;

	br_sha256_init(&c);
	br_sha256_update(&c, s, n);
	br_sha256_out(&c, sha256);
}

/* see redact.h */
int
redact_file_sha256(const char *path, uint8_t sha256[32])
{
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len);

	if (rc == 0) {
		sha256_of(text, len, sha256);
		free(text);
	}
	return rc;
}

/* see redact.h */
struct redact_rules *
redact_rules_load(
    const char *path, uint8_t sha256[32], struct redact_errors *errs)
{
	struct redact_rules *r;
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len);

	if (rc < 0) {
		memset(errs, 0, sizeof(*errs));
		errs->n_errors = errs->n = 1;
		snprintf(errs->msg[0], REDACT_ERROR_LEN, "%s: %s", path,
		    rc == -EFBIG ? "larger than 4 MiB" : strerror(-rc));
		return NULL;
	}
	if (sha256 != NULL)
		sha256_of(text, len, sha256);
	r = redact_rules_parse(text, len, path, errs);
	free(text);
	return r;
}

static void
paths_free(struct redact_path *p, size_t n)
{
	size_t i, j;

	for (i = 0; p != NULL && i < n; i++) {
		for (j = 0; j < p[i].n; j++)
			free(p[i].part[j]);
		free(p[i].part);
	}
	free(p);
}

/* see redact.h */
void
redact_rules_free(struct redact_rules *r)
{
	size_t i, j;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		struct redact_rule *u = &r->rule[i];

		free(u->name);
		pcre2_code_free(u->re);
		free(u->replacement);
		for (j = 0; j < u->n_hosts; j++)
			pcre2_code_free(u->hosts[j]);
		free(u->hosts);
		paths_free(u->redact, u->n_redact);
		paths_free(u->skip, u->n_skip);
	}
	free(r->rule);
	pcre2_match_context_free(r->mctx);
	free(r);
}

/* see redact.h */
size_t
redact_rules_count(const struct redact_rules *r)
{
	return r->n;
}

/* see redact.h */
const char *
redact_rule_name(const struct redact_rules *r, size_t i)
{
	return r->rule[i].name;
}

/* see redact.h */
void
redact_errors_print(const struct redact_errors *errs, int fd)
{
	unsigned i;

	for (i = 0; i < errs->n; i++)
		dprintf(fd, "error: %s\n", errs->msg[i]);
	if (errs->n_errors > errs->n)
		dprintf(
		    fd, "error: ... and %u more\n", errs->n_errors - errs->n);
}
