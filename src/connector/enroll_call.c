/*
 * One unary Enrollment call on a connection of its own: a thin user of the
 * edge connection (tunnel_conn.h, conn_init_aux) and one of its calls.
 * See enroll_call.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/enroll_call.h"
#include "connector/manager.h"
#include "connector/tunnel_conn.h"
#include "grpc/grpc.h"

#define ENROLL_PATH_PREFIX "/outpost.v1.Enrollment/"
#define ENROLL_TXRING (16u << 10)

struct enroll_call {
	struct rx_loop *loop;
	struct tunnel_conn conn;
	struct conn_call call;
	struct rx_timer timer;
	enroll_call_fn *done;
	void *arg;
	bool active;
	char path[64];
	struct grpc_out *req; /* until the call takes it */
	/* What happened, for the result once the connection is gone. */
	bool tls_started, opened, timed_out, ended, got_msg;
	int status;
	char reason[48];
	char detail[ENROLL_DETAIL_MAX];
	size_t msg_len;
	uint8_t msgbuf[ENROLL_MESSAGE_MAX];
};

/* The first word of the grpc-message: the edge's typed reason. */
static void
status_result(struct enroll_call *c, struct enroll_result *r)
{
	r->outcome = ENROLL_STATUS;
	r->status = c->status;
	snprintf(r->reason, sizeof(r->reason), "%.*s",
	    (int)strcspn(c->detail, " :"), c->detail);
	snprintf(r->detail, sizeof(r->detail), "%s", c->detail);
}

static void
transport_result(struct enroll_result *r, const char *reason, const char *d)
{
	r->outcome = ENROLL_TRANSPORT;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	snprintf(r->detail, sizeof(r->detail), "%s", d);
}

static void
fill_result(struct enroll_call *c, struct enroll_result *r)
{
	*r = (struct enroll_result){.status = -1, .tls = TLS_R_NONE};
	if (c->ended && c->status == 0 && c->got_msg) {
		r->outcome = ENROLL_OK;
		r->status = 0;
		r->msg = c->msgbuf;
		r->msg_len = c->msg_len;
	} else if (c->ended && c->status > 0) {
		status_result(c, r);
	} else if (c->ended && c->status == 0) {
		transport_result(
		    r, "protocol", "grpc-status 0 without an answer");
	} else if (c->timed_out) {
		transport_result(
		    r, "timeout", "no answer from the edge in time");
	} else if (c->ended) {
		transport_result(r, c->reason, c->detail);
	} else {
		transport_result(r,
		    c->conn.last_error[0] != '\0' ? c->conn.last_error
						  : "closed",
		    c->conn.last_detail);
	}
	/* A handshake that failed (or timed out) says why, typed. */
	if (!c->opened && c->tls_started && tls_failed(&c->conn.tls))
		r->tls = tls_reason(&c->conn.tls);
}

/* --- the connection's and the call's callbacks ---------------------------- */

static int
conn_opened(struct tunnel_conn *n)
{
	struct enroll_call *c = container_of(n, struct enroll_call, conn);
	struct grpc_out *o = c->req;
	int r;

	c->opened = true;
	if ((r = conn_call_open(n, &c->call, c->path, NULL, 0)) < 0)
		return r;
	c->req = NULL;
	if (!conn_call_send_packed(&c->call, o))
		return -ENOBUFS;
	conn_call_end(&c->call);
	return 0;
}

static void
conn_changed(struct tunnel_conn *n)
{
	struct enroll_call *c = container_of(n, struct enroll_call, conn);

	if (n->state == CONN_HANDSHAKING)
		c->tls_started = true;
}

/* The connection is gone (IDLE): the result, once. */
static void
conn_closed(struct tunnel_conn *n, bool clean)
{
	struct enroll_call *c = container_of(n, struct enroll_call, conn);
	enroll_call_fn *done = c->done;
	struct enroll_result r;

	(void)clean;
	rx_timer_stop(c->loop, &c->timer);
	free(c->req);
	c->req = NULL;
	c->active = false;
	c->done = NULL;
	if (done == NULL)
		return; /* cancelled */
	fill_result(c, &r);
	done(c, &r, c->arg);
}

static const char *
call_message(struct conn_call *cc, const uint8_t *p, size_t n)
{
	struct enroll_call *c = conn_call_arg(cc);

	if (c->got_msg)
		return "more than one answer";
	if (n > sizeof(c->msgbuf))
		return "answer too large";
	memcpy(c->msgbuf, p, n);
	c->msg_len = n;
	c->got_msg = true;
	return NULL;
}

static void
call_end(
    struct conn_call *cc, int status, const char *reason, const char *detail)
{
	struct enroll_call *c = conn_call_arg(cc);

	c->ended = true;
	c->status = status;
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	snprintf(c->detail, sizeof(c->detail), "%s", detail ? detail : "");
	conn_close(&c->conn, NULL, "call ended", true);
}

static const struct conn_ops enroll_conn_ops = {
    .opened = conn_opened,
    .changed = conn_changed,
    .closed = conn_closed,
};

static const struct conn_call_ops enroll_call_ops = {
    .on_message = call_message,
    .on_end = call_end,
};

static void
on_timer(struct rx_loop *l, struct rx_timer *t)
{
	struct enroll_call *c = container_of(t, struct enroll_call, timer);

	c->timed_out = true;
	if (c->conn.state == CONN_HANDSHAKING)
		tls_abort(&c->conn.tls, TLS_R_HANDSHAKE_TIMEOUT);
	if (c->conn.state != CONN_IDLE) {
		conn_close(&c->conn, "timeout", "no answer in time", false);
		return;
	}
	conn_unschedule(&c->conn); /* the dial was still to come */
	conn_closed(&c->conn, false);
}

/* --- the interface ----------------------------------------------------------- */

/* see enroll_call.h */
struct enroll_call *
enroll_call_new(struct manager *m)
{
	struct enroll_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->loop = m->loop;
	rx_timer_init(&c->timer, on_timer);
	if (conn_init_aux(&c->conn, m, "enrolment", &enroll_conn_ops) < 0 ||
	    conn_call_init(&c->call, &enroll_call_ops, c, CONN_WINDOW,
		ENROLL_TXRING, ENROLL_MESSAGE_MAX, 1) < 0) {
		enroll_call_free(c);
		return NULL;
	}
	return c;
}

/* see enroll_call.h */
void
enroll_call_cancel(struct enroll_call *c)
{
	if (!c->active)
		return;
	c->done = NULL;
	c->active = false;
	rx_timer_stop(c->loop, &c->timer);
	conn_unschedule(&c->conn);
	conn_close(&c->conn, NULL, "cancelled", true);
}

/* see enroll_call.h */
void
enroll_call_free(struct enroll_call *c)
{
	if (c == NULL)
		return;
	c->done = NULL;
	rx_timer_stop(c->loop, &c->timer);
	if (c->conn.mgr != NULL) {
		conn_unschedule(&c->conn);
		conn_abort(&c->conn);
		conn_free(&c->conn);
	}
	conn_call_free(&c->call);
	free(c->req);
	free(c);
}

/* see enroll_call.h */
bool
enroll_call_active(const struct enroll_call *c)
{
	return c->active;
}

/* see enroll_call.h */
int
enroll_call_start(struct enroll_call *c, const struct tls_client_config *tls,
    const char *method, const ProtobufCMessage *req, int64_t timeout_ms,
    enroll_call_fn *done, void *arg)
{
	if (c->active || c->conn.state != CONN_IDLE)
		return -EALREADY;
	if ((c->req = grpc_out_pack(req)) == NULL)
		return -ENOMEM;
	c->done = done;
	c->arg = arg;
	c->tls_started = c->opened = c->timed_out = false;
	c->ended = c->got_msg = false;
	c->status = -1;
	c->reason[0] = c->detail[0] = '\0';
	c->msg_len = 0;
	snprintf(c->path, sizeof(c->path), "%s%s", ENROLL_PATH_PREFIX, method);
	conn_set_tls(&c->conn, tls);
	c->active = true;
	rx_timer_start(c->loop, &c->timer, timeout_ms);
	conn_schedule_now(&c->conn);
	return 0;
}
