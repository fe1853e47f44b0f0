/*
 * exec_int.h — shared between exec*.c only.
 *
 * exec.c        jobs: submit, deadline, completion, cancel, retry
 * exec_req.c    request validation and the request head
 * exec_resp.c   response head, framing, body accumulation, HttpResponse
 * exec_conn.c   connections: dial (DNS, connect), TLS, the keep-alive pool
 * exec_tls.c    the upstream TLS client (tls.h) from the settings
 */
#ifndef CONNECTOR_EXEC_INT_H
#define CONNECTOR_EXEC_INT_H

#include <bearssl.h>

#include "connector/exec.h"
#include "net/dial.h"
#include "net/dns.h"
#include "net/stream.h"
#include "tls/tls.h"

/* Plaintext stream buffers per connection (TLS uses the engine's). */
#define EXEC_IN_BUF 2048
#define EXEC_OUT_BUF 1024
/* First size of a response head buffer (then doubled, up to the bound). */
#define EXEC_HEAD_FIRST 2048
/* Chunk-size and trailer lines of a chunked response. */
#define EXEC_CHUNK_LINE 4096
/* First allocation of a body of unknown length (then doubled). */
#define EXEC_BODY_FIRST 65536

enum exec_conn_state {
	CONN_DIALING,
	CONN_OPEN, /* stream running, owned by a job */
	CONN_IDLE, /* in the pool */
	CONN_CLOSED, /* close requested; freed by the reactor */
};

struct exec_conn {
	struct exec *e;
	struct exec_job *job; /* owner while open; NULL when idle */
	struct exec_conn *prev, *next; /* the pool's idle list */
	enum exec_conn_state state;
	bool tls;
	bool reused; /* served a request before */
	uint16_t port;
	char host[URL_HOST_MAX + 1];
	bool handshaken; /* TLS: the handshake completed once */
	struct rx_timer timer; /* idle timeout */
	struct stream s;
	struct tls_upstream_conn *t; /* NULL for http */
	struct dial d;
	uint8_t in[EXEC_IN_BUF], out[EXEC_OUT_BUF];
};

struct exec {
	struct rx_loop *loop;
	struct dns_resolver *dns;
	struct exec_config c;
	struct tls_upstream_config *tls;
	struct exec_conn *idle; /* most recently used first */
	struct exec_conn *grave; /* cancelled dials, freed from bury */
	struct rx_defer bury; /* frees the grave at the end of the iteration */
	unsigned nidle, nconns;
	struct exec_stats st;
	struct exec_job *jobs; /* active jobs */
};

/* exec.c: connection events reported to the owning job. */
void exec_job_connected(struct exec_job *job);
/* Drive the job on its connection; false when it finished (done ran,
 * the job may be gone) or moved to another connection. */
bool exec_job_io(struct exec_job *job);
void exec_job_conn_failed(
    struct exec_job *job, enum exec_reason r, const char *detail);
void exec_job_finish(
    struct exec_job *job, enum exec_reason r, const char *detail);

/* exec_req.c */
bool exec_req_check(struct exec *e, struct exec_job *job, enum exec_reason *r,
    const char **detail);
bool exec_req_build(struct exec_job *job);
bool exec_req_send(struct exec_job *job, struct stream *s);
bool exec_req_sent(const struct exec_job *job);

/* exec_resp.c: feed bytes; returns EXEC_OK while more is needed. */
enum exec_resp_state { RESP_MORE, RESP_DONE, RESP_FAIL };
enum exec_resp_state exec_resp_feed(struct exec_job *job, struct stream *s,
    enum exec_reason *r, const char **detail);
enum exec_resp_state exec_resp_eof(
    struct exec_job *job, enum exec_reason *r, const char **detail);
void exec_resp_deliver(struct exec_job *job);
void exec_resp_reset(struct exec_job *job);

/* exec_conn.c */
int exec_conn_get(struct exec *e, struct exec_job *job, bool fresh);
void exec_conn_release(struct exec_conn *c, bool keep);
void exec_conn_close(struct exec_conn *c);
void exec_pool_clear(struct exec *e);
void exec_conn_bury(struct rx_loop *l, struct rx_defer *bury);
enum exec_reason exec_conn_reason(
    const struct exec_conn *c, const char **detail);

/* exec_tls.c */
int exec_tls_load(struct exec *e, char *err, size_t errlen);
void exec_tls_free(struct exec *e);
/* Reset c's TLS context for its host; the engine for its stream. */
br_ssl_engine_context *exec_tls_setup(struct exec *e, struct exec_conn *c);

#endif
