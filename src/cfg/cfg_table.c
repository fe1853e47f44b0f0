/*
 * cfg_table.c — settings.def as data, and lookups over it: by name, by
 * alias, by edit distance (did-you-mean), and the BASE64/FILE twins.
 */
#include <string.h>
#include <strings.h>

#include "cfg/cfg_int.h"
#include "lib/util.h"

/* see cfg_int.h */
const struct cfg_def cfg_defs[CFG__COUNT] = {
#define CFG_SETTING(n, t, d, lo, hi, f, a, doc) \
	[CFG_##n] = {#n, CFG_T_##t, d, lo, hi, f, a, doc},
#include "cfg/settings.def"
#undef CFG_SETTING
};

static const char *const type_names[] = {
    [CFG_T_STR] = "string",
    [CFG_T_URL] = "url",
    [CFG_T_INT] = "integer",
    [CFG_T_PORT] = "port",
    [CFG_T_SIZE] = "size (MB)",
    [CFG_T_DUR] = "duration",
    [CFG_T_BOOL] = "bool",
    [CFG_T_LEVEL] = "level",
    [CFG_T_PATH] = "path",
    [CFG_T_B64] = "base64",
    [CFG_T_FRAC] = "fraction",
    [CFG_T_PROXY] = "proxy",
};

/* see cfg_int.h */
const char *
cfg_type_name(enum cfg_type t)
{
	return (size_t)t < nitems(type_names) ? type_names[t] : "?";
}

/* see cfg.h */
const char *
cfg_key_name(enum cfg_key k)
{
	return (unsigned)k < CFG__COUNT ? cfg_defs[k].name : NULL;
}

/* see cfg_int.h */
int
cfg_lookup(const char *name, bool *via_alias)
{
	int i;

	for (i = 0; i < CFG__COUNT; i++) {
		if (strcmp(name, cfg_defs[i].name) == 0) {
			*via_alias = false;
			return i;
		}
		if (cfg_defs[i].alias && strcmp(name, cfg_defs[i].alias) == 0) {
			*via_alias = true;
			return i;
		}
	}
	return -1;
}

#define DIST_MAXLEN 64

/* see cfg_int.h */
unsigned
cfg_distance(const char *a, const char *b)
{
	unsigned row[DIST_MAXLEN + 1], diag, up, cost;
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > DIST_MAXLEN || lb > DIST_MAXLEN)
		return 255;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			cost = a[i - 1] == b[j - 1] ? 0 : 1;
			row[j] =
			    MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
			diag = up;
		}
	}
	return row[lb];
}

/* see cfg_int.h */
const char *
cfg_suggest(const char *name)
{
	const char *best = NULL;
	unsigned d, bestd, limit;
	int i;

	/* Up to a third of the name may differ, but at least 1, at most 4. */
	limit = MAX(1u, MIN(4u, (unsigned)(strlen(name) / 3)));
	bestd = limit + 1;
	for (i = 0; i < CFG__COUNT; i++) {
		/* http_port for HTTP_PORT: case alone never hides a key. */
		if (strcasecmp(name, cfg_defs[i].name) == 0)
			return cfg_defs[i].name;
		d = cfg_distance(name, cfg_defs[i].name);
		if (d < bestd) {
			bestd = d;
			best = cfg_defs[i].name;
		}
		if (cfg_defs[i].alias == NULL)
			continue;
		d = cfg_distance(name, cfg_defs[i].alias);
		if (d < bestd) {
			bestd = d;
			best = cfg_defs[i].alias;
		}
	}
	return best;
}

static bool
ends_with(const char *s, const char *suffix, size_t *stem)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n < m || strcmp(s + n - m, suffix) != 0)
		return false;
	*stem = n - m;
	return true;
}

/* see cfg_int.h */
int
cfg_pair(enum cfg_key k)
{
	const char *name = cfg_key_name(k), *want;
	size_t stem, s2;
	int i;

	if (name == NULL)
		return -1;
	if (ends_with(name, "_BASE64", &stem))
		want = "_FILE";
	else if (ends_with(name, "_FILE", &stem))
		want = "_BASE64";
	else
		return -1;
	for (i = 0; i < CFG__COUNT; i++)
		if (ends_with(cfg_defs[i].name, want, &s2) && s2 == stem &&
		    strncmp(cfg_defs[i].name, name, stem) == 0)
			return i;
	return -1;
}
