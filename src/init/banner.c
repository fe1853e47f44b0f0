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

/*
 * The identity is the worker's business (identity_ctl.h): the banner,
 * printed once before the worker starts, says where it will come from.  A
 * pairing code is not known yet: the worker prints it on this console as
 * its own line ("PAIRING CODE XXXX-XXXX", after "NEEDS RECOVERY: " when
 * /data is tmpfs) and in /status.  A file under /run/outpost for init to
 * reprint was not chosen: it would need init to watch a file the
 * sandboxed worker writes, for a line the worker can print itself.
 */
static const char *
identity_line(const struct init *in)
{
	if (in->identity)
		return "client certificate and key configured";
	if (in->data_ok)
		return "/data/identity, else a token or pairing "
		       "(a pairing code follows when it pairs)";
	return "NEEDS RECOVERY: nothing stored on tmpfs survives a reboot "
	       "(a pairing code follows when it pairs)";
}

static void
network_lines(const struct init *in)
{
	char url[64];

	health_url(in, url, sizeof(url));
	init_console("  network:  %s %s (%s)",
	    in->net.ifname[0] ? in->net.ifname : "none",
	    in->net.addr[0] ? in->net.addr : "waiting for an address",
	    in->net.is_static ? "static" : "dhcp");
	init_console("  health:   %s", url);
}

/* see init_int.h */
void
init_banner(const struct init *in)
{
	static bool shown;

	/* Again once DHCP has an address: only what changed, so that a boot
	 * shows its slot once (tests count boots by it). */
	if (shown) {
		network_lines(in);
		return;
	}
	shown = true;
	init_console("%s", "");
	init_console(
	    "outpost %s (%s) appliance", OUTPOST_VERSION, OUTPOST_REVISION);
	init_console(
	    "  slot:     %s", in->update.slot[0] ? in->update.slot : "unknown");
	init_console("  update:   %s%s%s, other slot %s",
	    initctl_state_name(in->update.state),
	    in->update.reason[0] ? ": " : "", in->update.reason,
	    in->update.other_version[0] ? in->update.other_version : "empty");
	network_lines(in);
	if (!in->config_ok)
		init_console("  config:   no config partition: defaults apply");
	else if (in->config_errors)
		init_console(
		    "  config:   /config/outpost.conf has %u error(s), "
		    "see above and /readyz",
		    in->config_errors);
	else
		init_console("  config:   /config/outpost.conf ok");
	init_console("  identity: %s", identity_line(in));
	if (in->data_ok)
		init_console(
		    "  data:     data partition mounted (boot %u)", in->boots);
	else
		init_console("  data:     NEEDS RECOVERY: data partition "
			     "unavailable, /data is tmpfs");
	init_console("%s", "");
}
