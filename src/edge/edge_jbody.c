/*
 * edge_jbody.c — the front door's request bodies: a flat JSON object
 * whose values are strings ({"name":"alpha","ttl":"1h"}).  Strict: the
 * whole body must be one such object (RFC 8259 strings; \u escapes only
 * for ASCII other than NUL).  Bounded by the body and the caller's
 * buffer; no allocation.
 */
#include <string.h>

#include "edge/edge_id.h"
#include "lib/util.h"

struct rd {
	const char *p, *end;
};

static void
ws(struct rd *r)
{
	while (r->p < r->end &&
	    (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
eat(struct rd *r, char c)
{
	ws(r);
	if (r->p == r->end || *r->p != c)
		return false;
	r->p++;
	return true;
}

/* One escape after the backslash; the byte into *c. */
static bool
escape(struct rd *r, char *c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *k;
	int v = 0, d, i;

	if (r->p == r->end)
		return false;
	if (*r->p != 'u') {
		if ((k = strchr(from, *r->p)) == NULL || *r->p == '\0')
			return false;
		*c = to[k - from];
		r->p++;
		return true;
	}
	if (r->end - r->p < 5)
		return false;
	for (i = 1; i <= 4; i++) {
		if ((d = util_hexval(r->p[i])) < 0)
			return false;
		v = v << 4 | d;
	}
	if (v == 0 || v > 0x7f)
		return false;
	*c = (char)v;
	r->p += 5;
	return true;
}

/* A string into out (cap >= 1; NULL: skip it).  False when malformed. */
static bool
string(struct rd *r, char *out, size_t cap, bool *fits)
{
	size_t n = 0;
	char c;

	*fits = true;
	if (!eat(r, '"'))
		return false;
	while (r->p < r->end && *r->p != '"') {
		c = *r->p++;
		if ((unsigned char)c < 0x20)
			return false;
		if (c == '\\' && !escape(r, &c))
			return false;
		if (out != NULL && n + 1 < cap)
			out[n++] = c;
		else
			*fits = false;
	}
	if (r->p == r->end)
		return false;
	r->p++;
	if (out != NULL)
		out[n] = '\0';
	return true;
}

/* see edge_id.h */
int
edge_jbody_str(
    const char *body, size_t n, const char *key, char *out, size_t cap)
{
	struct rd r = {body, body + n};
	char k[64], v[1];
	bool kfits, vfits, match, found = false;

	if (!eat(&r, '{'))
		return -1;
	if (eat(&r, '}'))
		goto end;
	do {
		if (!string(&r, k, sizeof(k), &kfits) || !eat(&r, ':'))
			return -1;
		match = kfits && strcmp(k, key) == 0;
		if (match && found)
			return -1; /* a repeated key is ambiguous */
		if (!string(
			&r, match ? out : v, match ? cap : sizeof(v), &vfits))
			return -1;
		if (match && !vfits)
			return -1;
		found |= match;
	} while (eat(&r, ','));
	if (!eat(&r, '}'))
		return -1;
end:
	ws(&r);
	if (r.p != r.end)
		return -1;
	if (!found && cap > 0)
		out[0] = '\0';
	return found ? 1 : 0;
}
