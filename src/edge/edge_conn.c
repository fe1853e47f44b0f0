/*
 * edge_conn.c — one tunnel connection: the socket (through BearSSL's
 * server engine, or cleartext h2c), the identity check after the
 * handshake, and the HTTP/2 server session driven by the stream pump.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "lib/log.h"
#include "lib/util.h"

#define SPIFFE "spiffe://"
#define CONNECTOR_SEG "/connector/"

static void on_stream(struct stream *s);

static void
arm_timer(struct edge_conn *c)
{
	struct rx_loop *l = c->e->l;
	int64_t d;

	if (c->closing)
		return;
	if (!c->h2_up)
		return; /* the handshake deadline is running */
	d = h2_session_deadline(&c->h2);
	if (d == INT64_MAX) {
		rx_timer_stop(l, &c->timer);
		return;
	}
	d -= rx_now(l);
	rx_timer_start(l, &c->timer, d > 0 ? d : 0);
}

/* see edge_int.h */
void
edge_conn_close(struct edge_conn *c, const char *why)
{
	size_t i;

	if (c->closing)
		return;
	c->closing = true;
	log_info("edge: connection %s%s%s closed: %s", c->addr,
	    c->name[0] ? " of " : "", c->name, why);
	/* Out of routing now; the tunnels are freed with the session. */
	for (i = 0; i < c->ntun; i++)
		if (c->tun[i] != NULL)
			edge_registry_remove(c->tun[i]);
	rx_timer_stop(c->e->l, &c->timer);
	stream_close(&c->st);
}

/* Move HTTP/2 output into the stream while it has room. */
static void
flush(struct edge_conn *c)
{
	const uint8_t *p;
	size_t n, w;
	int i;

	for (i = 0; i < 1024 && !c->closing; i++) {
		p = h2_session_take(&c->h2, &n);
		if (p == NULL || n == 0)
			return;
		w = stream_write(&c->st, p, n);
		h2_session_ack(&c->h2, w);
		if (w < n)
			return; /* full: the stream calls back with room */
	}
}

/*
 * Flush until HTTP/2 has nothing more or the socket is full.  The stream
 * calls back only after socket events: when stream_update() manages to
 * write every record itself, no event follows, so loop here while room
 * keeps appearing (bounded).
 */
static void
flush_all(struct edge_conn *c)
{
	int i;

	for (i = 0; i < 256 && !c->closing; i++) {
		flush(c);
		stream_update(&c->st);
		if (!h2_session_want_write(&c->h2) ||
		    stream_output_pending(&c->st) || stream_dead(&c->st))
			return;
	}
}

static void
on_kick(struct rx_loop *l, struct rx_defer *d)
{
	struct edge_conn *c = container_of(d, struct edge_conn, kick);

	if (c->closing || !c->h2_up)
		return;
	flush_all(c);
	arm_timer(c);
}

/*
 * see edge_int.h.  The flush waits for the end of the loop turn
 * (rx_defer()): every request dispatched in one turn shares one TLS record and
 * one write.  It also keeps the session from being driven from inside its
 * own event callbacks (an answer that lets the front door dispatch a
 * pipelined request, say).
 */
void
edge_conn_kick(struct edge_conn *c)
{
	if (!c->closing && c->h2_up)
		rx_defer(c->e->l, &c->kick);
}

/* "spiffe://<domain>/connector/<name>" → name, else false. */
static bool
spiffe_name(const char *uri, const char *domain, char *name)
{
	size_t dl = strlen(domain), sl = strlen(SPIFFE);
	size_t cl = strlen(CONNECTOR_SEG);
	const char *p;

	if (strncmp(uri, SPIFFE, sl) != 0)
		return false;
	p = uri + sl;
	if (strncmp(p, domain, dl) != 0 ||
	    strncmp(p + dl, CONNECTOR_SEG, cl) != 0)
		return false;
	p += dl + cl;
	if (!edge_name_valid(p, strlen(p)))
		return false;
	memcpy(name, p, strlen(p) + 1);
	return true;
}

/* see edge_int.h */
bool
edge_peer_name(
    const struct tls_conn *tc, const struct edge_conf *ec, char *name)
{
	const char *u, *cn;
	size_t i;

	for (i = 0; (u = tls_peer_uri(tc, i)) != NULL; i++)
		if (spiffe_name(u, ec->trust_domain, name))
			return true;
	cn = tls_peer_cn(tc);
	if (ec->allow_cn && cn != NULL && edge_name_valid(cn, strlen(cn))) {
		memcpy(name, cn, strlen(cn) + 1);
		return true;
	}
	return false;
}

/* see edge_int.h */
bool
edge_peer_check(const struct tls_conn *tc, void *arg)
{
	const struct edge_conf *ec = arg;
	char name[EDGE_NAME_MAX];
	const uint8_t *sn;
	size_t n = 0;

	if (ec->id == NULL || !edge_peer_name(tc, ec, name))
		return true; /* no name: refused after the handshake */
	sn = tls_peer_serial(tc, &n);
	return !edge_is_revoked(ec->id, name, sn, n);
}

static const char *
fail_reason(struct edge_conn *c, char *buf, size_t cap)
{
	int e = stream_error(&c->st);

	if (c->tls && tls_failed(&c->tlsc))
		return tls_error_reason(&c->tlsc);
	if (e == STREAM_ERR_TLS) {
		snprintf(buf, cap, "tls error %d", c->st.tls_err);
		return buf;
	}
	if (e < 0)
		return strerror(-e);
	return "closed during the handshake";
}

static int
start_h2(struct edge_conn *c)
{
	struct h2_conf hc = {
	    .window = EDGE_WINDOW,
	    /* Each stream's ring bounds its memory; a connection window
	     * as large as all of them keeps one stalled session (a client
	     * that does not read) from stalling the others. */
	    .conn_window = INT32_MAX,
	    .max_frame = 65536,
	    .max_streams = EDGE_CONN_STREAMS + EDGE_CONN_SESSIONS,
	    .ping_interval_ms = 0,
	    .ping_timeout_ms = EDGE_HANDSHAKE_MS,
	};
	int rc;

	rc = h2_session_init(&c->h2, H2_SERVER, &hc, edge_call_event,
	    edge_tunnel_accept, c, rx_now(c->e->l));
	if (rc < 0)
		return rc;
	c->h2_up = true;
	rx_timer_stop(c->e->l, &c->timer);
	return 0;
}

/* The TLS handshake is over (or failed): check who is calling. */
static bool
check_handshake(struct edge_conn *c)
{
	char buf[64];

	if (stream_dead(&c->st)) {
		log_warn("edge: tunnel from %s refused at the handshake: %s",
		    c->addr, fail_reason(c, buf, sizeof(buf)));
		edge_conn_close(c, "handshake failed");
		return false;
	}
	if (!stream_ready(&c->st))
		return false;
	if (!tls_ready(&c->tlsc)) {
		if (tls_failed(&c->tlsc)) {
			log_warn("edge: tunnel from %s refused: %s", c->addr,
			    tls_error_reason(&c->tlsc));
			edge_conn_close(c, "handshake failed");
		}
		return false;
	}
	if (!tls_peer_verified(&c->tlsc)) {
		/* No certificate: Enrollment calls only (edge_enroll.c). */
		c->identified = true;
		log_debug("edge: connection from %s without a client "
			  "certificate",
		    c->addr);
		return true;
	}
	if (!edge_peer_name(&c->tlsc, c->e->conf, c->name)) {
		log_warn("edge: tunnel from %s refused: no identity "
			 "(no URI SAN spiffe://%s/connector/<name>%s)",
		    c->addr, c->e->conf->trust_domain,
		    c->e->conf->allow_cn ? " and no usable CN" : "");
		/* A TLS close, not a bare EOF, before any HTTP/2. */
		tls_close(&c->tlsc);
		stream_update(&c->st);
		edge_conn_close(c, "no identity");
		return false;
	}
	c->identified = true;
	log_info("edge: connector %s connected from %s", c->name, c->addr);
	return true;
}

static bool
feed(struct edge_conn *c)
{
	const uint8_t *p;
	size_t n;
	int i, rc;

	for (i = 0; i < 64 && !c->closing; i++) {
		if ((p = stream_peek(&c->st, &n)) == NULL || n == 0)
			break;
		rc = h2_session_feed(&c->h2, p, n);
		if (rc < 0) {
			flush(c);
			edge_conn_close(
			    c, h2_error_name(h2_session_error(&c->h2)));
			return false;
		}
		stream_consume(&c->st, n);
	}
	return !c->closing;
}

static void
on_stream(struct stream *s)
{
	struct edge_conn *c = container_of(s, struct edge_conn, st);
	int rc;

	if (c->closing)
		return;
	if (!c->identified && !check_handshake(c))
		return;
	if (!c->h2_up && (rc = start_h2(c)) < 0) {
		edge_conn_close(c, strerror(-rc));
		return;
	}
	if (!feed(c))
		return;
	flush_all(c);
	if (h2_session_error(&c->h2) != H2_ERR_NONE) {
		edge_conn_close(c, h2_error_name(h2_session_error(&c->h2)));
		return;
	}
	if (stream_dead(s)) {
		edge_conn_close(c,
		    stream_error(s) != 0 && stream_error(s) != -ECONNRESET
			? "socket error"
			: "peer closed");
		return;
	}
	if (!h2_session_want_read(&c->h2) && !h2_session_want_write(&c->h2)) {
		edge_conn_close(c, "session over");
		return;
	}
	arm_timer(c);
}

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	struct edge_conn *c = container_of(t, struct edge_conn, timer);
	int rc;

	if (c->closing)
		return;
	if (!c->h2_up) {
		if (c->tls)
			tls_abort(&c->tlsc, TLS_R_HANDSHAKE_TIMEOUT);
		log_warn(
		    "edge: tunnel from %s refused: handshake_timeout", c->addr);
		edge_conn_close(c, "handshake timeout");
		return;
	}
	rc = h2_session_run_timers(&c->h2, rx_now(l));
	if (rc < 0) {
		flush(c);
		edge_conn_close(c, h2_error_name(h2_session_error(&c->h2)));
		return;
	}
	flush_all(c);
	arm_timer(c);
}

static void
on_stream_closed(struct stream *s)
{
	struct edge_conn *c = container_of(s, struct edge_conn, st);
	struct edge *e = c->e;

	rx_timer_stop(e->l, &c->timer);
	rx_defer_cancel(e->l, &c->kick);
	if (c->h2_up)
		h2_session_free(&c->h2); /* closes and frees the tunnels */
	list_remove(&c->link);
	e->nconns--;
	free(c->plain);
	util_wipe(&c->tlsc, sizeof(c->tlsc));
	free(c);
	edge_conn_gone(e);
}

/* see edge_int.h */
void
edge_conn_accept(struct edge *e, int fd, const struct sockaddr *peer)
{
	br_ssl_engine_context *eng = NULL;
	struct edge_conn *c;
	uint8_t *in = NULL, *out = NULL;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		net_close(fd);
		return;
	}
	c->e = e;
	c->tls = !e->conf->h2c;
	net_addr_str(peer, c->addr, sizeof(c->addr));
	if (c->tls) {
		if (tls_server_start(&c->tlsc, e->conf->tls) < 0) {
			log_error("edge: TLS server start failed");
			free(c);
			net_close(fd);
			return;
		}
		eng = c->tlsc.eng;
	} else {
		c->identified = true; /* named by MetadataResponse */
		if ((c->plain = malloc(2 * EDGE_PLAIN_BUF)) == NULL) {
			free(c);
			net_close(fd);
			return;
		}
		in = c->plain;
		out = c->plain + EDGE_PLAIN_BUF;
	}
	net_set_opt(fd, NET_NODELAY, true);
	list_prepend(&e->conns, &c->link);
	e->nconns++;
	rx_timer_init(&c->timer, on_timer);
	rx_defer_init(&c->kick, on_kick);
	rx_timer_start(e->l, &c->timer, EDGE_HANDSHAKE_MS);
	stream_start(&c->st, e->l, fd, eng, in, EDGE_PLAIN_BUF, out,
	    EDGE_PLAIN_BUF, on_stream, on_stream_closed);
	log_debug("edge: connection from %s", c->addr);
}
