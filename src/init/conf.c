/*
 * The few settings init needs (network, health port), through the same
 * loader the worker uses.  A bad configuration never stops init: the
 * errors go to the console, the defaults apply, and the worker reports
 * them on /readyz.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cfg/cfg.h"
#include "init/init_int.h"
#include "lib/rebootpol.h"
#include "lib/log.h"

extern char **environ;

static void
copy_str(const struct cfg *c, enum cfg_key k, char *out, size_t n)
{
	const char *v = cfg_str(c, k);

	snprintf(out, n, "%s", v ? v : "");
}

/* UPDATE_*: cfg_load() has refused a bad UPDATE_REBOOT (cfg_start.c). */
static void
update_conf(struct init *in, const struct cfg *c)
{
	const char *s = cfg_str(c, CFG_UPDATE_REBOOT);
	char why[128];

	if (s == NULL ||
	    rebootpol_parse(s, &in->update_reboot, why, sizeof(why)) < 0)
		in->update_reboot.mode = REBOOTPOL_MANUAL;
	in->update_allow_downgrade = cfg_bool(c, CFG_UPDATE_ALLOW_DOWNGRADE);
	in->good_after_ms = cfg_int(c, CFG_UPDATE_GOOD_AFTER);
}

/* see init_int.h */
void
init_conf_read(struct init *in)
{
	struct cfg_errors *errs = calloc(1, sizeof(*errs));
	struct cfg *c;

	in->http_port = 8080;
	in->good_after_ms = 120000; /* UPDATE_GOOD_AFTER's default */
	if (errs == NULL)
		return;
	c = cfg_load(environ, errs);
	in->config_errors = errs->n_errors;
	if (c == NULL) {
		init_console(
		    "outpost: configuration has %u error(s):", errs->n_errors);
		cfg_errors_print(errs, 2);
		free(errs);
		return;
	}
	in->http_port = (int)cfg_int(c, CFG_HTTP_PORT);
	in->identity = (cfg_is_set(c, CFG_TLS_CERT_FILE) ||
			   cfg_is_set(c, CFG_TLS_CERT_BASE64)) &&
	    (cfg_is_set(c, CFG_TLS_KEY_FILE) ||
		cfg_is_set(c, CFG_TLS_KEY_BASE64));
	copy_str(c, CFG_NET_ADDRESS, in->net_address, sizeof(in->net_address));
	copy_str(c, CFG_NET_GATEWAY, in->net_gateway, sizeof(in->net_gateway));
	copy_str(c, CFG_NET_DNS, in->net_dns, sizeof(in->net_dns));
	update_conf(in, c);
	cfg_free(c);
	free(errs);
}
