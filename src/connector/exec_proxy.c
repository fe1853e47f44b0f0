/*
 * The upstream proxy route: HTTP_PROXY, HTTPS_PROXY and NO_PROXY parsed
 * once at start (net/noproxy.h, the same parsers cfg_load() checked them
 * with), and the choice of proxy per request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "connector/exec_int.h"
#include "net/noproxy.h"

struct exec_proxy {
	struct dial_proxy http, https; /* secret: the credentials */
	bool has_http, has_https;
	struct noproxy *direct; /* NO_PROXY */
};

static int
load_one(struct dial_proxy *p, bool *has, const char *value, const char *name,
    char *err, size_t errlen)
{
	const char *why = NULL;

	if (value == NULL)
		return 0;
	if (!noproxy_proxy_parse(p, value, &why)) {
		snprintf(err, errlen, "%s: %s", name, why);
		return -EINVAL;
	}
	*has = true;
	return 0;
}

/* see exec_int.h */
int
exec_proxy_load(struct exec *e, char *err, size_t errlen)
{
	const struct exec_config *c = &e->c;
	struct exec_proxy *px;
	char why[NOPROXY_ERR_MAX];

	if (c->http_proxy == NULL && c->https_proxy == NULL)
		return 0;
	if ((px = calloc(1, sizeof(*px))) == NULL) {
		snprintf(err, errlen, "executor: out of memory");
		return -ENOMEM;
	}
	e->proxy = px;
	if (load_one(&px->http, &px->has_http, c->http_proxy, "HTTP_PROXY", err,
		errlen) < 0 ||
	    load_one(&px->https, &px->has_https, c->https_proxy, "HTTPS_PROXY",
		err, errlen) < 0)
		return -EINVAL;
	if (noproxy_parse(&px->direct, c->no_proxy, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "NO_PROXY: %s", why);
		return -EINVAL;
	}
	return 0;
}

/* see exec_int.h */
void
exec_proxy_free(struct exec *e)
{
	struct exec_proxy *px = e->proxy;

	if (px == NULL)
		return;
	noproxy_free(px->direct);
	dial_proxy_wipe(&px->http);
	dial_proxy_wipe(&px->https);
	free(px);
	e->proxy = NULL;
}

/* see exec_int.h */
const struct dial_proxy *
exec_proxy_route(const struct exec *e, const struct job *job)
{
	const struct exec_proxy *px = e->proxy;
	bool tls = job->url.tls;

	if (px == NULL || !(tls ? px->has_https : px->has_http) ||
	    noproxy_bypass(px->direct, job->host, job->url.port))
		return NULL;
	return tls ? &px->https : &px->http;
}

/* see exec_int.h */
bool
exec_proxy_refused(const struct job *job)
{
	/* Through a CONNECT tunnel a 407 is the origin's own answer. */
	return job->proxy != NULL && !job->url.tls && job->status == 407;
}

/* see exec_int.h */
const char *
exec_proxy_detail(int status)
{
	switch (status) {
	case 0:
		return "proxy: unreachable, or its answer is not HTTP";
	case 400:
		return "proxy: CONNECT answered 400 bad request";
	case 403:
		return "proxy: CONNECT answered 403 forbidden";
	case 407:
		return "proxy: 407 proxy authentication required";
	case 502:
		return "proxy: CONNECT answered 502 bad gateway";
	case 503:
		return "proxy: CONNECT answered 503 service unavailable";
	case 504:
		return "proxy: CONNECT answered 504 gateway timeout";
	default:
		return status >= 500
		    ? "proxy: CONNECT answered a 5xx status"
		    : "proxy: CONNECT answered a non-2xx status";
	}
}
