/*
 * The resolver: a c-ares channel on the reactor, a fixed pool of query
 * slots (one per name asked, shared by its waiters), and per-query
 * deadlines.  Results are always delivered from a
 * reactor callback (the deadline timer, or the query's rx_defer entry), so
 * a caller is never re-entered from dns_resolve() nor from inside c-ares.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "net/dns_int.h"

/* c-ares retries inside our deadline: each try gets a quarter of it. */
#define DNS_TRIES 2
#define DNS_TRY_MIN_MS 100

static void
channel_fire(struct rx_loop *l, struct rx_timer *t)
{
	struct dns_resolver *r = container_of(t, struct dns_resolver, timer);

	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(r);
}

/* see dns_int.h */
void
dns_timer_update(struct dns_resolver *r)
{
	struct timeval tv;

	if (ares_timeout(r->ch, NULL, &tv) == NULL) {
		rx_timer_stop(r->loop, &r->timer);
		return;
	}
	/* Should the reactor's timer heap be full, retransmissions wait for
	 * the next socket event; each query's own deadline still holds. */
	rx_timer_start(r->loop, &r->timer,
	    (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

static int
library_init(char *err, size_t errlen)
{
	static bool lib_ready;

	if (!lib_ready &&
	    ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: c-ares library init failed");
		return -ENOMEM;
	}
	lib_ready = true;
	return 0;
}

static int
servers_set(ares_channel ch, const char *servers, char *err, size_t errlen)
{
	int rc;

	if (servers == NULL || servers[0] == '\0')
		return 0;
	if ((rc = ares_set_servers_ports_csv(ch, servers)) == ARES_SUCCESS)
		return 0;
	snprintf(err, errlen, "DNS_SERVERS: %s", ares_strerror(rc));
	return -EINVAL;
}

static int
channel_init(struct dns_resolver *r, const struct dns_config *c, char *err,
    size_t errlen)
{
	struct ares_options o = {0};
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	int rc;

	o.sock_state_cb = dns_sock_state;
	o.sock_state_cb_data = r;
	o.timeout = (int)MAX(r->timeout_ms / 4, DNS_TRY_MIN_MS);
	o.tries = DNS_TRIES;
	if (c->lookups != NULL) {
		o.lookups = (char *)c->lookups;
		mask |= ARES_OPT_LOOKUPS;
	}
	if (c->resolvconf != NULL) {
		o.resolvconf_path = (char *)c->resolvconf;
		mask |= ARES_OPT_RESOLVCONF;
	}
	if ((rc = ares_init_options(&r->ch, &o, mask)) != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: %s", ares_strerror(rc));
		return rc == ARES_ENOMEM ? -ENOMEM : -EINVAL;
	}
	dns_sock_setup(r);
	if ((rc = servers_set(r->ch, c->servers, err, errlen)) < 0) {
		ares_destroy(r->ch);
		return rc;
	}
	return 0;
}

/* see dns.h */
int
dns_servers_check(const char *servers, char *err, size_t errlen)
{
	struct ares_options o = {.lookups = (char *)"b"};
	ares_channel ch;
	int rc;

	if ((rc = library_init(err, errlen)) < 0)
		return rc;
	/* A channel of its own, never used: the parser is c-ares's. */
	if ((rc = ares_init_options(&ch, &o, ARES_OPT_LOOKUPS)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "dns: %s", ares_strerror(rc));
		return rc == ARES_ENOMEM ? -ENOMEM : -EINVAL;
	}
	rc = servers_set(ch, servers, err, errlen);
	ares_destroy(ch);
	return rc;
}

/* see dns.h */
int
dns_new(struct dns_resolver **out, struct rx_loop *l,
    const struct dns_config *c, char *err, size_t errlen)
{
	struct dns_resolver *r;
	int rc;

	if ((rc = library_init(err, errlen)) < 0)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->loop = l;
	r->hosts_env = c->hosts_env;
	r->timeout_ms =
	    c->timeout_ms > 0 ? c->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	r->nslots = c->max_queries > 0 ? c->max_queries : DNS_DEFAULT_QUERIES;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	rx_timer_init(&r->timer, channel_fire);
	if (r->slots == NULL) {
		free(r);
		return -ENOMEM;
	}
	if ((rc = channel_init(r, c, err, errlen)) < 0) {
		free(r->slots);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* see dns.h */
void
dns_free(struct dns_resolver *r)
{
	unsigned i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nslots; i++) {
		struct list_node *n;

		while (r->slots[i].busy &&
		    (n = list_first(&r->slots[i].waiters)) != NULL)
			dns_query_cancel(list_entry(n, struct dns_query, wait));
	}
	/* Calls back every c-ares query (slots now detached) and closes every
	 * socket through sock_close(). */
	ares_destroy(r->ch);
	rx_timer_stop(r->loop, &r->timer);
	free(r->slots);
	free(r);
}

/* see dns.h */
const char *
dns_error_str(enum dns_error err)
{
	switch (err) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_TIMEOUT:
		return "dns_timeout";
	case DNS_SERVFAIL:
		return "dns_servfail";
	case DNS_REFUSED:
		return "dns_refused";
	case DNS_FAIL:
		break;
	}
	return "dns";
}

/* see dns.h */
const char *
dns_error_detail(enum dns_error err)
{
	switch (err) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "no such name";
	case DNS_TIMEOUT:
		return "DNS timeout";
	case DNS_SERVFAIL:
		return "DNS server failure";
	case DNS_REFUSED:
		return "refused by the DNS server";
	case DNS_FAIL:
		break;
	}
	return "DNS failure";
}

/* Take q off its slot's waiters; the slot stays with c-ares. */
static void
query_leave(struct dns_query *q)
{
	list_remove(&q->wait);
	q->slot = NULL;
}

/* Hand the final result over; the callback may free or restart q. */
static void
query_done(struct dns_query *q)
{
	q->active = false;
	q->done(q, q->err, &q->res);
}

static void
query_deliver(struct rx_loop *l, struct rx_defer *d)
{
	query_done(container_of(d, struct dns_query, deliver));
}

static void
query_deadline(struct rx_loop *l, struct rx_timer *t)
{
	struct dns_query *q = container_of(t, struct dns_query, deadline);

	/* c-ares keeps the slot until its own retries end, but the slot no
	 * longer points here. */
	query_leave(q);
	q->err = DNS_TIMEOUT;
	q->detail = "deadline";
	query_done(q);
}

/* see dns.h */
void
dns_query_init(struct dns_query *q, dns_done_fn *done)
{
	*q = (struct dns_query){.done = done};
	list_init(&q->wait);
	rx_timer_init(&q->deadline, query_deadline);
	rx_defer_init(&q->deliver, query_deliver);
}

/* see dns.h */
void
dns_query_cancel(struct dns_query *q)
{
	if (!q->active)
		return;
	if (q->slot != NULL)
		query_leave(q);
	rx_timer_stop(q->r->loop, &q->deadline);
	rx_defer_cancel(q->r->loop, &q->deliver);
	q->active = false;
}

static enum dns_error
map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return DNS_NXDOMAIN;
	case ARES_ETIMEOUT:
		return DNS_TIMEOUT;
	case ARES_ESERVFAIL:
		return DNS_SERVFAIL;
	case ARES_EREFUSED:
		return DNS_REFUSED;
	default:
		return DNS_FAIL;
	}
}

static bool
have_addr(const struct dns_result *res, const struct sockaddr *sa)
{
	size_t i, len;

	len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
				       : sizeof(struct sockaddr_in6);
	for (i = 0; i < res->n; i++)
		if (memcmp(&res->addr[i], sa, len) == 0)
			return true;
	return false;
}

/* Collect up to DNS_MAX_ADDRS unique addresses of family into res. */
static void
collect(struct dns_result *res, const struct ares_addrinfo *ai, int family)
{
	const struct ares_addrinfo_node *n;
	union dns_sockaddr a;

	for (n = ai->nodes; n != NULL && res->n < DNS_MAX_ADDRS;
	     n = n->ai_next) {
		if (n->ai_family != family || n->ai_addrlen > sizeof(a))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(&a, n->ai_addr, n->ai_addrlen);
		if (family == AF_INET)
			a.in.sin_port = 0;
		else
			a.in6.sin6_port = 0;
		if (!have_addr(res, &a.sa))
			res->addr[res->n++] = a;
	}
}

/* Interleave the families so that a dead one costs one attempt, not all. */
static void
fill_result(struct dns_result *res, const struct ares_addrinfo *ai)
{
	struct dns_result v4 = {0}, v6 = {0};
	struct dns_result *first = &v4, *second = &v6;
	size_t i;

	collect(&v4, ai, AF_INET);
	collect(&v6, ai, AF_INET6);
	if (ai->nodes != NULL && ai->nodes->ai_family == AF_INET6) {
		first = &v6;
		second = &v4;
	}
	res->n = 0;
	for (i = 0; i < DNS_MAX_ADDRS && res->n < DNS_MAX_ADDRS; i++) {
		if (i < first->n)
			res->addr[res->n++] = first->addr[i];
		if (i < second->n && res->n < DNS_MAX_ADDRS)
			res->addr[res->n++] = second->addr[i];
	}
}

/* Is asked (a slot's name) the question name, or its search expansion? */
static bool
name_covers(const char *asked, const char *qname)
{
	size_t n = strlen(asked);

	while (n > 0 && asked[n - 1] == '.')
		n--;
	return strncasecmp(asked, qname, n) == 0 &&
	    (qname[n] == '\0' || qname[n] == '.');
}

/* see dns_int.h */
void
dns_note_answer(struct dns_resolver *r, const uint8_t *p, size_t n)
{
	unsigned rcode, i;
	char *qname;
	long len;

	/* A response (QR) with one question and rcode SERVFAIL or REFUSED. */
	if (n < 12 || n > INT_MAX || !(p[2] & 0x80) || p[4] != 0 || p[5] != 1)
		return;
	rcode = p[3] & 0x0f;
	if (rcode != 2 && rcode != 5)
		return;
	if (ares_expand_name(p + 12, p, (int)n, &qname, &len) != ARES_SUCCESS)
		return;
	for (i = 0; i < r->nslots; i++)
		if (r->slots[i].busy && name_covers(r->slots[i].name, qname))
			r->slots[i].rcode = (uint8_t)rcode;
	ares_free_string(qname);
}

/* c-ares's status, or the answer that c-ares folded into ECONNREFUSED. */
static int
slot_status(const struct dns_slot *slot, int status)
{
	if (status != ARES_ECONNREFUSED || slot->rcode == 0)
		return status;
	return slot->rcode == 2 ? ARES_ESERVFAIL : ARES_EREFUSED;
}

/* The one answer for a slot's name goes to each of its waiters. */
static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_slot *slot = arg;
	struct dns_result res = {0};
	struct list_node *n;
	enum dns_error err;
	const char *detail;

	status = slot_status(slot, status);
	err = map_status(status);
	detail = ares_strerror(status);
	if (err == DNS_OK && ai != NULL)
		fill_result(&res, ai);
	if (err == DNS_OK && res.n == 0)
		err = DNS_NXDOMAIN;
	while ((n = list_first(&slot->waiters)) != NULL) {
		struct dns_query *q = list_entry(n, struct dns_query, wait);

		query_leave(q);
		q->err = err;
		q->detail = detail;
		q->res = res;
		rx_timer_stop(slot->r->loop, &q->deadline);
		rx_defer(slot->r->loop, &q->deliver);
	}
	slot->busy = false;
	if (ai != NULL)
		ares_freeaddrinfo(ai);
}

static bool
name_ok(const char *name)
{
	size_t n = strnlen(name, DNS_NAME_MAX + 1);
	size_t i;

	if (n == 0 || n > DNS_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] <= ' ' ||
		    (unsigned char)name[i] >= 0x7f)
			return false;
	return true;
}

/* The slot asking c-ares for name already (*joined), else a free one, else
 * NULL. */
static struct dns_slot *
slot_get(struct dns_resolver *r, const char *name, bool *joined)
{
	struct dns_slot *idle = NULL;
	unsigned i;

	for (i = 0; i < r->nslots; i++) {
		struct dns_slot *s = &r->slots[i];

		if (s->busy && strcasecmp(s->name, name) == 0) {
			*joined = true;
			return s;
		}
		if (!s->busy && idle == NULL)
			idle = s;
	}
	*joined = false;
	return idle;
}

static int
ask_cares(struct dns_resolver *r, struct dns_query *q, const char *name)
{
	struct ares_addrinfo_hints h = {.ai_family = AF_UNSPEC};
	struct dns_slot *slot;
	bool joined;
	int rc;

	if ((slot = slot_get(r, name, &joined)) == NULL)
		return -EBUSY;
	if ((rc = rx_timer_start(r->loop, &q->deadline, r->timeout_ms)) < 0)
		return rc;
	q->slot = slot;
	q->active = true;
	if (joined) {
		list_append(&slot->waiters, &q->wait);
		return 0;
	}
	*slot = (struct dns_slot){.r = r, .busy = true};
	list_init(&slot->waiters);
	list_append(&slot->waiters, &q->wait);
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	/* No RFC 6724 sorting: c-ares would need getsockname(), outside the
	 * shim.  fill_result() interleaves the families instead. */
	h.ai_flags = ARES_AI_NOSORT | (r->hosts_env ? ARES_AI_ENVHOSTS : 0);
	ares_getaddrinfo(r->ch, name, NULL, &h, on_addrinfo, slot);
	dns_timer_update(r);
	return 0;
}

/* see dns.h */
int
dns_resolve(struct dns_resolver *r, struct dns_query *q, const char *name)
{
	if (q->active)
		return -EALREADY;
	if (!name_ok(name))
		return -EINVAL;
	q->r = r;
	q->err = DNS_FAIL;
	q->detail = NULL;
	q->res.n = 0;
	if (!dns_resolve_local(name, &q->res))
		return ask_cares(r, q, name);
	q->err = DNS_OK;
	q->detail = "local";
	q->active = true;
	rx_defer(r->loop, &q->deliver);
	return 0;
}
