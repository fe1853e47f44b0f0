/*
 * The manager's edge addresses (manager.h, "Edge addresses"): which groups
 * of slots exist, discovery of the controller host's addresses, and the
 * per-address gauge and readiness detail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/health.h"
#include "connector/manager.h"
#include "lib/json.h"
#include "lib/log.h"
#include "net/net.h"

/* Entries of TRAVERSAL_CONTROLLER_CONNECT_TO, or 0 when unset. */
static unsigned
connect_to_count(const struct cfg *c)
{
	const char *s = cfg_str(c, CFG_TRAVERSAL_CONTROLLER_CONNECT_TO);
	unsigned n = 0;

	for (; s != NULL;
	     s = strchr(s, ',') != NULL ? strchr(s, ',') + 1 : NULL)
		n++;
	return n;
}

/* True when the URL's host is resolved for edge addresses (see manager.h). */
static bool
discovers(const struct cfg *c)
{
	const char *s = cfg_str(c, CFG_TRAVERSAL_CONTROLLER_URL), *why;
	char host[URL_HOST_MAX + 1];
	struct dns_result res;
	struct url u;

	if (s == NULL || connect_to_count(c) > 0 ||
	    cfg_str(c, CFG_EGRESS_PROXY_URL) != NULL ||
	    !url_parse(s, strlen(s), &u, &why))
		return false;
	snprintf(host, sizeof(host), "%.*s", (int)u.hostlen, u.host);
	return !dns_resolve_local(host, &res);
}

/* see manager.h */
unsigned
manager_groups(const struct cfg *c)
{
	unsigned n = connect_to_count(c);

	if (n > 0)
		return n;
	return discovers(c) ? (unsigned)cfg_int(c, CFG_MAX_EDGE_ADDRESSES) : 1;
}

/* Name the address: "host:port" for /status and readiness, and its label. */
static void
addr_set(struct edge_addr *a, const char *host, size_t hostlen, uint16_t port)
{
	bool v6 = memchr(host, ':', hostlen) != NULL;

	snprintf(a->host, sizeof(a->host), "%.*s", (int)hostlen, host);
	a->port = port;
	snprintf(a->name, sizeof(a->name), "%s%s%s:%u", v6 ? "[" : "", a->host,
	    v6 ? "]" : "", port);
	/* Host names and literals carry no '"' or '\\' (url.c). */
	snprintf(a->label, sizeof(a->label), "address=\"%s\"", a->name);
	metric_init(&a->tunnels, a->label, NULL, NULL, 0);
}

/* The slots of group g dial a's address (NULL: the URL's host). */
static void
group_point(struct manager *m, unsigned g)
{
	struct edge_addr *a = &m->addrs[g];
	unsigned i, per = 2 * m->conf.slots;

	for (i = g * per; i < (g + 1) * per; i++) {
		m->slots[i].conn.dial_host = a->url ? NULL : a->host;
		m->slots[i].conn.dial_port = a->port;
	}
}

static int
load_connect_to(struct manager *m, const char *s, char *err, size_t errlen)
{
	const char *e, *why;
	struct url u;
	unsigned g = 0;

	for (; s != NULL; s = *e == ',' ? e + 1 : NULL, g++) {
		e = s + strcspn(s, ",");
		/* cfg_check_start() reported a bad entry already. */
		if (!url_parse_hostport(s, (size_t)(e - s), &u, &why)) {
			snprintf(err, errlen,
			    "TRAVERSAL_CONTROLLER_CONNECT_TO: %s", why);
			return -1;
		}
		addr_set(&m->addrs[g], u.host, u.hostlen, u.port);
		m->addrs[g].wanted = true;
	}
	return 0;
}

/* see manager.h */
int
manager_addrs_init(
    struct manager *m, const struct cfg *c, char *err, size_t errlen)
{
	const char *ct = cfg_str(c, CFG_TRAVERSAL_CONTROLLER_CONNECT_TO);
	const struct url *u = &m->conf.url;
	unsigned g;

	m->naddrs = manager_groups(c);
	m->discover = ct == NULL && m->naddrs > 1;
	if (!m->discover && ct == NULL)
		m->discover = discovers(c);
	m->addrs = calloc(m->naddrs, sizeof(*m->addrs));
	if (m->addrs == NULL) {
		snprintf(err, errlen, "%s", "out of memory");
		return -1;
	}
	dns_query_init(&m->disc, manager_discovered);
	rx_timer_init(&m->disc_timer, manager_discover_now);
	if (ct != NULL && load_connect_to(m, ct, err, errlen) < 0)
		return -1;
	if (ct == NULL && !m->discover) {
		addr_set(&m->addrs[0], u->host, u->hostlen, u->port);
		m->addrs[0].url = m->addrs[0].wanted = true;
	}
	for (g = 0; g < m->naddrs; g++)
		group_point(m, g);
	return 0;
}

/* Slots in group g for which pred holds. */
static unsigned
group_count(const struct manager *m, unsigned g,
    bool (*pred)(const struct tunnel_slot *))
{
	unsigned i, n = 0, per = 2 * m->conf.slots;

	for (i = g * per; i < (g + 1) * per; i++)
		n += pred(&m->slots[i]);
	return n;
}

static bool
slot_busy(const struct tunnel_slot *t)
{
	return t->conn.state != CONN_IDLE || conn_scheduled(&t->conn);
}

/* see manager.h */
unsigned
manager_group_open(const struct manager *m, unsigned g)
{
	return group_count(m, g, tunnel_slot_routable);
}

/* see manager.h */
void
manager_group_fill(struct manager *m, unsigned g)
{
	unsigned i, per = 2 * m->conf.slots;
	struct tunnel_slot *t;

	for (i = g * per; i < (g + 1) * per; i++) {
		if (group_count(m, g, manager_slot_active) >= m->conf.slots)
			return;
		t = &m->slots[i];
		if (!slot_busy(t))
			conn_schedule_now(&t->conn);
	}
}

/* see manager.h */
void
manager_group_idle(struct manager *m, unsigned g)
{
	struct edge_addr *a = &m->addrs[g];

	if (a->wanted || a->host[0] == '\0' || group_count(m, g, slot_busy) > 0)
		return;
	log_info("edge address %s: drained, forgotten", a->name);
	a->host[0] = '\0';
}

/* An address gone from the answer: its tunnels drain make-before-break. */
static void
group_drop(struct manager *m, unsigned g)
{
	unsigned i, per = 2 * m->conf.slots;
	struct tunnel_slot *t;

	m->addrs[g].wanted = false;
	log_info("edge address %s: gone from DNS, draining", m->addrs[g].name);
	for (i = g * per; i < (g + 1) * per; i++) {
		t = &m->slots[i];
		if (t->conn.state == CONN_IDLE)
			conn_unschedule(&t->conn);
		else if (!tunnel_slot_draining(t))
			tunnel_slot_drain(t, "address_gone");
	}
	manager_group_idle(m, g);
}

/* The group holding host (wanted or still draining), else a free one. */
static int
group_for(const struct manager *m, const char *host)
{
	unsigned g;
	int free_g = -1;

	for (g = 0; g < m->naddrs; g++) {
		if (strcmp(m->addrs[g].host, host) == 0)
			return (int)g;
		if (free_g < 0 && m->addrs[g].host[0] == '\0' &&
		    group_count(m, g, slot_busy) == 0)
			free_g = (int)g;
	}
	return free_g;
}

/* Take one answered address: keep, revive or start its group. */
static void
take_addr(struct manager *m, const union dns_sockaddr *sa, bool *seen)
{
	char buf[NET_ADDR_STRLEN], *host = buf;
	size_t len;
	int g;

	net_addr_str(&sa->sa, buf, sizeof(buf));
	/* "1.2.3.4:0" or "[::1]:0": the host part alone. */
	len = strrchr(buf, ':') - buf;
	if (buf[0] == '[') {
		host++;
		len -= 2;
	}
	host[len] = '\0';
	g = group_for(m, host);
	if (g < 0) {
		log_warn("edge address %s: no free group (MAX_EDGE_ADDRESSES "
			 "%u), ignored",
		    host, m->naddrs);
		return;
	}
	if (m->addrs[g].host[0] == '\0') {
		addr_set(&m->addrs[g], host, strlen(host), m->conf.url.port);
		group_point(m, (unsigned)g);
		log_info("edge address %s: new, dialling", m->addrs[g].name);
	}
	seen[g] = true;
	m->addrs[g].wanted = true;
	manager_group_fill(m, (unsigned)g);
}

static void
apply(struct manager *m, const struct dns_result *res)
{
	bool seen[64] = {false}; /* MAX_EDGE_ADDRESSES is at most 64 */
	unsigned g;
	size_t i;

	for (i = 0; i < res->n; i++)
		take_addr(m, &res->addr[i], seen);
	for (g = 0; g < m->naddrs; g++)
		if (m->addrs[g].wanted && !seen[g])
			group_drop(m, g);
}

static void
rearm(struct manager *m, bool known)
{
	/* Until the first answer, retry at the reconnect interval. */
	int64_t ms = known ? m->conf.discovery_ms
			   : (m->conf.reconnect_ms < m->conf.discovery_ms
				     ? m->conf.reconnect_ms
				     : m->conf.discovery_ms);

	if (!m->stopping && rx_timer_start(m->loop, &m->disc_timer, ms) < 0)
		log_error("%s", "discovery: no timer left");
}

static bool
any_known(const struct manager *m)
{
	unsigned g;

	for (g = 0; g < m->naddrs; g++)
		if (m->addrs[g].wanted)
			return true;
	return false;
}

/* see manager.h */
void
manager_discovered(
    struct dns_query *q, enum dns_error err, const struct dns_result *res)
{
	struct manager *m = container_of(q, struct manager, disc);

	if (m->stopping)
		return;
	if (err != DNS_OK || res->n == 0) {
		m->last_error = err != DNS_OK ? dns_error_str(err) : "dns";
		log_warn("discovery: %s: %s (%s); keeping the known addresses",
		    m->conf.server_name, dns_error_detail(err),
		    dns_query_detail(q));
		rearm(m, any_known(m));
		return;
	}
	apply(m, res);
	rearm(m, true);
	manager_slot_changed(m);
}

/* see manager.h */
void
manager_discover_now(struct rx_loop *l, struct rx_timer *t)
{
	struct manager *m = container_of(t, struct manager, disc_timer);
	char host[URL_HOST_MAX + 1];
	int r;

	(void)l;
	if (m->stopping)
		return;
	snprintf(host, sizeof(host), "%.*s", (int)m->conf.url.hostlen,
	    m->conf.url.host);
	r = dns_resolve(m->dns, &m->disc, host);
	if (r < 0 && r != -EALREADY) {
		log_warn("discovery: %s", strerror(-r));
		rearm(m, any_known(m));
	}
}

/* see manager.h */
void
manager_addrs_stop(struct manager *m)
{
	dns_query_cancel(&m->disc);
	rx_timer_stop(m->loop, &m->disc_timer);
}

static void
collect_addrs(struct metric_family *f, void *arg)
{
	struct manager *m = arg;
	unsigned g;

	/* Only addresses in use are series (a free group has no name). */
	list_init(&f->series);
	for (g = 0; g < m->naddrs; g++) {
		if (m->addrs[g].host[0] == '\0')
			continue;
		metric_set(&m->addrs[g].tunnels, manager_group_open(m, g));
		metric_family_add(f, &m->addrs[g].tunnels);
	}
}

/* see manager.h */
void
manager_addrs_metrics_add(struct manager *m, struct metrics *r)
{
	metric_family_init(&m->mx.addr_tunnels, "outpost_edge_address_tunnels",
	    "Routable tunnels per edge address.", METRIC_GAUGE, collect_addrs,
	    m);
	metrics_add(r, &m->mx.addr_tunnels);
}

/* see manager.h */
void
manager_addrs_json(const struct manager *m, struct buf *b)
{
	const struct edge_addr *a;
	unsigned g, shown = 0, per = 2 * m->conf.slots;

	buf_adds(b, "[");
	for (g = 0; g < m->naddrs; g++) {
		a = &m->addrs[g];
		if (a->host[0] == '\0')
			continue;
		buf_adds(b, shown++ > 0 ? ",{\"address\":" : "{\"address\":");
		json_cstr(b, a->name);
		buf_printf(b,
		    ",\"state\":\"%s\",\"tunnels\":%u,\"first_slot\":%u}",
		    !a->wanted			       ? "draining"
			: manager_group_open(m, g) > 0 ? "up"
						       : "degraded",
		    manager_group_open(m, g), g * per);
	}
	buf_adds(b, "]");
}

/* Wanted addresses, and those of them without a routable tunnel. */
static unsigned
degraded(const struct manager *m, unsigned *wanted)
{
	unsigned g, n = 0;

	*wanted = 0;
	for (g = 0; g < m->naddrs; g++) {
		*wanted += m->addrs[g].wanted;
		n += m->addrs[g].wanted && manager_group_open(m, g) == 0;
	}
	return n;
}

/* see manager.h */
void
manager_degraded_fn(struct buf *b, void *arg)
{
	const struct manager *m = arg;
	unsigned g, wanted, shown = 0;

	/* With one address its state is the readiness itself: the body
	 * stays the anchor's. */
	if (degraded(m, &wanted) == 0 || wanted < 2)
		return;
	buf_adds(b, ",\"degraded\":[");
	for (g = 0; g < m->naddrs; g++) {
		if (!m->addrs[g].wanted || manager_group_open(m, g) > 0)
			continue;
		if (shown++ > 0)
			buf_adds(b, ",");
		json_cstr(b, m->addrs[g].name);
	}
	buf_adds(b, "]");
}
