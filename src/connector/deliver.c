/*
 * deliver.c — a streamed response (deliver.h): the executor's sink, the
 * Deliver call on the Tunnel call's connection, and the end of both.
 */
#include <stdlib.h>

#include "connector/deliver.h"
#include "connector/manager.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/outpost/v1/responses.pb-c.h"

/* A ResponsePart's encoding around its bytes (tag, length), rounded up. */
#define PART_SLACK 16
/* Read the upstream only when a part of at least this much fits. */
#define MIN_PART 1024
#define DELIVER_MSG_MAX 1024 /* the edge sends a DeliverAck at most */
#define DELIVER_QUEUE 4 /* head, data, end */
/* A streamed answer that sent nothing for one to two of these gives its
 * call's pages back while they hold nothing (conn_call_trim): a response
 * waiting for its upstream keeps no touched send-ring page (#20). */
#define DELIVER_TRIM_MS 500

static const struct conn_call_ops deliver_call_ops;

struct deliver {
	struct conn_call call;
	struct tunnel_req *req; /* NULL once aborted */
	struct rx_loop *loop;
	struct rx_defer reap; /* free outside the call's callbacks */
	struct rx_timer trim; /* while open: see DELIVER_TRIM_MS */
	uint64_t trim_bytes; /* bytes when the timer last ran */
	bool trimmed; /* given back since bytes last moved */
	bool opened; /* the call is open and carries the head */
	bool blocked; /* room() said 0: on_writable resumes the job */
	bool done; /* the job ended: End is queued */
	const char *result; /* how the job ended: "ok" or a reason */
	int status; /* the head's HTTP status */
	uint64_t bytes; /* body bytes sent in parts */
};

static struct deliver *
dl_of(struct exec_job *job)
{
	return container_of(job, struct tunnel_req, job)->dl;
}

static void
on_reap(struct rx_loop *l, struct rx_defer *d)
{
	struct deliver *dl = container_of(d, struct deliver, reap);

	rx_timer_stop(l, &dl->trim);
	conn_call_free(&dl->call);
	free(dl);
}

/* Forget dl: now when its call is idle, else once the call has ended. */
static void
release(struct deliver *dl)
{
	dl->req = NULL;
	if (!conn_call_busy(&dl->call))
		rx_defer(dl->loop, &dl->reap);
	else
		conn_call_cancel(&dl->call); /* harmless when ending */
}

static bool
send_part(struct deliver *dl, Outpost__V1__ResponsePart *part)
{
	return conn_call_send(&dl->call, &part->base);
}

/* Every DELIVER_TRIM_MS while the call is open and the job runs: a call
 * that sent nothing since the last run gives its pages back, once (a
 * no-op unless both its rings are empty). */
static void
on_trim(struct rx_loop *l, struct rx_timer *t)
{
	struct deliver *dl = container_of(t, struct deliver, trim);

	if (dl->req == NULL || dl->done)
		return;
	if (dl->bytes != dl->trim_bytes) {
		dl->trimmed = false;
	} else if (!dl->trimmed) {
		conn_call_trim(&dl->call);
		dl->trimmed = true;
	}
	dl->trim_bytes = dl->bytes;
	(void)rx_timer_start(l, t, DELIVER_TRIM_MS); /* none left: no trim */
}

/* --- the executor's sink ---------------------------------------------------- */

/*
 * r's Deliver call state, allocated when the head arrives: a request
 * waiting for its upstream holds none of it (issue #20).  NULL when there
 * is no memory (nothing to free then).
 */
static struct deliver *
dl_new(struct tunnel_req *r)
{
	struct deliver *dl = calloc(1, sizeof(*dl));

	if (dl == NULL)
		return NULL;
	if (conn_call_init(&dl->call, &deliver_call_ops, dl, CONN_MIN_WINDOW,
		DELIVER_TXRING, DELIVER_MSG_MAX, DELIVER_QUEUE) < 0) {
		conn_call_free(&dl->call);
		free(dl);
		return NULL;
	}
	dl->req = r;
	dl->loop = r->slot->mgr->loop;
	rx_defer_init(&dl->reap, on_reap);
	rx_timer_init(&dl->trim, on_trim);
	return dl;
}

static bool
sink_head(struct exec_job *job, const Connector__V1__HttpResponse *resp)
{
	struct tunnel_req *r = container_of(job, struct tunnel_req, job);
	struct deliver *dl = dl_new(r);
	const struct h2_header hdr[] = {
	    {"outpost-request-id", r->msg->request_id}};
	Outpost__V1__ResponsePart part = OUTPOST__V1__RESPONSE_PART__INIT;

	if (dl == NULL) {
		log_warn("tunnel %u: request %s: no memory for a Deliver call",
		    r->slot->index, r->msg->request_id);
		return false;
	}
	if (conn_call_open(&r->slot->conn, &dl->call, DELIVER_PATH, hdr, 1) <
	    0) {
		log_warn("tunnel %u: request %s: cannot open a Deliver call",
		    r->slot->index, r->msg->request_id);
		conn_call_free(&dl->call); /* never opened: no callback */
		free(dl);
		return false;
	}
	r->dl = dl;
	part.part_case = OUTPOST__V1__RESPONSE_PART__PART_HEAD;
	part.head = (Connector__V1__HttpResponse *)resp;
	if (!send_part(dl, &part)) {
		conn_call_cancel(&dl->call);
		return false;
	}
	dl->opened = true;
	dl->status = resp->http_status;
	(void)rx_timer_start(dl->loop, &dl->trim, DELIVER_TRIM_MS);
	return true;
}

static size_t
sink_room(struct exec_job *job)
{
	struct deliver *dl = dl_of(job);
	size_t room = conn_call_send_room(&dl->call);

	if (room < MIN_PART + GRPC_PREFIX_LEN + PART_SLACK) {
		dl->blocked = true;
		return 0;
	}
	room -= GRPC_PREFIX_LEN + PART_SLACK;
	return room < DELIVER_DATA_MAX ? room : DELIVER_DATA_MAX;
}

static bool
sink_data(struct exec_job *job, const uint8_t *p, size_t n)
{
	struct deliver *dl = dl_of(job);
	Outpost__V1__ResponsePart part = OUTPOST__V1__RESPONSE_PART__INIT;

	part.part_case = OUTPOST__V1__RESPONSE_PART__PART_DATA;
	part.data.data = (uint8_t *)p;
	part.data.len = n;
	dl->bytes += n;
	return send_part(dl, &part);
}

static const struct exec_sink deliver_sink = {
    .head = sink_head,
    .room = sink_room,
    .data = sink_data,
};

/*
 * The job ended.  Before the head (or answered buffered) the Tunnel call
 * carries the answer; after it, End closes the Deliver call, and the
 * request is finished once the call has ended (on_end).
 */
static void
job_done(struct exec_job *job, enum exec_reason why, const char *detail,
    const Connector__V1__HttpResponse *resp)
{
	struct tunnel_req *r = container_of(job, struct tunnel_req, job);
	struct deliver *dl = r->dl;
	Outpost__V1__ResponsePart part = OUTPOST__V1__RESPONSE_PART__INIT;
	Outpost__V1__End end = OUTPOST__V1__END__INIT;

	tunnel_trace_log(r);
	if (resp != NULL || dl == NULL || !dl->opened) {
		if (dl != NULL)
			release(dl);
		tunnel_req_answer(r, why, detail, resp);
		return;
	}
	dl->done = true;
	dl->result = exec_reason_name(why);
	end.error_reason = why == EXEC_OK ? "" : (char *)dl->result;
	end.detail = detail != NULL ? (char *)detail : "";
	part.part_case = OUTPOST__V1__RESPONSE_PART__PART_END;
	part.end = &end;
	if (why != EXEC_OK)
		log_info("tunnel %u: request %s: streamed response cut after "
			 "%llu bytes (%s: %s)",
		    r->slot->index, r->msg->request_id,
		    (unsigned long long)dl->bytes, dl->result, end.detail);
	if (send_part(dl, &part))
		conn_call_end(&dl->call);
	else
		conn_call_cancel(&dl->call);
	log_clear_trace();
}

/* see deliver.h */
void
deliver_submit(struct tunnel_req *r)
{
	exec_submit_stream(r->slot->mgr->exec, &r->job, r->msg->http_request,
	    r->up.active ? r->traceparent : NULL, job_done, &deliver_sink);
}

/* see deliver.h */
void
deliver_abort(struct tunnel_req *r)
{
	if (r->dl == NULL)
		return;
	exec_cancel(&r->job);
	release(r->dl);
	r->dl = NULL;
}

/* --- the Deliver call -------------------------------------------------------- */

/* The edge's DeliverAck (or anything else it sends) needs no answer. */
static const char *
on_message(struct conn_call *c, const uint8_t *p, size_t n)
{
	(void)c;
	(void)p;
	(void)n;
	return NULL;
}

static void
on_end(struct conn_call *c, int status, const char *reason, const char *detail)
{
	struct deliver *dl = conn_call_arg(c);
	struct tunnel_req *r = dl->req;

	(void)status;
	rx_defer(dl->loop, &dl->reap);
	if (r == NULL)
		return;
	tunnel_trace_log(r);
	if (!dl->done) {
		/* The edge cancelled (its client went away), or the
		 * connection is gone: the upstream request ends now. */
		exec_cancel(&r->job);
		dl->result = "cancelled";
		log_info("tunnel %u: request %s: streamed response ended by "
			 "the edge after %llu bytes (%s: %s)",
		    r->slot->index, r->msg->request_id,
		    (unsigned long long)dl->bytes,
		    reason != NULL ? reason : "ended", detail);
	}
	tunnel_req_finish(r, dl->result, dl->status, dl->bytes);
}

static void
on_writable(struct conn_call *c)
{
	struct deliver *dl = conn_call_arg(c);

	if (dl->req == NULL || dl->done || !dl->blocked)
		return;
	dl->blocked = false;
	exec_resume(&dl->req->job);
}

static const struct conn_call_ops deliver_call_ops = {
    .on_message = on_message,
    .on_end = on_end,
    .on_writable = on_writable,
};
