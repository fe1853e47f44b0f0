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
};

/* see exec.h */
const char *
exec_reason_name(enum exec_reason r)
{
	if ((size_t)r >= nitems(reason_names))
		return "unknown";
	return reason_names[r];
}

static void
job_link(struct exec *e, struct exec_job *job)
{
	job->prev = NULL;
	job->next = e->jobs;
	if (e->jobs != NULL)
		e->jobs->prev = job;
	e->jobs = job;
}

static void
job_unlink(struct exec_job *job)
{
	struct exec *e = job->e;

	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		e->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->prev = job->next = NULL;
}

/* Release everything the job holds; no callback.  keep: pool the conn. */
static void
job_end(struct exec_job *job, bool keep)
{
	struct exec_conn *c = job->conn;

	rx_timer_stop(job->e->loop, &job->timer);
	rx_defer_cancel(job->e->loop, &job->soon);
	job_unlink(job);
	job->active = false;
	job->pending = false;
	job->conn = NULL;
	if (c != NULL) {
		c->job = NULL;
		exec_conn_release(c, keep);
	}
	free(job->head);
	job->head = NULL;
	exec_resp_reset(job);
}

/* see exec_int.h */
void
exec_job_finish(struct exec_job *job, enum exec_reason r, const char *detail)
{
	exec_done_fn *done = job->done;

	job_end(job, false);
	done(job, r, detail, NULL);
}

/* Start (or fail) soon, never inside the caller's stack. */
static void
job_fail_soon(struct exec_job *job, enum exec_reason r, const char *detail)
{
	job->fail = r;
	job->fail_detail = detail;
	job->pending = true;
	rx_defer(job->e->loop, &job->soon);
}

static void
job_deadline(struct rx_loop *l, struct rx_timer *t)
{
	struct exec_job *job = container_of(t, struct exec_job, timer);

	exec_job_finish(job, EXEC_TIMEOUT, "request deadline passed");
}

/* Attach a connection (pooled or being dialled); false: job finished. */
static bool
job_connect(struct exec_job *job, bool fresh)
{
	int rc = exec_conn_get(job->e, job, fresh);

	if (rc == 0)
		return true;
	if (rc == -EINVAL)
		exec_job_finish(job, EXEC_DNS, "host name not resolvable");
	else
		exec_job_finish(job, EXEC_OVERLOADED, "no resources to dial");
	return false;
}

static void
job_start(struct exec_job *job)
{
	job->pending = false;
	if (job->fail != EXEC_OK) {
		exec_job_finish(job, job->fail, job->fail_detail);
		return;
	}
	if (!job_connect(job, false))
		return;
	if (job->conn->state == CONN_OPEN)
		exec_job_connected(job);
}

static void
job_soon(struct rx_loop *l, struct rx_defer *d)
{
	struct exec_job *job = container_of(d, struct exec_job, soon);

	if (job->pending)
		job_start(job);
}

/* see exec.h */
void
exec_submit(struct exec *e, struct exec_job *job,
    const Connector__V1__HttpRequest *req, exec_done_fn *done)
{
	enum exec_reason r = EXEC_OK;
	const char *detail = NULL;

	*job = (struct exec_job){.e = e, .req = req, .done = done};
	rx_timer_init(&job->timer, job_deadline);
	rx_defer_init(&job->soon, job_soon);
	job->active = true;
	job_link(e, job);
	if (!exec_req_check(e, job, &r, &detail)) {
		job_fail_soon(job, r, detail);
		return;
	}
	if (!exec_req_build(job)) {
		job_fail_soon(job, EXEC_OVERLOADED, "out of memory");
		return;
	}
	if (rx_timer_start(e->loop, &job->timer, e->c.request_timeout_ms) < 0) {
		job_fail_soon(job, EXEC_OVERLOADED, "no timer left");
		return;
	}
	job_fail_soon(job, EXEC_OK, NULL);
}

/* see exec.h */
void
exec_cancel(struct exec_job *job)
{
	if (!job->active)
		return;
	job_end(job, false);
}

/* see exec_int.h */
void
exec_job_connected(struct exec_job *job)
{
	/* A fresh connection calls back once connected (or handshaken); a
	 * pooled one is quiet until asked for room to write. */
	if (job->conn->reused)
		stream_want_room(&job->conn->s);
}

/* A pooled connection that died before any answer: try a fresh one. */
static bool
job_retry(struct exec_job *job)
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

static void
job_complete(struct exec_job *job)
{
	struct exec_conn *c = job->conn;
	size_t left = 0;
	bool keep;

	stream_peek(&c->s, &left);
	keep = job->keep_alive && exec_req_sent(job) && left == 0 &&
	    !stream_dead(&c->s) && !stream_output_pending(&c->s);
	rx_timer_stop(job->e->loop, &job->timer);
	job_unlink(job);
	job->active = false;
	job->conn = NULL;
	c->job = NULL;
	exec_conn_release(c, keep);
	free(job->head);
	job->head = NULL;
	exec_resp_deliver(job);
}

static void
job_dead(struct exec_job *job)
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
	if (stream_error(&job->conn->s) == 0) {
		exec_job_finish(job, r, detail);
		return;
	}
	r = exec_conn_reason(job->conn, &detail);
	exec_job_finish(job, r, detail);
}

/* see exec_int.h */
bool
exec_job_io(struct exec_job *job)
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
		exec_job_finish(job, r, detail);
		return false;
	}
	if (stream_dead(s)) {
		job_dead(job);
		return false;
	}
	return true;
}

/* see exec_int.h */
void
exec_job_conn_failed(
    struct exec_job *job, enum exec_reason r, const char *detail)
{
	exec_job_finish(job, r, detail);
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
	e->c = *c;
	config_defaults(&e->c);
	rx_defer_init(&e->bury, exec_conn_bury);
	rc = exec_tls_load(e, err, errlen);
	if (rc < 0) {
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
	while (e->jobs != NULL)
		exec_cancel(e->jobs);
	exec_pool_clear(e);
	exec_tls_free(e);
	free(e);
}

/* see exec.h */
void
exec_stats(const struct exec *e, struct exec_stats *st)
{
	*st = e->st;
	st->idle = e->nidle;
	st->conns = e->nconns;
}
