/*
 * The server: listening sockets, accept with a connection cap and
 * eviction, and teardown.  Connections live in http_server_conn.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_server.h"
#include "http/http_server_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"
#include "net/net_listen.h"

/* Slots beyond max_conns for connections whose close is finishing. */
#define SPARE_SLOTS 16

const int http_stats_codes[HTTP_STATS_CODES] = {
    0,
    200,
    204,
    301,
    304,
    400,
    404,
    405,
    408,
    411,
    413,
    414,
    431,
    500,
    502,
    503,
    504,
};

/* see http_server_int.h */
void
http_server_count(struct http_server *s, int status)
{
	size_t i;

	for (i = 1; i < HTTP_STATS_CODES; i++)
		if (http_stats_codes[i] == status)
			break;
	s->st.responses[i == HTTP_STATS_CODES ? 0 : i]++;
}

static void
server_free_if_done(struct http_server *s)
{
	size_t i;

	if (!s->closing || s->watchers > 0)
		return;
	for (i = 0; i < s->nslots; i++)
		free(s->conns[i].hdrs);
	free(s->conns);
	free(s);
}

/* see http_server_int.h */
void
http_server_slot_done(struct http_server *s, struct http_conn *c)
{
	list_prepend(&s->free, &c->free_link);
	s->watchers--;
	server_free_if_done(s);
}

/*
 * Eviction rank, lowest first: a connection lingering after its last
 * response; then, among connections no admit hook has accepted, one idle
 * (between requests, or not yet sending), one sending its head, one
 * sending a body; then the same for trusted connections (an admit hook
 * accepted one of their requests), except that a trusted request's body
 * is not evicted (its body deadline bounds it).  A request being handled
 * or answered is never evicted (-1).
 */
static int
evict_rank(const struct http_conn *c)
{
	int base = c->trusted ? 3 : 0;

	if (c->state == CONN_LINGER)
		return 0;
	if (c->state != CONN_READ)
		return -1;
	if (c->rd.state == HTTP_RD_HEAD)
		return base + (http_reader_started(&c->rd) ? 2 : 1);
	if (c->rd.state == HTTP_RD_BODY && !c->trusted)
		return 3;
	return -1;
}

/* At the cap: close the lowest-ranked connection, the oldest among equals. */
static bool
evict_one(struct http_server *s)
{
	struct http_conn *c, *best = NULL;
	int rank, best_rank = 0;
	size_t i;

	for (i = 0; i < s->nslots; i++) {
		c = &s->conns[i];
		if ((rank = evict_rank(c)) < 0)
			continue;
		if (best == NULL || rank < best_rank ||
		    (rank == best_rank && c->tick < best->tick)) {
			best = c;
			best_rank = rank;
		}
	}
	if (best == NULL)
		return false;
	s->st.evicted++;
	log_debug(
	    "http: evicting a connection at the cap (rank %d)", best_rank);
	http_conn_close(best);
	return true;
}

/* Slots free up at the end of the iteration: leave the backlog till then. */
static bool
slot_free(struct net_listener *ls)
{
	struct http_server *s = ls->arg;

	return !list_empty(&s->free);
}

static void
accept_conn(
    struct net_listener *ls, int fd, const struct sockaddr_storage *peer)
{
	struct http_server *s = ls->arg;
	struct list_node *slot;
	struct http_conn *c;

	if ((s->live >= s->conf.max_conns && !evict_one(s)) ||
	    (slot = list_first(&s->free)) == NULL) {
		s->st.refused++;
		net_close(fd);
		return;
	}
	c = list_entry(slot, struct http_conn, free_link);
	list_remove(slot);
	c->peer = *peer;
	if (http_conn_open(s, c, fd) < 0) {
		list_prepend(&s->free, &c->free_link);
		net_close(fd);
		return;
	}
	s->watchers++;
	s->live++;
	s->st.accepted++;
	s->st.open = s->live;
}

static void
listen_closed(struct net_listener *ls)
{
	struct http_server *s = ls->arg;

	s->watchers--;
	server_free_if_done(s);
}

static int
make_addr(int family, const char *addr, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return inet_pton(AF_INET, addr, &in4->sin_addr) == 1 ? 0
								     : -EINVAL;
	}
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	*len = sizeof(*in6);
	return inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

static uint16_t
bound_port(int fd)
{
	struct sockaddr_storage ss;

	if (net_local_addr(fd, &ss) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Listen on addr; the second socket reuses the first one's port. */
static int
listen_on(struct http_server *s, int family, const char *addr)
{
	struct net_listener *ls = &s->lst[s->nl];
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	if ((r = make_addr(family, addr, s->port, &ss, &len)) < 0)
		return r;
	fd = net_listen((struct sockaddr *)&ss, len, 128);
	if (fd < 0)
		return fd;
	if (s->port == 0)
		s->port = bound_port(fd);
	ls->arg = s;
	ls->ready = slot_free;
	ls->closed = listen_closed;
	net_listener_start(ls, s->l, fd, "http", accept_conn);
	s->nl++;
	s->watchers++;
	return 0;
}

static int
listen_all(struct http_server *s)
{
	int r;

	if (s->conf.addr4 != NULL &&
	    (r = listen_on(s, AF_INET, s->conf.addr4)) < 0)
		return r;
	if (s->conf.addr6 != NULL &&
	    (r = listen_on(s, AF_INET6, s->conf.addr6)) < 0) {
		/* A host or namespace without IPv6 still serves IPv4. */
		if ((r != -EAFNOSUPPORT && r != -EADDRNOTAVAIL) || s->nl == 0)
			return r;
		log_warn("http: no IPv6 listener: %s", strerror(-r));
	}
	return s->nl > 0 ? 0 : -EINVAL;
}

static bool
conf_ok(const struct http_server_conf *c)
{
	return c->max_conns > 0 && c->header_timeout_ms > 0 &&
	    c->idle_timeout_ms > 0 && c->limits.max_headers > 0 &&
	    c->limits.max_total > 0 && c->out_cap >= 256 &&
	    (c->routes != NULL || c->nroutes == 0);
}

/* see http_server.h */
struct http_server *
http_server_start(
    struct rx_loop *l, const struct http_server_conf *conf, int *err)
{
	struct http_server *s;
	size_t i;

	if (!conf_ok(conf)) {
		*err = -EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s != NULL)
		s->conns =
		    calloc(conf->max_conns + SPARE_SLOTS, sizeof(*s->conns));
	if (s == NULL || s->conns == NULL) {
		free(s);
		*err = -ENOMEM;
		return NULL;
	}
	s->l = l;
	s->conf = *conf;
	s->port = conf->port;
	s->nslots = conf->max_conns + SPARE_SLOTS;
	list_init(&s->free);
	for (i = 0; i < s->nslots; i++)
		list_append(&s->free, &s->conns[i].free_link);
	if ((*err = listen_all(s)) < 0) {
		http_server_close(s);
		return NULL;
	}
	return s;
}

/* see http_server.h */
void
http_server_close(struct http_server *s)
{
	size_t i;
	int k;

	s->closing = true;
	for (k = 0; k < s->nl; k++)
		net_listener_close(&s->lst[k]);
	for (i = 0; i < s->nslots; i++)
		if (s->conns[i].state != CONN_FREE)
			http_conn_close(&s->conns[i]);
	server_free_if_done(s);
}

/* see http_server.h */
uint16_t
http_server_port(const struct http_server *s)
{
	return s->port;
}

/* see http_server.h */
const struct http_server_stats *
http_server_stats(const struct http_server *s)
{
	return &s->st;
}
