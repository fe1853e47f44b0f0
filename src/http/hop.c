/* Hop-by-hop header filtering; see hop.h. */
#include <string.h>
#include <strings.h>

#include "http/hop.h"
#include "lib/util.h"

/* The names with their lengths (no strlen() per header and name). */
static const struct {
	const char *s;
	size_t n;
} fixed[] = {
    {"connection", 10},
    {"proxy-connection", 16},
    {"keep-alive", 10},
    {"proxy-authenticate", 18},
    {"proxy-authorization", 19},
    {"te", 2},
    {"trailer", 7},
    {"transfer-encoding", 17},
    {"upgrade", 7},
};

static bool
name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* see hop.h */
void
hop_init(struct hop_filter *f)
{
	f->nconn = 0;
	f->overflow = false;
}

/* see hop.h */
void
hop_note(struct hop_filter *f, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	if (!name_eq(name, nlen, "connection", 10))
		return;
	if (f->nconn == HOP_CONNECTION_MAX) {
		f->overflow = true;
		return;
	}
	f->conn[f->nconn].v = value;
	f->conn[f->nconn].n = vlen;
	f->nconn++;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Is name one of the comma-separated tokens of v[0..n)? */
static bool
listed(const char *v, size_t n, const char *name, size_t nlen)
{
	const char *end = v + n, *t, *e, *te;

	for (t = v; t < end; t = e + 1) {
		if ((e = memchr(t, ',', (size_t)(end - t))) == NULL)
			e = end;
		/* The token is t..te, without the white space around it. */
		te = e;
		while (t < te && is_ows(*t))
			t++;
		while (te > t && is_ows(te[-1]))
			te--;
		if (te > t && name_eq(t, (size_t)(te - t), name, nlen))
			return true;
	}
	return false;
}

/* see hop.h */
bool
hop_drop(const struct hop_filter *f, const char *name, size_t nlen)
{
	size_t i;

	if (f->overflow)
		return true;
	for (i = 0; i < nitems(fixed); i++)
		if (name_eq(name, nlen, fixed[i].s, fixed[i].n))
			return true;
	for (i = 0; i < f->nconn; i++)
		if (listed(f->conn[i].v, f->conn[i].n, name, nlen))
			return true;
	return false;
}

/* see hop.h */
bool
hop_overflow(const struct hop_filter *f)
{
	return f->overflow;
}
