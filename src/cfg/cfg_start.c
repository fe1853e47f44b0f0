/*
 * cfg_start.c — what `outpost run` builds at start from the settings, checked
 * with the builders' own parsers (c-ares for DNS_SERVERS, the SNTP client's
 * list parser, the dialer's proxy parser, the TLS client configurations of
 * the tunnel and of the executor's upstream connections, the target policy
 * matcher for SESSION_ALLOW and EGRESS_ALLOW, the NO_PROXY matcher), so
 * that cfg_load() refuses, all at once, every value run would refuse one at
 * a time, and check-config reports it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/rebootpol.h"
#include "lib/url.h"
#include "lib/util.h"
#include "net/dial.h"
#include "net/dns.h"
#include "net/noproxy.h"
#include "net/net.h"
#include "net/netpolicy.h"
#include "net/sntp.h"
#include "tls/tls.h"

#define WHERE_MAX 300
#define WHY_MAX 256

/* "where: KEY: why" for a message that a builder wrote into why. */
static void
report(const struct cfg *c, struct cfg_errors *errs, enum cfg_key k,
    const char *why)
{
	char w[WHERE_MAX];

	cfg_source_fmt(c, k, w, sizeof(w));
	cfg_err(errs, false, "%s: %s: %s", w, cfg_defs[k].name, why);
}

/* The builders' messages start with the name they concern; drop it. */
static const char *
after_name(const char *msg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(msg, name, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
		return msg + n + 2;
	return msg;
}

static void
check_proxy(const struct cfg *c, struct cfg_errors *errs)
{
	const char *s = c->slot[CFG_EGRESS_PROXY_URL].str, *why;
	struct dial_proxy *p;

	if (s == NULL)
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		report(c, errs, CFG_EGRESS_PROXY_URL, strerror(ENOMEM));
		return;
	}
	if (!dial_proxy_parse(p, s, &why))
		report(c, errs, CFG_EGRESS_PROXY_URL, why);
	dial_proxy_wipe(p);
	free(p);
}

/* NO_PROXY, parsed by the matcher the executor builds from it. */
static void
check_no_proxy(const struct cfg *c, struct cfg_errors *errs)
{
	struct noproxy *np = NULL;
	char why[WHY_MAX];

	if (c->slot[CFG_NO_PROXY].str == NULL)
		return;
	if (noproxy_parse(&np, c->slot[CFG_NO_PROXY].str, why, sizeof(why)) < 0)
		report(c, errs, CFG_NO_PROXY, why);
	noproxy_free(np);
}

/* A server list (DNS_SERVERS, NTP_SERVERS) through its client's parser. */
static void
check_servers(const struct cfg *c, struct cfg_errors *errs, enum cfg_key k,
    int (*check)(const char *list, char *err, size_t errlen))
{
	const char *s = c->slot[k].str;
	char why[WHY_MAX];

	if (s != NULL && check(s, why, sizeof(why)) < 0)
		report(c, errs, k, after_name(why, cfg_defs[k].name));
}

/* The setting a TLS message names ("TLS_KEY: ..."), as it was given. */
static enum cfg_key
tls_key_of(const struct cfg *c, const char *msg, const char **name)
{
	enum cfg_key k = CFG_TLS_CERT_BASE64;

	*name = "TLS_CERT";
	if (strncmp(msg, "TLS_KEY:", 8) == 0) {
		k = CFG_TLS_KEY_BASE64;
		*name = "TLS_KEY";
	} else if (strncmp(msg, "TLS_CA:", 7) == 0) {
		k = CFG_TLS_CA_BASE64;
		*name = "TLS_CA";
	}
	return c->slot[k].set ? k : (enum cfg_key)cfg_pair(k);
}

static void
report_tls(const struct cfg *c, struct cfg_errors *errs, const char *why)
{
	const char *name;
	enum cfg_key k = tls_key_of(c, why, &name);

	report(c, errs, k, after_name(why, name));
}

/*
 * An https:// controller: run builds the TLS client configuration from
 * TLS_CERT, TLS_KEY and TLS_CA (or the system bundle) before the first
 * dial.  Built here the same way and thrown away.  A missing certificate
 * or key is left to run (check_identity reports half a pair).
 */
static void
check_tls(const struct cfg *c, struct cfg_errors *errs)
{
	struct tls_client_config *tc = NULL;
	struct tls_client_opts o = {0};
	struct cfg_pems p;
	char why[WHY_MAX];
	int r;

	r = cfg_pems_load(c, CFG_TLS_CERT_BASE64, CFG_TLS_KEY_BASE64,
	    CFG_TLS_CA_BASE64, &p, why, sizeof(why));
	if (r == -ENOENT)
		return;
	if (r < 0) {
		report_tls(c, errs, why);
		return;
	}
	cfg_pems_tls_opts(&p, &o, NULL);
	if (tls_client_config_new(&tc, &o, why, sizeof(why)) < 0)
		report_tls(c, errs, why);
	tls_client_config_free(tc);
	cfg_pems_free(&p);
}

/* The executor builds its upstream TLS configuration from UPSTREAM_TLS_CA. */
static void
check_upstream_ca(const struct cfg *c, struct cfg_errors *errs)
{
	struct tls_upstream_opts o = {
	    .verify = true, .ca_what = "UPSTREAM_TLS_CA"};
	struct tls_upstream_config *tc = NULL;
	enum cfg_key k = CFG_UPSTREAM_TLS_CA_BASE64;
	char why[WHY_MAX];
	uint8_t *ca;
	size_t calen;

	/* Unreadable files were reported by check_secret_files. */
	if (cfg_secret(c, k, &ca, &calen) < 0)
		return;
	o.ca = ca;
	o.ca_len = calen;
	if (tls_upstream_config_new(&tc, &o, why, sizeof(why)) < 0)
		report(c, errs, c->slot[k].set ? k : (enum cfg_key)cfg_pair(k),
		    after_name(why, "UPSTREAM_TLS_CA"));
	tls_upstream_config_free(tc);
	free(ca);
}

/*
 * The OTLP exporter's TLS configuration, as otel_new() builds it.  The
 * client pair's messages name it as cfg_pems_load() does (TLS_CERT,
 * TLS_KEY); the rest name OTEL_EXPORTER_OTLP_CERTIFICATE.
 */
static void
check_otel_tls(const struct cfg *c, struct cfg_errors *errs)
{
	static const struct {
		const char *name;
		enum cfg_key k;
	} by[] = {
	    {"TLS_KEY", CFG_OTEL_EXPORTER_OTLP_CLIENT_KEY},
	    {"TLS_CERT", CFG_OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE},
	    {"OTEL_EXPORTER_OTLP_CERTIFICATE",
		CFG_OTEL_EXPORTER_OTLP_CERTIFICATE},
	};
	struct tls_upstream_config *tc = NULL;
	char why[WHY_MAX];
	size_t i = 0;

	if (!cfg_otel_wants_tls(c))
		return;
	if (cfg_otel_tls(c, &tc, why, sizeof(why)) < 0) {
		while (i < 2 && after_name(why, by[i].name) == why)
			i++;
		report(c, errs, by[i].k, after_name(why, by[i].name));
	}
	tls_upstream_config_free(tc);
}

static bool
controller_tls(const struct cfg *c)
{
	const char *s = c->slot[CFG_TRAVERSAL_CONTROLLER_URL].str, *why;
	struct url u;

	return s != NULL && url_parse(s, strlen(s), &u, &why) && u.tls;
}

/* A target list (SESSION_ALLOW, EGRESS_ALLOW) through the matcher's parser; NULL when
 * unset or refused (reported). */
static struct netpolicy *
parse_policy(const struct cfg *c, struct cfg_errors *errs, enum cfg_key k)
{
	const char *s = c->slot[k].str;
	struct netpolicy *p = NULL;
	char why[NETPOLICY_ERR_MAX];
	int r;

	if (s == NULL)
		return NULL;
	if ((r = netpolicy_parse(&p, s, why, sizeof(why))) < 0)
		report(c, errs, k, r == -ENOMEM ? strerror(ENOMEM) : why);
	return p;
}

/* see cfg_int.h */
void
cfg_start_policies(struct cfg *c, struct cfg_errors *errs)
{
	c->session_allow = parse_policy(c, errs, CFG_SESSION_ALLOW);
	c->egress_allow = parse_policy(c, errs, CFG_EGRESS_ALLOW);
}

/* see cfg.h */
const struct netpolicy *
cfg_policy(const struct cfg *c, enum cfg_key k)
{
	if (k == CFG_EGRESS_ALLOW)
		return c->egress_allow != NULL ? c->egress_allow
					       : netpolicy_any();
	return k == CFG_SESSION_ALLOW ? c->session_allow : NULL;
}

/* TRAVERSAL_CONTROLLER_CONNECT_TO: host:port entries, at most
 * MAX_EDGE_ADDRESSES (the manager parses it the same way). */
static void
check_connect_to(const struct cfg *c, struct cfg_errors *errs)
{
	const char *s = c->slot[CFG_TRAVERSAL_CONTROLLER_CONNECT_TO].str, *e;
	const char *why;
	int64_t max = cfg_int(c, CFG_MAX_EDGE_ADDRESSES), n = 0;
	struct url u;

	for (; s != NULL; s = *e == ',' ? e + 1 : NULL) {
		e = s + strcspn(s, ",");
		if (!url_parse_hostport(s, (size_t)(e - s), &u, &why)) {
			report(
			    c, errs, CFG_TRAVERSAL_CONTROLLER_CONNECT_TO, why);
			return;
		}
		if (++n > max) {
			report(c, errs, CFG_TRAVERSAL_CONTROLLER_CONNECT_TO,
			    "more addresses than MAX_EDGE_ADDRESSES");
			return;
		}
	}
}

/* LWIP_*: the socket backend's own interface (net.h net_iface_check: the
 * lwIP build needs it, the POSIX build refuses it). */
static void
check_iface(const struct cfg *c, struct cfg_errors *errs)
{
	static const enum cfg_key keys[] = {
	    CFG_LWIP_TAP, CFG_LWIP_ADDRESS, CFG_LWIP_GATEWAY};
	struct net_iface_conf ic;
	char why[WHY_MAX];
	size_t i;

	cfg_iface_conf(c, &ic);
	if (net_iface_check(&ic, why, sizeof(why)) == 0)
		return;
	/* The message starts with the setting it concerns. */
	for (i = 0; i < 2; i++)
		if (strncmp(why, cfg_defs[keys[i]].name,
			strlen(cfg_defs[keys[i]].name)) == 0)
			break;
	/* i == 2: LWIP_GATEWAY, the one left. */
	report(c, errs, keys[i], after_name(why, cfg_defs[keys[i]].name));
}

/* UPDATE_REBOOT, parsed by what init decides with. */
static void
check_reboot(const struct cfg *c, struct cfg_errors *errs)
{
	const char *s = c->slot[CFG_UPDATE_REBOOT].str;
	struct rebootpol p;
	char why[WHY_MAX];

	if (s != NULL && rebootpol_parse(s, &p, why, sizeof(why)) < 0)
		report(c, errs, CFG_UPDATE_REBOOT, why);
}

/* see cfg.h */
void
cfg_iface_conf(const struct cfg *c, struct net_iface_conf *ic)
{
	ic->tap = c->slot[CFG_LWIP_TAP].str;
	ic->address = c->slot[CFG_LWIP_ADDRESS].str;
	ic->gateway = c->slot[CFG_LWIP_GATEWAY].str;
}

/* see cfg_int.h */
void
cfg_check_start(const struct cfg *c, struct cfg_errors *errs)
{
	check_proxy(c, errs);
	check_no_proxy(c, errs);
	check_servers(c, errs, CFG_DNS_SERVERS, dns_servers_check);
	check_servers(c, errs, CFG_NTP_SERVERS, sntp_servers_check);
	check_upstream_ca(c, errs);
	check_otel_tls(c, errs);
	check_connect_to(c, errs);
	check_iface(c, errs);
	check_reboot(c, errs);
	if (controller_tls(c))
		check_tls(c, errs);
}
