/*
 * The tunnel's message layer: decode each ControllerMessage, answer it,
 * and queue ConnectorMessages on the Tunnel call.  The call is tunnel.c's,
 * the connection tunnel_conn.c's; this file never touches a socket or the
 * session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/deliver.h"
#include "connector/manager.h"
#include "connector/pb_check.h"
#include "connector/session.h"
#include "connector/tunnel.h"
#include "connector/update_ctl.h"
#include "lib/log.h"
#include "lib/util.h"

typedef Connector__V1__ControllerMessage ctl_msg;

/*
 * Queue a ConnectorMessage {id, sub in oneof member field}.  The queue has
 * room for every request's answer and TUNNEL_OUT_SLACK control messages:
 * full, the edge sends faster than it reads, and the tunnel closes
 * (typed, with backoff: a drain would dial a replacement at once, which
 * the same edge floods again).
 */
static void
send_msg(struct tunnel_slot *t, const char *id, unsigned field,
    const ProtobufCMessage *sub)
{
	if (!tunnel_queue(t, id, field, sub)) {
		log_warn("tunnel %u: send queue full, closing", t->index);
		t->mgr->send_overflow++;
		conn_close(&t->conn, "send_queue_full",
		    "the edge sends faster than it reads", false);
	}
}

static void
new_request_id(char out[37])
{
	uint8_t r[16];
	int i, o = 0;

	if (util_random(r, sizeof(r)) < 0)
		memset(r, 0, sizeof(r));
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		o += snprintf(out + o, (size_t)(37 - o), "%02x", r[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			out[o++] = '-';
	}
	out[36] = '\0';
}

static void
send_health(struct tunnel_slot *t, const char *id, int64_t unix_ms)
{
	Connector__V1__HealthCheckResponse hc =
	    CONNECTOR__V1__HEALTH_CHECK_RESPONSE__INIT;

	hc.unix_millis = unix_ms;
	hc.status = tunnel_slot_draining(t) ? "degraded: draining" : "healthy";
	send_msg(t, id,
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HEALTH_CHECK_RESPONSE,
	    &hc.base);
}

/* see tunnel.h */
void
tunnel_msg_hello(struct tunnel_slot *t)
{
	char id[37];

	new_request_id(id);
	new_request_id(t->uuid);
	send_health(t, id, util_wall_ms());
}

static void
send_error(struct tunnel_slot *t, const char *id, const char *reason,
    const char *detail)
{
	Connector__V1__ErrorResponse er = CONNECTOR__V1__ERROR_RESPONSE__INIT;
	char text[256];

	snprintf(text, sizeof(text), "[%s] %s", reason, detail);
	er.message = text;
	er.code = "UPSTREAM_ERROR";
	er.reason = (char *)reason;
	send_msg(t, id,
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_ERROR_RESPONSE, &er.base);
}

static void
on_health(struct tunnel_slot *t, const ctl_msg *c)
{
	send_health(t, c->request_id, c->health_check_request->unix_millis);
}

static void
on_metadata(struct tunnel_slot *t, const ctl_msg *c)
{
	Connector__V1__MetadataResponse md =
	    CONNECTOR__V1__METADATA_RESPONSE__INIT;

	md.connection_uuid = t->uuid;
	md.hostname = t->mgr->hostname;
	md.max_concurrent_requests = (int32_t)t->mgr->conf.max_concurrent;
	send_msg(t, c->request_id,
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_METADATA_RESPONSE,
	    &md.base);
}

/* A request refused before it runs. */
static void
refuse(struct tunnel_slot *t, const char *id, const char *reason,
    const char *detail)
{
	manager_count_request(t->mgr, reason);
	send_error(t, id, reason, detail);
}

/* The request is over and its spans have ended: count it, free the slot. */
static void
req_done(struct tunnel_req *r, const char *result)
{
	struct tunnel_slot *t = r->slot;

	if (result != NULL) {
		manager_observe_latency(
		    t->mgr, rx_now(t->mgr->loop) - r->started, &r->span);
		manager_count_request(t->mgr, result);
		if (strcmp(result, "ok") == 0)
			t->served++;
		else
			t->errors++;
	}
	pb_arena_free((ProtobufCMessage *)r->msg);
	r->msg = NULL;
	r->dl = NULL;
	r->busy = false;
	t->inflight--;
	tunnel_request_done(t);
}

/* see tunnel.h */
void
tunnel_req_finish(
    struct tunnel_req *r, const char *result, int status, uint64_t size)
{
	tunnel_trace_log(r);
	tunnel_trace_end(r->slot->mgr, r, result, status, size);
	req_done(r, result);
	log_clear_trace();
}

/* see tunnel.h */
void
tunnel_req_answer(struct tunnel_req *r, enum exec_reason why,
    const char *detail, const Connector__V1__HttpResponse *resp)
{
	struct tunnel_slot *t = r->slot;

	tunnel_trace_log(r);
	tunnel_trace_end(t->mgr, r, exec_reason_name(why),
	    resp != NULL ? resp->http_status : 0,
	    resp != NULL ? resp->body.len : 0);
	if (resp == NULL) {
		log_info("tunnel %u: request %s failed: %s", t->index,
		    r->msg->request_id, exec_reason_name(why));
		send_error(
		    t, r->msg->request_id, exec_reason_name(why), detail);
	} else {
		manager_observe_bodies(
		    t->mgr, r->msg->http_request->body.len, resp->body.len);
		send_msg(t, r->msg->request_id,
		    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HTTP_RESPONSE,
		    &resp->base);
	}
	req_done(r, resp == NULL ? exec_reason_name(why) : "ok");
	log_clear_trace();
}

static void
exec_done(struct exec_job *job, enum exec_reason why, const char *detail,
    const Connector__V1__HttpResponse *resp)
{
	tunnel_req_answer(
	    container_of(job, struct tunnel_req, job), why, detail, resp);
}

static struct tunnel_req *
free_req(struct tunnel_slot *t)
{
	unsigned i;

	for (i = 0; i < t->mgr->conf.max_concurrent; i++)
		if (!t->reqs[i].busy)
			return &t->reqs[i];
	return NULL;
}

/* Takes ownership of c. */
static void
on_http(struct tunnel_slot *t, ctl_msg *c)
{
	struct tunnel_req *r;
	const char *tp;

	if (tunnel_slot_draining(t)) {
		refuse(t, c->request_id, "draining",
		    "tunnel is closing; retry on another tunnel");
	} else if ((r = free_req(t)) == NULL) {
		refuse(t, c->request_id, "overloaded",
		    "MAX_CONCURRENT_REQUESTS requests already in flight");
	} else {
		r->busy = true;
		r->slot = t;
		r->msg = c;
		r->dl = NULL;
		r->started = rx_now(t->mgr->loop);
		t->inflight++;
		tp = tunnel_trace_start(t->mgr, r, c->http_request);
		tunnel_trace_log(r);
		/* Streamed only when asked, and only on a tunnel that said
		 * "stream" (STREAM_RESPONSES). */
		if (!c->http_request->stream_response || !t->mgr->conf.stream)
			exec_submit_traced(t->mgr->exec, &r->job,
			    c->http_request, tp, exec_done);
		else
			deliver_submit(r);
		log_clear_trace();
		return;
	}
	pb_arena_free((ProtobufCMessage *)c);
}

static void
on_connection(struct tunnel_slot *t, const ctl_msg *c)
{
	if (c->connection_request->action ==
	    CONNECTOR__V1__CONNECTION_REQUEST__ACTION__ACTION_START_CLOSE) {
		log_info("tunnel %u: START_CLOSE from the edge", t->index);
		t->mgr->start_close++;
		tunnel_slot_drain(t, "start_close");
	} else {
		log_debug("tunnel %u: ignoring connection action %d", t->index,
		    (int)c->connection_request->action);
	}
}

/* A ControllerMessage may take TUNNEL_UNPACK_FACTOR times its size plus
 * TUNNEL_UNPACK_SLACK once unpacked (pb_unpack_arena): a body is copied
 * once; a usual header block is a few KiB. */
#define TUNNEL_UNPACK_FACTOR 2
#define TUNNEL_UNPACK_SLACK (64u << 10)

/* see tunnel.h */
int
tunnel_msg_dispatch(struct tunnel_slot *t, const uint8_t *p, size_t n)
{
	bool over, clean;
	ctl_msg *c;

	c = (ctl_msg *)pb_unpack_arena(
	    &connector__v1__controller_message__descriptor, p, n,
	    TUNNEL_UNPACK_FACTOR * n + TUNNEL_UNPACK_SLACK, &over, &clean);
	if (c == NULL)
		return over ? -ENOMEM : -EBADMSG;
	if (c->session_open != NULL) /* outside the oneof (spec/sessions.md) */
		session_open(t->mgr->sessions, t, c->session_open);
	if (c->update_offer != NULL) /* outside the oneof too */
		update_ctl_offer(t->mgr->upd, t, c->update_offer);
	if (c->update_reboot != NULL)
		update_ctl_reboot(t->mgr->upd, t, c->update_reboot);
	switch (c->message_case) {
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST:
		on_health(t, c);
		break;
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_METADATA_REQUEST:
		on_metadata(t, c);
		break;
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_CONNECTION_REQUEST:
		on_connection(t, c);
		break;
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HTTP_REQUEST:
		if (clean) {
			on_http(t, c);
			return 0;
		}
		/* protobuf-c would truncate the string at the NUL. */
		refuse(t, c->request_id, exec_reason_name(EXEC_BAD_REQUEST),
		    "NUL byte in a string field");
		break;
	default:
		/* A newer controller's message: ignore it (forward compatible). */
		log_debug("tunnel %u: ignoring unknown message", t->index);
		break;
	}
	pb_arena_free((ProtobufCMessage *)c);
	return 0;
}

/* see tunnel.h */
void
tunnel_msg_cancel_all(struct tunnel_slot *t)
{
	unsigned i;

	for (i = 0; i < t->mgr->conf.max_concurrent; i++) {
		if (!t->reqs[i].busy)
			continue;
		deliver_abort(&t->reqs[i]);
		exec_cancel(&t->reqs[i].job);
		tunnel_req_finish(&t->reqs[i], NULL, 0, 0);
	}
}
