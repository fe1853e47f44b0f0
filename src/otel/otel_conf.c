/*
 * The exporter's settings: endpoints (the OpenTelemetry SDK rules),
 * protocol, headers (a secret), TLS, proxy, timeout.  cfg_load() has
 * validated every value already (src/cfg/cfg_otel.c); what fails here is
 * reading files and memory.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "lib/util.h"
#include "otel/otel_int.h"

static const enum cfg_key signal_keys[OTEL_SIGNALS] = {
    CFG_OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    CFG_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    CFG_OTEL_EXPORTER_OTLP_LOGS_ENDPOINT};

static int
fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -1;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
dupf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (p = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/*
 * A per-signal URL is used as is; the base URL gets /v1/<signal> after
 * its path (without doubling a '/').
 */
static int
endpoint(struct otel *o, enum otel_signal s, const char *url, bool base)
{
	struct otel_endpoint *e = &o->ep[s];
	const char *sfx = base ? otel_signal_name(s) : "";
	const char *v1 = base ? "/v1/" : "";
	char path[URL_MAX + 16];
	struct url u;
	const char *why;
	size_t plen;

	if (!url_parse(url, strlen(url), &u, &why))
		return -1;
	plen = u.pathlen;
	if (base && plen > 0 && u.path[plen - 1] == '/')
		plen--;
	snprintf(path, sizeof(path), "%.*s%s%s", (int)plen, u.path, v1, sfx);
	e->tls = u.tls;
	memcpy(e->host, u.host, u.hostlen);
	e->host[u.hostlen] = '\0';
	e->port = u.port;
	e->authority = dupf(u.ipv6 ? "[%s]:%u" : "%s:%u", e->host, e->port);
	if (e->authority == NULL)
		return -1;
	/* Plain http through a proxy: the absolute form (RFC 9112 3.2.2). */
	e->target = o->proxy != NULL && !e->tls
	    ? dupf("http://%s%s", e->authority, path)
	    : strdup(path);
	if (e->target == NULL)
		return -1;
	e->on = true;
	return 0;
}

static int
load_endpoints(struct otel *o, const struct cfg *c, char *err, size_t errlen)
{
	const char *base = cfg_str(c, CFG_OTEL_EXPORTER_OTLP_ENDPOINT), *u;
	size_t s;

	if (cfg_bool(c, CFG_OTEL_SDK_DISABLED) ||
	    cfg_bool(c, CFG_TRAVERSAL_DISABLE_TELEMETRY))
		return 0;
	for (s = 0; s < OTEL_SIGNALS; s++) {
		u = cfg_str(c, signal_keys[s]);
		if (u == NULL && base == NULL)
			continue;
		if (endpoint(o, (enum otel_signal)s, u != NULL ? u : base,
			u == NULL) < 0)
			return fail(err, errlen,
			    "OTLP endpoint: out of memory or invalid URL");
	}
	return 0;
}

/* One "Name: value\r\n" line per header entry. */
static bool
add_header(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct buf *b = arg;

	return buf_printf(b, "%.*s: %.*s\r\n", (int)klen, k, (int)vlen, v);
}

static int
load_headers(struct otel *o, const struct cfg *c, char *err, size_t errlen)
{
	const char *s = cfg_str(c, CFG_OTEL_EXPORTER_OTLP_HEADERS);
	size_t n = s != NULL ? strlen(s) + 2 : 0;
	char *scratch;
	struct buf b;
	int pos;

	if (s == NULL)
		return 0;
	o->headers = calloc(1, OTEL_HEAD_MAX / 2);
	scratch = malloc(n);
	if (o->headers == NULL || scratch == NULL) {
		free(scratch);
		return fail(
		    err, errlen, "OTEL_EXPORTER_OTLP_HEADERS: out of memory");
	}
	buf_init(&b, o->headers, OTEL_HEAD_MAX / 2 - 1);
	pos = cfg_otel_kv_parse(s, scratch, add_header, &b);
	util_wipe(scratch, n);
	free(scratch);
	if (pos != 0)
		return fail(err, errlen,
		    "OTEL_EXPORTER_OTLP_HEADERS: the headers are too long "
		    "(value not shown)");
	return 0;
}

static int
load_tls(struct otel *o, const struct cfg *c, char *err, size_t errlen)
{
	if (!o->ep[OTEL_METRICS].tls && !o->ep[OTEL_TRACES].tls &&
	    !o->ep[OTEL_LOGS].tls)
		return 0;
	if (cfg_otel_tls(c, &o->tls, err, errlen) < 0)
		return -1;
	o->tc = calloc(1, sizeof(*o->tc));
	return o->tc != NULL ? 0 : fail(err, errlen, "OTLP TLS: out of memory");
}

static int
load_proxy(struct otel *o, const struct cfg *c, char *err, size_t errlen)
{
	const char *s = cfg_str(c, CFG_EGRESS_PROXY_URL), *why;

	if (s == NULL)
		return 0;
	o->proxy = calloc(1, sizeof(*o->proxy));
	if (o->proxy == NULL)
		return fail(err, errlen, "EGRESS_PROXY_URL: out of memory");
	if (!dial_proxy_parse(o->proxy, s, &why)) {
		snprintf(err, errlen, "EGRESS_PROXY_URL: %s", why);
		return -1;
	}
	return 0;
}

/* see otel_int.h */
int
otel_conf_load(
    struct otel *o, const struct otel_conf *c, char *err, size_t errlen)
{
	const char *p = cfg_str(c->cfg, CFG_OTEL_EXPORTER_OTLP_PROTOCOL);

	o->proto = p != NULL && strcmp(p, "http/json") == 0 ? OTEL_JSON
							    : OTEL_PROTOBUF;
	o->timeout_ms = cfg_int(c->cfg, CFG_OTEL_EXPORTER_OTLP_TIMEOUT);
	o->span_timeout_ms = cfg_int(c->cfg, CFG_OTEL_BSP_EXPORT_TIMEOUT);
	o->interval_ms = cfg_int(c->cfg, CFG_OTEL_METRIC_EXPORT_INTERVAL);
	if (load_proxy(o, c->cfg, err, errlen) < 0 ||
	    load_endpoints(o, c->cfg, err, errlen) < 0 ||
	    load_headers(o, c->cfg, err, errlen) < 0)
		return -1;
	return load_tls(o, c->cfg, err, errlen);
}

/* see otel_int.h */
void
otel_conf_free(struct otel *o)
{
	size_t s;

	for (s = 0; s < OTEL_SIGNALS; s++) {
		free(o->ep[s].target);
		free(o->ep[s].authority);
	}
	if (o->headers != NULL) {
		util_wipe(o->headers, OTEL_HEAD_MAX / 2);
		free(o->headers);
	}
	if (o->proxy != NULL) {
		dial_proxy_wipe(o->proxy);
		free(o->proxy);
	}
	if (o->tc != NULL) {
		tls_upstream_wipe(o->tc);
		free(o->tc);
	}
	tls_upstream_config_free(o->tls);
}
