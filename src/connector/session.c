/*
 * session.c — the session table (session.h): SessionOpen checks, the dial,
 * the answer on a new Attach call, timeouts, the end of a session with its
 * log line and metrics.  The bytes are session_io.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/manager.h"
#include "connector/session_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"
#include "net/netpolicy.h"
#include "net/noproxy.h"

/* A refusal's call: the smallest window, room for the result only. */
#define REFUSAL_TX 1024
#define REFUSAL_MSG 256
#define SESSION_QUEUE 4 /* messages queued on a call: result, data, FIN */
#define CONNECT_MAX_MS (5 * 60 * 1000)
/* An open session with no bytes for this long gives its buffers back. */
#define SESSION_TRIM_MS 2000
/* How long the edge has to end a call whose outcome is known. */
#define SESSION_END_WAIT_MS (30 * 1000)

static const char *const result_names[SR__N] = {
    "ok",
    "policy_denied",
    "dns",
    "refused",
    "unreachable",
    "timeout",
    "overloaded",
    "draining",
    "bad_request",
    "internal",
    "reset",
    "idle_timeout",
    "lifetime",
    "cancelled",
    "ended",
    "closed",
    "protocol",
};

/* see session_int.h */
const char *
session_result_name(enum session_result r)
{
	return r < SR__N ? result_names[r] : "?";
}

/* see session.h */
void
session_conf_load(struct session_conf *sc, const struct cfg *c)
{
	*sc = (struct session_conf){
	    .max = (unsigned)cfg_int(c, CFG_SESSION_MAX),
	    .idle_ms = cfg_int(c, CFG_SESSION_IDLE_TIMEOUT),
	    .lifetime_ms = cfg_int(c, CFG_SESSION_MAX_LIFETIME),
	    .connect_ms = cfg_int(c, CFG_CONNECT_TIMEOUT),
	    .buffer = (size_t)cfg_int(c, CFG_SESSION_BUFFER),
	    .policy = cfg_policy(c, CFG_SESSION_ALLOW),
	    .no_proxy = cfg_str(c, CFG_NO_PROXY),
	};
}

/* see session.h */
int
session_table_new(
    struct session_table **out, struct manager *m, const struct session_conf *c)
{
	struct session_table *t = calloc(1, sizeof(*t));
	char why[NETPOLICY_ERR_MAX];

	*out = t;
	if (t == NULL)
		return -ENOMEM;
	t->mgr = m;
	t->c = *c;
	if (noproxy_parse(&t->direct, c->no_proxy, why, sizeof(why)) < 0)
		return -EINVAL;
	t->s = calloc(c->max + SESSION_REFUSALS, sizeof(*t->s));
	t->scratch = malloc(SESSION_DATA_MAX);
	return t->s != NULL && t->scratch != NULL ? 0 : -ENOMEM;
}

/* see session.h */
bool
session_enabled(const struct session_table *t)
{
	return t != NULL && t->c.policy != NULL;
}

/* see session.h */
unsigned
session_count(const struct session_table *t)
{
	return t->nfull;
}

/* --- a session's memory ----------------------------------------------------- */

static void on_timer(struct rx_loop *l, struct rx_timer *tm);
static void arm(struct session *s);
static void on_reap(struct rx_loop *l, struct rx_defer *d);
static void on_dialed(struct dial *d, int fd, const struct dial_result *r);
static void ending(struct session *s, enum session_result r);

static struct session *
session_new(struct session_table *t, struct tunnel_slot *slot,
    const Outpost__V1__SessionOpen *so, bool full)
{
	struct session *s = calloc(1, sizeof(*s));
	size_t msg =
	    full ? SESSION_DATA_MAX + SESSION_FRAME_SLACK : REFUSAL_MSG;
	int r;

	if (s == NULL)
		return NULL;
	r = full ? conn_call_init(&s->call, &session_call_ops, s, t->c.buffer,
		       t->c.buffer, msg, SESSION_QUEUE)
		 : conn_call_init(&s->call, &session_call_ops, s,
		       CONN_MIN_WINDOW, REFUSAL_TX, msg, SESSION_QUEUE);
	if (r < 0) {
		conn_call_free(&s->call);
		free(s);
		return NULL;
	}
	s->tab = t;
	s->slot = slot;
	s->gen = slot->conn.generation;
	s->full = full;
	s->state = SS_DIALING;
	s->w.fd = -1;
	s->started = s->active = rx_now(t->mgr->loop);
	s->port = (uint16_t)so->port;
	snprintf(s->id, sizeof(s->id), "%s", so->session_id);
	snprintf(s->host, sizeof(s->host), "%s", so->host);
	rx_timer_init(&s->timer, on_timer);
	rx_defer_init(&s->reap, on_reap);
	dial_init(&s->dial, t->mgr->loop, t->mgr->dns, on_dialed);
	s->index = t->n;
	t->s[t->n++] = s;
	t->nfull += full;
	metric_set(&t->m_open, t->nfull);
	return s;
}

static void
log_end(const struct session *s)
{
	struct session_table *t = s->tab;
	int64_t ms = rx_now(t->mgr->loop) - s->started;

	log_info("session %s: ended (%s): target %s:%u, %lld.%03llds, "
		 "%llu bytes to the target, %llu from it",
	    s->id, session_result_name(s->result), s->host, s->port,
	    (long long)(ms / 1000), (long long)(ms % 1000),
	    (unsigned long long)s->to_target,
	    (unsigned long long)s->from_target);
}

/* Forget the session: its call is idle and its socket gone. */
static void
session_free(struct session *s)
{
	struct session_table *t = s->tab;
	struct rx_loop *l = t->mgr->loop;

	log_end(s);
	metric_inc(&t->m_total[s->result]);
	t->s[s->index] = t->s[--t->n];
	t->s[s->index]->index = s->index;
	t->nfull -= s->full;
	metric_set(&t->m_open, t->nfull);
	rx_timer_stop(l, &s->timer);
	rx_defer_cancel(l, &s->reap);
	dial_free(&s->dial);
	conn_call_free(&s->call);
	free(s->pend);
	free(s);
}

static void
on_reap(struct rx_loop *l, struct rx_defer *d)
{
	(void)l;
	session_free(container_of(d, struct session, reap));
}

/* see session_int.h (the socket's close callback lands here too) */
void
session_release(struct session *s)
{
	if (conn_call_busy(&s->call))
		return; /* on_end comes, and calls this again */
	if (s->w.fd >= 0)
		session_io_close(s); /* frees it once the fd is closed */
	else
		rx_defer(s->tab->mgr->loop, &s->reap);
}

/* see session.h */
void
session_table_free(struct session_table *t)
{
	struct session *s;

	if (t == NULL)
		return;
	while (t->n > 0) {
		s = t->s[t->n - 1];
		if (s->w.fd >= 0 && !s->w.closing)
			net_close(rx_watch_release(t->mgr->loop, &s->w));
		s->w.fd = -1;
		session_free(s);
	}
	noproxy_free(t->direct);
	free(t->s);
	free(t->scratch);
	free(t);
}

/* --- answering ----------------------------------------------------------- */

static bool
send_result(struct session *s, bool ok, const char *detail)
{
	Outpost__V1__SessionResult res = OUTPOST__V1__SESSION_RESULT__INIT;
	Outpost__V1__SessionFrame f = OUTPOST__V1__SESSION_FRAME__INIT;

	res.ok = ok;
	res.reason = ok ? "" : (char *)session_result_name(s->result);
	res.detail = (char *)detail;
	f.frame_case = OUTPOST__V1__SESSION_FRAME__FRAME_RESULT;
	f.result = &res;
	return conn_call_send(&s->call, &f.base);
}

/*
 * Open the Attach call on the session's connection and queue the result:
 * ok (fd >= 0, the target's socket) starts the bytes; a failure ends the
 * call after the result.  A session whose connection went away is freed.
 */
static void
attach(struct session *s, int fd, const char *detail)
{
	struct tunnel_conn *n = &s->slot->conn;
	const struct h2_header hdr[] = {{"outpost-session-id", s->id}};
	bool ok = fd >= 0;

	if (n->generation != s->gen ||
	    conn_call_open(n, &s->call, SESSION_PATH, hdr, 1) < 0) {
		log_warn("session %s: cannot answer: tunnel %u has no "
			 "connection for it",
		    s->id, s->slot->index);
		if (ok)
			net_close(fd);
		s->result = SR_CLOSED;
		session_release(s);
		return;
	}
	if (!send_result(s, ok, detail)) {
		if (ok)
			net_close(fd);
		ending(s, SR_INTERNAL);
		conn_call_cancel(&s->call);
		return;
	}
	if (!ok) {
		ending(s, s->result);
		conn_call_end(&s->call);
		return;
	}
	s->state = SS_OPEN;
	session_io_start(s, fd);
	arm(s);
}

static enum session_result
dial_result(enum dial_error e)
{
	switch (e) {
	case DIAL_DNS:
		return SR_DNS;
	case DIAL_REFUSED:
	case DIAL_RESET:
		return SR_REFUSED;
	case DIAL_UNREACHABLE:
		return SR_UNREACHABLE;
	case DIAL_TIMEOUT:
		return SR_TIMEOUT;
	case DIAL_POLICY:
		return SR_POLICY_DENIED;
	default:
		return SR_INTERNAL; /* the proxy failed */
	}
}

static void
on_dialed(struct dial *d, int fd, const struct dial_result *r)
{
	struct session *s = container_of(d, struct session, dial);

	if (fd < 0) {
		s->result = dial_result(r->err);
		log_info("session %s: dial %s:%u failed: %s (%s)", s->id,
		    s->host, s->port, dial_error_str(r->err), r->detail);
		attach(s, -1, r->detail);
		return;
	}
	s->result = SR_OK;
	attach(s, fd, "");
}

/* --- SessionOpen ---------------------------------------------------------- */

/* see session.h */
bool
session_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > SESSION_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)id[i]) || id[i] == '.' ||
			id[i] == '_' || id[i] == '-'))
			return false;
	return true;
}

/* see session.h */
bool
session_target_valid(const Outpost__V1__SessionOpen *so)
{
	size_t hl = strlen(so->host);

	return hl > 0 && hl <= DNS_NAME_MAX && so->port > 0 &&
	    so->port <= 65535;
}

/* Why the session is refused before any dial, or SR_OK. */
static enum session_result
precheck(const struct session_table *t, const struct tunnel_slot *slot,
    const Outpost__V1__SessionOpen *so)
{
	if (!session_target_valid(so))
		return SR_BAD_REQUEST;
	if (t->c.policy == NULL)
		return SR_POLICY_DENIED; /* sessions are off: fail closed */
	if (tunnel_slot_draining(slot))
		return SR_DRAINING;
	if (t->nfull >= t->c.max)
		return SR_OVERLOADED;
	return SR_OK;
}

static void
refuse(struct session_table *t, struct tunnel_slot *slot,
    const Outpost__V1__SessionOpen *so, enum session_result r)
{
	static const char *const why[SR__N] = {
	    [SR_POLICY_DENIED] = "the target is not in SESSION_ALLOW",
	    [SR_OVERLOADED] = "SESSION_MAX sessions are open",
	    [SR_DRAINING] = "tunnel is closing; retry on another tunnel",
	    [SR_BAD_REQUEST] = "bad host or port",
	    [SR_INTERNAL] = "out of memory",
	};
	struct session *s;

	if (t->n >= t->c.max + SESSION_REFUSALS ||
	    (s = session_new(t, slot, so, false)) == NULL) {
		log_warn("session %s: refused (%s), unanswered: too many "
			 "refusals at once",
		    so->session_id, session_result_name(r));
		return;
	}
	s->result = r;
	attach(s, -1, why[r] != NULL ? why[r] : "");
}

static int64_t
clamp_ms(uint64_t asked, int64_t dflt, int64_t max)
{
	if (asked == 0)
		return dflt;
	return (int64_t)asked < max ? (int64_t)asked : max;
}

/* see session.h */
void
session_open(struct session_table *t, struct tunnel_slot *slot,
    const Outpost__V1__SessionOpen *so)
{
	/* The dialer checks the name, then every address it resolves to,
	 * and dials only those (net/dial.h). */
	struct dial_opts o = {.policy = t->c.policy};
	enum session_result r;
	struct session *s;
	int e;

	if (!session_id_valid(so->session_id)) {
		log_warn("tunnel %u: SessionOpen with a bad session_id ignored",
		    slot->index);
		return;
	}
	if ((r = precheck(t, slot, so)) != SR_OK) {
		refuse(t, slot, so, r);
		return;
	}
	if ((s = session_new(t, slot, so, true)) == NULL) {
		refuse(t, slot, so, SR_INTERNAL);
		return;
	}
	/* The edge may shorten the idle timeout, never lengthen it. */
	s->idle_ms = clamp_ms(
	    (uint64_t)so->idle_timeout_s * 1000, t->c.idle_ms, t->c.idle_ms);
	if (!noproxy_bypass(t->direct, s->host, s->port))
		o.proxy = t->mgr->proxy;
	o.attempt_ms = o.total_ms =
	    clamp_ms(so->connect_timeout_ms, t->c.connect_ms, CONNECT_MAX_MS);
	e = dial_start(&s->dial, s->host, s->port, &o);
	if (e < 0) {
		s->result = e == -EINVAL ? SR_BAD_REQUEST : SR_INTERNAL;
		attach(s, -1, strerror(-e));
	}
}

/* --- the end ----------------------------------------------------------------- */

/*
 * The session's timer: at the lifetime, the idle deadline, or (bytes moved
 * since the last trim) SESSION_TRIM_MS after the last byte, when an idle
 * session's buffers are given back (conn_call_trim).
 */
static void
arm(struct session *s)
{
	int64_t at = s->started + s->tab->c.lifetime_ms;

	if (s->active + s->idle_ms < at)
		at = s->active + s->idle_ms;
	if (!s->trimmed && s->active + SESSION_TRIM_MS < at)
		at = s->active + SESSION_TRIM_MS;
	at -= rx_now(s->tab->mgr->loop);
	rx_timer_start(s->tab->mgr->loop, &s->timer, at > 0 ? at : 0);
}

/* see session_int.h */
void
session_touch(struct session *s)
{
	s->active = rx_now(s->tab->mgr->loop);
	if (s->trimmed) {
		s->trimmed = false;
		arm(s);
	}
}

/*
 * The outcome is known: close the target now and give the edge
 * SESSION_END_WAIT_MS to end the call (it is reset then).
 */
static void
ending(struct session *s, enum session_result r)
{
	s->state = SS_ENDING;
	s->result = r;
	rx_timer_start(s->tab->mgr->loop, &s->timer, SESSION_END_WAIT_MS);
	if (s->w.fd >= 0)
		session_io_close(s);
}

/* see session_int.h */
void
session_abort(struct session *s, enum session_result r)
{
	if (s->state == SS_ENDING)
		return;
	ending(s, r);
	if (r == SR_RESET) /* no half_close: status 14 "reset" trailers */
		conn_call_end_status(&s->call, 14 /* UNAVAILABLE */, "reset");
	else
		conn_call_cancel(&s->call);
}

/* see session_int.h */
void
session_finish(struct session *s)
{
	if (s->state != SS_OPEN)
		return;
	ending(s, SR_OK);
	conn_call_end(&s->call);
}

/* Idle or lifetime: whichever comes first (the timer is re-armed). */
static void
on_timer(struct rx_loop *l, struct rx_timer *tm)
{
	struct session *s = container_of(tm, struct session, timer);
	int64_t now = rx_now(l), life = s->started + s->tab->c.lifetime_ms,
		idle = s->active + s->idle_ms;

	if (s->state == SS_ENDING) {
		conn_call_cancel(&s->call); /* the edge did not end it */
		return;
	}
	if (now >= life) {
		session_abort(s, SR_LIFETIME);
		return;
	}
	if (now >= idle) {
		session_abort(s, SR_IDLE_TIMEOUT);
		return;
	}
	if (!s->trimmed && now >= s->active + SESSION_TRIM_MS) {
		conn_call_trim(&s->call);
		s->trimmed = true;
	}
	arm(s);
}

/* see session_int.h */
void
session_call_ended(struct session *s, const char *reason)
{
	rx_timer_stop(s->tab->mgr->loop, &s->timer);
	if (s->state != SS_ENDING) {
		s->state = SS_ENDING;
		if (reason == NULL)
			s->result = SR_ENDED;
		else if (strcmp(reason, "closed") == 0)
			s->result = SR_CLOSED;
		else if (strcmp(reason, "protocol") == 0)
			s->result = SR_PROTOCOL;
		else
			s->result = SR_CANCELLED;
	}
	dial_cancel(&s->dial);
	session_release(s);
}

/* --- metrics ------------------------------------------------------------------ */

static void
family(struct metrics *r, struct metric_family *f, const char *name,
    const char *help, enum metric_type type)
{
	metric_family_init(f, name, help, type, NULL, NULL);
	metrics_add(r, f);
}

static void
series(struct metric_family *f, struct metric *m, const char *labels)
{
	metric_init(m, labels, NULL, NULL, 0);
	metric_family_add(f, m);
}

/* see session.h */
void
session_metrics_add(struct session_table *t, struct metrics *r)
{
	unsigned i;

	family(r, &t->f_open, "outpost_sessions_open",
	    "Sessions open now (dialling or carrying bytes).", METRIC_GAUGE);
	series(&t->f_open, &t->m_open, NULL);
	family(r, &t->f_total, "outpost_sessions_total",
	    "Sessions ended, by result: ok, the refusal reason, or how it "
	    "ended.",
	    METRIC_COUNTER);
	for (i = 0; i < SR__N; i++) {
		snprintf(t->labels[i], sizeof(t->labels[i]), "result=\"%s\"",
		    result_names[i]);
		series(&t->f_total, &t->m_total[i], t->labels[i]);
	}
	family(r, &t->f_bytes, "outpost_session_bytes_total",
	    "Session bytes, to the targets and from them.", METRIC_COUNTER);
	series(&t->f_bytes, &t->m_to, "direction=\"to_target\"");
	series(&t->f_bytes, &t->m_from, "direction=\"from_target\"");
}
