/* Console output for the operator: plain lines, kernel-log friendly. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init/init_int.h"

/* see init_int.h */
void
init_console(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(2, line, (size_t)n);
}

static void
health_url(const struct init *in, char *out, size_t n)
{
	char host[20];
	const char *slash = strchr(in->net.addr, '/');

	if (in->net.addr[0] == '\0' || slash == NULL) {
		snprintf(out, n, "(no address yet)");
		return;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(slash - in->net.addr),
	    in->net.addr);
	snprintf(out, n, "http://%s:%d/healthz", host, in->http_port);
}

/* see init_int.h */
void
init_banner(const struct init *in)
{
	char url[64];

	health_url(in, url, sizeof(url));
	init_console("%s", "");
	init_console(
	    "outpost %s (%s) appliance", OUTPOST_VERSION, OUTPOST_REVISION);
	init_console("  network:  %s %s (%s)",
	    in->net.ifname[0] ? in->net.ifname : "none",
	    in->net.addr[0] ? in->net.addr : "waiting for an address",
	    in->net.is_static ? "static" : "dhcp");
	init_console("  health:   %s", url);
	if (!in->config_ok)
		init_console("  config:   no config partition: defaults apply");
	else if (in->config_errors)
		init_console(
		    "  config:   /config/outpost.conf has %u error(s), "
		    "see above and /readyz",
		    in->config_errors);
	else
		init_console("  config:   /config/outpost.conf ok");
	init_console("  identity: %s",
	    in->identity ? "client certificate and key configured"
			 : "none configured (TLS_CERT_FILE, TLS_KEY_FILE)");
	if (in->data_ok)
		init_console(
		    "  data:     data partition mounted (boot %u)", in->boots);
	else
		init_console("  data:     NEEDS RECOVERY: data partition "
			     "unavailable, /data is tmpfs");
	init_console("%s", "");
}
