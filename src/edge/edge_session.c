/*
 * edge_session.c — brokered TCP sessions on the edge (see edge_session.h,
 * spec/sessions.md): open on a Tunnel call, match the Attach call, the
 * result, the upgrade, and the bytes both ways under flow control.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "edge/edge_session.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "proto/outpost/v1/sessions.pb-c.h"

#define DATA_MAX 65536u /* bytes per data frame (spec) */
#define FRAME_MAX (DATA_MAX + 16u) /* a packed frame, prefix included */
#define MSG_MAX (DATA_MAX + 1024u) /* a frame the connector sends */
#define EDGE_SESSION_BUF (128u << 10) /* client buffers, each way */
#define SCRATCH_MAX (64u << 10)
#define SWITCHING \
	"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" \
	"Upgrade: outpost-tcp\r\n\r\n"

struct edge_session {
	struct edge *e;
	struct list_node link; /* e->ss->all */
	struct edge_conn *c; /* the Attach must come on this connection */
	struct edge_tunnel *t; /* asked on; NULL once that call closed */
	struct edge_tunnel *att; /* the Attach call; NULL before and after */
	struct http_exchange *x; /* the front-door request until answered */
	struct rx_timer timer; /* the Attach and its result are due */
	struct rx_defer again; /* pump_down ran out of rounds */
	struct stream cs; /* the client after the upgrade */
	bool cs_open; /* cs started, its on_close still to come */
	bool result; /* result{ok:true} seen */
	bool up_eof; /* client EOF: half_close owed or sent */
	bool up_done; /* half_close sent */
	bool down_done; /* the connector's half_close (or end) came */
	bool wshut; /* the client's write side is shut */
	bool ended;
	enum edge_sess_result res;
	uint64_t to_target, from_target;
	int64_t t0; /* monotonic: the front-door request */
	int64_t since_ms; /* wall clock */
	uint16_t port;
	char id[EDGE_SID_MAX];
	char host[EDGE_HOST_MAX];
	char name[EDGE_NAME_MAX];
	uint8_t *mem; /* the client buffers, in then out */
};

/* Each result's metric label, and the front door's status for it. */
static const struct {
	const char *name;
	int status;
} results[EDGE_SR_COUNT] = {
    [EDGE_SR_OK] = {"ok", 101},
    [EDGE_SR_POLICY_DENIED] = {"policy_denied", 403},
    [EDGE_SR_DNS] = {"dns", 502},
    [EDGE_SR_REFUSED] = {"refused", 502},
    [EDGE_SR_UNREACHABLE] = {"unreachable", 502},
    [EDGE_SR_TIMEOUT] = {"timeout", 504},
    [EDGE_SR_OVERLOADED] = {"overloaded", 503},
    [EDGE_SR_DRAINING] = {"draining", 503},
    [EDGE_SR_BAD_REQUEST] = {"bad_request", 400},
    [EDGE_SR_INTERNAL] = {"internal", 502},
    [EDGE_SR_NO_TUNNEL] = {"no_tunnel", 503},
    [EDGE_SR_TUNNEL_CLOSED] = {"tunnel_closed", 502},
    [EDGE_SR_CANCELLED] = {"cancelled", 499},
    [EDGE_SR_RESET] = {"reset", 502},
};

static void on_client(struct stream *st);
static void pump_down(struct edge_session *s);

static enum edge_sess_result
result_of(const char *reason)
{
	int i;

	for (i = EDGE_SR_POLICY_DENIED; i <= EDGE_SR_INTERNAL; i++)
		if (reason != NULL && strcmp(reason, results[i].name) == 0)
			return (enum edge_sess_result)i;
	return EDGE_SR_INTERNAL;
}

static void
maybe_free(struct edge_session *s)
{
	struct edge *e = s->e;

	if (!s->ended || s->att != NULL || s->cs_open || s->x != NULL)
		return;
	rx_defer_cancel(e->l, &s->again);
	list_remove(&s->link);
	e->ss->n--;
	free(s->mem);
	free(s);
	if (e->stopping)
		edge_conn_gone(e); /* the edge may be freed now */
}

/* Answer the waiting front-door request with a JSON error. */
static void
refuse(struct edge_session *s, enum edge_sess_result r, const char *detail)
{
	struct http_exchange *x = s->x;

	if (x == NULL)
		return;
	s->res = r;
	s->x = NULL;
	edge_api_json(x, results[r].status, results[r].name, NULL, detail);
}

/*
 * The session is over (once): counted, logged, its Attach call ended
 * (cancelled unless both sides closed in order) and its client closed.
 */
static void
end(struct edge_session *s, const char *why, bool cancel)
{
	struct edge_sessions *ss = s->e->ss;

	if (s->ended)
		return;
	s->ended = true;
	rx_timer_stop(s->e->l, &s->timer);
	ss->open--;
	ss->total[s->res]++;
	if (s->t != NULL && s->t->nsessions > 0)
		s->t->nsessions--;
	s->t = NULL;
	log_info("edge: session %s of %s to %s:%u ended: %s (%s); %" PRIu64
		 " bytes to the target, %" PRIu64 " from it, %" PRId64 " ms",
	    s->id, s->name, s->host, s->port, why, results[s->res].name,
	    s->to_target, s->from_target, rx_now(s->e->l) - s->t0);
	if (s->att != NULL && !s->att->closed) {
		if (cancel)
			h2_stream_cancel(&s->att->hs, 8);
		else
			h2_stream_end_status(&s->att->hs, GRPC_STATUS_OK, NULL);
		edge_conn_kick(s->att->c);
	}
	if (s->cs_open)
		stream_close(&s->cs);
	if (s->x != NULL)
		refuse(s, s->res, why);
	maybe_free(s);
}

static void
on_abort(struct http_exchange *x, void *arg)
{
	struct edge_session *s = arg;

	s->x = NULL;
	s->res = EDGE_SR_CANCELLED;
	end(s, "client went away", true);
}

static void
on_timer(struct rx_loop *l, struct rx_timer *tm)
{
	struct edge_session *s = container_of(tm, struct edge_session, timer);

	refuse(s, EDGE_SR_TIMEOUT,
	    s->att == NULL ? "the connector did not attach in time"
			   : "the connector did not answer in time");
	end(s, "timeout", true);
}

/* Pack one frame (5-byte prefix + SessionFrame) into the scratch. */
static size_t
pack(struct edge_session *s, const Outpost__V1__SessionFrame *f)
{
	uint8_t *out = s->e->ss->scratch;
	size_t n = outpost__v1__session_frame__get_packed_size(f);

	grpc_prefix_write(out, n);
	outpost__v1__session_frame__pack(f, out + GRPC_PREFIX_LEN);
	return n + GRPC_PREFIX_LEN;
}

/* Queue data (n <= DATA_MAX) on the Attach call; the caller checked room. */
static void
send_data(struct edge_session *s, const void *p, size_t n)
{
	Outpost__V1__SessionFrame f = OUTPOST__V1__SESSION_FRAME__INIT;
	size_t len;

	f.frame_case = OUTPOST__V1__SESSION_FRAME__FRAME_DATA;
	f.data.data = (uint8_t *)p;
	f.data.len = n;
	len = pack(s, &f);
	h2_stream_send(&s->att->hs, s->e->ss->scratch, len);
	s->to_target += n;
	s->e->ss->to_target += n;
}

static bool
send_half_close(struct edge_session *s)
{
	Outpost__V1__SessionFrame f = OUTPOST__V1__SESSION_FRAME__INIT;
	size_t len;

	f.frame_case = OUTPOST__V1__SESSION_FRAME__FRAME_HALF_CLOSE;
	f.half_close = true;
	len = pack(s, &f);
	if (h2_stream_send_room(&s->att->hs) < len)
		return false;
	h2_stream_send(&s->att->hs, s->e->ss->scratch, len);
	return true;
}

/* Both directions closed in order: the call ends with grpc-status 0. */
static void
maybe_done(struct edge_session *s)
{
	if (s->down_done && !s->wshut && s->cs_open &&
	    !stream_output_pending(&s->cs)) {
		net_shutdown_write(s->cs.w.fd);
		s->wshut = true;
	}
	if (s->up_done && s->wshut)
		end(s, "closed", false);
}

/* Client to target: whole frames while the Attach send ring has room. */
static void
pump_up(struct edge_session *s)
{
	const uint8_t *p;
	size_t n, room;
	int i;

	for (i = 0; i < 64 && !s->ended && !s->up_done; i++) {
		p = stream_peek(&s->cs, &n);
		room = h2_stream_send_room(&s->att->hs);
		if (n == 0)
			break;
		if (room <= FRAME_MAX - DATA_MAX)
			return; /* H2_EV_WRITE calls back */
		n = MIN(n, MIN(DATA_MAX, room - (FRAME_MAX - DATA_MAX)));
		send_data(s, p, n);
		stream_consume(&s->cs, n);
	}
	if (s->ended || s->up_done)
		return;
	if (stream_error(&s->cs) != 0) {
		end(s, "client reset", true);
		return;
	}
	if (stream_dead(&s->cs) && !s->up_eof)
		s->up_eof = true;
	if (s->up_eof && send_half_close(s))
		s->up_done = true;
}

/* The client's socket moved (bytes, room, EOF or an error). */
static void
on_client(struct stream *st)
{
	struct edge_session *s = container_of(st, struct edge_session, cs);

	if (s->ended || s->att == NULL)
		return;
	pump_up(s);
	if (!s->ended)
		pump_down(s);
	if (!s->ended)
		maybe_done(s);
	if (s->att != NULL)
		edge_conn_kick(s->att->c);
}

static void
on_client_closed(struct stream *st)
{
	struct edge_session *s = container_of(st, struct edge_session, cs);

	s->cs_open = false;
	maybe_free(s);
}

/* result{ok:true}: 101 to the client, which is ours from now on. */
static void
upgrade(struct edge_session *s)
{
	struct edge_sessions *ss = s->e->ss;
	size_t pre = 0;
	int fd;

	fd = http_exchange_upgrade(s->x, ss->scratch, SCRATCH_MAX, &pre);
	if (fd < 0 || (s->mem = malloc(2 * EDGE_SESSION_BUF)) == NULL) {
		if (fd >= 0)
			net_close(fd);
		else
			refuse(s, EDGE_SR_INTERNAL, "cannot switch protocols");
		s->x = NULL;
		s->res = EDGE_SR_INTERNAL;
		end(s, "cannot switch protocols", true);
		return;
	}
	s->x = NULL;
	s->result = true;
	s->res = EDGE_SR_OK;
	rx_timer_stop(s->e->l, &s->timer);
	/* Bytes the client sent after its head go first (room: the ring
	 * is empty so far and larger than one frame). */
	if (pre > 0) {
		uint8_t *copy = s->mem; /* the scratch is reused by pack() */

		memcpy(copy, ss->scratch, pre);
		send_data(s, copy, pre);
	}
	stream_start(&s->cs, s->e->l, fd, NULL, s->mem, EDGE_SESSION_BUF,
	    s->mem + EDGE_SESSION_BUF, EDGE_SESSION_BUF, on_client,
	    on_client_closed);
	s->cs_open = true;
	stream_write(&s->cs, SWITCHING, strlen(SWITCHING));
	stream_update(&s->cs);
	log_info("edge: session %s of %s to %s:%u open", s->id, s->name,
	    s->host, s->port);
}

static void
on_result(struct edge_session *s, const Outpost__V1__SessionResult *r)
{
	const char *detail =
	    r->detail != NULL && r->detail[0] ? r->detail : NULL;

	if (r->ok) {
		upgrade(s);
		return;
	}
	refuse(s, result_of(r->reason), detail);
	end(s, "refused by the connector", false);
}

/* One frame from the connector; false when the session ended. */
static bool
on_frame(struct edge_session *s, const uint8_t *p, size_t n)
{
	Outpost__V1__SessionFrame *f;
	bool ok = true;

	f = outpost__v1__session_frame__unpack(NULL, n, p);
	if (f == NULL) {
		refuse(s, EDGE_SR_INTERNAL, "malformed SessionFrame");
		end(s, "malformed frame", true);
		return false;
	}
	if (!s->result && s->x != NULL &&
	    f->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_RESULT)
		on_result(s, f->result);
	else if (!s->result || s->down_done ||
	    f->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_RESULT) {
		refuse(s, EDGE_SR_INTERNAL, "frame out of order");
		end(s, "frame out of order", true);
	} else if (f->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_DATA &&
	    f->data.len > DATA_MAX) {
		end(s, "data frame too large", true);
	} else if (f->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_DATA) {
		/* Fits: pump_down checked the room for a whole frame. */
		stream_write(&s->cs, f->data.data, f->data.len);
		s->from_target += f->data.len;
		s->e->ss->from_target += f->data.len;
	} else {
		s->down_done = true;
	}
	ok = !s->ended;
	outpost__v1__session_frame__free_unpacked(f, NULL);
	return ok;
}

/* Room for one more whole frame towards the client (or none needed). */
static bool
down_room(struct edge_session *s)
{
	size_t room = 0;

	if (!s->result)
		return true;
	return stream_reserve(&s->cs, &room) != NULL && room >= DATA_MAX;
}

/* Frames from the Attach ring while the client has room; false: ended. */
static bool
take_frames(struct edge_session *s)
{
	struct edge_tunnel *a = s->att;
	const uint8_t *p, *msg;
	size_t n, used, len;
	int i, r;

	for (i = 0; i < 64 && !s->ended && down_room(s); i++) {
		if ((p = h2_stream_take(&a->hs, &n)) == NULL || n == 0)
			break;
		r = grpc_reader_feed(&a->rd, p, n, &used, &msg, &len);
		if (r == GRPC_ERROR) {
			refuse(s, EDGE_SR_INTERNAL, "bad frame");
			end(s, grpc_error_name(grpc_reader_error(&a->rd)),
			    true);
			return false;
		}
		if (r == GRPC_MSG && !on_frame(s, msg, len))
			return false;
		h2_stream_ack(&a->hs, used);
	}
	return !s->ended;
}

static bool
ring_empty(struct edge_session *s)
{
	size_t n = 0;

	return h2_stream_take(&s->att->hs, &n) == NULL || n == 0;
}

/*
 * The connector ended the Attach call with request trailers carrying a
 * non-zero grpc-status (the target reset the connection: 14 "reset",
 * spec/sessions.md): the session ends at once and the client's socket is
 * closed (what its buffer still holds is dropped, as a reset drops it),
 * not half-closed to wait for the client's end.  Read from the trailers
 * (h2_stream_grpc_status()), not guessed from the missing half_close; a
 * client that sends no trailers (grpc-js cannot) ending before its
 * half_close is still taken as the half_close.  True when it ended.
 */
static bool
ended_by_trailers(struct edge_session *s)
{
	int st = h2_stream_grpc_status(&s->att->hs, NULL, 0);
	char why[48];

	if (st <= 0)
		return false;
	if (st == GRPC_STATUS_UNAVAILABLE)
		snprintf(why, sizeof(why), "reset by the target");
	else
		snprintf(
		    why, sizeof(why), "ended by the connector, status %d", st);
	s->res = EDGE_SR_RESET;
	end(s, why, false);
	return true;
}

/*
 * Target to client: take Attach bytes (reopening the window) only while
 * the client buffer has room for a whole frame; the stream calls back
 * when the client reads.  Writing to the client here may empty its buffer
 * at once (no callback follows then): take again while room appears, and
 * leave the rest to the deferred retry when the rounds run out.
 */
static void
pump_down(struct edge_session *s)
{
	int round;

	for (round = 0; round < 8; round++) {
		if (!take_frames(s))
			return;
		if (!s->cs_open)
			break;
		stream_update(&s->cs);
		if (ring_empty(s) || !down_room(s))
			break;
	}
	if (round == 8)
		rx_defer(s->e->l, &s->again);
	if (h2_stream_eof(&s->att->hs) && !s->down_done) {
		if (!s->result) {
			refuse(s, EDGE_SR_INTERNAL,
			    "the call ended without a "
			    "result");
			end(s, "no result", false);
			return;
		}
		if (ended_by_trailers(s))
			return;
		s->down_done = true;
	}
}

static void
on_again(struct rx_loop *l, struct rx_defer *d)
{
	struct edge_session *s = container_of(d, struct edge_session, again);

	if (s->ended || s->att == NULL)
		return;
	pump_down(s);
	if (!s->ended)
		maybe_done(s);
	if (s->att != NULL)
		edge_conn_kick(s->att->c);
}

/* see edge_session.h */
void
edge_session_event(struct edge_tunnel *t, unsigned ev)
{
	struct edge_session *s = t->sess;

	if (s->ended)
		return;
	if ((ev & H2_EV_WRITE) && s->cs_open)
		pump_up(s);
	if (!s->ended && (ev & H2_EV_READ))
		pump_down(s);
	if (!s->ended && s->cs_open)
		maybe_done(s);
	if (s->cs_open)
		stream_update(&s->cs);
	edge_conn_kick(t->c);
}

static struct edge_session *
find(struct edge *e, const char *id)
{
	struct list_node *n;

	LIST_FOR_EACH(n, &e->ss->all)
	{
		struct edge_session *s =
		    list_entry(n, struct edge_session, link);

		if (strcmp(s->id, id) == 0)
			return s;
	}
	return NULL;
}

/* see edge_session.h */
void
edge_session_attach(struct edge_tunnel *t)
{
	const char *id = h2_stream_session_id(&t->hs);
	struct edge_session *s = find(t->c->e, id);
	uint8_t *buf;

	t->ended = true; /* unless accepted below */
	if (s == NULL || s->c != t->c || s->ended || s->att != NULL ||
	    h2_stream_error(&t->hs) != H2_SERR_NONE) {
		log_warn("edge: Attach for %s session %s from %s refused",
		    s == NULL ? "unknown" : "a used", id, t->c->addr);
		h2_stream_end_status(&t->hs, GRPC_STATUS_NOT_FOUND,
		    s == NULL ? "unknown session" : "session not pending");
		edge_conn_kick(t->c);
		return;
	}
	if ((buf = malloc(MSG_MAX)) == NULL || h2_stream_respond(&t->hs) < 0) {
		free(buf);
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		edge_conn_kick(t->c);
		return;
	}
	free(t->rdbuf);
	t->rdbuf = buf;
	grpc_reader_init(&t->rd, buf, MSG_MAX);
	t->ended = false;
	t->sess = s;
	s->att = t;
	edge_conn_kick(t->c);
}

/* see edge_session.h */
void
edge_session_stream_closed(struct edge_tunnel *t)
{
	struct edge_session *s = t->sess;
	enum h2_stream_error err = h2_stream_error(&t->hs);

	if (!s->ended && s->cs_open && err == H2_SERR_NONE)
		pump_down(s); /* what was left in the ring */
	t->sess = NULL;
	s->att = NULL;
	if (!s->ended) {
		refuse(s, EDGE_SR_TUNNEL_CLOSED, "the Attach call ended");
		end(s,
		    err == H2_SERR_RESET	 ? "reset by the connector"
			: err == H2_SERR_SESSION ? "connection lost"
						 : "call ended",
		    true);
	}
	maybe_free(s);
}

/* see edge_session.h */
void
edge_session_tunnel_gone(struct edge_tunnel *t)
{
	struct list_node *n, *tmp;

	LIST_FOR_EACH_SAFE(n, tmp, &t->c->e->ss->all)
	{
		struct edge_session *s =
		    list_entry(n, struct edge_session, link);

		if (s->t != t)
			continue;
		s->t = NULL;
		if (s->att == NULL && !s->ended) {
			refuse(s, EDGE_SR_TUNNEL_CLOSED,
			    "the tunnel closed before the connector attached");
			end(s, "tunnel closed", true);
		}
	}
}

/* The least-loaded routable tunnel of k that advertised sessions. */
static struct edge_tunnel *
pick(struct edge_connector *k, int64_t now)
{
	struct edge_tunnel *t, *best = NULL;
	struct list_node *n;

	LIST_FOR_EACH(n, &k->tunnels)
	{
		t = list_entry(n, struct edge_tunnel, link);
		if (!edge_tunnel_routable(t) ||
		    !edge_tunnel_has_cap(t, "sessions"))
			continue;
		if (best == NULL || t->nsessions < best->nsessions ||
		    (t->nsessions == best->nsessions &&
			t->last_pick < best->last_pick))
			best = t;
	}
	if (best != NULL)
		best->last_pick = now;
	return best;
}

static bool
header_has(const struct http_request *rq, const char *name, const char *tok)
{
	const struct http_header *h;
	size_t i, n = strlen(tok), j;

	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (!http_token_eq(h->name, h->name_len, name))
			continue;
		for (j = 0; j + n <= h->value_len; j++)
			if (http_token_eq(h->value + j, n, tok) &&
			    (j == 0 || strchr(", \t", h->value[j - 1])) &&
			    (j + n == h->value_len ||
				strchr(", \t", h->value[j + n])))
				return true;
	}
	return false;
}

static struct grpc_out *
msg_open(const struct edge_session *s)
{
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Outpost__V1__SessionOpen o = OUTPOST__V1__SESSION_OPEN__INIT;

	o.session_id = (char *)s->id;
	o.host = (char *)s->host;
	o.port = s->port;
	m.request_id = (char *)s->id;
	m.session_open = &o;
	return grpc_out_pack(&m.base);
}

/* A new session for x on t, listed; NULL when out of memory. */
static struct edge_session *
session_new(
    struct edge *e, struct edge_tunnel *t, const char *host, uint16_t port)
{
	struct edge_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->e = e;
	s->c = t->c;
	s->t = t;
	s->port = port;
	s->t0 = rx_now(e->l);
	s->since_ms = util_wall_ms();
	s->res = EDGE_SR_CANCELLED;
	snprintf(s->id, sizeof(s->id), "s%" PRIu64, ++e->seq);
	snprintf(s->host, sizeof(s->host), "%s", host);
	snprintf(s->name, sizeof(s->name), "%s", t->owner->name);
	rx_timer_init(&s->timer, on_timer);
	rx_defer_init(&s->again, on_again);
	list_append(&e->ss->all, &s->link);
	e->ss->n++;
	e->ss->open++;
	t->nsessions++;
	return s;
}

/* see edge_session.h */
void
edge_session_start(
    struct edge *e, struct http_exchange *x, const struct edge_route *r)
{
	const struct http_request *rq = http_exchange_request(x);
	struct edge_connector *k = edge_registry_find(e, r->name, r->namelen);
	struct edge_session *s;
	struct edge_tunnel *t;
	char host[EDGE_HOST_MAX];
	uint16_t port;

	if (rq->method_len != 3 || memcmp(rq->method, "GET", 3) != 0) {
		edge_api_json(x, 405, "method_not_allowed", NULL, NULL);
		return;
	}
	if (!header_has(rq, "connection", "upgrade") ||
	    !header_has(rq, "upgrade", "outpost-tcp")) {
		edge_api_json(x, 426, "upgrade_required", NULL,
		    "send Connection: Upgrade and Upgrade: outpost-tcp");
		return;
	}
	if (!edge_route_target(r, host, sizeof(host), &port)) {
		edge_api_json(
		    x, 400, "bad_request", NULL, "the target is not host:port");
		return;
	}
	if (k == NULL || (t = pick(k, rx_now(e->l))) == NULL) {
		e->ss->total[EDGE_SR_NO_TUNNEL]++;
		edge_api_json(x, 503, "no_tunnel", NULL,
		    "the connector has no routable tunnel with sessions");
		return;
	}
	if (e->ss->n >= EDGE_SESSIONS_MAX ||
	    (s = session_new(e, t, host, port)) == NULL) {
		e->ss->total[EDGE_SR_OVERLOADED]++;
		edge_api_json(x, 503, "overloaded", NULL, "too many sessions");
		return;
	}
	if (edge_tunnel_send(t, msg_open(s)) < 0) {
		s->x = x;
		s->res = EDGE_SR_NO_TUNNEL;
		end(s, "tunnel send failed", true);
		return;
	}
	s->x = x;
	http_exchange_on_abort(x, on_abort, s);
	rx_timer_start(e->l, &s->timer, e->conf->request_timeout_ms);
	edge_conn_kick(t->c);
}

/* see edge_session.h */
int
edge_sessions_init(struct edge *e)
{
	struct edge_sessions *ss = calloc(1, sizeof(*ss));

	if (ss == NULL || (ss->scratch = malloc(FRAME_MAX)) == NULL) {
		free(ss);
		return -ENOMEM;
	}
	list_init(&ss->all);
	e->ss = ss;
	return 0;
}

/* see edge_session.h */
void
edge_sessions_free(struct edge *e)
{
	if (e->ss == NULL)
		return;
	free(e->ss->scratch);
	free(e->ss);
	e->ss = NULL;
}

/* see edge_session.h */
void
edge_sessions_stop(struct edge *e)
{
	struct list_node *n, *tmp;

	LIST_FOR_EACH_SAFE(n, tmp, &e->ss->all)
	{
		end(list_entry(n, struct edge_session, link), "edge stopping",
		    true);
	}
}

/* see edge_session.h */
bool
edge_sessions_idle(const struct edge *e)
{
	return e->ss == NULL || list_empty(&e->ss->all);
}

/* see edge_session.h */
void
edge_session_json(struct buf *b, const struct edge_tunnel *t)
{
	const struct list_node *n;
	int64_t now = util_wall_ms();
	bool first = true;

	buf_adds(b, ",\"sessions\":[");
	LIST_FOR_EACH(n, &t->c->e->ss->all)
	{
		const struct edge_session *s =
		    list_entry(n, const struct edge_session, link);

		if (s->t != t || s->ended)
			continue;
		buf_adds(b, first ? "{\"id\":" : ",{\"id\":");
		first = false;
		json_cstr(b, s->id);
		buf_printf(b, ",\"target\":\"%s%s%s:%u\"",
		    strchr(s->host, ':') ? "[" : "", s->host,
		    strchr(s->host, ':') ? "]" : "", s->port);
		buf_printf(b,
		    ",\"state\":\"%s\",\"bytes_to_target\":%" PRIu64
		    ",\"bytes_from_target\":%" PRIu64 ",\"age_s\":%" PRId64 "}",
		    s->result ? "open" : "opening", s->to_target,
		    s->from_target, (now - s->since_ms) / 1000);
	}
	buf_adds(b, "]");
}

static void
collect(struct metric_family *f, void *arg)
{
	struct edge_sessions *ss = arg;
	int i;

	metric_set(&ss->m_open, (double)ss->open);
	for (i = 0; i < EDGE_SR_COUNT; i++)
		metric_set(&ss->m_total[i], (double)ss->total[i]);
	metric_set(&ss->m_to, (double)ss->to_target);
	metric_set(&ss->m_from, (double)ss->from_target);
}

/* see edge_session.h */
void
edge_session_metrics_add(struct edge *e, struct metrics *r)
{
	struct edge_sessions *ss = e->ss;
	int i;

	metrics_add_family(r, &ss->f_open, "outpost_sessions_open",
	    "Sessions opening or open.", METRIC_GAUGE, collect, ss);
	metric_family_add_series(&ss->f_open, &ss->m_open, NULL);
	metrics_add_family(r, &ss->f_total, "outpost_sessions_total",
	    "Sessions by how they began.", METRIC_COUNTER, collect, ss);
	for (i = 0; i < EDGE_SR_COUNT; i++) {
		snprintf(ss->labels[i], sizeof(ss->labels[i]), "result=\"%s\"",
		    results[i].name);
		metric_family_add_series(
		    &ss->f_total, &ss->m_total[i], ss->labels[i]);
	}
	metrics_add_family(r, &ss->f_bytes, "outpost_session_bytes_total",
	    "Session bytes carried.", METRIC_COUNTER, collect, ss);
	metric_family_add_series(
	    &ss->f_bytes, &ss->m_to, "direction=\"to_target\"");
	metric_family_add_series(
	    &ss->f_bytes, &ss->m_from, "direction=\"from_target\"");
}
