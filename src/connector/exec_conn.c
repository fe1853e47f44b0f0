/*
 * Upstream connections: dialled through net/dial.h, wrapped in a stream
 * (with a BearSSL client engine for https), and kept in a bounded
 * keep-alive pool per origin afterwards.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connector/exec_int.h"
#include "lib/util.h"
#include "net/net.h"

static void conn_event(struct stream *s);
static void dialed(struct dial *d, int fd, const struct dial_result *res);

static void
dialers_free(struct exec *e)
{
	while (!list_empty(&e->spent)) {
		struct exec_dialer *x =
		    list_entry(e->spent.next, struct exec_dialer, link);

		list_remove(&x->link);
		dial_free(&x->d); /* and its proxy buffer */
		free(x);
	}
}

static void
on_reap(struct rx_loop *l, struct rx_defer *d)
{
	(void)l;
	dialers_free(container_of(d, struct exec, reap));
}

/* see exec_int.h */
void
exec_conns_init(struct exec *e)
{
	list_init(&e->spent);
	rx_defer_init(&e->reap, on_reap);
}

/* c's dialer (dial_init()ed), or NULL. */
static struct dial *
dialer_get(struct exec *e, struct exec_conn *c)
{
	struct exec_dialer *x = malloc(sizeof(*x));

	if (x == NULL)
		return NULL;
	dial_init(&x->d, e->loop, e->dns, dialed);
	x->c = c;
	list_init(&x->link);
	c->dx = x;
	return &x->d;
}

/* The dial ended or was cancelled: the dialer goes at the iteration's end. */
static void
dialer_put(struct exec_conn *c)
{
	struct exec *e = c->e;

	if (c->dx == NULL)
		return;
	dial_cancel(&c->dx->d);
	list_append(&e->spent, &c->dx->link);
	c->dx = NULL;
	rx_defer(e->loop, &e->reap);
}

/* e is gone once the last stream closed (exec_free() ran). */
static void
exec_gone(struct exec *e)
{
	rx_defer_cancel(e->loop, &e->reap);
	dialers_free(e);
	free(e);
}

static void
slot_free(struct exec_conn *c)
{
	if (c->t != NULL) {
		tls_upstream_wipe(c->t);
		free(c->t);
	}
	free(c);
}

/* A slot back on the free list; its TLS context stays with it. */
static void
slot_put(struct exec *e, struct exec_conn *c)
{
	c->state = CONN_FREE;
	c->job = NULL;
	list_append(&e->free, &c->link);
}

/* A slot from the free list, or a new one while fewer than max_conns. */
static struct exec_conn *
slot_get(struct exec *e)
{
	struct exec_conn *c;
	struct tls_upstream_conn *t;

	if (!list_empty(&e->free)) { /* the last put, first */
		c = list_entry(e->free.prev, struct exec_conn, link);
		list_remove(&c->link);
	} else {
		if (e->nslots >= e->c.max_conns)
			return NULL;
		/* The output buffer stays untouched, and out of the
		 * resident set, until bytes flow through it. */
		if ((c = malloc(sizeof(*c))) == NULL)
			return NULL;
		c->t = NULL;
		e->nslots++;
	}
	t = c->t;
	memset(c, 0, offsetof(struct exec_conn, out));
	c->t = t;
	c->e = e;
	list_init(&c->link);
	return c;
}

/* The reactor closed the stream: the slot can serve again. */
static void
conn_closed(struct stream *s)
{
	struct exec_conn *c = container_of(s, struct exec_conn, s);
	struct exec *e = c->e;

	e->nclosing--;
	if (!e->freed) {
		slot_put(e, c);
		return;
	}
	slot_free(c);
	e->nslots--;
	if (e->nclosing == 0)
		exec_gone(e);
}

static void
pool_unlink(struct exec_conn *c)
{
	list_remove(&c->link);
	c->e->nidle--;
}

/* see exec_int.h */
void
exec_conn_close(struct exec_conn *c)
{
	struct exec *e = c->e;

	switch (c->state) {
	case CONN_FREE:
	case CONN_CLOSING:
		return;
	case CONN_DIALING:
		/* The slot's memory stays valid (dial.h), so it serves again
		 * at once: a dialer restarted in this iteration is safe. */
		dialer_put(c);
		e->nconns--;
		slot_put(e, c);
		return;
	case CONN_IDLE:
		pool_unlink(c);
		/* FALLTHROUGH */
	case CONN_OPEN:
		rx_timer_stop(e->loop, &c->timer);
		stream_close(&c->s);
		break;
	}
	c->state = CONN_CLOSING;
	e->nconns--;
	e->nclosing++;
}

static void
idle_expired(struct rx_loop *l, struct rx_timer *t)
{
	exec_conn_close(container_of(t, struct exec_conn, timer));
}

static unsigned
pool_count(struct exec *e, const struct exec_conn *o)
{
	struct list_node *n;
	unsigned count = 0;

	LIST_FOR_EACH(n, &e->idle)
	{
		const struct exec_conn *c =
		    list_entry(n, struct exec_conn, link);

		if (c->tls == o->tls && c->port == o->port &&
		    strcasecmp(c->host, o->host) == 0)
			count++;
	}
	return count;
}

/* see exec_int.h */
void
exec_conn_release(struct exec_conn *c, bool keep)
{
	struct exec *e = c->e;

	/* The per-origin count walks the idle list: only when that bound is
	 * tighter than the total one (by default they are equal). */
	if (!keep || c->state != CONN_OPEN ||
	    (e->c.pool_per_origin < e->c.pool_total &&
		pool_count(e, c) >= e->c.pool_per_origin) ||
	    rx_timer_start(e->loop, &c->timer, e->c.pool_idle_ms) < 0) {
		exec_conn_close(c);
		return;
	}
	if (e->nidle >= e->c.pool_total) /* close the least recently used */
		exec_conn_close(
		    list_entry(e->idle.prev, struct exec_conn, link));
	c->state = CONN_IDLE;
	c->reused = true;
	/* Linked before the first node: at the front, most recent first. */
	list_append(e->idle.next, &c->link);
	e->nidle++;
	stream_shed(&c->s);
	/* Keep reading: the peer closing an idle connection is noticed. */
	stream_update(&c->s);
}

/* An idle connection for the job's origin that still looks alive. */
static struct exec_conn *
pool_take(struct exec *e, const struct job *job)
{
	struct list_node *n;

	LIST_FOR_EACH(n, &e->idle)
	{
		struct exec_conn *c = list_entry(n, struct exec_conn, link);

		if (c->tls != job->url.tls || c->port != job->url.port ||
		    strcasecmp(c->host, job->host) != 0 || stream_dead(&c->s))
			continue;
		pool_unlink(c);
		rx_timer_stop(e->loop, &c->timer);
		return c;
	}
	return NULL;
}

static void
dialed(struct dial *d, int fd, const struct dial_result *res)
{
	struct exec_conn *c = container_of(d, struct exec_dialer, d)->c;
	static const struct {
		enum exec_reason r;
		const char *detail;
	} map[] = {
	    [DIAL_OK] = {EXEC_OK, NULL},
	    [DIAL_DNS] = {EXEC_DNS, NULL}, /* dns_error_detail() */
	    [DIAL_REFUSED] = {EXEC_REFUSED, "connection refused"},
	    [DIAL_UNREACHABLE] = {EXEC_UNREACHABLE, "host unreachable"},
	    [DIAL_TIMEOUT] = {EXEC_TIMEOUT, "connect timed out"},
	    [DIAL_RESET] = {EXEC_RESET, "reset while connecting"},
	    [DIAL_PROXY] = {EXEC_PROXY, NULL}, /* exec_proxy_detail() */
	    [DIAL_POLICY] = {EXEC_POLICY_DENIED,
		"EGRESS_ALLOW refuses the target or an address it resolved to"},
	};
	struct exec *e = c->e;
	size_t i = (size_t)res->err;

	dialer_put(c); /* d and res stay valid to the iteration's end */
	if (fd < 0) {
		if (i >= nitems(map) || i == DIAL_OK)
			i = DIAL_UNREACHABLE;
		/* The job's teardown puts the slot back. */
		exec_job_fail(c->job, map[i].r,
		    i == DIAL_DNS	  ? dns_error_detail(res->dns)
			: i == DIAL_PROXY ? exec_proxy_detail(res->proxy_status)
					  : map[i].detail);
		return;
	}
	if (c->tls && c->t == NULL && (c->t = malloc(sizeof(*c->t))) == NULL) {
		net_close(fd);
		exec_job_fail(c->job, EXEC_OVERLOADED, "out of memory");
		return;
	}
	c->state = CONN_OPEN;
	stream_start(&c->s, e->loop, fd, c->tls ? exec_tls_setup(e, c) : NULL,
	    NULL, EXEC_IN_BUF, c->out, sizeof(c->out), conn_event, conn_closed);
	exec_job_connected(c->job);
}

/* see exec_int.h */
int
exec_conn_get(struct exec *e, struct job *job, bool fresh)
{
	struct dial_opts o = {.attempt_ms = e->c.connect_timeout_ms,
	    .total_ms = e->c.request_timeout_ms,
	    .policy = e->c.egress != NULL ? e->c.egress : netpolicy_any()};
	struct exec_conn *c;
	struct dial *d;
	int rc;

	if (!fresh && (c = pool_take(e, job)) != NULL) {
		c->state = CONN_OPEN;
		e->st.reused++;
		goto attach;
	}
	if ((c = slot_get(e)) == NULL)
		return -ENOMEM;
	c->tls = job->url.tls;
	c->port = job->url.port;
	memcpy(c->host, job->host, sizeof(c->host));
	c->state = CONN_DIALING;
	rx_timer_init(&c->timer, idle_expired);
	if ((d = dialer_get(e, c)) == NULL) {
		slot_put(e, c);
		return -ENOMEM;
	}
	/* https: CONNECT through the proxy; http: a plain connection to it,
	 * which gets the request in absolute form (exec_req.c).  Either way
	 * the policy checks the target. */
	o.proxy = job->proxy;
	o.proxy_plain = !c->tls;
	if ((rc = dial_start(d, c->host, c->port, &o)) < 0) {
		dialer_put(c);
		slot_put(e, c);
		return rc;
	}
	e->nconns++;
	e->st.dials++;
attach:
	c->job = job;
	job->conn = c;
	return 0;
}

static void
conn_event(struct stream *s)
{
	struct exec_conn *c = container_of(s, struct exec_conn, s);
	size_t n = 0;

	if (!c->handshaken && c->tls && stream_ready(s))
		c->handshaken = true;
	if (c->job != NULL) {
		exec_job_io(c->job);
		return;
	}
	/* Idle: unsolicited bytes or the peer's close end it. */
	stream_peek(s, &n);
	if (c->state == CONN_IDLE && (n > 0 || stream_dead(s)))
		exec_conn_close(c);
}

/* see exec_int.h */
void
exec_conns_free(struct exec *e)
{
	while (!list_empty(&e->idle))
		exec_conn_close(
		    list_entry(e->idle.next, struct exec_conn, link));
	while (!list_empty(&e->free)) {
		struct exec_conn *c =
		    list_entry(e->free.prev, struct exec_conn, link);

		list_remove(&c->link);
		slot_free(c);
		e->nslots--;
	}
	e->freed = true;
	if (e->nclosing == 0)
		exec_gone(e);
}

/* see exec_int.h */
enum exec_reason
exec_conn_reason(const struct exec_conn *c, const char **detail)
{
	int err = stream_error(&c->s);

	if (err == STREAM_ERR_TLS) {
		*detail = tls_br_detail(c->s.tls_err);
		return EXEC_TLS;
	}
	if (c->tls && !c->handshaken) {
		*detail = "tls: connection lost during the handshake";
		return EXEC_TLS;
	}
	switch (err) {
	case -ECONNREFUSED:
		*detail = "connection refused";
		return EXEC_REFUSED;
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ENETDOWN:
		*detail = "host unreachable";
		return EXEC_UNREACHABLE;
	case -ETIMEDOUT:
		*detail = "connection timed out";
		return EXEC_TIMEOUT;
	case -EPIPE:
		*detail = "broken pipe";
		return EXEC_RESET;
	default:
		*detail = "connection reset";
		return EXEC_RESET;
	}
}
