/*
 * exec_int.h — shared between exec*.c only.
 *
 * exec.c        jobs: submit, deferred start, deadline, the one teardown,
 *               cancel, retry
 * exec_req.c    request validation and the request head
 * exec_resp.c   response head, framing, body accumulation, HttpResponse
 * exec_conn.c   connections: the slots (sized at start), dial (DNS,
 *               connect), TLS, the keep-alive pool
 * exec_tls.c    the upstream TLS client (tls.h) from the settings
 * exec_proxy.c  the upstream proxy route (HTTP_PROXY, HTTPS_PROXY,
 *               NO_PROXY; net/noproxy.h)
 */
#ifndef CONNECTOR_EXEC_INT_H
#define CONNECTOR_EXEC_INT_H

#include <bearssl.h>

#include "connector/exec.h"
#include "lib/list.h"
#include "net/dial.h"
#include "net/dns.h"
#include "net/stream.h"
#include "tls/tls.h"

/* Plaintext stream buffers per connection (TLS uses the engine's): the
 * output one in the slot, the input one allocated by the stream when the
 * upstream first sends (a request waiting for its answer holds none). */
#define EXEC_IN_BUF 2048
#define EXEC_OUT_BUF 1024
/* First size of a response head buffer (then doubled, up to the bound). */
#define EXEC_HEAD_FIRST 2048
/* Chunk-size and trailer lines of a chunked response. */
#define EXEC_CHUNK_LINE 4096
/* First allocation of a body of unknown length (then doubled). */
#define EXEC_BODY_FIRST 65536
/* A streamed body's socket reads, at most (struct exec's scratch). */
#define EXEC_READ_MAX 65536
#define EXEC_READ_ROUNDS 4 /* such reads per wakeup, at most */

enum exec_conn_state {
	CONN_FREE, /* a slot on the free list */
	CONN_DIALING,
	CONN_OPEN, /* stream running, owned by a job */
	CONN_IDLE, /* in the keep-alive pool */
	CONN_CLOSING, /* stream closing; back on the free list once closed */
};

/*
 * A dialer, only while a connection is being dialled (struct dial is a
 * third of a slot's bytes): allocated by the dial, given back when it
 * ends, and freed at the end of that reactor iteration (a cancelled
 * dialer must outlive it, net/dial.h).
 */
struct exec_dialer {
	struct dial d;
	struct exec_conn *c;
	struct list_node link; /* on exec.spent once given back */
};

/*
 * One upstream connection slot.  Slots are allocated on first use, at
 * most max_conns of them, and never freed before exec_free(): a closed
 * connection's slot goes back to the free list (with its TLS context, if
 * it had one) once the reactor has closed its stream.
 */
struct exec_conn {
	struct exec *e;
	struct job *job; /* owner while dialling or open; NULL otherwise */
	struct list_node link; /* idle list, or free list; on none otherwise */
	enum exec_conn_state state;
	bool tls;
	bool reused; /* served a request before */
	bool handshaken; /* TLS: the handshake completed once */
	uint16_t port;
	char host[URL_HOST_MAX + 1];
	struct rx_timer timer; /* idle timeout */
	struct stream s;
	struct tls_upstream_conn *t; /* kept with the slot once allocated */
	struct exec_dialer *dx; /* CONN_DIALING only */
	uint8_t out[EXEC_OUT_BUF];
};

struct exec {
	struct rx_loop *loop;
	struct dns_resolver *dns;
	struct exec_config c;
	struct tls_upstream_config *tls;
	struct exec_proxy *proxy; /* NULL: every request goes direct */
	struct list_node idle; /* exec_conn.link, most recently used first */
	struct list_node free; /* exec_conn.link, slots to reuse (last first) */
	struct list_node spent; /* exec_dialer.link, freed by reap */
	struct rx_defer reap;
	unsigned nidle, nconns; /* idle; open in any state but free */
	unsigned nslots; /* allocated, at most c.max_conns */
	unsigned nclosing; /* streams still closing */
	bool freed; /* exec_free() ran: the last close frees e */
	struct exec_stats st;
	struct list_node jobs; /* job.link, active jobs (newest last) */
	struct redact_live *redact; /* borrowed; NULL: no redaction */
	char redact_detail[160]; /* the last refusal's detail */
	/* The response being delivered (exec_resp_deliver(), valid during
	 * its done() call only): its protobuf headers, sized at start so
	 * that no response allocates them; one more for
	 * X-Traversal-Redacted. */
	Connector__V1__Header resp_hdr[EXEC_MAX_RESPONSE_HEADERS + 1];
	Connector__V1__Header *resp_hdrp[EXEC_MAX_RESPONSE_HEADERS + 1];
	/* A streamed body's read, handed to its sink at once (one loop:
	 * one buffer; untouched until a body streams). */
	uint8_t scratch[EXEC_READ_MAX];
};

enum job_state {
	JOB_IDLE, /* never submitted, finished or cancelled */
	JOB_QUEUED, /* submitted: starts, or fails, from its deferred entry */
	JOB_DIALING, /* waiting for a new connection */
	JOB_EXCHANGING, /* on an open connection: handshake, request, response */
};

/*
 * A job's private state, living in the caller's struct exec_job (whose
 * opaque bytes are exactly this; see job_of()).
 */
struct job {
	enum job_state state;
	struct exec *e;
	const Connector__V1__HttpRequest *req;
	const char *traceparent; /* borrowed; NULL: req's fields as they are */
	bool state_kept; /* traceparent continues req's trace: its tracestate */
	exec_done_fn *done;
	struct exec_conn *conn;
	struct list_node link; /* on e->jobs while active */
	struct rx_timer deadline;
	struct rx_defer start; /* the start or prompt failure, deferred */
	bool retried; /* the one stale-connection retry was used */
	bool idempotent;
	/* The proxy the request goes through (CONNECT for https, absolute
	 * form for http), or NULL: direct.  Owned by the executor. */
	const struct dial_proxy *proxy;
	enum exec_reason fail; /* the prompt failure to report */
	const char *fail_detail;
	struct url url; /* slices of req->url */
	char host[URL_HOST_MAX + 1];
	/* Request output: the head (heap), then the body: req's, borrowed,
	 * or its redaction (send_owned, heap). */
	char *head;
	size_t head_len, head_off, body_off;
	const uint8_t *send_body;
	size_t send_len;
	uint8_t *send_owned;
	/* Response input: head buffer (grows up to max_response_head) and
	 * the final head's fields (heap, exactly nfields). */
	char *rbuf;
	size_t rlen, rcap;
	size_t rhead; /* bytes of the final response head, 0 until parsed */
	int status;
	size_t nfields;
	struct http_header *fields; /* slices of rbuf */
	enum http_body_kind body_kind;
	bool keep_alive;
	uint64_t body_left; /* Content-Length bytes still to come */
	struct http_chunked chunked;
	uint8_t *body;
	size_t body_len, body_cap;
	uint64_t resp_bytes; /* any response byte seen on this attempt */
	/* Streamed (exec_submit_stream()): the sink, NULL when buffered;
	 * whether its head() ran; body bytes handed to it; bytes of rbuf
	 * past the head handed to it; the deferred exec_resume(). */
	const struct exec_sink *sink;
	bool streaming;
	uint64_t streamed;
	size_t rfed;
	struct rx_defer wake;
};

_Static_assert(sizeof(struct job) <= sizeof(struct exec_job),
    "EXEC_JOB_SIZE is too small for struct job");

static inline struct job *
job_of(struct exec_job *pub)
{
	return (struct job *)(void *)pub->opaque.bytes;
}

static inline struct exec_job *
job_public(struct job *job)
{
	return (struct exec_job *)(void *)job;
}

/* exec.c: connection events reported to the owning job. */
void exec_job_connected(struct job *job);
/* Drive the job on its connection; false when it finished (done ran,
 * the job may be gone) or moved to another connection. */
bool exec_job_io(struct job *job);
/* End the job with a failure: released, then done runs. */
void exec_job_fail(struct job *job, enum exec_reason r, const char *detail);

/* exec_req.c */
bool exec_req_check(
    struct exec *e, struct job *job, enum exec_reason *r, const char **detail);
/* REDACT_REQUESTS: the body to send, or false with r and detail set. */
bool exec_req_redact(struct job *job, enum exec_reason *r, const char **detail);
bool exec_req_build(struct job *job);
bool exec_req_send(struct job *job, struct stream *s);
bool exec_req_sent(const struct job *job);

/* exec_resp.c: feed bytes; RESP_MORE while more is needed, RESP_DONE
 * once the response is complete, RESP_FAIL with r and detail set. */
enum exec_resp_state { RESP_MORE, RESP_DONE, RESP_FAIL };
enum exec_resp_state exec_resp_feed(struct job *job, struct stream *s,
    enum exec_reason *r, const char **detail);
enum exec_resp_state exec_resp_eof(
    struct job *job, enum exec_reason *r, const char **detail);
/* Build the HttpResponse, release the response buffers, call done. */
void exec_resp_deliver(struct job *job);
/* exec.c: body bytes reached the sink; the idle deadline restarts. */
void exec_job_touch(struct job *job);
void exec_resp_reset(struct job *job);
/* Streamed: bytes after the head still wait for room in the sink. */
bool exec_resp_pending(const struct job *job);

/* exec_conn.c */
/* The dialers' lists (exec_new). */
void exec_conns_init(struct exec *e);
/* A slot per connection, at most max_conns; 0 or -errno. */
int exec_conn_get(struct exec *e, struct job *job, bool fresh);
void exec_conn_release(struct exec_conn *c, bool keep);
void exec_conn_close(struct exec_conn *c);
/* Close the pool and free the slots not still closing (exec_free). */
void exec_conns_free(struct exec *e);
enum exec_reason exec_conn_reason(
    const struct exec_conn *c, const char **detail);

/* exec_proxy.c */
/* Parse the executor's proxy settings into e->proxy (NULL when none);
 * 0 or -EINVAL / -ENOMEM with a message naming the setting. */
int exec_proxy_load(struct exec *e, char *err, size_t errlen);
void exec_proxy_free(struct exec *e);
/* The proxy for the job's origin (job->url, job->host), or NULL. */
const struct dial_proxy *exec_proxy_route(
    const struct exec *e, const struct job *job);
/* True when an absolute-form request's answer is the proxy's 407. */
bool exec_proxy_refused(const struct job *job);
/* Static text for a failed proxied dial (the proxy's status, if any). */
const char *exec_proxy_detail(int status);

/* exec_tls.c */
int exec_tls_load(struct exec *e, char *err, size_t errlen);
void exec_tls_free(struct exec *e);
/* Reset c's TLS context for its host; the engine for its stream. */
br_ssl_engine_context *exec_tls_setup(struct exec *e, struct exec_conn *c);

#endif
