/*
 * redact_json.c — a structured rule over one JSON document: every string
 * value in scope (redact_fields / skip_fields) is decoded, substituted and
 * re-encoded; keys, numbers and structure are copied byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/redact_int.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/utf8.h"
#include "lib/util.h"

#define KEY_MAX 256

struct jw {
	const struct redact_rules *r;
	const struct redact_rule *rule;
	const uint8_t *p, *end;
	struct buf out; /* heap, grows up to max_out */
	size_t max_out;
	uint64_t *hits;
	enum redact_refusal why;
	const char *detail;
	size_t depth;
	char key[REDACT_JSON_DEPTH][KEY_MAX]; /* path: key or index */
};

static bool
jw_fail(struct jw *w, enum redact_refusal why, const char *detail)
{
	if (w->why == REDACT_OK) {
		w->why = why;
		w->detail = detail;
	}
	return false;
}

static bool
jw_put(struct jw *w, const void *p, size_t n)
{
	if (w->out.len + n > w->out.cap) {
		size_t cap = w->out.cap * 2 + n;
		uint8_t *q;

		if (w->out.len + n > w->max_out)
			return jw_fail(w, REDACT_TOO_LARGE, "");
		cap = cap > w->max_out ? w->max_out : cap;
		q = realloc(w->out.p, cap);
		if (q == NULL)
			return jw_fail(w, REDACT_NOMEM, "");
		w->out.p = q;
		w->out.cap = cap;
	}
	memcpy(w->out.p + w->out.len, p, n);
	w->out.len += n;
	return true;
}

/* Whitespace at p, copied to the output. */
static bool jw_put(struct jw *w, const void *p, size_t n);

static bool
jw_ws(struct jw *w)
{
	const uint8_t *s = w->p;

	while (w->p < w->end &&
	    (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
	return w->p == s || jw_put(w, s, (size_t)(w->p - s));
}

static bool
path_covers(const struct redact_path *pat, const struct jw *w)
{
	size_t i;

	if (pat->n == 0 || pat->n > w->depth)
		return false;
	for (i = 0; i < pat->n; i++)
		if (strcmp(pat->part[i], "*") != 0 &&
		    strcmp(pat->part[i], w->key[i]) != 0)
			return false;
	return true;
}

static bool
in_scope(const struct jw *w)
{
	const struct redact_rule *u = w->rule;
	bool in = u->n_redact == 0;
	size_t i;

	for (i = 0; i < u->n_redact && !in; i++)
		in = path_covers(&u->redact[i], w);
	for (i = 0; i < u->n_skip && in; i++)
		in = !path_covers(&u->skip[i], w);
	return in;
}

static int
hex4(const uint8_t *p)
{
	int v = 0, i;

	for (i = 0; i < 4; i++) {
		int d = util_hexval(p[i]);

		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* One \u escape at p (after "\u"), a surrogate pair included. */
static bool
jw_uescape(struct jw *w, uint8_t *o, size_t *k)
{
	int hi = w->end - w->p >= 4 ? hex4(w->p) : -1, lo;
	unsigned long cp;

	if (hi < 0)
		return jw_fail(w, REDACT_MALFORMED_JSON, "bad \\u escape");
	w->p += 4;
	cp = (unsigned long)hi;
	if (hi >= 0xD800 && hi <= 0xDBFF && w->end - w->p >= 6 &&
	    w->p[0] == '\\' && w->p[1] == 'u' &&
	    (lo = hex4(w->p + 2)) >= 0xDC00 && lo <= 0xDFFF) {
		cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) +
		    ((unsigned long)lo - 0xDC00);
		w->p += 6;
	}
	*k += utf8_put((char *)o + *k, (uint32_t)cp);
	return true;
}

/*
 * A string at p (the quote): decoded into *s (heap, *n bytes).
 */
static bool
jw_string(struct jw *w, uint8_t **s, size_t *n)
{
	const uint8_t *start = ++w->p;
	uint8_t *o;
	size_t k = 0;

	while (w->p < w->end && *w->p != '"')
		w->p += *w->p == '\\' && w->p + 1 < w->end ? 2 : 1;
	if (w->p >= w->end)
		return jw_fail(w, REDACT_MALFORMED_JSON, "unterminated string");
	o = malloc((size_t)(w->p - start) + 1);
	if (o == NULL)
		return jw_fail(w, REDACT_NOMEM, "");
	w->p = start;
	while (*w->p != '"') {
		static const char from[] = "\"\\/bfnrt",
				  to[] = "\"\\/\b\f\n\r\t";
		const char *hit;

		if (*w->p < 0x20) {
			free(o);
			return jw_fail(w, REDACT_MALFORMED_JSON,
			    "control character in a string");
		}
		if (*w->p != '\\') {
			o[k++] = *w->p++;
			continue;
		}
		w->p++;
		hit = *w->p ? strchr(from, *w->p) : NULL;
		if (*w->p == 'u') {
			w->p++;
			if (!jw_uescape(w, o, &k)) {
				free(o);
				return false;
			}
		} else if (hit != NULL) {
			o[k++] = (uint8_t)to[hit - from];
			w->p++;
		} else {
			free(o);
			return jw_fail(w, REDACT_MALFORMED_JSON, "bad escape");
		}
	}
	w->p++;
	*s = o;
	*n = k;
	return true;
}

/* A string value: substituted when in scope, else copied. */
static bool
jw_value_string(struct jw *w)
{
	const uint8_t *raw = w->p;
	uint8_t *s, *out = NULL;
	size_t n, out_len = 0;
	enum redact_refusal why = REDACT_OK;
	bool ok;

	if (!jw_string(w, &s, &n))
		return false;
	if (in_scope(w))
		why = redact_subst(
		    w->r, w->rule, s, n, &out, &out_len, w->max_out, w->hits);
	free(s);
	if (why != REDACT_OK)
		return jw_fail(w, why, "");
	if (out == NULL)
		return jw_put(w, raw, (size_t)(w->p - raw));
	{
		size_t cap = out_len * 6 + 3;
		char *mem = malloc(cap);
		struct buf b;

		if (mem == NULL) {
			free(out);
			return jw_fail(w, REDACT_NOMEM, "");
		}
		buf_init(&b, mem, cap);
		json_str(&b, (const char *)out, out_len);
		ok = jw_put(w, b.p, b.len);
		free(mem);
		free(out);
	}
	return ok;
}

static bool jw_value(struct jw *w);

static bool
jw_literal(struct jw *w)
{
	static const char *const lit[] = {"true", "false", "null"};
	const uint8_t *s = w->p;
	size_t i;

	for (i = 0; i < 3; i++) {
		size_t n = strlen(lit[i]);

		if ((size_t)(w->end - s) >= n && memcmp(s, lit[i], n) == 0) {
			w->p += n;
			return jw_put(w, s, n);
		}
	}
	if (*s == '-' || (*s >= '0' && *s <= '9')) {
		while (w->p < w->end && strchr("+-.eE0123456789", *w->p) &&
		    *w->p != '\0')
			w->p++;
		return jw_put(w, s, (size_t)(w->p - s));
	}
	return jw_fail(w, REDACT_MALFORMED_JSON, "expected a value");
}

static bool
jw_container(struct jw *w)
{
	bool obj = *w->p == '{';
	uint8_t close = obj ? '}' : ']';
	unsigned long idx = 0;

	if (w->depth >= REDACT_JSON_DEPTH)
		return jw_fail(w, REDACT_MALFORMED_JSON, "nested too deep");
	if (!jw_put(w, w->p++, 1))
		return false;
	if (!jw_ws(w))
		return false;
	if (w->p < w->end && *w->p == close)
		return jw_put(w, w->p++, 1);
	for (;;) {
		char *slot = w->key[w->depth];

		if (!jw_ws(w))
			return false;
		if (obj) {
			const uint8_t *raw = w->p;
			uint8_t *k;
			size_t n;

			if (w->p >= w->end || *w->p != '"' ||
			    !jw_string(w, &k, &n))
				return jw_fail(
				    w, REDACT_MALFORMED_JSON, "expected a key");
			snprintf(slot, KEY_MAX, "%.*s",
			    (int)(n < KEY_MAX ? n : KEY_MAX - 1), (char *)k);
			free(k);
			if (!jw_put(w, raw, (size_t)(w->p - raw)) || !jw_ws(w))
				return false;
			if (w->p >= w->end || *w->p != ':')
				return jw_fail(
				    w, REDACT_MALFORMED_JSON, "expected ':'");
			if (!jw_put(w, w->p++, 1))
				return false;
		} else {
			snprintf(slot, KEY_MAX, "%lu", idx++);
		}
		w->depth++;
		if (!jw_value(w))
			return false;
		w->depth--;
		if (!jw_ws(w))
			return false;
		if (w->p < w->end && *w->p == close)
			return jw_put(w, w->p++, 1);
		if (w->p >= w->end || *w->p != ',')
			return jw_fail(w, REDACT_MALFORMED_JSON,
			    obj ? "expected ',' or '}'"
				: "expected ',' or ']'");
		if (!jw_put(w, w->p++, 1))
			return false;
	}
}

static bool
jw_value(struct jw *w)
{
	if (!jw_ws(w))
		return false;
	if (w->p >= w->end)
		return jw_fail(w, REDACT_MALFORMED_JSON, "expected a value");
	if (*w->p == '"')
		return jw_value_string(w);
	if (*w->p == '{' || *w->p == '[')
		return jw_container(w);
	return jw_literal(w);
}

/* see redact_int.h */
enum redact_refusal
redact_json(const struct redact_rules *r, const struct redact_rule *rule,
    const uint8_t *j, size_t n, uint8_t **out, size_t *out_len, size_t max_out,
    uint64_t *hits, char *detail, size_t dlen)
{
	struct jw *w = calloc(1, sizeof(*w));
	uint64_t before = *hits;
	enum redact_refusal why;

	*out = NULL;
	if (w == NULL)
		return REDACT_NOMEM;
	w->r = r;
	w->rule = rule;
	w->p = j;
	w->end = j + n;
	w->max_out = max_out;
	w->hits = hits;
	if (jw_value(w) && jw_ws(w) && w->p != w->end)
		jw_fail(w, REDACT_MALFORMED_JSON, "data after the JSON value");
	why = w->why;
	if (why != REDACT_OK) {
		snprintf(detail, dlen, "%s", w->detail ? w->detail : "");
		*hits = before;
		free(w->out.p);
	} else if (*hits > before) {
		*out = w->out.p;
		*out_len = w->out.len;
	} else {
		free(w->out.p);
	}
	free(w);
	return why;
}
