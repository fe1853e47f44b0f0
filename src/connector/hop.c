#include <string.h>
#include <strings.h>

#include "connector/hop.h"
#include "lib/util.h"

static const char *const fixed[] = {
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
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
}

static void
add_token(struct hop_filter *f, const char *t, size_t n)
{
	while (n > 0 && (*t == ' ' || *t == '\t')) {
		t++;
		n--;
	}
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (n == 0 || f->nconn == HOP_CONNECTION_MAX)
		return;
	f->conn[f->nconn].v = t;
	f->conn[f->nconn].n = n;
	f->nconn++;
}

/* see hop.h */
void
hop_note(struct hop_filter *f, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	size_t i, start = 0;

	if (!name_eq(name, nlen, "connection", 10))
		return;
	for (i = 0; i <= vlen; i++) {
		if (i == vlen || value[i] == ',') {
			add_token(f, value + start, i - start);
			start = i + 1;
		}
	}
}

/* see hop.h */
bool
hop_drop(const struct hop_filter *f, const char *name, size_t nlen)
{
	size_t i;

	for (i = 0; i < nitems(fixed); i++)
		if (name_eq(name, nlen, fixed[i], strlen(fixed[i])))
			return true;
	for (i = 0; i < f->nconn; i++)
		if (name_eq(name, nlen, f->conn[i].v, f->conn[i].n))
			return true;
	return false;
}
