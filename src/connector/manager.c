/*
 * The tunnel manager: configuration, the slot pool, make-before-break
 * replacement, shutdown, and the counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "connector/health.h"
#include "connector/manager.h"
#include "connector/session.h"
#include "connector/update_ctl.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "trace/trace.h"

/* Headers, framing and protobuf overhead allowed above the body limits. */
#define MESSAGE_SLACK (256u << 10)

_Static_assert(sizeof(((struct manager_conf *)0)->connector_id) ==
	CFG_CONNECTOR_ID_MAX + 1,
    "manager_conf.connector_id holds CFG_CONNECTOR_ID_MAX characters");

static int
load_url(struct manager_conf *mc, const struct cfg *c, char *err, size_t errlen)
{
	const char *s = cfg_str(c, CFG_TRAVERSAL_CONTROLLER_URL), *why;
	const char *sni = cfg_str(c, CFG_TLS_SERVER_NAME);
	const char *id = cfg_str(c, CFG_TRAVERSAL_CONNECTOR_ID);
	const struct url *u = &mc->url;

	snprintf(mc->controller, sizeof(mc->controller), "%s", s);
	/* cfg_load() refused credentials and a plain-text remote host. */
	if (!url_parse(mc->controller, strlen(mc->controller), &mc->url, &why))
		return util_fail(
		    err, errlen, "TRAVERSAL_CONTROLLER_URL: %s", why);
	snprintf(mc->authority, sizeof(mc->authority), "%s%.*s%s",
	    u->ipv6 ? "[" : "", (int)u->hostlen, u->host, u->ipv6 ? "]" : "");
	if (u->port_given)
		snprintf(mc->authority + strlen(mc->authority),
		    sizeof(mc->authority) - strlen(mc->authority), ":%u",
		    u->port);
	snprintf(mc->server_name, sizeof(mc->server_name), "%.*s",
	    (int)u->hostlen, u->host);
	if (sni != NULL)
		snprintf(mc->server_name, sizeof(mc->server_name), "%s", sni);
	snprintf(mc->connector_id, sizeof(mc->connector_id), "%s",
	    id != NULL ? id : "");
	return 0;
}

static void
load_limits(struct manager_conf *mc, const struct cfg *c)
{
	int64_t req = cfg_int(c, CFG_MAX_REQUEST_BODY_SIZE_MB);
	int64_t resp = cfg_int(c, CFG_MAX_RESPONSE_BODY_SIZE_MB);

	mc->slots = (unsigned)cfg_int(c, CFG_MAX_TUNNELS_ALLOWED);
	mc->max_concurrent = (unsigned)cfg_int(c, CFG_MAX_CONCURRENT_REQUESTS);
	mc->reconnect_ms = cfg_int(c, CFG_RECONNECT_INTERVAL);
	mc->max_backoff_ms = cfg_int(c, CFG_MAX_BACKOFF_DELAY);
	mc->connect_ms = cfg_int(c, CFG_CONNECT_TIMEOUT);
	mc->handshake_ms = cfg_int(c, CFG_HANDSHAKE_TIMEOUT);
	mc->keepalive_ms = cfg_int(c, CFG_KEEPALIVE_INTERVAL);
	mc->drain_ms = cfg_int(c, CFG_DRAIN_TIMEOUT);
	mc->dial_budget = (unsigned)cfg_int(c, CFG_DIAL_BUDGET);
	mc->max_message = (size_t)(req > resp ? req : resp) + MESSAGE_SLACK;
	mc->discovery_ms = cfg_int(c, CFG_TUNNEL_DISCOVERY_INTERVAL);
	mc->max_addrs = (unsigned)cfg_int(c, CFG_MAX_EDGE_ADDRESSES);
	mc->stream = cfg_bool(c, CFG_STREAM_RESPONSES);
}

static int
load_exec(struct manager *m, const struct cfg *c, char *err, size_t errlen)
{
	struct exec_config ec;
	uint8_t *ca = NULL;
	size_t calen = 0;
	int r;

	r = exec_config_from_cfg(&ec, c, &ca, &calen, err, errlen);
	if (r == 0)
		r = exec_new(&m->exec, m->loop, m->dns, &ec, err, errlen);
	if (ca != NULL)
		util_wipe(ca, calen);
	free(ca);
	return r < 0 ? -1 : 0;
}

static int
load_tls(struct manager *m, const struct cfg *c, char *err, size_t errlen)
{
	struct tls_client_opts o = {.server_name = m->conf.server_name};
	struct cfg_pems p;
	int r;

	r = cfg_pems_load(c, CFG_TLS_CERT_BASE64, CFG_TLS_KEY_BASE64,
	    CFG_TLS_CA_BASE64, &p, err, errlen);
	/* Without TLS_CERT and TLS_KEY the configuration has no client
	 * certificate: the identity comes from DATA_DIR, enrolment or
	 * pairing (identity_ctl.h) through manager_set_tls(). */
	if (r == -ENOENT) {
		p = (struct cfg_pems){0};
		r = cfg_secret(c, CFG_TLS_CA_BASE64, &p.ca, &p.ca_len);
		if (r < 0 && r != -ENOENT)
			return util_fail(
			    err, errlen, "TLS_CA: %s", strerror(-r));
	} else if (r < 0)
		return -1;
	cfg_pems_tls_opts(&p, &o, NULL);
	r = tls_client_config_new(&m->tls, &o, err, errlen);
	cfg_pems_free(&p);
	return r;
}

static int
load_proxy(struct manager *m, const struct cfg *c, char *err, size_t errlen)
{
	const char *s = cfg_str(c, CFG_EGRESS_PROXY_URL), *why;

	if (s == NULL)
		return 0;
	m->proxy = calloc(1, sizeof(*m->proxy));
	if (m->proxy == NULL)
		return util_fail(err, errlen, "%s", "out of memory");
	if (!dial_proxy_parse(m->proxy, s, &why))
		return util_fail(err, errlen, "EGRESS_PROXY_URL: %s", why);
	return 0;
}

/* see manager.h */
int
manager_conf_load(
    struct manager_conf *mc, const struct cfg *c, char *err, size_t errlen)
{
	load_limits(mc, c);
	return load_url(mc, c, err, errlen);
}

static int
load_sessions(struct manager *m, const struct cfg *c)
{
	struct session_conf sc;

	session_conf_load(&sc, c);
	return session_table_new(&m->sessions, m, &sc);
}

/* see manager.h */
int
manager_init(struct manager *m, struct rx_loop *l, const struct cfg *c,
    struct dns_resolver *dns, char *err, size_t errlen)
{
	unsigned i;

	*m =
	    (struct manager){.loop = l, .dns = dns, .last_error = "connecting"};
	if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0)
		snprintf(m->hostname, sizeof(m->hostname), "outpost");
	if (manager_conf_load(&m->conf, c, err, errlen) < 0 ||
	    load_proxy(m, c, err, errlen) < 0 ||
	    load_exec(m, c, err, errlen) < 0)
		return -1;
	if (m->conf.url.tls && load_tls(m, c, err, errlen) < 0)
		return -1;
	if (load_sessions(m, c) < 0)
		return util_fail(err, errlen, "%s",
		    "sessions: NO_PROXY is invalid, or out of memory");
	if (trace_recorder_from_cfg(&m->trace, l, c) < 0)
		return util_fail(err, errlen, "%s", "traces: out of memory");
	/* Twice the slots per edge address: a spare dials the replacement
	 * before a drained tunnel closes (make-before-break). */
	m->nslots = 2 * m->conf.slots * manager_groups(c);
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	m->on_old = calloc(m->nslots, sizeof(*m->on_old));
	if (m->slots == NULL || m->on_old == NULL)
		return util_fail(err, errlen, "%s", "out of memory");
	for (i = 0; i < m->nslots; i++)
		if (tunnel_slot_init(&m->slots[i], m, i) < 0)
			return util_fail(err, errlen, "%s", "out of memory");
	return manager_addrs_init(m, c, err, errlen);
}

/* see manager.h */
void
manager_free(struct manager *m)
{
	unsigned i;

	update_ctl_free(m->upd);
	for (i = 0; m->slots != NULL && i < m->nslots; i++)
		tunnel_slot_free(&m->slots[i]);
	session_table_free(m->sessions);
	trace_recorder_free(m->trace);
	free(m->slots);
	free(m->addrs);
	free(m->on_old);
	if (m->tls_old != NULL)
		tls_client_config_free(m->tls_old);
	if (m->exec != NULL)
		exec_free(m->exec);
	if (m->tls != NULL)
		tls_client_config_free(m->tls);
	if (m->proxy != NULL) {
		dial_proxy_wipe(m->proxy);
		free(m->proxy);
	}
	conn_call_mem_release(m->loop);
	*m = (struct manager){0};
}

/* see manager.h */
void
manager_start(struct manager *m)
{
	unsigned i;

	budget_init(&m->budget, m->conf.dial_budget, rx_now(m->loop));
	if (m->discover) {
		manager_discover_now(m->loop, &m->disc_timer);
		return;
	}
	for (i = 0; i < m->naddrs; i++)
		manager_group_fill(m, i);
}

/* see manager.h */
unsigned
manager_slot_group(const struct manager *m, const struct tunnel_slot *t)
{
	return t->index / (2 * m->conf.slots);
}

/* see manager.h */
bool
manager_slot_active(const struct tunnel_slot *t)
{
	return conn_scheduled(&t->conn) || t->conn.state == CONN_DIALING ||
	    t->conn.state == CONN_HANDSHAKING || t->conn.state == CONN_OPEN;
}

/* Slots (spares included) for which pred holds. */
static unsigned
count_slots(const struct manager *m, bool (*pred)(const struct tunnel_slot *))
{
	unsigned i, n = 0;

	for (i = 0; i < m->nslots; i++)
		n += pred(&m->slots[i]);
	return n;
}

static bool
all_idle(const struct manager *m)
{
	unsigned i;

	for (i = 0; i < m->nslots; i++)
		if (m->slots[i].conn.state != CONN_IDLE)
			return false;
	return true;
}

/* Active slots of group g. */
static unsigned
group_active(const struct manager *m, unsigned g)
{
	unsigned i, n = 0, per = 2 * m->conf.slots;

	for (i = g * per; i < (g + 1) * per; i++)
		n += manager_slot_active(&m->slots[i]);
	return n;
}

/* An idle slot of group g other than except, not on the previous identity,
 * dials in delay_ms. */
static void
dial_spare(struct manager *m, unsigned g, const struct tunnel_slot *except,
    int64_t delay_ms)
{
	unsigned i, per = 2 * m->conf.slots;
	struct tunnel_slot *t;

	for (i = g * per; i < (g + 1) * per; i++) {
		t = &m->slots[i];
		if (t != except && !m->on_old[i] &&
		    t->conn.state == CONN_IDLE && !conn_scheduled(&t->conn)) {
			conn_schedule_in(&t->conn, delay_ms);
			return;
		}
	}
}

/* A slot's connection on the previous identity is gone. */
static void
release_old(struct manager *m, const struct tunnel_slot *t)
{
	unsigned i;

	m->on_old[t->index] = false;
	for (i = 0; i < m->nslots; i++)
		if (m->on_old[i])
			return;
	if (m->tls_old != NULL) {
		tls_client_config_free(m->tls_old);
		m->tls_old = NULL;
	}
}

/* see manager.h */
void
manager_slot_idle(struct manager *m, struct tunnel_slot *t)
{
	unsigned g = manager_slot_group(m, t);

	if (m->on_old[t->index])
		release_old(m, t);
	if (m->stopping) {
		if (all_idle(m) && m->stopped != NULL) {
			void (*cb)(struct manager *) = m->stopped;
			m->stopped = NULL;
			cb(m);
		}
		return;
	}
	if (!m->addrs[g].wanted) {
		manager_group_idle(m, g);
		return;
	}
	if (group_active(m, g) < m->conf.slots)
		conn_schedule(&t->conn);
}

/* see manager.h */
void
manager_replace(struct manager *m, struct tunnel_slot *draining)
{
	unsigned g = manager_slot_group(m, draining);

	if (m->addrs[g].wanted && group_active(m, g) < m->conf.slots)
		dial_spare(m, g, draining, conn_replace_delay(&draining->conn));
}

/* Once a tunnel on the new identity is routable, the old ones drain. */
static void
retire_old(struct manager *m)
{
	unsigned i;

	for (i = 0; i < m->nslots; i++)
		if (!m->on_old[i] && tunnel_slot_routable(&m->slots[i]))
			break;
	if (i == m->nslots)
		return;
	m->retiring = false;
	for (i = 0; i < m->nslots; i++)
		if (m->on_old[i] && m->slots[i].conn.state == CONN_OPEN)
			tunnel_slot_drain(&m->slots[i], "identity_renewed");
}

/* see manager.h */
void
manager_set_tls(struct manager *m, struct tls_client_config *tls)
{
	struct tunnel_slot *t;
	unsigned i, n = 0;

	if (m->tls_old != NULL) /* connections on it are long drained */
		tls_client_config_free(m->tls_old);
	m->tls_old = m->tls;
	m->tls = tls;
	/* Connections past the dial use the old configuration. */
	for (i = 0; i < m->nslots; i++) {
		t = &m->slots[i];
		m->on_old[i] =
		    t->conn.state >= CONN_HANDSHAKING; /* to CLOSING */
		n += m->on_old[i];
	}
	if (n == 0) {
		tls_client_config_free(m->tls_old);
		m->tls_old = NULL;
		return;
	}
	/* Make before break: an open tunnel keeps serving until one dialled
	 * with the new identity is routable (retire_old); a handshake in
	 * progress starts again. */
	m->retiring = true;
	for (i = 0; i < m->nslots; i++) {
		t = &m->slots[i];
		if (m->on_old[i] && t->conn.state == CONN_OPEN)
			dial_spare(m, manager_slot_group(m, t), NULL, 0);
		else if (m->on_old[i] && t->conn.state == CONN_HANDSHAKING)
			tunnel_slot_drain(t, "identity_renewed");
	}
}

/* see manager.h */
void
manager_slot_changed(struct manager *m)
{
	unsigned i, open = manager_open_tunnels(m), wanted = 0;

	for (i = 0; i < m->naddrs; i++)
		wanted += m->addrs[i].wanted ? m->conf.slots : 0;
	if (m->health != NULL) {
		health_set_tunnels(m->health, open, wanted);
		health_set_ready(m->health, open > 0,
		    m->stopping			? "stopping"
			: m->last_error != NULL ? m->last_error
						: "connecting");
	}
	update_ctl_poke(m->upd);
	if (m->retiring)
		retire_old(m);
	if (open == 0)
		return;
	for (i = 0; i < m->nslots; i++)
		tunnel_slot_poke(&m->slots[i]);
}

/* see manager.h */
unsigned
manager_open_tunnels(const struct manager *m)
{
	return count_slots(m, tunnel_slot_routable);
}

/* see manager.h */
void
manager_stop(struct manager *m, void (*stopped)(struct manager *))
{
	unsigned i;
	struct tunnel_slot *t;

	m->stopping = true;
	m->stopped = stopped;
	manager_addrs_stop(m);
	for (i = 0; i < m->nslots; i++) {
		t = &m->slots[i];
		if (t->conn.state == CONN_IDLE)
			conn_unschedule(&t->conn);
		else
			tunnel_slot_drain(t, "shutdown");
	}
	manager_slot_idle(m, &m->slots[0]);
}
