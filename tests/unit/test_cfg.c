/*
 * Unit tests: the configuration module (parser, values, loader, checks).
 * Real files in a temporary directory; no mocks.
 * Usage: test_cfg [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "cfg/cfg_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/netpolicy.h"
#include "tls/tls.h"

#define SECRET_B64 "U1VQRVJTRUNSRVRLRVlNQVRFUklBTA=="
#define SECRET_TEXT "SUPERSECRETKEYMATERIAL"

static char tmpdir[64];
static struct cfg_errors errs;

/* Write a file under tmpdir; returns its path (static storage per slot). */
static const char *
write_file(const char *name, const char *text)
{
	static char paths[4][128];
	static unsigned next;
	char *p = paths[next++ % 4];
	FILE *f;

	snprintf(p, 128, "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Load with a config file holding text and extra environment entries. */
static struct cfg *
load(
    const char *conf_text, const char *env0, const char *env1, const char *env2)
{
	static char confvar[160];
	char *envp[5] = {confvar, NULL, NULL, NULL, NULL};
	int n = 1;

	if (conf_text != NULL)
		snprintf(confvar, sizeof(confvar), "OUTPOST_CONFIG=%s",
		    write_file("outpost.conf", conf_text));
	else
		snprintf(confvar, sizeof(confvar), "OUTPOST_CONFIG=");
	if (env0)
		envp[n++] = (char *)env0;
	if (env1)
		envp[n++] = (char *)env1;
	if (env2)
		envp[n++] = (char *)env2;
	return cfg_load(envp, &errs);
}

/* The index of the first message containing all of a, b (b may be NULL). */
static int
find_msg(const char *a, const char *b)
{
	unsigned i;

	for (i = 0; i < errs.n; i++)
		if (strstr(errs.msg[i].text, a) &&
		    (b == NULL || strstr(errs.msg[i].text, b)))
			return (int)i;
	return -1;
}

static void
assert_msg(const char *a, const char *b)
{
	if (find_msg(a, b) < 0) {
		cfg_errors_print(&errs, 2);
		fail_msg("no message with \"%s\" and \"%s\"", a, b ? b : "");
	}
}

static void
assert_no_secret(void)
{
	unsigned i;

	for (i = 0; i < errs.n; i++) {
		assert_null(strstr(errs.msg[i].text, SECRET_B64));
		assert_null(strstr(errs.msg[i].text, "U1VQRVJTRUNS"));
		assert_null(strstr(errs.msg[i].text, SECRET_TEXT));
	}
}

/* One load that must fail with exactly one error matching a and b. */
static void
expect_one_error(
    const char *conf, const char *env, const char *a, const char *b)
{
	struct cfg *c = load(conf, env, NULL, NULL);

	assert_null(c);
	if (errs.n_errors != 1)
		cfg_errors_print(&errs, 2);
	assert_int_equal(errs.n_errors, 1);
	assert_msg(a, b);
}

/* --- defaults and getters --------------------------------------------- */

static void
cfg_defaults(void **state)
{
	struct cfg *c = load(NULL, NULL, NULL, NULL);

	assert_non_null(c);
	assert_int_equal(errs.n_errors, 0);
	assert_int_equal(cfg_int(c, CFG_HTTP_PORT), 8080);
	assert_int_equal(cfg_int(c, CFG_MAX_TUNNELS_ALLOWED), 2);
	assert_int_equal(cfg_int(c, CFG_MAX_CONCURRENT_REQUESTS), 10);
	assert_int_equal(cfg_int(c, CFG_RECONNECT_INTERVAL), 5000);
	assert_int_equal(cfg_int(c, CFG_MAX_BACKOFF_DELAY), 60000);
	assert_int_equal(cfg_int(c, CFG_REQUEST_TIMEOUT), 60000);
	assert_int_equal(cfg_int(c, CFG_MAX_REQUEST_BODY_SIZE_MB), 32 << 20);
	assert_int_equal(cfg_int(c, CFG_MAX_RESPONSE_BODY_SIZE_MB), 32 << 20);
	assert_int_equal(cfg_int(c, CFG_REDACTION_RELOAD_INTERVAL), 10000);
	assert_int_equal(cfg_int(c, CFG_DRAIN_TIMEOUT), 30000);
	assert_int_equal(cfg_int(c, CFG_DIAL_BUDGET), 30);
	assert_int_equal(cfg_int(c, CFG_HEALTH_MAX_CONNECTIONS), 64);
	assert_int_equal(cfg_int(c, CFG_HEALTH_HEADER_TIMEOUT), 5000);
	assert_int_equal(cfg_int(c, CFG_ENV_LEVEL), LOG_INFO);
	assert_true(cfg_bool(c, CFG_UPSTREAM_TLS_VERIFY));
	assert_false(cfg_bool(c, CFG_ALLOW_INSECURE_CONTROLLER));
	assert_false(cfg_is_set(c, CFG_HTTP_PORT));
	assert_string_equal(
	    cfg_str(c, CFG_OUTPOST_CONFIG), "/config/outpost.conf");
	assert_null(cfg_str(c, CFG_TRAVERSAL_CONTROLLER_URL));
	assert_string_equal(cfg_key_name(CFG_HTTP_PORT), "HTTP_PORT");
	cfg_free(c);
}

/* Every default in the table passes its own type and bounds. */
static void
cfg_table_sane(void **state)
{
	char why[200];
	int64_t num;
	int k, twin;

	for (k = 0; k < CFG__COUNT; k++) {
		const struct cfg_def *d = &cfg_defs[k];

		assert_non_null(d->doc);
		assert_null(strchr(d->doc, '|'));
		if (d->def != NULL &&
		    !cfg_value_parse(d, d->def, &num, why, sizeof(why)))
			fail_msg("%s: default: %s", d->name, why);
		if (d->type == CFG_T_B64) {
			assert_true(d->flags & CFG_F_SECRET);
			twin = cfg_pair((enum cfg_key)k);
			assert_true(twin >= 0);
			assert_true(cfg_defs[twin].flags & CFG_F_SECRET_FILE);
		}
	}
}

/* Does a debug line reach the log?  (cfg_load applies ENV_LEVEL.) */
static bool
logs_debug(void)
{
	char out[256];
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	log_set_fd(fds[1]);
	log_debug("probe");
	log_set_fd(2);
	n = read(fds[0], out, sizeof(out));
	close(fds[0]);
	close(fds[1]);
	return n > 0;
}

static void
cfg_getters_typed(void **state)
{
	struct cfg *c = load("HTTP_PORT=9001\nRECONNECT_INTERVAL=1m30s\n"
			     "MAX_REQUEST_BODY_SIZE_MB=2\nENV_LEVEL=debug\n"
			     "UPSTREAM_TLS_VERIFY=0\nHANDSHAKE_TIMEOUT=500ms\n"
			     "CONNECT_TIMEOUT=7\nMAX_BACKOFF_DELAY=2m\n",
	    NULL, NULL, NULL);

	assert_non_null(c);
	assert_int_equal(cfg_int(c, CFG_HTTP_PORT), 9001);
	assert_true(cfg_is_set(c, CFG_HTTP_PORT));
	assert_string_equal(cfg_str(c, CFG_HTTP_PORT), "9001");
	assert_int_equal(cfg_int(c, CFG_RECONNECT_INTERVAL), 90000);
	assert_int_equal(cfg_int(c, CFG_MAX_REQUEST_BODY_SIZE_MB), 2 << 20);
	assert_int_equal(cfg_int(c, CFG_ENV_LEVEL), LOG_DEBUG);
	assert_false(cfg_bool(c, CFG_UPSTREAM_TLS_VERIFY));
	assert_int_equal(cfg_int(c, CFG_HANDSHAKE_TIMEOUT), 500);
	assert_int_equal(cfg_int(c, CFG_CONNECT_TIMEOUT), 7000);
	cfg_free(c);
	assert_true(logs_debug());
	c = load("ENV_LEVEL=warn\n", NULL, NULL, NULL);
	assert_non_null(c);
	assert_false(logs_debug());
	cfg_free(c);
	log_set_level(LOG_INFO);
}

/* --- one test per error path -------------------------------------------- */

static void
cfg_unknown_key_did_you_mean(void **state)
{
	expect_one_error("# comment\nMAX_TUNELS_ALLOWED=3\n", NULL,
	    "outpost.conf:2: MAX_TUNELS_ALLOWED: unknown setting",
	    "did you mean MAX_TUNNELS_ALLOWED?");
	expect_one_error("http_port=1\n", NULL, "http_port: unknown",
	    "did you mean HTTP_PORT?");
	expect_one_error("COMPLETELY_UNRELATED=1\n", NULL,
	    "COMPLETELY_UNRELATED: unknown setting", NULL);
	assert_int_equal(find_msg("did you mean", NULL), -1);
}

static void
cfg_bad_int(void **state)
{
	expect_one_error("MAX_TUNNELS_ALLOWED=two\n", NULL,
	    "outpost.conf:1: MAX_TUNNELS_ALLOWED: invalid integer \"two\"",
	    NULL);
	expect_one_error(
	    NULL, "HTTP_PORT=80x", "environment: HTTP_PORT", "invalid integer");
	expect_one_error(NULL, "DIAL_BUDGET=99999999999999999999",
	    "DIAL_BUDGET: invalid integer", NULL);
	expect_one_error(
	    NULL, "DIAL_BUDGET=\n5", "DIAL_BUDGET: invalid integer", NULL);
	expect_one_error(
	    NULL, "DIAL_BUDGET=5 ", "DIAL_BUDGET: invalid integer", NULL);
}

static void
cfg_out_of_range(void **state)
{
	expect_one_error(NULL, "MAX_TUNNELS_ALLOWED=-1",
	    "environment: MAX_TUNNELS_ALLOWED: out of range (1..64)", NULL);
	expect_one_error(
	    "HTTP_PORT=65536\n", NULL, "HTTP_PORT", "out of range (1..65535)");
	expect_one_error("REQUEST_TIMEOUT=50ms\n", NULL, "REQUEST_TIMEOUT",
	    "out of range (100ms..1h)");
	expect_one_error("MAX_REQUEST_BODY_SIZE_MB=0\n", NULL,
	    "MAX_REQUEST_BODY_SIZE_MB", "out of range (1..1024)");
}

static void
cfg_bad_duration(void **state)
{
	expect_one_error("RECONNECT_INTERVAL=5x\n", NULL,
	    "RECONNECT_INTERVAL: invalid duration \"5x\"", NULL);
	expect_one_error(
	    NULL, "DRAIN_TIMEOUT=-5s", "DRAIN_TIMEOUT", "invalid duration");
}

/* RENEW_AT: "2/3" or a decimal, in permille, within 0.1..0.95;
 * OTEL_TRACES_SAMPLER_ARG also as 0, 1 and 1.0. */
static void
cfg_fraction(void **state)
{
	static const struct {
		const char *env;
		int64_t permille;
	} ok[] = {{"RENEW_AT=2/3", 666}, {"RENEW_AT=0.75", 750},
	    {"RENEW_AT=0.5", 500}, {"RENEW_AT=0.125", 125},
	    {"RENEW_AT=9/10", 900}, {"OTEL_TRACES_SAMPLER_ARG=0", 0},
	    {"OTEL_TRACES_SAMPLER_ARG=1", 1000},
	    {"OTEL_TRACES_SAMPLER_ARG=1.0", 1000},
	    {"OTEL_TRACES_SAMPLER_ARG=0.001", 1}};
	struct cfg *c;
	size_t i;

	c = load(NULL, NULL, NULL, NULL);
	assert_int_equal(cfg_int(c, CFG_RENEW_AT), 666);
	cfg_free(c);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		c = load(NULL, ok[i].env, NULL, NULL);
		assert_non_null(c);
		assert_int_equal(cfg_int(c,
				     strncmp(ok[i].env, "RENEW", 5) == 0
					 ? CFG_RENEW_AT
					 : CFG_OTEL_TRACES_SAMPLER_ARG),
		    ok[i].permille);
		cfg_free(c);
	}
	expect_one_error(
	    NULL, "RENEW_AT=1/20", "RENEW_AT", "out of range (0.100..0.950)");
	expect_one_error(
	    NULL, "RENEW_AT=1", "RENEW_AT", "out of range (0.100..0.950)");
	expect_one_error(NULL, "OTEL_TRACES_SAMPLER_ARG=1.5",
	    "OTEL_TRACES_SAMPLER_ARG", "invalid fraction");
	expect_one_error(NULL, "OTEL_TRACES_SAMPLER_ARG=0.0001",
	    "OTEL_TRACES_SAMPLER_ARG", "invalid fraction");
	expect_one_error(
	    NULL, "RENEW_AT=0.3333", "RENEW_AT", "invalid fraction");
	expect_one_error(NULL, "RENEW_AT=2/0", "RENEW_AT", "invalid fraction");
	expect_one_error(NULL, "RENEW_AT=-1/3", "RENEW_AT", "invalid fraction");
	expect_one_error(NULL, "RENEW_AT=0.x", "RENEW_AT", "invalid fraction");
	expect_one_error(NULL, "RENEW_AT=2/3x", "RENEW_AT", "invalid fraction");
}

static void
cfg_bad_bool(void **state)
{
	expect_one_error("UPSTREAM_TLS_VERIFY=yes\n", NULL,
	    "UPSTREAM_TLS_VERIFY: invalid bool \"yes\"", NULL);
}

static void
cfg_bad_level(void **state)
{
	expect_one_error(
	    "ENV_LEVEL=loud\n", NULL, "ENV_LEVEL: invalid level", NULL);
}

/* The anchor's deployment levels start (its image sets production). */
static void
cfg_anchor_levels(void **state)
{
	struct cfg *c = load("ENV_LEVEL=production\n", NULL, NULL, NULL);

	assert_non_null(c);
	assert_int_equal(cfg_int(c, CFG_ENV_LEVEL), LOG_INFO);
	cfg_free(c);
	c = load(NULL, "ENV_LEVEL=development", NULL, NULL);
	assert_non_null(c);
	assert_int_equal(cfg_int(c, CFG_ENV_LEVEL), LOG_DEBUG);
	cfg_free(c);
	log_set_level(LOG_INFO);
}

static void
cfg_bad_url(void **state)
{
	expect_one_error(NULL, "TRAVERSAL_CONTROLLER_URL=nope",
	    "environment: TRAVERSAL_CONTROLLER_URL: invalid URL", NULL);
	expect_one_error("EGRESS_PROXY_URL=ftp://proxy:21\n", NULL,
	    "EGRESS_PROXY_URL: invalid URL", NULL);
	/* A URL is never quoted back: it may carry a password. */
	expect_one_error(NULL, "EGRESS_PROXY_URL=http://u:hunter2@",
	    "EGRESS_PROXY_URL: invalid URL", NULL);
	assert_null(strstr(errs.msg[0].text, "hunter2"));
}

/* What run parses at start is refused by cfg_load() (issue 10 item 7). */
static void
cfg_start_values_checked(void **state)
{
	expect_one_error(
	    NULL, "DNS_SERVERS=garbage", "environment: DNS_SERVERS: ", NULL);
	expect_one_error(NULL, "NTP_SERVERS=,,,",
	    "environment: NTP_SERVERS: names no server", NULL);
	expect_one_error("NTP_SERVERS=a:0\n", NULL,
	    "outpost.conf:1: NTP_SERVERS: bad server 'a:0'", NULL);
	expect_one_error(NULL, "EGRESS_PROXY_URL=https://p.example:3128",
	    "environment: EGRESS_PROXY_URL: https proxies", NULL);
	expect_one_error(NULL,
	    "TRAVERSAL_CONTROLLER_URL=https://u:pw@e.example",
	    "TRAVERSAL_CONTROLLER_URL: credentials in the URL", NULL);
	assert_int_equal(find_msg("pw@", NULL), -1);
	cfg_free(load(NULL, "DNS_SERVERS=127.0.0.1:53,[::1]:53",
	    "NTP_SERVERS=pool.example,[::1]:123",
	    "EGRESS_PROXY_URL=http://p:1"));
	assert_int_equal(errs.n_errors, 0);
}

/* SESSION_ALLOW through the matcher's parser; the policy is exposed. */
static void
cfg_session_allow(void **state)
{
	struct cfg *c;

	expect_one_error(NULL, "SESSION_ALLOW=db.internal:5432,10.0.0.0/8",
	    "environment: SESSION_ALLOW: entry 2 \"10.0.0.0/8\": missing "
	    "':port'",
	    NULL);
	expect_one_error("SESSION_ALLOW=[fd00::/8]:22-21\n", NULL,
	    "outpost.conf:1: SESSION_ALLOW: entry 1", "reversed");
	c = load(NULL, NULL, NULL, NULL);
	assert_non_null(c);
	assert_null(cfg_policy(c, CFG_SESSION_ALLOW));
	assert_null(cfg_policy(c, CFG_HTTP_PORT));
	cfg_free(c);
	c = load(NULL, "SESSION_ALLOW=", NULL, NULL);
	assert_null(cfg_policy(c, CFG_SESSION_ALLOW));
	cfg_free(c);
	c = load(
	    NULL, "SESSION_ALLOW=db.internal:5432, 10.0.0.0/8:22", NULL, NULL);
	assert_non_null(c);
	assert_non_null(cfg_policy(c, CFG_SESSION_ALLOW));
	assert_int_equal(netpolicy_count(cfg_policy(c, CFG_SESSION_ALLOW)), 2);
	assert_int_equal(netpolicy_check_name(cfg_policy(c, CFG_SESSION_ALLOW),
			     "db.internal", 5432),
	    NETPOLICY_ALLOW);
	cfg_free(c);
}

/* EGRESS_ALLOW: the same parser; unset is every address but the special. */
static void
cfg_egress_allow(void **state)
{
	struct cfg *c;

	expect_one_error(NULL, "EGRESS_ALLOW=*.corp:443,[::1]:0",
	    "environment: EGRESS_ALLOW: entry 2 \"[::1]:0\": port", NULL);
	c = load(NULL, NULL, NULL, NULL);
	assert_ptr_equal(cfg_policy(c, CFG_EGRESS_ALLOW), netpolicy_any());
	cfg_free(c);
	c = load("EGRESS_ALLOW=10.0.0.0/8:443\n", NULL, NULL, NULL);
	assert_non_null(c);
	assert_int_equal(
	    netpolicy_check_name(cfg_policy(c, CFG_EGRESS_ALLOW), "x", 443),
	    NETPOLICY_RESOLVE);
	assert_int_equal(
	    netpolicy_check_name(cfg_policy(c, CFG_EGRESS_ALLOW), "x", 80),
	    NETPOLICY_DENY);
	cfg_free(c);
}

static void
cfg_secret_in_file_refused(void **state)
{
	expect_one_error("TLS_KEY_BASE64=" SECRET_B64 "\n", NULL,
	    "outpost.conf:1: TLS_KEY_BASE64: secrets are refused",
	    "TLS_KEY_FILE");
	assert_no_secret();
}

static void
cfg_secret_file_path_in_file_ok(void **state)
{
	char conf[256];
	uint8_t *out;
	size_t len;
	struct cfg *c;

	snprintf(conf, sizeof(conf), "TLS_KEY_FILE=%s\nTLS_CERT_FILE=%s\n",
	    write_file("key.pem", SECRET_TEXT), write_file("cert.pem", "C"));
	c = load(conf, NULL, NULL, NULL);
	assert_non_null(c);
	assert_int_equal(cfg_secret(c, CFG_TLS_KEY_BASE64, &out, &len), 0);
	assert_int_equal(len, strlen(SECRET_TEXT));
	assert_memory_equal(out, SECRET_TEXT, len);
	util_wipe(out, len);
	free(out);
	assert_int_equal(cfg_secret(c, CFG_TLS_CA_BASE64, &out, &len), -ENOENT);
	assert_int_equal(cfg_secret(c, CFG_HTTP_PORT, &out, &len), -EINVAL);
	cfg_free(c);
}

static void
cfg_secret_from_env_decoded(void **state)
{
	struct cfg *c = load(NULL, "TLS_KEY_BASE64=" SECRET_B64,
	    "TLS_CERT_BASE64=Q0VSVA==", NULL);
	uint8_t *out;
	size_t len;

	assert_non_null(c);
	assert_int_equal(cfg_secret(c, CFG_TLS_KEY_BASE64, &out, &len), 0);
	assert_int_equal(len, strlen(SECRET_TEXT));
	assert_memory_equal(out, SECRET_TEXT, len);
	util_wipe(out, len);
	free(out);
	cfg_free(c);
}

/* The anchor's *_BASE64 settings also take the PEM text itself. */
static void
cfg_secret_pem_text_as_is(void **state)
{
#define PEM_KEY \
	"\n-----BEGIN PRIVATE KEY-----\n" SECRET_TEXT \
	"\n-----END PRIVATE KEY-----\n"
	static const char pem[] = PEM_KEY;
	struct cfg *c = load(
	    NULL, "TLS_KEY_BASE64=" PEM_KEY, "TLS_CERT_BASE64=Q0VSVA==", NULL);
	uint8_t *out;
	size_t len;

	assert_non_null(c);
	assert_int_equal(cfg_secret(c, CFG_TLS_KEY_BASE64, &out, &len), 0);
	assert_int_equal(len, strlen(pem));
	assert_memory_equal(out, pem, len);
	util_wipe(out, len);
	free(out);
	cfg_free(c);
	/* Not PEM (the marker is not at the start) and not base64 either. */
	expect_one_error(NULL, "TLS_KEY_BASE64=x-----BEGIN " SECRET_TEXT,
	    "environment: TLS_KEY_BASE64: not valid base64 or PEM", NULL);
	assert_no_secret();
	/* Base64 that decodes to nothing is no value. */
	expect_one_error(NULL, "TLS_KEY_BASE64= \n",
	    "environment: TLS_KEY_BASE64: not valid base64 or PEM", NULL);
}

static void
cfg_secret_file_missing(void **state)
{
	expect_one_error(NULL, "TLS_CA_FILE=/nonexistent/ca.pem",
	    "environment: TLS_CA_FILE: /nonexistent/ca.pem", "No such file");
	expect_one_error(
	    NULL, "TLS_CA_FILE=/", "TLS_CA_FILE", "not a regular file");
}

static void
cfg_base64_and_file_both(void **state)
{
	char conf[200];

	snprintf(
	    conf, sizeof(conf), "TLS_CA_FILE=%s\n", write_file("ca", "CA"));
	expect_one_error(conf, "TLS_CA_BASE64=" SECRET_B64,
	    "environment: TLS_CA_BASE64: conflicts with TLS_CA_FILE",
	    "outpost.conf:1");
	assert_no_secret();
}

static void
cfg_bad_base64(void **state)
{
	expect_one_error(NULL, "TLS_KEY_BASE64=" SECRET_TEXT "!",
	    "environment: TLS_KEY_BASE64: not valid base64", NULL);
	assert_no_secret();
}

static void
cfg_cert_without_key(void **state)
{
	expect_one_error(NULL, "TLS_CERT_BASE64=Q0VSVA==",
	    "TLS_CERT_BASE64: needs TLS_KEY_BASE64 or TLS_KEY_FILE", NULL);
}

/*
 * cfg_pems_tls_opts(), the one copy of an identity into TLS options (run,
 * check-config and the edge use it): a client gets certificate, key and
 * CA (NULL here: the system bundle), a server certificate and key; what
 * else the options hold is left alone.
 */
static void
cfg_pems_into_tls_opts(void **state)
{
	struct cfg *c =
	    load(NULL, "TLS_CERT_BASE64=Q0VSVA==", "TLS_KEY_BASE64=S0VZ", NULL);
	struct tls_client_opts co = {.server_name = "edge", .ca_len = 9};
	struct tls_server_opts so = {.client_ca = "x", .client_ca_len = 1};
	struct cfg_pems p;
	char err[128] = "";

	assert_non_null(c);
	assert_int_equal(
	    cfg_pems_load(c, CFG_TLS_CERT_BASE64, CFG_TLS_KEY_BASE64,
		CFG_TLS_CA_BASE64, &p, err, sizeof(err)),
	    0);
	cfg_pems_tls_opts(&p, &co, NULL);
	assert_ptr_equal(co.cert, p.cert);
	assert_int_equal(co.cert_len, 4);
	assert_ptr_equal(co.key, p.key);
	assert_int_equal(co.key_len, 3);
	assert_null(co.ca);
	assert_int_equal(co.ca_len, 0);
	assert_string_equal(co.server_name, "edge");
	cfg_pems_tls_opts(&p, NULL, &so);
	assert_ptr_equal(so.cert, p.cert);
	assert_int_equal(so.cert_len, 4);
	assert_ptr_equal(so.key, p.key);
	assert_int_equal(so.key_len, 3);
	assert_string_equal(so.client_ca, "x");
	cfg_pems_free(&p);
	cfg_free(c);
}

static void
cfg_backoff_below_interval(void **state)
{
	expect_one_error("RECONNECT_INTERVAL=10s\n", "MAX_BACKOFF_DELAY=2s",
	    "environment: MAX_BACKOFF_DELAY: 2s is shorter than "
	    "RECONNECT_INTERVAL (10s)",
	    NULL);
}

static void
cfg_controller_plaintext(void **state)
{
	struct cfg *c;

	expect_one_error(NULL, "TRAVERSAL_CONTROLLER_URL=http://edge.example",
	    "TRAVERSAL_CONTROLLER_URL: http:// (no TLS)", NULL);
	c = load(
	    NULL, "TRAVERSAL_CONTROLLER_URL=http://127.0.0.1:9000", NULL, NULL);
	assert_non_null(c);
	cfg_free(c);
	c = load(
	    NULL, "TRAVERSAL_CONTROLLER_URL=http://[::1]:9000", NULL, NULL);
	assert_non_null(c);
	cfg_free(c);
	c = load("ALLOW_INSECURE_CONTROLLER=true\n",
	    "TRAVERSAL_CONTROLLER_URL=http://edge.example", NULL, NULL);
	assert_non_null(c);
	cfg_free(c);
	c = load(
	    NULL, "TRAVERSAL_CONTROLLER_URL=https://edge.example", NULL, NULL);
	assert_non_null(c);
	assert_int_equal(errs.n_warnings, 0);
	cfg_free(c);
}

static void
cfg_unterminated_quote(void **state)
{
	expect_one_error("ENV_NAME=\"abc\n", NULL,
	    "outpost.conf:1: ENV_NAME: unterminated double quote", NULL);
	expect_one_error("\nENV_NAME='abc\n", NULL,
	    "outpost.conf:2: ENV_NAME: unterminated single quote", NULL);
	expect_one_error("ENV_NAME=\"a\" b\n", NULL,
	    "ENV_NAME: unexpected text after the closing quote", NULL);
	expect_one_error(
	    "ENV_NAME=\"a\\qb\"\n", NULL, "ENV_NAME: unknown escape", NULL);
	expect_one_error(
	    "just words\n", NULL, "outpost.conf:1: just", "expected '='");
	expect_one_error("ENV_NAME=x\n\xef\xbb\xbfHTTP_PORT=1\n", NULL,
	    "outpost.conf:2: expected KEY=VALUE", NULL);
}

static void
cfg_overlong_line(void **state)
{
	size_t n = CFG_LINE_MAX + 100;
	char *text = malloc(n + 32);

	strcpy(text, "ENV_NAME=");
	memset(text + 9, 'x', n);
	strcpy(text + 9 + n, "\nHTTP_PORT=9\n");
	expect_one_error(
	    text, NULL, "outpost.conf:1: ENV_NAME: line too long", NULL);
	free(text);
}

static void
cfg_too_many_lines(void **state)
{
	size_t i, n = CFG_LINES_MAX + 5;
	char *text = malloc(n * 20 + 1), *p = text;

	for (i = 0; i < n; i++)
		p += sprintf(p, "HTTP_PORT=%zu\n", 1000 + i);
	expect_one_error(text, NULL, "too many lines (max 2000)", NULL);
	assert_msg(":2001:", NULL);
	free(text);
}

static void
cfg_missing_files(void **state)
{
	char *envp[] = {"OUTPOST_CONFIG=/nonexistent/outpost.conf", NULL};
	char *envp2[] = {"OUTPOST_CONFIG=", "ENV_FILE=/nonexistent/env", NULL};

	assert_null(cfg_load(envp, &errs));
	assert_msg("environment: OUTPOST_CONFIG: cannot open "
		   "/nonexistent/outpost.conf",
	    NULL);
	assert_null(cfg_load(envp2, &errs));
	assert_msg("environment: ENV_FILE: cannot open /nonexistent/env", NULL);
	expect_one_error("ENV_FILE=/nonexistent/env2\n", NULL,
	    "outpost.conf:1: ENV_FILE: cannot open", NULL);
}

static void
cfg_env_only_and_no_recursion(void **state)
{
	char env[200];

	expect_one_error("OUTPOST_CONFIG=/x\n", NULL,
	    "OUTPOST_CONFIG: can only be set in the environment", NULL);
	snprintf(env, sizeof(env), "ENV_FILE=%s",
	    write_file("env", "ENV_FILE=/other\n"));
	expect_one_error(
	    NULL, env, "env:1: ENV_FILE: cannot be set inside", NULL);
}

/* --- sources ------------------------------------------------------------ */

static void
cfg_precedence(void **state)
{
	char conf[256];
	struct cfg *c;

	snprintf(conf, sizeof(conf),
	    "MAX_TUNNELS_ALLOWED=3\nHTTP_PORT=9001\nENV_NAME=from-file\n"
	    "DIAL_BUDGET=7\nENV_FILE=%s\n",
	    write_file("dotenv",
		"MAX_TUNNELS_ALLOWED=4\nexport HTTP_PORT=9002\n"
		"DIAL_BUDGET=\n"));
	c = load(conf, "MAX_TUNNELS_ALLOWED=5", "UNRELATED=1", NULL);
	assert_non_null(c);
	assert_int_equal(cfg_int(c, CFG_MAX_TUNNELS_ALLOWED), 5);
	assert_int_equal(cfg_int(c, CFG_HTTP_PORT), 9002);
	assert_string_equal(cfg_str(c, CFG_ENV_NAME), "from-file");
	/* An empty value means unset at that level: the default returns. */
	assert_int_equal(cfg_int(c, CFG_DIAL_BUDGET), 30);
	assert_false(cfg_is_set(c, CFG_DIAL_BUDGET));
	cfg_free(c);
}

static void
cfg_alias(void **state)
{
	struct cfg *c = load(NULL, "PAM_AGENT_DATA_DIR=/var/lib/a", NULL, NULL);

	assert_non_null(c);
	assert_string_equal(cfg_str(c, CFG_DATA_DIR), "/var/lib/a");
	assert_true(cfg_is_set(c, CFG_DATA_DIR));
	cfg_free(c);
	c = load(NULL, "DATA_DIR=/data", "PAM_AGENT_DATA_DIR=/old", NULL);
	assert_non_null(c);
	assert_string_equal(cfg_str(c, CFG_DATA_DIR), "/data");
	assert_msg("PAM_AGENT_DATA_DIR: ignored, DATA_DIR is also set", NULL);
	cfg_free(c);
	c = load("PAM_AGENT_DATA_DIR=/old\nDATA_DIR=/new\n", NULL, NULL, NULL);
	assert_non_null(c);
	assert_string_equal(cfg_str(c, CFG_DATA_DIR), "/new");
	cfg_free(c);
}

static void
cfg_env_unknown_warns(void **state)
{
	struct cfg *c =
	    load(NULL, "MAX_TUNNEL_ALLOWED=3", "HTTP_PROXY=x", "PATH=/bin");

	assert_non_null(c);
	assert_int_equal(errs.n_errors, 0);
	assert_msg("environment: MAX_TUNNEL_ALLOWED: not a setting",
	    "did you mean MAX_TUNNELS_ALLOWED?");
	assert_int_equal(find_msg("HTTP_PROXY", NULL), -1);
	assert_int_equal(find_msg("PATH", NULL), -1);
	cfg_free(c);
}

/* Many defects in one go: each is reported with its own line. */
static void
cfg_all_errors_at_once(void **state)
{
	struct cfg *c = load("MAX_TUNELS_ALLOWED=3\n"
			     "HTTP_PORT=0\n"
			     "RECONNECT_INTERVAL=soon\n"
			     "UPSTREAM_TLS_VERIFY=maybe\n"
			     "TLS_KEY_BASE64=" SECRET_B64 "\n"
			     "ENV_NAME=\"open\n"
			     "TRAVERSAL_CONTROLLER_URL=ftp://x\n",
	    "MAX_TUNNELS_ALLOWED=-1", "TLS_CERT_BASE64=" SECRET_TEXT "!", NULL);

	assert_null(c);
	assert_int_equal(errs.n_errors, 9);
	assert_msg("outpost.conf:1: MAX_TUNELS_ALLOWED", NULL);
	assert_msg("outpost.conf:2: HTTP_PORT", NULL);
	assert_msg("outpost.conf:3: RECONNECT_INTERVAL", NULL);
	assert_msg("outpost.conf:4: UPSTREAM_TLS_VERIFY", NULL);
	assert_msg("outpost.conf:5: TLS_KEY_BASE64", NULL);
	assert_msg("outpost.conf:6: ENV_NAME", NULL);
	assert_msg("outpost.conf:7: TRAVERSAL_CONTROLLER_URL", NULL);
	assert_msg("environment: MAX_TUNNELS_ALLOWED", NULL);
	assert_msg("environment: TLS_CERT_BASE64", NULL);
	assert_no_secret();
}

static void
cfg_errors_overflow_counted(void **state)
{
	char *text = malloc(100 * 16), *p = text;
	int i;

	for (i = 0; i < 100; i++)
		p += sprintf(p, "BOGUS_%d=1\n", i);
	assert_null(load(text, NULL, NULL, NULL));
	assert_int_equal(errs.n_errors, 100);
	assert_int_equal(errs.n, CFG_ERRORS_MAX);
	free(text);
}

/* --- the parser ---------------------------------------------------------- */

struct rec {
	char out[4096];
	size_t len;
};

static void
rec_entry(void *arg, const struct cfg_entry *e)
{
	struct rec *r = arg;

	r->len += (size_t)snprintf(r->out + r->len, sizeof(r->out) - r->len,
	    "%u|%s|%s|%s\n", e->line, e->key ? e->key : "-",
	    e->value ? e->value : "-", e->error ? e->error : "-");
}

static const char parse_input[] = "\xef\xbb\xbf# comment after a BOM\n"
				  "\n"
				  "   \t\n"
				  "A=plain value   # trailing comment\n"
				  "export B = \"x\\\"y\\n\\t\\\\z\\$\" # c\n"
				  "C='lit\\eral \"q\"'\n"
				  "D=\r\n"
				  "E=a#b\n"
				  "F=#all comment\n"
				  "G=\"unterminated\n"
				  "1BAD=x\n"
				  "H x\n"
				  "I=nul\0byte\n"
				  "J=last-no-newline";

static const char parse_expect[] = "4|A|plain value|-\n"
				   "5|B|x\"y\n\t\\z$|-\n"
				   "6|C|lit\\eral \"q\"|-\n"
				   "7|D||-\n"
				   "8|E|a#b|-\n"
				   "9|F||-\n"
				   "10|G|-|unterminated double quote\n"
				   "11|-|-|expected KEY=VALUE\n"
				   "12|H|-|expected '=' after the key\n"
				   "13|-|-|NUL byte in line\n"
				   "14|J|last-no-newline|-\n";

/* Feed src in pieces of step bytes (0: all at once). */
static void
parse_in_steps(const char *src, size_t n, size_t step, struct rec *r)
{
	struct cfg_parser *p = malloc(sizeof(*p));
	size_t i, k;

	memset(r, 0, sizeof(*r));
	cfg_parser_init(p, rec_entry, r);
	for (i = 0; i < n; i += k) {
		k = step == 0 ? n : MIN(step, n - i);
		cfg_parser_feed(p, src + i, k);
	}
	cfg_parser_finish(p);
	cfg_parser_wipe(p);
	free(p);
}

static void
cfg_parser_whole_and_bytewise(void **state)
{
	size_t n = sizeof(parse_input) - 1, pagesz = (size_t)getpagesize();
	struct rec whole, step;
	char *map, *src;

	parse_in_steps(parse_input, n, 0, &whole);
	assert_string_equal(whole.out, parse_expect);
	parse_in_steps(parse_input, n, 1, &step);
	assert_string_equal(step.out, parse_expect);
	parse_in_steps(parse_input, n, 7, &step);
	assert_string_equal(step.out, parse_expect);

	/* Input that ends exactly at a guard page: no read past the end. */
	map = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pagesz, pagesz, PROT_NONE), 0);
	src = map + pagesz - n;
	memcpy(src, parse_input, n);
	parse_in_steps(src, n, 0, &whole);
	assert_string_equal(whole.out, parse_expect);
	parse_in_steps(src, n, 1, &step);
	assert_string_equal(step.out, parse_expect);
	munmap(map, 2 * pagesz);
}

static void
cfg_duration_values(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {{"500ms", 500}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000},
	    {"1m30s", 90000}, {"0", 0}, {"10", 10000}, {"1h2m3s4ms", 3723004},
	    /* Go's time.ParseDuration forms, in whole milliseconds. */
	    {"1.5s", 1500}, {"0.5m", 30000}, {".5s", 500}, {"1.s", 1000},
	    {"1.25h", 4500000}, {"2h45m", 9900000}, {"1.5ms500us", 2},
	    {"1500000us", 1500}, {"1000000ns", 1}, {"3\xc2\xb5s997us", 1},
	    {"0.001s", 1}, {"0.0010000000000s", 1}, {"1m0.5s", 60500},
	    {"2562047h", 2562047LL * 3600000}, {"1s.5s", 1500}};
	static const char *const bad[] = {"", "s", "5x", "5 s", "-1", "+1",
	    "5S", "ms", "99999999999999999999h", "5s ", " 5s", ".s", "1..5s",
	    "1.5", "-1.5s", "1.5.s", "0.0001s", "1ns", "1.0000000001s", "5min",
	    "1e3s", "1,5s", "2562048h"};
	int64_t ms;
	size_t i;

	for (i = 0; i < nitems(ok); i++) {
		if (!cfg_duration_parse(ok[i].s, &ms))
			fail_msg("rejected duration \"%s\"", ok[i].s);
		assert_int_equal(ms, ok[i].ms);
	}
	for (i = 1; i < nitems(bad); i++)
		if (cfg_duration_parse(bad[i], &ms))
			fail_msg("accepted duration \"%s\"", bad[i]);
	assert_false(cfg_duration_parse("", &ms));
}

static void
cfg_distance_values(void **state)
{
	assert_int_equal(cfg_distance("", ""), 0);
	assert_int_equal(cfg_distance("kitten", "sitting"), 3);
	assert_int_equal(cfg_distance("HTTP_PORT", "HTTP_PROT"), 2);
	assert_string_equal(cfg_suggest("HTTP_PRT"), "HTTP_PORT");
	assert_string_equal(
	    cfg_suggest("PAM_AGENT_DATADIR"), "PAM_AGENT_DATA_DIR");
	assert_null(cfg_suggest("X"));
}

static int
setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_cfg.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Issue #17 item 2: secrets are wiped in place, nothing else touched. */
static void
cfg_env_wipe_values(void **state)
{
	char key[] = "TLS_KEY_BASE64=c2VjcmV0", tok[] = "ENROLLMENT_TOKEN=t0k",
	     file[] = "TLS_KEY_FILE=/k.pem", other[] = "HTTP_PORT=8080",
	     odd[] = "NOEQUALS";
	char *env[] = {key, tok, file, other, odd, NULL};

	cfg_env_wipe_secrets(env);
	assert_memory_equal(
	    key, "TLS_KEY_BASE64=\0\0\0\0\0\0\0\0", sizeof(key));
	assert_memory_equal(tok, "ENROLLMENT_TOKEN=\0\0\0", sizeof(tok));
	assert_string_equal(file, "TLS_KEY_FILE=/k.pem");
	assert_string_equal(other, "HTTP_PORT=8080");
	assert_string_equal(odd, "NOEQUALS");
	cfg_env_wipe_secrets(NULL);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cfg_defaults),
	    cmocka_unit_test(cfg_table_sane),
	    cmocka_unit_test(cfg_getters_typed),
	    cmocka_unit_test(cfg_unknown_key_did_you_mean),
	    cmocka_unit_test(cfg_bad_int),
	    cmocka_unit_test(cfg_out_of_range),
	    cmocka_unit_test(cfg_bad_duration),
	    cmocka_unit_test(cfg_fraction),
	    cmocka_unit_test(cfg_bad_bool),
	    cmocka_unit_test(cfg_bad_level),
	    cmocka_unit_test(cfg_anchor_levels),
	    cmocka_unit_test(cfg_bad_url),
	    cmocka_unit_test(cfg_start_values_checked),
	    cmocka_unit_test(cfg_secret_in_file_refused),
	    cmocka_unit_test(cfg_secret_file_path_in_file_ok),
	    cmocka_unit_test(cfg_secret_from_env_decoded),
	    cmocka_unit_test(cfg_secret_pem_text_as_is),
	    cmocka_unit_test(cfg_secret_file_missing),
	    cmocka_unit_test(cfg_base64_and_file_both),
	    cmocka_unit_test(cfg_bad_base64),
	    cmocka_unit_test(cfg_cert_without_key),
	    cmocka_unit_test(cfg_pems_into_tls_opts),
	    cmocka_unit_test(cfg_backoff_below_interval),
	    cmocka_unit_test(cfg_controller_plaintext),
	    cmocka_unit_test(cfg_unterminated_quote),
	    cmocka_unit_test(cfg_overlong_line),
	    cmocka_unit_test(cfg_too_many_lines),
	    cmocka_unit_test(cfg_missing_files),
	    cmocka_unit_test(cfg_env_only_and_no_recursion),
	    cmocka_unit_test(cfg_precedence),
	    cmocka_unit_test(cfg_alias),
	    cmocka_unit_test(cfg_env_unknown_warns),
	    cmocka_unit_test(cfg_all_errors_at_once),
	    cmocka_unit_test(cfg_session_allow),
	    cmocka_unit_test(cfg_egress_allow),
	    cmocka_unit_test(cfg_errors_overflow_counted),
	    cmocka_unit_test(cfg_parser_whole_and_bytewise),
	    cmocka_unit_test(cfg_duration_values),
	    cmocka_unit_test(cfg_distance_values),
	    cmocka_unit_test(cfg_env_wipe_values),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, setup, teardown);
}
