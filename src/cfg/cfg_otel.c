/*
 * The OpenTelemetry settings' own rules (issue #15), on the one validation
 * path: the protocol and sampler names, the key=value lists of
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS (W3C Baggage
 * syntax, as the OpenTelemetry SDKs read them), the client certificate and
 * key as a pair, and the batch size within the queue.  Errors name the
 * setting and the entry's position, never a header value (a secret).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/url.h"
#include "lib/util.h"
#include "tls/tls.h"

static bool
set(const struct cfg *c, enum cfg_key k)
{
	return c->slot[k].set;
}

static bool
one_of(const char *v, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return true;
	return false;
}

static bool
hexdig(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

/* A key: an RFC 9110 token (what an HTTP header name may be). */
static bool
key_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (strchr("!#$%&'*+-.^_`|~", p[i]) == NULL &&
		    !((p[i] >= '0' && p[i] <= '9') ||
			(p[i] >= 'a' && p[i] <= 'z') ||
			(p[i] >= 'A' && p[i] <= 'Z')))
			return false;
	return true;
}

/* A value: printable ASCII or blanks, '%' only as %XX. */
static bool
value_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    (unsigned char)p[i] > 0x7e)
			return false;
		if (p[i] == '%' &&
		    (i + 2 >= n || !hexdig(p[i + 1]) || !hexdig(p[i + 2])))
			return false;
	}
	return true;
}

static bool
blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int
hexval(char ch)
{
	return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* Percent-decode p[0..n) into out; returns the decoded length. */
static size_t
decode(const char *p, size_t n, char *out)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++, k++) {
		if (p[i] == '%') {
			out[k] =
			    (char)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
			i += 2;
		} else {
			out[k] = p[i];
		}
	}
	out[k] = '\0';
	return k;
}

/* key=value, blanks allowed around the key and the value. */
static bool
entry(const char *p, size_t n, char *scratch, cfg_kv_fn *fn, void *arg)
{
	const char *eq = memchr(p, '=', n), *k = p, *ke = eq, *v, *ve;
	size_t vlen;

	if (eq == NULL)
		return false;
	while (k < ke && blank(*k))
		k++;
	while (ke > k && blank(ke[-1]))
		ke--;
	for (v = eq + 1, ve = p + n; v < ve && blank(*v); v++)
		;
	while (ve > v && blank(ve[-1]))
		ve--;
	if (!key_ok(k, (size_t)(ke - k)) || !value_ok(v, (size_t)(ve - v)))
		return false;
	if (fn == NULL)
		return true;
	memcpy(scratch, k, (size_t)(ke - k));
	scratch[ke - k] = '\0';
	vlen = decode(v, (size_t)(ve - v), scratch + (ke - k) + 1);
	return fn(arg, scratch, (size_t)(ke - k), scratch + (ke - k) + 1, vlen);
}

/* see cfg.h */
int
cfg_otel_kv_parse(const char *s, char *scratch, cfg_kv_fn *fn, void *arg)
{
	const char *e;
	size_t n;
	int pos;

	for (pos = 1;; pos++) {
		e = strchr(s, ',');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		if (!entry(s, n, scratch, fn, arg))
			return pos;
		if (e == NULL)
			return 0;
		s = e + 1;
	}
}

/* A header value must stay one line once decoded: no control bytes but
 * HTAB (CR, LF, NUL, DEL). */
static bool
header_ok(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	size_t i;

	(void)arg;
	(void)k;
	(void)klen;
	for (i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') ||
		    v[i] == 0x7f)
			return false;
	return true;
}

static bool
any_ok(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	(void)arg;
	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	return true;
}

/* see cfg_int.h */
int
cfg_otel_kv_check(const char *s, bool header)
{
	char *scratch = malloc(strlen(s) + 2);
	int pos;

	if (scratch == NULL)
		return 1;
	pos = cfg_otel_kv_parse(s, scratch, header ? header_ok : any_ok, NULL);
	util_wipe(scratch, strlen(s) + 2);
	free(scratch);
	return pos;
}

static void
check_list(const struct cfg *c, enum cfg_key k, struct cfg_errors *errs)
{
	char w[128];
	int pos;

	if (!set(c, k) ||
	    (pos = cfg_otel_kv_check(
		 c->slot[k].str, k == CFG_OTEL_EXPORTER_OTLP_HEADERS)) == 0)
		return;
	cfg_source_fmt(c, k, w, sizeof(w));
	cfg_err(errs, false,
	    "%s: %s: entry %d is not key=value (a token, '=', a "
	    "percent-encoded value without control characters; entries "
	    "separated by ',')",
	    w, cfg_defs[k].name, pos);
}

static void
check_names(const struct cfg *c, struct cfg_errors *errs)
{
	static const char *const protocols[] = {"http/protobuf", "http/json"};
	static const char *const samplers[] = {"always_on", "always_off",
	    "traceidratio", "parentbased_always_on", "parentbased_always_off",
	    "parentbased_traceidratio"};
	const char *p = c->slot[CFG_OTEL_EXPORTER_OTLP_PROTOCOL].str;
	const char *s = c->slot[CFG_OTEL_TRACES_SAMPLER].str;

	if (p != NULL && !one_of(p, protocols, 2))
		cfg_err(errs, false,
		    "OTEL_EXPORTER_OTLP_PROTOCOL: \"%s\" is not supported "
		    "(http/protobuf or http/json)",
		    p);
	if (s != NULL && !one_of(s, samplers, 6))
		cfg_err(errs, false,
		    "OTEL_TRACES_SAMPLER: \"%s\" is not a sampler (always_on, "
		    "always_off, traceidratio, parentbased_always_on, "
		    "parentbased_always_off, parentbased_traceidratio)",
		    s);
}

/* A password in an endpoint URL would be sent nowhere and logged. */
static void
check_endpoint(const struct cfg *c, enum cfg_key k, struct cfg_errors *errs)
{
	const char *s = c->slot[k].str, *why;
	struct url u;

	if (set(c, k) && url_parse(s, strlen(s), &u, &why) &&
	    u.userinfo != NULL)
		cfg_err(errs, false,
		    "%s: credentials in the URL are not supported (use "
		    "OTEL_EXPORTER_OTLP_HEADERS)",
		    cfg_defs[k].name);
}

/* see cfg_int.h */
void
cfg_check_otel(const struct cfg *c, struct cfg_errors *errs)
{
	check_endpoint(c, CFG_OTEL_EXPORTER_OTLP_ENDPOINT, errs);
	check_endpoint(c, CFG_OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, errs);
	check_endpoint(c, CFG_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, errs);
	check_endpoint(c, CFG_OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, errs);
	check_names(c, errs);
	check_list(c, CFG_OTEL_RESOURCE_ATTRIBUTES, errs);
	check_list(c, CFG_OTEL_EXPORTER_OTLP_HEADERS, errs);
	if (set(c, CFG_OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE) !=
	    set(c, CFG_OTEL_EXPORTER_OTLP_CLIENT_KEY))
		cfg_err(errs, false,
		    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and "
		    "OTEL_EXPORTER_OTLP_CLIENT_KEY go together: set both or "
		    "neither");
	if (c->slot[CFG_OTEL_BSP_MAX_EXPORT_BATCH_SIZE].num >
	    c->slot[CFG_OTEL_BSP_MAX_QUEUE_SIZE].num)
		cfg_err(errs, false,
		    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (%lld) exceeds "
		    "OTEL_BSP_MAX_QUEUE_SIZE (%lld)",
		    (long long)c->slot[CFG_OTEL_BSP_MAX_EXPORT_BATCH_SIZE].num,
		    (long long)c->slot[CFG_OTEL_BSP_MAX_QUEUE_SIZE].num);
}

/* see cfg.h */
bool
cfg_otel_wants_tls(const struct cfg *c)
{
	static const enum cfg_key each[] = {
	    CFG_OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
	    CFG_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
	    CFG_OTEL_EXPORTER_OTLP_LOGS_ENDPOINT};
	const char *base = cfg_str(c, CFG_OTEL_EXPORTER_OTLP_ENDPOINT), *u;
	size_t i;

	if (cfg_bool(c, CFG_OTEL_SDK_DISABLED) ||
	    cfg_bool(c, CFG_TRAVERSAL_DISABLE_TELEMETRY))
		return false;
	for (i = 0; i < sizeof(each) / sizeof(each[0]); i++) {
		u = cfg_str(c, each[i]) != NULL ? cfg_str(c, each[i]) : base;
		if (u != NULL && strncmp(u, "https://", 8) == 0)
			return true;
	}
	return false;
}

/* see cfg.h */
int
cfg_otel_tls(const struct cfg *c, struct tls_upstream_config **out, char *err,
    size_t errlen)
{
	const char *ca = cfg_str(c, CFG_OTEL_EXPORTER_OTLP_CERTIFICATE);
	struct tls_upstream_opts to = {
	    .verify = true, .ca_what = "OTEL_EXPORTER_OTLP_CERTIFICATE"};
	struct cfg_pems id = {0};
	char *pem = NULL;
	size_t len = 0;
	int r;

	if (ca != NULL &&
	    (r = util_read_file(ca, CFG_SECRET_MAX, &pem, &len)) < 0) {
		snprintf(err, errlen, "OTEL_EXPORTER_OTLP_CERTIFICATE: %s: %s",
		    ca, strerror(-r));
		return -1;
	}
	/* The client certificate and key, both or neither (cfg_otel.c). */
	r = cfg_pems_load(c, CFG_OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
	    CFG_OTEL_EXPORTER_OTLP_CLIENT_KEY, CFG__COUNT, &id, err, errlen);
	if (r < 0 && r != -ENOENT) {
		free(pem);
		return -1;
	}
	to.ca = pem;
	to.ca_len = len;
	to.cert = id.cert;
	to.cert_len = id.cert_len;
	to.key = id.key;
	to.key_len = id.key_len;
	r = tls_upstream_config_new(out, &to, err, errlen);
	cfg_pems_free(&id);
	free(pem);
	return r < 0 ? -1 : 0;
}
