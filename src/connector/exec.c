/*
 * The executor's jobs: submission, the deferred start outside the
 * caller's stack, the total deadline, completion, cancellation and the
 * one retry of a stale pooled connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/exec_int.h"
#include "http/redact.h"
#include "lib/util.h"

static const char *const reason_names[] = {
    [EXEC_OK] = "ok",
    [EXEC_DNS] = "dns",
    [EXEC_REFUSED] = "refused",
    [EXEC_RESET] = "reset",
    [EXEC_UNREACHABLE] = "unreachable",
    [EXEC_TLS] = "tls",
    [EXEC_TIMEOUT] = "timeout",
    [EXEC_TOO_LARGE] = "too_large",
    [EXEC_BAD_REQUEST] = "bad_request",
    [EXEC_BAD_RESPONSE] = "bad_response",
    [EXEC_OVERLOADED] = "overloaded",
    [EXEC_CANCELLED] = "cancelled",
    [EXEC_REDACTION] = "redaction_failed",
    [EXEC_POLICY_DENIED] = "policy_denied",
    [EXEC_PROXY] = "proxy",
};

/* see exec.h */
const char *
exec_reason_name(enum exec_reason r)
{
	if ((size_t)r >= nitems(reason_names))
		return "unknown";
	return reason_names[r];
}

/*
 * The one teardown: release the deadline, the deferred start, the
 * connection (pooled when keep) and the request head, leave the job idle;
 * then report, when asked: the response (r is EXEC_OK) or the failure.
 * Nothing touches the job after done: it may be freed or submitted again.
 */
static void
job_end(struct job *job, bool keep, bool report, enum exec_reason r,
    const char *detail)
{
	struct exec_conn *c = job->conn;
	exec_done_fn *done = job->done;

	rx_timer_stop(job->e->loop, &job->deadline);
	rx_defer_cancel(job->e->loop, &job->start);
	rx_defer_cancel(job->e->loop, &job->wake);
	list_remove(&job->link);
	job->state = JOB_IDLE;
	job->conn = NULL;
	if (c != NULL) {
		c->job = NULL;
		exec_conn_release(c, keep);
	}
	if (job->head != NULL && job->proxy != NULL)
		util_wipe(job->head, job->head_len); /* Proxy-Authorization */
	free(job->head);
	free(job->send_owned);
	job->head = NULL;
	job->send_owned = NULL;
	if (report && r == EXEC_OK && job->sink == NULL) {
		exec_resp_deliver(job);
		return;
	}
	exec_resp_reset(job);
	if (report)
		done(job_public(job), r, detail, NULL);
}

/* see exec_int.h */
void
exec_job_fail(struct job *job, enum exec_reason r, const char *detail)
{
	job_end(job, false, true, r, detail);
}

/* The response is complete: pool the connection if it can serve again. */
static void
job_complete(struct job *job)
{
	struct stream *s = &job->conn->s;
	size_t left = 0;

	stream_peek(s, &left);
	if (exec_proxy_refused(job)) {
		job_end(job, false, true, EXEC_PROXY, exec_proxy_detail(407));
		return;
	}
	job_end(job,
	    job->keep_alive && exec_req_sent(job) && left == 0 &&
		!stream_dead(s) && !stream_output_pending(s),
	    true, EXEC_OK, NULL);
}

/* Start (or fail) from the deferred work, never in the caller's stack. */
static void
job_queue(struct job *job, enum exec_reason r, const char *detail)
{
	job->fail = r;
	job->fail_detail = detail;
	job->state = JOB_QUEUED;
	rx_defer(job->e->loop, &job->start);
}

static void
job_deadline(struct rx_loop *l, struct rx_timer *t)
{
	struct job *job = container_of(t, struct job, deadline);

	exec_job_fail(job, EXEC_TIMEOUT,
	    job->streaming ? "no body byte for STREAM_IDLE_TIMEOUT"
			   : "request deadline passed");
}

/* see exec_int.h */
void
exec_job_touch(struct job *job)
{
	if (job->streaming)
		rx_timer_start(
		    job->e->loop, &job->deadline, job->e->c.stream_idle_ms);
}

/* exec_resume(): read on, outside the sink's stack. */
static void
job_wake(struct rx_loop *l, struct rx_defer *d)
{
	struct job *job = container_of(d, struct job, wake);

	(void)l;
	if (job->state == JOB_EXCHANGING && exec_job_io(job))
		stream_update(&job->conn->s);
}

/* see exec.h */
void
exec_resume(struct exec_job *pub)
{
	struct job *job = job_of(pub);

	if (job->sink != NULL && job->state == JOB_EXCHANGING)
		rx_defer(job->e->loop, &job->wake);
}

/* Attach a connection (pooled or being dialled); false: job finished. */
static bool
job_connect(struct job *job, bool fresh)
{
	int rc = exec_conn_get(job->e, job, fresh);

	if (rc == 0) {
		job->state = JOB_DIALING;
		if (job->conn->state == CONN_OPEN)
			exec_job_connected(job);
		return true;
	}
	if (rc == -EINVAL)
		exec_job_fail(job, EXEC_DNS, "host name not resolvable");
	else
		exec_job_fail(job, EXEC_OVERLOADED, "no resources to dial");
	return false;
}

static void
job_start(struct rx_loop *l, struct rx_defer *d)
{
	struct job *job = container_of(d, struct job, start);

	if (job->fail != EXEC_OK)
		exec_job_fail(job, job->fail, job->fail_detail);
	else
		job_connect(job, false);
}

static void
submit(struct exec *e, struct exec_job *pub,
    const Connector__V1__HttpRequest *req, const char *traceparent,
    exec_done_fn *done, const struct exec_sink *sink)
{
	struct job *job = job_of(pub);
	enum exec_reason r = EXEC_OK;
	const char *detail = NULL;

	*job = (struct job){
	    .e = e, .req = req, .traceparent = traceparent, .done = done};
	rx_timer_init(&job->deadline, job_deadline);
	rx_defer_init(&job->start, job_start);
	rx_defer_init(&job->wake, job_wake);
	list_append(&e->jobs, &job->link);
	if (!exec_req_check(e, job, &r, &detail) ||
	    !exec_req_redact(job, &r, &detail))
		job_queue(job, r, detail);
	else if (!exec_req_build(job))
		job_queue(job, EXEC_OVERLOADED, "out of memory");
	else if (rx_timer_start(
		     e->loop, &job->deadline, e->c.request_timeout_ms) < 0)
		job_queue(job, EXEC_OVERLOADED, "no timer left");
	else
		job_queue(job, EXEC_OK, NULL);
	/* The rules need the whole body: a host they cover is buffered. */
	if (e->redact == NULL || !redact_live_covers(e->redact, job->host))
		job->sink = sink;
}

/* see exec.h */
void
exec_submit(struct exec *e, struct exec_job *pub,
    const Connector__V1__HttpRequest *req, exec_done_fn *done)
{
	submit(e, pub, req, NULL, done, NULL);
}

/* see exec.h */
void
exec_submit_traced(struct exec *e, struct exec_job *pub,
    const Connector__V1__HttpRequest *req, const char *traceparent,
    exec_done_fn *done)
{
	submit(e, pub, req, traceparent, done, NULL);
}

/* see exec.h */
void
exec_submit_stream(struct exec *e, struct exec_job *pub,
    const Connector__V1__HttpRequest *req, const char *traceparent,
    exec_done_fn *done, const struct exec_sink *sink)
{
	submit(e, pub, req, traceparent, done, sink);
}

/* see exec.h */
void
exec_cancel(struct exec_job *pub)
{
	struct job *job = job_of(pub);

	if (job->state != JOB_IDLE)
		job_end(job, false, false, EXEC_CANCELLED, NULL);
}

/* see exec_int.h */
void
exec_job_connected(struct job *job)
{
	job->state = JOB_EXCHANGING;
	/* A fresh connection calls back once connected (or handshaken); a
	 * pooled one is quiet until asked for room to write. */
	if (job->conn->reused)
		stream_want_room(&job->conn->s);
}

/* A pooled connection that died before any answer: try a fresh one. */
static bool
job_retry(struct job *job)
{
	struct exec_conn *c = job->conn;

	if (!c->reused || job->resp_bytes > 0 || job->retried ||
	    !job->idempotent)
		return false;
	job->retried = true;
	job->e->st.retries++;
	job->conn = NULL;
	c->job = NULL;
	exec_conn_release(c, false);
	job->head_off = job->body_off = 0;
	exec_resp_reset(job);
	job_connect(job, true);
	return true;
}

/* The connection ended (EOF or error) before the response completed it. */
static void
job_conn_lost(struct job *job)
{
	enum exec_reason r = EXEC_RESET;
	const char *detail = "connection lost";

	if (stream_error(&job->conn->s) == 0 &&
	    exec_resp_eof(job, &r, &detail) == RESP_DONE) {
		job_complete(job);
		return;
	}
	if (job_retry(job))
		return;
	if (stream_error(&job->conn->s) != 0)
		r = exec_conn_reason(job->conn, &detail);
	exec_job_fail(job, r, detail);
}

/* see exec_int.h */
bool
exec_job_io(struct job *job)
{
	struct stream *s = &job->conn->s;
	enum exec_resp_state st;
	enum exec_reason r;
	const char *detail;

	/* Write while the socket drains the buffer; once it is full the
	 * stream calls back with room.  Flushing here also surfaces write
	 * errors now (the stream arms nothing after one). */
	while (stream_ready(s) && !exec_req_sent(job) && exec_req_send(job, s))
		stream_flush(s);
	st = exec_resp_feed(job, s, &r, &detail);
	if (st == RESP_DONE) {
		job_complete(job);
		return false;
	}
	if (st == RESP_FAIL) {
		exec_job_fail(job, r, detail);
		return false;
	}
	if (stream_dead(s) && !exec_resp_pending(job)) {
		job_conn_lost(job);
		return false;
	}
	return true;
}

static void
config_defaults(struct exec_config *c)
{
	if (c->request_timeout_ms <= 0)
		c->request_timeout_ms = EXEC_DEFAULT_REQUEST_TIMEOUT_MS;
	if (c->connect_timeout_ms <= 0)
		c->connect_timeout_ms = EXEC_DEFAULT_CONNECT_TIMEOUT_MS;
	if (c->max_response_head == 0)
		c->max_response_head = EXEC_DEFAULT_MAX_RESPONSE_HEAD;
	if (c->pool_per_origin == 0)
		c->pool_per_origin = EXEC_DEFAULT_POOL_PER_ORIGIN;
	if (c->pool_total == 0)
		c->pool_total = EXEC_DEFAULT_POOL_TOTAL;
	if (c->pool_idle_ms <= 0)
		c->pool_idle_ms = EXEC_DEFAULT_POOL_IDLE_MS;
	if (c->max_conns == 0)
		c->max_conns = EXEC_DEFAULT_MAX_CONNS;
	if (c->max_streamed_body == 0)
		c->max_streamed_body = c->max_response_body;
	if (c->stream_idle_ms <= 0)
		c->stream_idle_ms = c->request_timeout_ms;
}

/* see exec.h */
int
exec_new(struct exec **out, struct rx_loop *l, struct dns_resolver *r,
    const struct exec_config *c, char *err, size_t errlen)
{
	struct exec *e = calloc(1, sizeof(*e));
	int rc;

	if (e == NULL) {
		snprintf(err, errlen, "executor: out of memory");
		return -ENOMEM;
	}
	e->loop = l;
	e->dns = r;
	list_init(&e->jobs);
	list_init(&e->idle);
	list_init(&e->free);
	exec_conns_init(e);
	e->c = *c;
	config_defaults(&e->c);
	rc = exec_tls_load(e, err, errlen);
	if (rc == 0)
		rc = exec_proxy_load(e, err, errlen);
	if (rc < 0) {
		exec_proxy_free(e);
		exec_tls_free(e);
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* see exec.h */
void
exec_free(struct exec *e)
{
	if (e == NULL)
		return;
	while (!list_empty(&e->jobs)) /* the newest first */
		exec_cancel(
		    job_public(list_entry(e->jobs.prev, struct job, link)));
	exec_tls_free(e);
	exec_proxy_free(e);
	exec_conns_free(e); /* frees e, now or after the last close */
}

/* see exec.h */
void
exec_stats(const struct exec *e, struct exec_stats *st)
{
	*st = e->st;
	st->idle = e->nidle;
	st->conns = e->nconns;
	st->slots = e->nslots;
}
