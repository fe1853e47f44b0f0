/*
 * Routing, sans-I/O: the method table, the route table lookup, and the
 * Allow header of a 405.  Nothing here touches a connection.
 */
#include <string.h>

#include "http/http_server.h"
#include "http/http_server_int.h"
#include "lib/util.h"

/* The one method table: bit i of HTTP_M_* is methods[i]. */
static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

/* see http_server_int.h */
unsigned
http_method_bit(const char *m, size_t n)
{
	size_t i;

	/* Methods are case-sensitive (RFC 9110 9.1). */
	for (i = 0; i < nitems(methods); i++)
		if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
			return 1u << i;
	return 0;
}

/* GET implies HEAD. */
static unsigned
accepted(const struct http_route *r)
{
	return r->methods | (r->methods & HTTP_M_GET ? HTTP_M_HEAD : 0);
}

/* see http_server_int.h */
bool
http_allow_header(struct buf *b, unsigned allowed)
{
	const char *sep = "";
	size_t i;

	buf_adds(b, "Allow: ");
	for (i = 0; i < nitems(methods); i++) {
		if (!(allowed & (1u << i)))
			continue;
		buf_adds(b, sep);
		buf_adds(b, methods[i]);
		sep = ", ";
	}
	buf_adds(b, "\r\n");
	return !b->overflow;
}

static const struct http_route *
route_find(const struct http_server_conf *conf, const char *p, size_t n)
{
	const struct http_route *r;
	size_t i, k;

	for (i = 0; i < conf->nroutes; i++) {
		r = &conf->routes[i];
		k = strlen(r->path);
		if (k > 0 && r->path[k - 1] == '*') {
			if (n >= k - 1 && memcmp(r->path, p, k - 1) == 0)
				return r;
		} else if (k == n && memcmp(r->path, p, n) == 0) {
			return r;
		}
	}
	return NULL;
}

/* see http_server_int.h */
void
http_exchange_split(struct http_exchange *x)
{
	const char *t = x->req.target, *q;
	size_t n = x->req.target_len;

	q = memchr(t, '?', n);
	x->path = t;
	x->path_len = q ? (size_t)(q - t) : n;
	x->query = q ? q + 1 : t + n;
	x->query_len = n - x->path_len - (q ? 1 : 0);
}

/* see http_server_int.h */
int
http_route_select(const struct http_server_conf *conf, struct http_exchange *x,
    const struct http_route **out)
{
	unsigned m = http_method_bit(x->req.method, x->req.method_len);
	const struct http_route *r;

	http_exchange_split(x);
	x->head = m == HTTP_M_HEAD;
	*out = r = route_find(conf, x->path, x->path_len);
	if (r == NULL)
		return 404;
	if (m == 0 || !(accepted(r) & m))
		return 405;
	return 0;
}

/* see http_server_int.h */
unsigned
http_route_allowed(const struct http_route *r)
{
	return accepted(r);
}
