/*
 * The HTTP CONNECT part of the dialer: the proxy URL, the request, and the
 * answer's head (parsed by the project's HTTP/1.1 response parser).
 */
#include <errno.h>
#include <string.h>

#include "http/http.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "net/dial_int.h"

#define BASIC "Basic "
#define USERINFO_MAX 300

/* Percent-decode s[0..n) into dst; returns the length or -1. */
static ssize_t
pct_decode(char *dst, size_t cap, const char *s, size_t n)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (o == cap)
			return -1;
		if (s[i] != '%') {
			dst[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		hi = util_hexval(s[i + 1]);
		lo = util_hexval(s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (ssize_t)o;
}

/* "Basic " + base64(user:pass) from the URL's userinfo. */
static bool
proxy_auth(struct dial_proxy *p, const char *ui, size_t n, const char **why)
{
	char plain[USERINFO_MAX + 1];
	ssize_t len = pct_decode(plain, USERINFO_MAX, ui, n);
	bool ok = false;

	if (len < 0) {
		*why = "proxy credentials: bad percent-encoding or too long";
	} else {
		if (memchr(plain, ':', (size_t)len) == NULL)
			plain[len++] = ':';
		memcpy(p->auth, BASIC, sizeof(BASIC) - 1);
		ok = base64_encode(p->auth + sizeof(BASIC) - 1,
			 sizeof(p->auth) - (sizeof(BASIC) - 1), plain,
			 (size_t)len) >= 0;
		if (!ok)
			*why = "proxy credentials too long";
	}
	util_wipe(plain, sizeof(plain));
	return ok;
}

/* see dial.h */
bool
dial_proxy_parse(struct dial_proxy *p, const char *url, const char **why)
{
	struct url u;

	memset(p, 0, sizeof(*p));
	if (!url_parse(url, strlen(url), &u, why))
		return false;
	if (u.tls) {
		*why = "https proxies are not supported (use http://)";
		return false;
	}
	if (u.pathlen > 1) {
		*why = "a proxy URL has no path";
		return false;
	}
	if (u.hostlen == 0 || u.hostlen > URL_HOST_MAX) {
		*why = "bad proxy host";
		return false;
	}
	memcpy(p->host, u.host, u.hostlen);
	p->port = u.port;
	if (u.userinfo != NULL &&
	    !proxy_auth(p, u.userinfo, u.userinfolen, why)) {
		dial_proxy_wipe(p);
		return false;
	}
	return true;
}

/* see dial.h */
void
dial_proxy_wipe(struct dial_proxy *p)
{
	util_wipe(p, sizeof(*p));
}

/* see dial_int.h */
int
dial_proxy_request(struct dial *d)
{
	const char *auth = d->o.proxy->auth;
	bool v6 = strchr(d->host, ':') != NULL;
	const char *l = v6 ? "[" : "", *r = v6 ? "]" : "";
	struct buf b;

	buf_init(&b, d->pbuf, DIAL_PROXY_BUF);
	buf_printf(&b, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n", l,
	    d->host, r, d->port, l, d->host, r, d->port);
	if (auth[0] != '\0')
		buf_printf(&b, "Proxy-Authorization: %s\r\n", auth);
	buf_adds(&b, "\r\n");
	d->plen = b.len;
	d->poff = 0;
	return b.overflow ? -ENOSPC : 0;
}

/* see dial_int.h */
int
dial_proxy_answer(const struct dial *d, int *status)
{
	const struct http_limits lim = {.max_line = 1024,
	    .max_headers = 32,
	    .max_header_bytes = DIAL_PROXY_BUF,
	    .max_total = DIAL_PROXY_BUF};
	struct http_header h[32];
	struct http_response resp = {.headers = h, .nheaders = nitems(h)};
	int n;

	n = http_parse_response((const char *)d->pbuf, d->plen, &resp, &lim);
	if (n == HTTP_PARTIAL)
		return DIAL_PROXY_PARTIAL;
	if (n <= 0)
		return DIAL_PROXY_MALFORMED;
	*status = resp.status;
	return n;
}
