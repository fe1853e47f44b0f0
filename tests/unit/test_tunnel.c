/*
 * Unit tests: the tunnel slots' state machine, driven by the real manager
 * on the reactor against an in-process edge built from the same h2 and
 * gRPC modules, over loopback sockets; and the same under injected faults
 * (wrapfd.h, failalloc.h; #17 item 6).  Usage: test_tunnel [name-filter]
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "failalloc.h"
#include "wrapfd.h"
#include "cfg/cfg.h"
#include "connector/manager.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/net.h"

#define WINDOW 65536
#define NCONN 16

struct fx;

/* One connection accepted by the test edge. */
struct sconn {
	struct fx *fx;
	unsigned index;
	struct stream st;
	bool live, h2_live, accepted, responded, closed;
	uint8_t in[WINDOW], out[WINDOW];
	struct h2_session h2;
	struct h2_stream call;
	uint8_t rx[WINDOW], tx[WINDOW];
	struct grpc_reader rd;
	uint8_t msg[WINDOW];
	unsigned hellos, msgs;
	int last_case;
	/* HealthCheckResponses to edge_health(k): bit k once it echoed
	 * 1000 + k; wrong: echoes that did not; lost: answers the edge
	 * could not decode (injected ENOMEM). */
	uint32_t answered;
	unsigned wrong, lost;
	/* A second call on the connection (fx.accept_side). */
	struct h2_stream side;
	bool side_live;
	uint8_t srx[WINDOW], stx[WINDOW];
	struct grpc_reader srd;
	uint8_t smsg[4096];
	unsigned side_calls, side_msgs;
};

struct fx {
	struct rx_loop loop;
	struct rx_watch lw;
	uint16_t port;
	bool respond; /* answer calls with response headers at once; else
		       * with the first message, as grpc-js and grpc-go do */
	bool refuse; /* refuse new calls (RST_STREAM REFUSED_STREAM) */
	bool accept_side; /* accept one more call beside the Tunnel call */
	struct sconn c[NCONN];
	unsigned naccepted;
	unsigned log[64]; /* 100 + i: call i accepted; 200 + i: call i closed */
	unsigned nlog;
	struct cfg *cfg;
	struct dns_resolver *dns;
	struct manager mgr;
	bool stopped;
};

static const struct h2_conf edge_conf = {
    .window = WINDOW,
    .conn_window = 2 * WINDOW,
    .max_frame = 16384,
    .max_streams = 4,
    .ping_interval_ms = 0,
    .ping_timeout_ms = 5000,
};

static void
log_event(struct fx *f, unsigned ev)
{
	if (f->nlog < nitems(f->log))
		f->log[f->nlog++] = ev;
}

static void
edge_flush(struct sconn *c)
{
	const uint8_t *p;
	size_t n, w;

	if (!c->h2_live || c->st.closing)
		return;
	while ((p = h2_session_take(&c->h2, &n)) != NULL && n > 0) {
		w = stream_write(&c->st, p, n);
		h2_session_ack(&c->h2, w);
		if (w < n)
			break;
	}
	stream_update(&c->st);
}

static void
edge_respond(struct sconn *c)
{
	if (c->responded)
		return;
	assert_int_equal(h2_stream_respond(&c->call), 0);
	c->responded = true;
}

/* Record an answer to edge_health(). */
static void
edge_check_answer(struct sconn *c, const Connector__V1__ConnectorMessage *m)
{
	unsigned k;

	if (m->message_case !=
		CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HEALTH_CHECK_RESPONSE ||
	    sscanf(m->request_id, "h%u", &k) != 1 || k >= 32)
		return;
	if (m->health_check_response->unix_millis == 1000 + (int64_t)k)
		c->answered |= 1u << k;
	else
		c->wrong++;
}

static void
edge_read(struct sconn *c)
{
	Connector__V1__ConnectorMessage *m;
	const uint8_t *p, *msg;
	size_t n, used, len;

	while ((p = h2_stream_take(&c->call, &n)) != NULL && n > 0) {
		if (grpc_reader_feed(&c->rd, p, n, &used, &msg, &len) ==
		    GRPC_MSG) {
			m = connector__v1__connector_message__unpack(
			    NULL, len, msg);
			if (m == NULL && failalloc_fired()) {
				c->lost++;
				h2_stream_ack(&c->call, used);
				continue;
			}
			assert_non_null(m);
			c->msgs++;
			edge_check_answer(c, m);
			c->last_case = (int)m->message_case;
			if (m->message_case ==
			    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HEALTH_CHECK_RESPONSE)
				c->hellos++;
			connector__v1__connector_message__free_unpacked(
			    m, NULL);
		}
		h2_stream_ack(&c->call, used);
	}
}

/* Events of the second call: count its messages, answer its headers. */
static void
edge_side_event(struct sconn *c, unsigned ev)
{
	const uint8_t *p, *msg;
	size_t n, used, len;

	if (ev & H2_EV_HEADERS)
		assert_int_equal(h2_stream_respond(&c->side), 0);
	while ((ev & H2_EV_READ) &&
	    (p = h2_stream_take(&c->side, &n)) != NULL && n > 0) {
		if (grpc_reader_feed(&c->srd, p, n, &used, &msg, &len) ==
		    GRPC_MSG)
			c->side_msgs++;
		h2_stream_ack(&c->side, used);
	}
	if (ev & H2_EV_CLOSE)
		c->side_live = false;
}

static void
edge_event(struct h2_stream *st, unsigned ev, void *arg)
{
	struct sconn *c = arg;

	if (st == &c->side) {
		edge_side_event(c, ev);
		return;
	}
	if ((ev & H2_EV_HEADERS) && c->fx->respond)
		edge_respond(c);
	if (ev & H2_EV_READ)
		edge_read(c);
	if ((ev & H2_EV_CLOSE) && !c->closed) {
		c->closed = true;
		log_event(c->fx, 200 + c->index);
	}
}

static struct h2_stream *
edge_accept(struct h2_session *s, void *arg)
{
	struct sconn *c = arg;

	if (c->accepted && c->fx->accept_side && !c->side_live) {
		c->side_live = true;
		c->side_calls++;
		h2_stream_init(
		    &c->side, c->srx, sizeof(c->srx), c->stx, sizeof(c->stx));
		grpc_reader_init(&c->srd, c->smsg, sizeof(c->smsg));
		return &c->side;
	}
	if (c->accepted || c->fx->refuse)
		return NULL;
	c->accepted = true;
	log_event(c->fx, 100 + c->index);
	h2_stream_init(&c->call, c->rx, sizeof(c->rx), c->tx, sizeof(c->tx));
	grpc_reader_init(&c->rd, c->msg, sizeof(c->msg));
	return &c->call;
}

static void
edge_io(struct stream *s)
{
	struct sconn *c = container_of(s, struct sconn, st);
	const uint8_t *p;
	size_t n;

	while ((p = stream_peek(s, &n)) != NULL && n > 0) {
		if (h2_session_feed(&c->h2, p, n) < 0)
			break;
		stream_consume(s, n);
	}
	if (stream_dead(s)) {
		stream_close(s);
		return;
	}
	edge_flush(c);
}

static void
edge_closed(struct stream *s)
{
	struct sconn *c = container_of(s, struct sconn, st);

	c->live = false;
	if (c->h2_live)
		h2_session_free(&c->h2);
	c->h2_live = false;
	if (!c->closed && c->accepted) {
		c->closed = true;
		log_event(c->fx, 200 + c->index);
	}
}

static void
edge_listen_io(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct fx *f = container_of(w, struct fx, lw);
	struct sockaddr_storage ss;
	struct sconn *c;
	int fd;

	while ((fd = net_accept(w->fd, &ss)) >= 0) {
		assert_true(f->naccepted < NCONN);
		c = &f->c[f->naccepted];
		c->fx = f;
		c->index = f->naccepted++;
		c->live = true;
		assert_int_equal(h2_session_init(&c->h2, H2_SERVER, &edge_conf,
				     edge_event, edge_accept, c, rx_now(l)),
		    0);
		c->h2_live = true;
		stream_start(&c->st, l, fd, NULL, c->in, sizeof(c->in), c->out,
		    sizeof(c->out), edge_io, edge_closed);
	}
}

/* Send a ControllerMessage on connection i's call. */
static void
edge_send(struct fx *f, unsigned i, Connector__V1__ControllerMessage *m)
{
	struct sconn *c = &f->c[i];
	uint8_t buf[1024];
	size_t n = connector__v1__controller_message__get_packed_size(m);

	assert_true(n + GRPC_PREFIX_LEN <= sizeof(buf));
	grpc_prefix_write(buf, n);
	connector__v1__controller_message__pack(m, buf + GRPC_PREFIX_LEN);
	edge_respond(c);
	assert_int_equal(h2_stream_send(&c->call, buf, n + GRPC_PREFIX_LEN),
	    (long)(n + GRPC_PREFIX_LEN));
	edge_flush(c);
}

static void
edge_send_raw(struct fx *f, unsigned i, const void *p, size_t n)
{
	edge_respond(&f->c[i]);
	assert_int_equal(h2_stream_send(&f->c[i].call, p, n), (long)n);
	edge_flush(&f->c[i]);
}

static void
edge_start_close(struct fx *f, unsigned i)
{
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Connector__V1__ConnectionRequest cr =
	    CONNECTOR__V1__CONNECTION_REQUEST__INIT;

	cr.action =
	    CONNECTOR__V1__CONNECTION_REQUEST__ACTION__ACTION_START_CLOSE;
	m.request_id = "close-1";
	m.message_case =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_CONNECTION_REQUEST;
	m.connection_request = &cr;
	edge_send(f, i, &m);
}

static void
edge_end_call(struct fx *f, unsigned i)
{
	assert_int_equal(h2_stream_end_status(&f->c[i].call, 0, NULL), 0);
	edge_flush(&f->c[i]);
}

/* Run the loop until pred holds or ms pass; returns pred's last value. */
static bool
run_until(
    struct fx *f, bool (*pred)(struct fx *, unsigned), unsigned arg, int64_t ms)
{
	int64_t end = util_mono_ms() + ms;

	while (!pred(f, arg) && util_mono_ms() < end)
		assert_int_equal(rx_run_once(&f->loop, 10), 0);
	return pred(f, arg);
}

static bool
hellos_on(struct fx *f, unsigned i)
{
	return f->naccepted > i && f->c[i].hellos > 0;
}

static bool
open_tunnels(struct fx *f, unsigned n)
{
	return manager_open_tunnels(&f->mgr) == n;
}

static bool
closed_conn(struct fx *f, unsigned i)
{
	return f->naccepted > i && f->c[i].closed;
}

static bool
never(struct fx *f, unsigned i)
{
	return false;
}

static bool
stopped(struct fx *f, unsigned i)
{
	return f->stopped;
}

static uint16_t
edge_listen(struct fx *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct sockaddr_storage ss;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = net_listen((struct sockaddr *)&sa, sizeof(sa), 16);
	assert_true(fd >= 0);
	assert_int_equal(net_local_addr(fd, &ss), 0);
	rx_watch_init(&f->lw, fd, edge_listen_io, NULL);
	rx_watch_set(&f->loop, &f->lw, RX_READ);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Start the manager against host:port (port 0: the test edge) with the
 * given extra settings ("K=V", NULL-ended). */
static struct fx *
fx_start_at(const char *host, uint16_t port, const char *const *extra)
{
	static struct cfg_errors errs;
	struct fx *f = calloc(1, sizeof(*f));
	char url[320], *env[16];
	char err[256];
	size_t n = 0;

	assert_non_null(f);
	assert_int_equal(rx_init(&f->loop, 512), 0);
	f->respond = true;
	if (port == 0)
		port = edge_listen(f);
	f->port = port;
	snprintf(url, sizeof(url), "TRAVERSAL_CONTROLLER_URL=http://%s:%u",
	    host, port);
	env[n++] = url;
	env[n++] = "OUTPOST_CONFIG=";
	env[n++] = "ENV_LEVEL=error";
	while (extra != NULL && *extra != NULL && n < nitems(env) - 1)
		env[n++] = (char *)*extra++;
	env[n] = NULL;
	f->cfg = cfg_load(env, &errs);
	if (f->cfg == NULL)
		cfg_errors_print(&errs, 2);
	assert_non_null(f->cfg);
	assert_int_equal(dns_new(&f->dns, &f->loop, &(struct dns_config){0},
			     err, sizeof(err)),
	    0);
	assert_int_equal(
	    manager_init(&f->mgr, &f->loop, f->cfg, f->dns, err, sizeof(err)),
	    0);
	manager_start(&f->mgr);
	return f;
}

static struct fx *
fx_start(uint16_t port, const char *const *extra)
{
	return fx_start_at("127.0.0.1", port, extra);
}

static void
on_stopped(struct manager *m)
{
	container_of(m, struct fx, mgr)->stopped = true;
}

static void
fx_stop(struct fx *f)
{
	unsigned i;

	manager_stop(&f->mgr, on_stopped);
	assert_true(run_until(f, stopped, 0, 5000));
	manager_free(&f->mgr);
	dns_free(f->dns);
	for (i = 0; i < f->naccepted; i++)
		if (f->c[i].live)
			stream_close(&f->c[i].st);
	if (f->lw.fd >= 0 && f->lw.io != NULL)
		rx_watch_close(&f->loop, &f->lw);
	rx_run_once(&f->loop, 0);
	rx_run_once(&f->loop, 0);
	cfg_free(f->cfg);
	rx_free(&f->loop);
	free(f);
}

static uint64_t
dials(struct fx *f, enum manager_dial r)
{
	return (uint64_t)f->mgr.mx.dial[r].value;
}

/* --- the tests ------------------------------------------------------------ */

static void
tunnel_opens_with_hello(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=2", NULL};
	struct fx *f = fx_start(0, env);

	assert_true(run_until(f, open_tunnels, 2, 3000));
	assert_true(run_until(f, hellos_on, 1, 1000));
	assert_int_equal(f->c[0].hellos, 1);
	assert_int_equal(f->c[0].last_case,
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HEALTH_CHECK_RESPONSE);
	assert_int_equal(f->mgr.slots[0].conn.state, CONN_OPEN);
	assert_true(tunnel_slot_routable(&f->mgr.slots[0]));
	assert_int_equal(dials(f, DIAL_RESULT_OK), 2);
	fx_stop(f);
}

static void
refused_dials_back_off(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1",
	    "RECONNECT_INTERVAL=100ms", "MAX_BACKOFF_DELAY=400ms",
	    "DIAL_BUDGET=1000", NULL};
	struct fx *f;
	uint16_t port;
	int fd;

	/* A port that was free a moment ago refuses. */
	{
		struct sockaddr_in sa = {.sin_family = AF_INET};
		struct sockaddr_storage ss;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = net_listen((struct sockaddr *)&sa, sizeof(sa), 1);
		net_local_addr(fd, &ss);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		net_close(fd);
	}
	f = fx_start(port, env);
	run_until(f, never, 0, 1500);
	/* Delays are in [100, 200], then [100, 400] ms: between 4 and 15. */
	assert_in_range(dials(f, DIAL_RESULT_CONNECT), 4, 15);
	assert_string_equal(f->mgr.slots[0].conn.last_error, "refused");
	assert_int_equal(manager_open_tunnels(&f->mgr), 0);
	fx_stop(f);
}

static void
budget_caps_dials(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=4",
	    "RECONNECT_INTERVAL=100ms", "MAX_BACKOFF_DELAY=100ms",
	    "DIAL_BUDGET=3", NULL};
	struct fx *f = fx_start(1, env); /* port 1: refused */

	run_until(f, never, 0, 1500);
	/* Four slots at 10 dials a second would make ~60; the budget: 3. */
	assert_int_equal(dials(f, DIAL_RESULT_CONNECT), 3);
	fx_stop(f);
}

static void
start_close_replaces_before_closing(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1", NULL};
	struct fx *f = fx_start(0, env);

	assert_true(run_until(f, open_tunnels, 1, 3000));
	edge_start_close(f, 0);
	assert_true(run_until(f, closed_conn, 0, 3000));
	assert_true(run_until(f, open_tunnels, 1, 3000));
	/* Log: 100 (call 0), then call 1 accepted before call 0 closed. */
	assert_int_equal(f->log[0], 100);
	assert_int_equal(f->log[1], 101);
	assert_int_equal(f->log[2], 200);
	assert_int_equal(f->naccepted, 2);
	fx_stop(f);
}

/* #10 item 1: an edge that sends nothing on the replacement (response
 * headers come lazily with the first message in grpc-js and grpc-go) must
 * not keep the old call open until DRAIN_TIMEOUT. */
static void
draining_ends_once_a_silent_replacement_is_routable(void **state)
{
	static const char *const env[] = {
	    "MAX_TUNNELS_ALLOWED=1", "DRAIN_TIMEOUT=30s", NULL};
	struct fx *f = fx_start(0, env);
	int64_t t0;

	f->respond = false; /* headers only with a message */
	assert_true(run_until(f, open_tunnels, 1, 3000));
	t0 = util_mono_ms();
	edge_start_close(f, 0);
	assert_true(run_until(f, closed_conn, 0, 5000));
	assert_true(util_mono_ms() - t0 < 5000);
	assert_int_equal(f->log[0], 100);
	assert_int_equal(f->log[1], 101);
	assert_int_equal(f->log[2], 200);
	assert_true(run_until(f, open_tunnels, 1, 1000));
	fx_stop(f);
}

static void
draining_waits_while_the_replacement_is_refused(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1",
	    "DRAIN_TIMEOUT=1s", "RECONNECT_INTERVAL=100ms", NULL};
	struct fx *f = fx_start(0, env);

	assert_true(run_until(f, open_tunnels, 1, 3000));
	f->refuse = true; /* every replacement call is reset */
	edge_start_close(f, 0);
	run_until(f, never, 0, 500);
	assert_false(f->c[0].closed);
	assert_int_equal(f->mgr.slots[0].conn.state, CONN_DRAINING);
	/* DRAIN_TIMEOUT ends it anyway. */
	assert_true(run_until(f, closed_conn, 0, 2000));
	fx_stop(f);
}

static void
clean_close_redials_at_once(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1",
	    "RECONNECT_INTERVAL=10s", "MAX_BACKOFF_DELAY=10s", NULL};
	struct fx *f = fx_start(0, env);

	assert_true(run_until(f, hellos_on, 0, 3000));
	edge_end_call(f, 0);
	assert_true(run_until(f, hellos_on, 1, 1000));
	assert_int_equal(dials(f, DIAL_RESULT_OK), 2);
	fx_stop(f);
}

static void
malformed_message_closes_only_its_tunnel(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=2",
	    "RECONNECT_INTERVAL=10s", "MAX_BACKOFF_DELAY=10s", NULL};
	/* A gRPC frame whose protobuf is truncated (field 1, length 9). */
	static const uint8_t bad[] = {0, 0, 0, 0, 3, 0x0a, 0x09, 'x'};
	struct fx *f = fx_start(0, env);
	unsigned other;

	assert_true(run_until(f, open_tunnels, 2, 3000));
	edge_send_raw(f, 0, bad, sizeof(bad));
	assert_true(run_until(f, open_tunnels, 1, 2000));
	other = f->mgr.slots[0].conn.state == CONN_OPEN ? 0 : 1;
	assert_string_equal(
	    f->mgr.slots[1 - other].conn.last_error, "protocol");
	assert_int_equal(f->mgr.slots[other].conn.state, CONN_OPEN);
	fx_stop(f);
}

static void
unknown_message_is_ignored(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1", NULL};
	/* ControllerMessage{request_id:"u", field 77 (varint 1)}. */
	static const uint8_t future[] = {
	    0, 0, 0, 0, 6, 0x0a, 0x01, 'u', 0xe8, 0x04, 0x01};
	struct fx *f = fx_start(0, env);

	assert_true(run_until(f, open_tunnels, 1, 3000));
	edge_send_raw(f, 0, future, sizeof(future));
	run_until(f, never, 0, 300);
	assert_int_equal(manager_open_tunnels(&f->mgr), 1);
	assert_false(f->c[0].closed);
	fx_stop(f);
}

/* --- a second call on the Tunnel call's connection (#11 item 4) ---------- */

struct side {
	struct conn_call call;
	unsigned msgs, ends;
	int status;
	const char *reason;
	char detail[64];
};

static const char *
side_message(struct conn_call *c, const uint8_t *p, size_t n)
{
	((struct side *)conn_call_arg(c))->msgs++;
	return NULL;
}

static void
side_end(
    struct conn_call *c, int status, const char *reason, const char *detail)
{
	struct side *s = conn_call_arg(c);

	s->ends++;
	s->status = status;
	s->reason = reason;
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
}

static const struct conn_call_ops side_ops = {
    .on_message = side_message,
    .on_end = side_end,
};

static struct side the_side;

static bool
side_ended(struct fx *f, unsigned n)
{
	return the_side.ends == n;
}

static bool
side_msgs_at_edge(struct fx *f, unsigned n)
{
	return f->c[0].side_msgs == n;
}

static bool
side_msgs_here(struct fx *f, unsigned n)
{
	return the_side.msgs == n;
}

static bool
side_calls_at_edge(struct fx *f, unsigned n)
{
	return f->c[0].side_calls == n && f->c[0].side_live;
}

static bool
conn_gone(struct fx *f, unsigned i)
{
	return f->naccepted > i && !f->c[i].live;
}

/* The edge sends an empty message on the second call. */
static void
edge_side_send(struct fx *f)
{
	static const uint8_t empty[GRPC_PREFIX_LEN] = {0};

	assert_int_equal(h2_stream_send(&f->c[0].side, empty, sizeof(empty)),
	    GRPC_PREFIX_LEN);
	edge_flush(&f->c[0]);
}

static void
side_open(struct tunnel_slot *t)
{
	static const struct h2_header hdr[] = {{"outpost-session-id", "s-1"}};

	assert_int_equal(conn_call_open(&t->conn, &the_side.call,
			     "/outpost.v1.Sessions/Attach", hdr, nitems(hdr)),
	    0);
}

/*
 * The Tunnel call plus a second gRPC call on one edge connection: messages
 * both ways on each, and each ends on its own (the edge's status, our
 * cancel); when the Tunnel call ends first, the connection drains, a spare
 * replaces the slot, and the connection closes after its last call.
 */
static void
two_calls_on_one_connection_end_independently(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1", NULL};
	struct fx *f = fx_start(0, env);
	struct tunnel_slot *t;
	Connector__V1__HealthCheckResponse hc =
	    CONNECTOR__V1__HEALTH_CHECK_RESPONSE__INIT;

	the_side = (struct side){0};
	f->accept_side = true;
	assert_true(run_until(f, open_tunnels, 1, 3000));
	t = tunnel_slot_routable(&f->mgr.slots[0]) ? &f->mgr.slots[0]
						   : &f->mgr.slots[1];
	assert_int_equal(conn_call_init(&the_side.call, &side_ops, &the_side,
			     CONN_MIN_WINDOW, 4096, 4096, 4),
	    0);
	side_open(t);
	assert_int_equal(t->conn.ncalls, 2);
	assert_true(run_until(f, side_calls_at_edge, 1, 2000));
	assert_string_equal(
	    h2_stream_path(&f->c[0].side), "/outpost.v1.Sessions/Attach");
	assert_true(conn_call_send(&the_side.call, &hc.base));
	assert_true(run_until(f, side_msgs_at_edge, 1, 2000));
	edge_side_send(f);
	assert_true(run_until(f, side_msgs_here, 1, 2000));

	/* The edge ends the second call: the Tunnel call goes on. */
	assert_int_equal(h2_stream_end_status(&f->c[0].side, 5, "gone"), 0);
	edge_flush(&f->c[0]);
	assert_true(run_until(f, side_ended, 1, 2000));
	assert_int_equal(the_side.status, 5);
	assert_string_equal(the_side.reason, "stream");
	assert_string_equal(the_side.detail, "gone");
	assert_int_equal(t->conn.ncalls, 1);
	assert_true(tunnel_slot_routable(t));

	/* We cancel a second one: the Tunnel call goes on. */
	side_open(t);
	assert_true(run_until(f, side_calls_at_edge, 2, 2000));
	conn_call_cancel(&the_side.call);
	assert_true(run_until(f, side_ended, 2, 2000));
	assert_int_equal(the_side.status, -1);
	assert_string_equal(the_side.reason, "cancelled");
	run_until(f, never, 0, 100);
	assert_false(f->c[0].side_live);
	assert_true(tunnel_slot_routable(t));
	assert_false(f->c[0].closed);

	/* The edge ends the Tunnel call first: the connection drains and
	 * still carries the second call until it ends. */
	side_open(t);
	assert_true(run_until(f, side_calls_at_edge, 3, 2000));
	edge_end_call(f, 0);
	assert_true(run_until(f, hellos_on, 1, 2000));
	assert_int_equal(t->conn.state, CONN_DRAINING);
	assert_true(f->c[0].live);
	edge_side_send(f);
	assert_true(run_until(f, side_msgs_here, 2, 2000));
	assert_int_equal(the_side.ends, 2);
	conn_call_end(&the_side.call);
	assert_true(run_until(f, conn_gone, 0, 2000));
	assert_true(run_until(f, side_ended, 3, 1000));
	assert_true(run_until(f, open_tunnels, 1, 1000));
	conn_call_free(&the_side.call);
	fx_stop(f);
}

/* #11 item 4: a call that cannot be opened counts as an h2 dial failure on
 * h2c as on TLS (here: an :authority longer than HTTP/2 headers allow). */
static void
failed_call_opening_counts_as_h2_on_h2c(void **state)
{
	static const char *const env[] = {"MAX_TUNNELS_ALLOWED=1",
	    "ALLOW_INSECURE_CONTROLLER=true", "RECONNECT_INTERVAL=100ms",
	    "MAX_BACKOFF_DELAY=100ms", "DIAL_BUDGET=1000", NULL};
	char host[256];
	struct fx *f;

	/* 253 characters that resolve to loopback (RFC 6761 .localhost). */
	snprintf(host, sizeof(host), "%.60s.%.60s.%.60s.%.60s.localhost",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
	    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
	assert_int_equal(strlen(host), 253);
	f = fx_start_at(host, 0, env);
	run_until(f, never, 0, 1000);
	assert_true(f->naccepted >= 1); /* the dial itself succeeded */
	assert_true(dials(f, DIAL_RESULT_H2) >= 1);
	assert_int_equal(dials(f, DIAL_RESULT_OK), 0);
	assert_string_equal(f->mgr.slots[0].conn.last_error, "h2");
	fx_stop(f);
}

/* --- under injected faults (#17 item 6) ----------------------------------- */

#define FAULT_SEEDS 24 /* seeds per fault test: 1 .. FAULT_SEEDS */
#define FAULT_ASKS 16 /* HealthCheckRequests per run */
#define ENOMEM_RUNS 3000 /* bound on the allocation sweep */

static const char *const fault_env[] = {"MAX_TUNNELS_ALLOWED=1",
    "RECONNECT_INTERVAL=100ms", "MAX_BACKOFF_DELAY=100ms", "DIAL_BUDGET=6000",
    NULL};

/* A HealthCheckRequest "h<k>" echoing 1000 + k, on connection i. */
static void
edge_health(struct fx *f, unsigned i, unsigned k)
{
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Connector__V1__HealthCheckRequest hc =
	    CONNECTOR__V1__HEALTH_CHECK_REQUEST__INIT;
	char id[16];

	snprintf(id, sizeof(id), "h%u", k);
	hc.unix_millis = 1000 + (int64_t)k;
	m.request_id = id;
	m.message_case =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST;
	m.health_check_request = &hc;
	edge_send(f, i, &m);
}

static void
ask_all(struct fx *f, unsigned i, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++)
		edge_health(f, i, k);
}

/* Connection i has every answer to ask_all(n), or was told it lost the
 * rest (fault_n: the n of the last ask_all). */
static unsigned fault_n;

static bool
answered(struct fx *f, unsigned i)
{
	const struct sconn *c = &f->c[i];

	return f->naccepted > i &&
	    (unsigned)__builtin_popcount(c->answered) + c->lost == fault_n;
}

static bool
resets_seen(struct fx *f, unsigned i)
{
	return wrapfd_stats()->resets > 0 || answered(f, i);
}

static bool
hello_or_reset(struct fx *f, unsigned i)
{
	return wrapfd_stats()->resets > 0 || hellos_on(f, i);
}

/* The newest connection, one after the first i, is open with its hello. */
static bool
fresh_tunnel(struct fx *f, unsigned i)
{
	return f->naccepted > i && f->c[f->naccepted - 1].hellos > 0 &&
	    !f->c[f->naccepted - 1].closed && open_tunnels(f, 1);
}

/* The slot recorded why its connection closed. */
static bool
close_seen(struct fx *f, unsigned i)
{
	return f->mgr.slots[0].conn.last_error[0] != '\0';
}

/* After a fault: a tunnel on a connection newer than any the edge saw
 * close answers exactly. */
static void
recovers(struct fx *f)
{
	unsigned j, after = 0;

	for (j = 0; j < f->naccepted; j++)
		if (f->c[j].closed)
			after = j + 1;
	assert_true(run_until(f, fresh_tunnel, after, 3000));
	j = f->naccepted - 1;
	f->c[j].answered = 0;
	f->c[j].lost = 0;
	fault_n = 4;
	ask_all(f, j, fault_n);
	assert_true(run_until(f, answered, j, 3000));
	assert_int_equal(f->c[j].answered, 0xf);
	assert_int_equal(f->c[j].wrong, 0);
}

/* Short reads and writes, EINTR and spurious EAGAIN on every socket (both
 * sides): every answer arrives, exact, on the one connection. */
static void
short_io_keeps_the_tunnel_exact(void **state)
{
	const struct wrapfd_plan p = {.faults = WRAPFD_SHORT_READ |
		WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    .percent = 40,
	    .reset_after = -1};
	struct wrapfd_stats sum = {0};
	const struct wrapfd_stats *s;
	uint64_t seed;
	struct fx *f;

	for (seed = 1; seed <= FAULT_SEEDS; seed++) {
		wrapfd_clear();
		wrapfd_seed(seed);
		f = fx_start(0, fault_env);
		wrapfd_set(WRAPFD_ALL, &p);
		assert_true(run_until(f, hellos_on, 0, 3000));
		fault_n = FAULT_ASKS;
		ask_all(f, 0, fault_n);
		assert_true(run_until(f, answered, 0, 3000));
		assert_int_equal(f->c[0].answered, (1u << FAULT_ASKS) - 1);
		assert_int_equal(f->c[0].wrong, 0);
		assert_int_equal(f->naccepted, 1);
		s = wrapfd_stats();
		sum.short_reads += s->short_reads;
		sum.short_writes += s->short_writes;
		sum.eintr += s->eintr;
		sum.eagain += s->eagain;
		wrapfd_clear();
		fx_stop(f);
	}
	assert_true(sum.short_reads > 0 && sum.short_writes > 0);
	assert_true(sum.eintr > 0 && sum.eagain > 0);
}

/* ECONNRESET after a seed-chosen number of bytes (with short I/O too):
 * the tunnel closes typed ("closed"), re-dials and answers again. */
static void
reset_closes_typed_and_redials(void **state)
{
	struct wrapfd_plan p = {.faults = WRAPFD_SHORT_READ |
		WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    .percent = 20};
	unsigned resets = 0;
	uint64_t seed;
	struct fx *f;

	for (seed = 1; seed <= FAULT_SEEDS; seed++) {
		wrapfd_clear();
		wrapfd_seed(seed);
		p.reset_after = (int64_t)(seed * 211 % 1500);
		f = fx_start(0, fault_env);
		wrapfd_set(WRAPFD_ALL, &p);
		fault_n = FAULT_ASKS;
		if (run_until(f, hello_or_reset, 0, 2000) &&
		    wrapfd_stats()->resets == 0)
			ask_all(f, 0, fault_n);
		assert_true(run_until(f, resets_seen, 0, 3000));
		if (wrapfd_stats()->resets > 0) {
			resets++;
			wrapfd_set(WRAPFD_ALL, NULL);
			assert_true(run_until(f, close_seen, 0, 3000));
			recovers(f);
			assert_string_equal(
			    f->mgr.slots[0].conn.last_error, "closed");
		}
		wrapfd_clear();
		fx_stop(f);
	}
	assert_true(resets > FAULT_SEEDS / 2);
}

/* Every allocation while the tunnel carries requests fails once, each in a
 * run of its own (both sides: the test edge loses answers it cannot
 * decode): no crash, no leak, no silent loss on a tunnel that stays open,
 * and a tunnel answers exactly afterwards. */
static void
enomem_over_the_tunnel(void **state)
{
	unsigned long n, used = 0;
	struct fx *f;

	for (n = 1; n <= ENOMEM_RUNS; n++) {
		f = fx_start(0, fault_env);
		assert_true(run_until(f, hellos_on, 0, 3000));
		fault_n = 4;
		failalloc_arm(n);
		ask_all(f, 0, fault_n);
		run_until(f, answered, 0, 300);
		used = failalloc_disarm();
		if (!f->c[0].closed && f->mgr.slots[0].conn.state == CONN_OPEN)
			assert_true(answered(f, 0));
		assert_int_equal(f->c[0].wrong, 0);
		recovers(f);
		fx_stop(f);
		if (used < n)
			break;
	}
	assert_true(used < n); /* every allocation of the path failed once */
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tunnel_opens_with_hello),
	    cmocka_unit_test(refused_dials_back_off),
	    cmocka_unit_test(budget_caps_dials),
	    cmocka_unit_test(start_close_replaces_before_closing),
	    cmocka_unit_test(
		draining_ends_once_a_silent_replacement_is_routable),
	    cmocka_unit_test(draining_waits_while_the_replacement_is_refused),
	    cmocka_unit_test(clean_close_redials_at_once),
	    cmocka_unit_test(malformed_message_closes_only_its_tunnel),
	    cmocka_unit_test(unknown_message_is_ignored),
	    cmocka_unit_test(two_calls_on_one_connection_end_independently),
	    cmocka_unit_test(failed_call_opening_counts_as_h2_on_h2c),
	    cmocka_unit_test(short_io_keeps_the_tunnel_exact),
	    cmocka_unit_test(reset_closes_typed_and_redials),
	    cmocka_unit_test(enomem_over_the_tunnel),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
