/*
 * toml.c — the strict TOML-subset reader (see toml.h).  A recursive-descent
 * parser over the whole document; the first error stops it.
 */
#include "lib/toml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "lib/util.h"

#define TF_DEFINED 0x1u /* table: named by a [header] (or the root) */
#define TF_AOT 0x2u /* array: made by [[header]] */
#define TOML_MAX_MEMBERS 10000 /* members of one table */

struct tp {
	const char *p, *end;
	const char *line_start;
	unsigned line;
	const char *name;
	char *err;
	size_t errlen;
	bool failed;
};

/* The growing string of one string value or key. */
struct tstr {
	char *s;
	size_t len, cap;
};

static unsigned
tp_col(const struct tp *t, const char *at)
{
	unsigned col = 1;
	const char *q;

	for (q = t->line_start; q < at; q++)
		col += ((unsigned char)*q & 0xC0) != 0x80;
	return col;
}

static bool tp_fail_at(struct tp *t, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
tp_fail_at(struct tp *t, const char *at, const char *fmt, ...)
{
	char msg[TOML_ERR_LEN];
	va_list ap;

	if (t->failed)
		return false;
	t->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(t->err, t->errlen, "%s:%u:%u: %s", t->name, t->line,
	    tp_col(t, at), msg);
	return false;
}

#define tp_fail(t, ...) tp_fail_at((t), (t)->p, __VA_ARGS__)

static bool
tp_nomem(struct tp *t)
{
	return tp_fail(t, "out of memory");
}

static int
tp_peek(const struct tp *t, size_t off)
{
	return t->p + off < t->end ? (unsigned char)t->p[off] : -1;
}

static bool
tp_at(const struct tp *t, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(t->end - t->p) >= n && memcmp(t->p, s, n) == 0;
}

/* At a newline ("\n" or "\r\n"): its length, else 0. */
static size_t
tp_newline_len(const struct tp *t)
{
	if (tp_peek(t, 0) == '\n')
		return 1;
	if (tp_peek(t, 0) == '\r' && tp_peek(t, 1) == '\n')
		return 2;
	return 0;
}

static void
tp_skip_newline(struct tp *t, size_t n)
{
	t->p += n;
	t->line++;
	t->line_start = t->p;
}

static void
tp_skip_ws(struct tp *t)
{
	while (tp_peek(t, 0) == ' ' || tp_peek(t, 0) == '\t')
		t->p++;
}

static bool
is_ctrl(int c)
{
	return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

/* A comment at p (if any) up to, not including, the newline. */
static bool
tp_skip_comment(struct tp *t)
{
	if (tp_peek(t, 0) != '#')
		return true;
	while (t->p < t->end && *t->p != '\n') {
		if (tp_newline_len(t) == 0 && is_ctrl((unsigned char)*t->p))
			return tp_fail(t, "control character in a comment");
		if (tp_newline_len(t) == 2)
			break;
		t->p++;
	}
	return true;
}

/* Whitespace, comments and newlines (inside arrays). */
static bool
tp_skip_blank(struct tp *t)
{
	for (;;) {
		size_t nl;

		tp_skip_ws(t);
		if (!tp_skip_comment(t))
			return false;
		nl = tp_newline_len(t);
		if (nl == 0)
			return true;
		tp_skip_newline(t, nl);
	}
}

/* After a statement: optional comment, then a newline or the end. */
static bool
tp_end_of_line(struct tp *t, const char *what)
{
	size_t nl;

	tp_skip_ws(t);
	if (!tp_skip_comment(t))
		return false;
	if (t->p == t->end)
		return true;
	nl = tp_newline_len(t);
	if (nl == 0)
		return tp_fail(t, "expected a newline after %s", what);
	tp_skip_newline(t, nl);
	return true;
}

/* --- strings ---------------------------------------------------------- */

static bool
ts_put(struct tp *t, struct tstr *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 32;
		char *q;

		while (cap < s->len + n + 1)
			cap *= 2;
		q = realloc(s->s, cap);
		if (q == NULL)
			return tp_nomem(t);
		s->s = q;
		s->cap = cap;
	}
	memcpy(s->s + s->len, p, n);
	s->len += n;
	s->s[s->len] = '\0';
	return true;
}

static bool
ts_put_utf8(struct tp *t, struct tstr *s, uint32_t cp)
{
	char u[4];

	return ts_put(t, s, u, utf8_put(u, cp));
}

/* \uXXXX or \UXXXXXXXX after the backslash and letter. */
static bool
tp_unicode_escape(struct tp *t, struct tstr *s, size_t digits)
{
	const char *at = t->p - 2;
	uint32_t cp = 0;
	size_t i;

	for (i = 0; i < digits; i++) {
		int h = util_hexval(tp_peek(t, 0));

		if (h < 0)
			return tp_fail(t,
			    "expected %zu hex digits in a \\%c "
			    "escape",
			    digits, digits == 4 ? 'u' : 'U');
		cp = cp << 4 | (uint32_t)h;
		t->p++;
	}
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return tp_fail_at(
		    t, at, "escape is not a Unicode scalar value");
	return ts_put_utf8(t, s, cp);
}

/*
 * One escape at p (the backslash).  In a multi-line string a backslash
 * at the end of a line removes the newline and the blanks that follow.
 */
static bool
tp_escape(struct tp *t, struct tstr *s, bool multi)
{
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	const char *at = t->p;
	int c = tp_peek(t, 1);
	const char *hit = c > 0 ? strchr(from, c) : NULL;

	if (c < 0)
		return tp_fail(t, "unterminated string");
	t->p += 2;
	if (hit != NULL)
		return ts_put(t, s, &to[hit - from], 1);
	if (c == 'u' || c == 'U')
		return tp_unicode_escape(t, s, c == 'u' ? 4 : 8);
	if (multi && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
		t->p--;
		tp_skip_ws(t);
		if (tp_newline_len(t) == 0)
			return tp_fail_at(t, at,
			    "a line-ending backslash must "
			    "be followed by a newline");
		while (tp_newline_len(t) || tp_peek(t, 0) == ' ' ||
		    tp_peek(t, 0) == '\t') {
			size_t nl = tp_newline_len(t);

			if (nl)
				tp_skip_newline(t, nl);
			else
				t->p++;
		}
		return true;
	}
	return tp_fail_at(t, at, "unknown escape sequence");
}

/*
 * A string of any of the four kinds at p (the opening quote); single-line
 * only when key is true.
 */
static bool
tp_string(struct tp *t, struct tstr *s, bool key)
{
	char q = *t->p;
	bool literal = q == '\'';
	bool multi = !key && (tp_at(t, "\"\"\"") || tp_at(t, "'''"));
	const char *open = t->p;

	if (!ts_put(t, s, "", 0))
		return false;
	t->p += multi ? 3 : 1;
	if (multi && tp_newline_len(t))
		tp_skip_newline(t, tp_newline_len(t));
	for (;;) {
		int c = tp_peek(t, 0);
		size_t nl = tp_newline_len(t);

		if (c < 0)
			return tp_fail_at(t, open, "unterminated string");
		if (c == q && !multi) {
			t->p++;
			return true;
		}
		if (c == q) {
			size_t n = 0;

			while (tp_peek(t, n) == q)
				n++;
			if (n >= 3) {
				if (n > 5)
					return tp_fail(t,
					    "too many quotes at "
					    "the end of a string");
				if (!ts_put(t, s, t->p, n - 3))
					return false;
				t->p += n;
				return true;
			}
			if (!ts_put(t, s, t->p, n))
				return false;
			t->p += n;
			continue;
		}
		if (multi && nl) {
			if (!ts_put(t, s, "\n", 1))
				return false;
			tp_skip_newline(t, nl);
			continue;
		}
		if (c == '\n' || (c == '\r' && nl))
			return tp_fail(t, "newline in a single-line string");
		if (is_ctrl(c))
			return tp_fail(t, "control character in a string");
		if (c == '\\' && !literal) {
			if (!tp_escape(t, s, multi))
				return false;
			continue;
		}
		if (!ts_put(t, s, t->p, 1))
			return false;
		t->p++;
	}
}

/* --- tree ------------------------------------------------------------- */

static struct toml *
node_new(struct tp *t, enum toml_type type, const char *at)
{
	struct toml *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		tp_nomem(t);
		return NULL;
	}
	n->type = type;
	n->line = t->line;
	n->col = tp_col(t, at);
	return n;
}

static void
node_append(struct toml *parent, struct toml *kid)
{
	if (parent->last != NULL)
		parent->last->next = kid;
	else
		parent->kids = kid;
	parent->last = kid;
	parent->n++;
}

static struct toml *
table_find(const struct toml *tab, const struct tstr *key)
{
	struct toml *k;

	for (k = tab->kids; k != NULL; k = k->next)
		if (k->key_len == key->len &&
		    memcmp(k->key, key->s, key->len) == 0)
			return k;
	return NULL;
}

/* Add kid to tab under key (taken over: key->s becomes kid->key). */
static bool
table_add(struct tp *t, struct toml *tab, struct tstr *key, struct toml *kid,
    const char *at)
{
	if (tab->n >= TOML_MAX_MEMBERS) {
		toml_free(kid);
		return tp_fail_at(
		    t, at, "more than %d keys in one table", TOML_MAX_MEMBERS);
	}
	kid->key = key->s;
	kid->key_len = key->len;
	key->s = NULL;
	key->len = key->cap = 0;
	node_append(tab, kid);
	return true;
}

/* --- values ----------------------------------------------------------- */

static bool
is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One key (bare or quoted) at p. */
static bool
tp_key(struct tp *t, struct tstr *key)
{
	const char *start = t->p;
	int c = tp_peek(t, 0);

	if (c == '"' || c == '\'')
		return tp_string(t, key, true);
	while (is_bare(tp_peek(t, 0)))
		t->p++;
	if (t->p == start)
		return tp_fail(t, "expected a key");
	return ts_put(t, key, start, (size_t)(t->p - start));
}

static bool
digit_ok(int c, int base)
{
	int v = util_hexval(c);

	return v >= 0 && v < base;
}

/* Digits of base with single '_' between digits; into *v. */
static bool
tp_digits(struct tp *t, const char *s, const char *e, int base, uint64_t lim,
    uint64_t *v)
{
	bool prev_digit = false;

	*v = 0;
	for (; s < e; s++) {
		if (*s == '_' && prev_digit && s + 1 < e &&
		    digit_ok((unsigned char)s[1], base)) {
			prev_digit = false;
			continue;
		}
		if (!digit_ok((unsigned char)*s, base))
			return tp_fail_at(t, s, "invalid integer");
		if (*v > (lim - (uint64_t)util_hexval(*s)) / (uint64_t)base)
			return tp_fail_at(t, s, "integer out of 64-bit range");
		*v = *v * (uint64_t)base + (uint64_t)util_hexval(*s);
		prev_digit = true;
	}
	return prev_digit || tp_fail_at(t, e, "invalid integer");
}

static bool
tp_integer(struct tp *t, struct toml *n)
{
	const char *s = t->p, *e = t->p;
	bool neg = false;
	uint64_t v, lim = (uint64_t)INT64_MAX;
	int base = 10;
	const char *q;

	while (e < t->end &&
	    (is_bare((unsigned char)*e) || *e == '+' || *e == '.' || *e == ':'))
		e++;
	for (q = s; q < e; q++)
		if (*q == '.' || *q == ':' ||
		    ((*q == '-' || *q == '+') && q > s) || *q == 'i' ||
		    *q == 'n' ||
		    ((*q == 'e' || *q == 'E') && !(e - s > 1 && s[1] == 'x')))
			return tp_fail(t,
			    "floats, dates and times are not "
			    "supported (expected an integer)");
	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		lim += neg;
		s++;
	}
	if (e - s > 1 && *s == '0' &&
	    (s[1] == 'x' || s[1] == 'o' || s[1] == 'b') && s == t->p) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		s += 2;
	} else if (e - s > 1 && *s == '0') {
		return tp_fail(t, "invalid integer (leading zero)");
	}
	if (!tp_digits(t, s, e, base, lim, &v))
		return false;
	n->i = neg ? (int64_t)(0 - v) : (int64_t)v;
	t->p = e;
	return true;
}

static struct toml *tp_value(struct tp *t, unsigned depth);

static bool
tp_array(struct tp *t, struct toml *arr, unsigned depth)
{
	t->p++;
	for (;;) {
		struct toml *v;

		if (!tp_skip_blank(t))
			return false;
		if (tp_peek(t, 0) == ']') {
			t->p++;
			return true;
		}
		v = tp_value(t, depth + 1);
		if (v == NULL)
			return false;
		node_append(arr, v);
		if (!tp_skip_blank(t))
			return false;
		if (tp_peek(t, 0) == ',') {
			t->p++;
			continue;
		}
		if (tp_peek(t, 0) != ']')
			return tp_fail(t, "expected ',' or ']' in an array");
	}
}

static bool
tp_value_into(struct tp *t, struct toml *n, unsigned depth)
{
	int c = tp_peek(t, 0);

	if (c == '"' || c == '\'') {
		struct tstr s = {0};
		bool ok = tp_string(t, &s, false);

		n->s = s.s;
		n->len = s.len;
		return ok;
	}
	if (c == '[') {
		if (depth >= TOML_MAX_DEPTH)
			return tp_fail(
			    t, "arrays nested deeper than %d", TOML_MAX_DEPTH);
		return tp_array(t, n, depth);
	}
	if (tp_at(t, "true") || tp_at(t, "false")) {
		n->b = c == 't';
		t->p += n->b ? 4 : 5;
		return true;
	}
	if (c == '{')
		return tp_fail(t, "inline tables are not supported");
	if (c == '+' || c == '-' || (c >= '0' && c <= '9') || c == 'i' ||
	    c == 'n')
		return tp_integer(t, n);
	return tp_fail(t,
	    "expected a value (string, integer, boolean or "
	    "array)");
}

static struct toml *
tp_value(struct tp *t, unsigned depth)
{
	int c = tp_peek(t, 0);
	enum toml_type type = c == '"' || c == '\'' ? TOML_STRING
	    : c == '['				    ? TOML_ARRAY
	    : c == 't' || c == 'f'		    ? TOML_BOOL
						    : TOML_INT;
	struct toml *n = node_new(t, type, t->p);

	if (n != NULL && !tp_value_into(t, n, depth)) {
		toml_free(n);
		n = NULL;
	}
	return n;
}

/* --- statements ------------------------------------------------------- */

static bool
tp_keyval(struct tp *t, struct toml *tab)
{
	struct tstr key = {0};
	const char *at = t->p;
	struct toml *v;
	bool ok = false;

	if (!tp_key(t, &key))
		goto out;
	tp_skip_ws(t);
	if (tp_peek(t, 0) == '.') {
		tp_fail(t, "dotted keys are not supported (expected '=')");
		goto out;
	}
	if (tp_peek(t, 0) != '=') {
		tp_fail(t, "expected '=' after a key");
		goto out;
	}
	t->p++;
	tp_skip_ws(t);
	if (table_find(tab, &key) != NULL) {
		tp_fail_at(t, at, "key defined twice");
		goto out;
	}
	v = tp_value(t, 0);
	if (v == NULL)
		goto out;
	ok = table_add(t, tab, &key, v, at) && tp_end_of_line(t, "a value");
out:
	free(key.s);
	return ok;
}

/* One step down a header path: the table under key (created if missing). */
static struct toml *
tp_descend(struct tp *t, struct toml *tab, struct tstr *key, const char *at)
{
	struct toml *k = table_find(tab, key);

	if (k == NULL) {
		k = node_new(t, TOML_TABLE, at);
		if (k == NULL || !table_add(t, tab, key, k, at))
			return NULL;
		return k;
	}
	if (k->type == TOML_ARRAY && (k->flags & TF_AOT))
		return k->last;
	if (k->type != TOML_TABLE) {
		tp_fail_at(t, at, "key is already a value, not a table");
		return NULL;
	}
	return k;
}

/* The last part of a [header] or [[header]] in table tab. */
static struct toml *
tp_header_last(
    struct tp *t, struct toml *tab, struct tstr *key, bool aot, const char *at)
{
	struct toml *k = table_find(tab, key), *el;

	if (!aot) {
		if (k == NULL) {
			k = node_new(t, TOML_TABLE, at);
			if (k == NULL || !table_add(t, tab, key, k, at))
				return NULL;
		} else if (k->type != TOML_TABLE || (k->flags & TF_DEFINED)) {
			tp_fail_at(t, at, "table defined twice");
			return NULL;
		}
		k->flags |= TF_DEFINED;
		return k;
	}
	if (k == NULL) {
		k = node_new(t, TOML_ARRAY, at);
		if (k == NULL || !table_add(t, tab, key, k, at))
			return NULL;
		k->flags |= TF_AOT;
	} else if (k->type != TOML_ARRAY || !(k->flags & TF_AOT)) {
		tp_fail_at(t, at,
		    "key is already a value, not an array of "
		    "tables");
		return NULL;
	}
	el = node_new(t, TOML_TABLE, at);
	if (el == NULL)
		return NULL;
	el->flags |= TF_DEFINED;
	node_append(k, el);
	return el;
}

static struct toml *
tp_header(struct tp *t, struct toml *root)
{
	bool aot = tp_at(t, "[[");
	struct toml *tab = root;
	unsigned parts = 0;

	t->p += aot ? 2 : 1;
	for (;;) {
		struct tstr key = {0};
		const char *at;

		tp_skip_ws(t);
		at = t->p;
		if (++parts > TOML_MAX_DEPTH) {
			tp_fail(t, "table name of more than %d parts",
			    TOML_MAX_DEPTH);
			return NULL;
		}
		if (!tp_key(t, &key)) {
			free(key.s);
			return NULL;
		}
		tp_skip_ws(t);
		if (tp_peek(t, 0) == '.') {
			t->p++;
			tab = tp_descend(t, tab, &key, at);
		} else if (tp_at(t, aot ? "]]" : "]")) {
			t->p += aot ? 2 : 1;
			tab = tp_header_last(t, tab, &key, aot, at);
			free(key.s);
			return tab != NULL &&
				tp_end_of_line(t, "a table header")
			    ? tab
			    : NULL;
		} else {
			tp_fail(t,
			    aot ? "expected '.' or ']]'"
				: "expected '.' or ']'");
			tab = NULL;
		}
		free(key.s);
		if (tab == NULL)
			return NULL;
	}
}

/* Fail at the first byte that is not well-formed UTF-8. */
static bool
tp_check_utf8(struct tp *t)
{
	const char *q = t->p;

	while (q < t->end) {
		size_t n = utf8_seq_len(
		    (const unsigned char *)q, (size_t)(t->end - q));

		if (n == 0) {
			t->p = q;
			return tp_fail(t, "invalid UTF-8");
		}
		if (*q == '\n') {
			t->line++;
			t->line_start = q + 1;
		}
		q += n;
	}
	t->line = 1;
	t->line_start = t->p;
	return true;
}

static bool
tp_document(struct tp *t, struct toml *root)
{
	struct toml *cur = root;

	while (t->p < t->end) {
		size_t nl;

		tp_skip_ws(t);
		nl = tp_newline_len(t);
		if (nl) {
			tp_skip_newline(t, nl);
		} else if (tp_peek(t, 0) == '#') {
			if (!tp_end_of_line(t, "a comment"))
				return false;
		} else if (tp_peek(t, 0) == '[') {
			cur = tp_header(t, root);
			if (cur == NULL)
				return false;
		} else if (t->p < t->end) {
			if (!tp_keyval(t, cur))
				return false;
		}
	}
	return true;
}

/* see toml.h */
struct toml *
toml_parse(
    const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	struct tp t = {.p = text,
	    .end = text + len,
	    .line_start = text,
	    .line = 1,
	    .name = name,
	    .err = err,
	    .errlen = errlen};
	struct toml *root;

	if (errlen > 0)
		err[0] = '\0';
	if (len > TOML_MAX_DOC) {
		snprintf(err, errlen, "%s: larger than %u bytes", name,
		    TOML_MAX_DOC);
		return NULL;
	}
	if (!tp_check_utf8(&t))
		return NULL;
	root = node_new(&t, TOML_TABLE, text);
	if (root == NULL)
		return NULL;
	root->flags |= TF_DEFINED;
	if (!tp_document(&t, root)) {
		toml_free(root);
		return NULL;
	}
	return root;
}

/* see toml.h */
void
toml_free(struct toml *t)
{
	while (t != NULL) {
		struct toml *next = t->next;

		toml_free(t->kids);
		free(t->key);
		free(t->s);
		free(t);
		t = next;
	}
}

/* see toml.h */
const struct toml *
toml_get(const struct toml *t, const char *key)
{
	struct tstr k = {.s = (char *)key, .len = strlen(key)};

	if (t == NULL || t->type != TOML_TABLE)
		return NULL;
	return table_find(t, &k);
}

/* see toml.h */
const char *
toml_type_name(enum toml_type type)
{
	static const char *const names[] = {
	    "table", "array", "string", "integer", "boolean"};

	return names[type];
}
