/*
 * exec.h — the HTTP executor: runs one tunnel HttpRequest against an
 * internal service over HTTP/1.1 (optionally TLS) on the reactor, and
 * hands back an HttpResponse or a typed failure reason.
 *
 * Objects and ownership:
 *   struct exec      startup object (exec_new/exec_free).  Owns the keep-
 *                    alive pool and the upstream TLS trust anchors.
 *   struct exec_job  hot object embedded in the caller's request object;
 *                    its size is published, its fields are private.
 *   connections      slots owned by the executor, one per upstream socket,
 *                    at most max_conns, each with its TLS context once it
 *                    served https; allocated on first use and reused, never
 *                    per dial.  A dial that finds no slot fails as
 *                    "overloaded".
 *
 * Flow: exec_submit() validates the request (method exactly one of GET
 * POST PUT DELETE PATCH HEAD OPTIONS, absolute http/https URL with a host,
 * header names tokens and values without control bytes, body within
 * max_request_body), takes an idle pooled connection for the origin
 * (scheme, host, port) or dials one (c-ares, each address in turn with
 * connect_timeout_ms, then the BearSSL handshake for https), streams the
 * request head and the borrowed body through the stream's bounded buffer,
 * reads the response (head bounded by max_response_head; body by
 * Content-Length, chunked or close, bounded by max_response_body) and
 * calls done exactly once.  request_timeout_ms is one deadline over all of
 * it.  Redirects are returned as they are.  A pooled connection found dead
 * before any response byte is retried once on a fresh connection for the
 * idempotent methods (GET HEAD PUT DELETE OPTIONS).
 *
 * Headers: request headers are forwarded in order without hop-by-hop
 * fields (hop.h) nor Host/Content-Length, which the executor sets itself;
 * response fields are handed back one Header per field line, in order,
 * hop-by-hop fields removed, never joined.  Userinfo in the URL is never
 * sent.
 *
 * Proxy (net/noproxy.h, Go's rules): unless NO_PROXY (or localhost /
 * loopback) says direct, an https upstream is reached through an HTTP
 * CONNECT tunnel of https_proxy and an http upstream by sending the
 * request in absolute form ("GET http://host:port/path") to http_proxy,
 * with the proxy's credentials as Proxy-Authorization on each request.
 * A proxied request never falls back to a direct connection: a proxy
 * that cannot be reached, refuses the CONNECT, or answers an
 * absolute-form request with 407 is EXEC_PROXY (detail names the
 * status).  Pooled connections stay keyed by origin: the route is a
 * function of the origin.
 *
 * TLS upstream: BearSSL's full client profile (TLS 1.0 to 1.2), no ALPN
 * (HTTP/1.1 only).  SNI and the name check use the URL host; for an IP
 * literal no SNI is sent and the certificate must carry that address as
 * an iPAddress SAN.  With upstream_tls_verify false the chain is not
 * checked at all (the server key still drives the key exchange).
 *
 * Resources: each job in flight uses up to three reactor timers (its
 * deadline, its dial, the dial's DNS query), each pooled connection one
 * (idle timeout).  Size rx_init()'s max_timers with
 * EXEC_TIMERS(jobs, pool_total) plus the resolver's own; a job that finds
 * no timer fails as "overloaded".
 * Everything here runs on the reactor's thread; done may call anything in
 * this module, including exec_submit() and (for other jobs) exec_cancel().
 */
#ifndef CONNECTOR_EXEC_H
#define CONNECTOR_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/connector/v1/connector.pb-c.h"
#include "http/http.h"
#include "lib/url.h"
#include "rx/rx.h"

struct cfg;
struct dns_resolver;

/* Defaults for fields left zero in struct exec_config. */
#define EXEC_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define EXEC_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define EXEC_DEFAULT_MAX_RESPONSE_HEAD 65536
#define EXEC_DEFAULT_POOL_PER_ORIGIN 8
#define EXEC_DEFAULT_POOL_TOTAL 64
#define EXEC_DEFAULT_POOL_IDLE_MS 60000
#define EXEC_DEFAULT_MAX_CONNS 1024
#define EXEC_MAX_RESPONSE_HEADERS 256
/* Reactor timers for this many jobs in flight and pooled connections. */
#define EXEC_TIMERS(jobs, pool_total) (3 * (jobs) + (pool_total))

/*
 * Settings, copied by exec_new() (the CA bytes too).  Zero means the
 * default above for timeouts, head and pool sizes; max_request_body and
 * max_response_body are taken as given (0: no body allowed).
 */
struct netpolicy;

struct exec_config {
	int64_t request_timeout_ms; /* total: dial + TLS + send + receive */
	int64_t connect_timeout_ms; /* per address */
	size_t max_request_body;
	size_t max_response_body;
	size_t max_response_head; /* status line and header fields */
	bool upstream_tls_verify;
	const uint8_t *upstream_ca_pem; /* PEM bytes, or NULL: system bundle */
	/* HTTP_PROXY, HTTPS_PROXY, NO_PROXY as net/noproxy.h reads them;
	 * NULL: none.  Borrowed: parsed by exec_new(). */
	const char *http_proxy, *https_proxy, *no_proxy;
	size_t upstream_ca_len;
	unsigned pool_per_origin; /* idle connections kept per origin */
	unsigned pool_total; /* idle connections kept in all */
	int64_t pool_idle_ms; /* an idle connection is closed after this */
	/* Upstream connections at once (dialling, busy, idle or closing):
	 * the slots.  0: EXEC_DEFAULT_MAX_CONNS. */
	unsigned max_conns;
	/* Targets allowed (EGRESS_ALLOW), checked on the name and on every
	 * resolved address before a dial (dial_opts.policy); a refusal is
	 * EXEC_POLICY_DENIED with nothing connected.  NULL: netpolicy_any().
	 * Outlives the executor. */
	const struct netpolicy *egress;
	/* Streamed responses (exec_submit_stream()): the largest body
	 * (MAX_STREAMED_RESPONSE_SIZE_MB; 0: max_response_body) and the
	 * longest time without a body byte moving (STREAM_IDLE_TIMEOUT; 0:
	 * request_timeout_ms). */
	uint64_t max_streamed_body;
	int64_t stream_idle_ms;
};

struct exec;

/*
 * Fill c from the settings (REQUEST_TIMEOUT, CONNECT_TIMEOUT,
 * MAX_REQUEST_BODY_SIZE_MB, MAX_RESPONSE_BODY_SIZE_MB, UPSTREAM_TLS_VERIFY,
 * UPSTREAM_TLS_CA_BASE64/_FILE, EGRESS_ALLOW (cfg_policy()), HTTP_PROXY,
 * HTTPS_PROXY, NO_PROXY (borrowed from cfg); pool sizes from exec_pool_size(), and
 * max_conns: one busy and one closing connection per request in flight
 * plus the pool, so a full load never runs out of slots).  The CA
 * bytes, when set, are heap memory returned in *ca and *calen and pointed to
 * by c: pass c to exec_new(), then util_wipe() and free() them.  Returns
 * 0, or -errno with a message in err naming the setting.
 */
int exec_config_from_cfg(struct exec_config *c, const struct cfg *cfg,
    uint8_t **ca, size_t *calen, char *err, size_t errlen);

/*
 * Idle connections kept, per origin and in all: as many as requests can be
 * in flight (MAX_TUNNELS_ALLOWED x MAX_CONCURRENT_REQUESTS), so a steady
 * load to one service never re-dials; at least EXEC_DEFAULT_POOL_TOTAL.
 */
unsigned exec_pool_size(const struct cfg *cfg);

enum exec_reason {
	EXEC_OK,
	EXEC_DNS,
	EXEC_REFUSED,
	EXEC_RESET,
	EXEC_UNREACHABLE,
	EXEC_TLS,
	EXEC_TIMEOUT,
	EXEC_TOO_LARGE,
	EXEC_BAD_REQUEST,
	EXEC_BAD_RESPONSE,
	EXEC_OVERLOADED,
	EXEC_CANCELLED,
	EXEC_POLICY_DENIED,
	EXEC_PROXY,
	EXEC_REDACTION, /* a body the rules cannot be applied to safely */
};

/* "ok", "dns", "refused", "reset", "unreachable", "tls", "timeout",
 * "too_large", "bad_request", "bad_response", "overloaded", "cancelled",
 * "policy_denied", "proxy", "redaction_failed". */
const char *exec_reason_name(enum exec_reason r);

struct exec_job;
struct exec_conn;

/*
 * The job's outcome.  On success reason is EXEC_OK and resp points at the
 * response, which (with all its strings and bytes) is valid only during
 * the call.  On failure resp is NULL and detail is text saying why, valid
 * during the call (never a secret, never request or response data).  The
 * job is finished when done runs: the callback may free it or submit it
 * again.
 */
typedef void exec_done_fn(struct exec_job *job, enum exec_reason reason,
    const char *detail, const Connector__V1__HttpResponse *resp);

/*
 * A job is embedded in the caller's object (zeroed before its first use);
 * only its size and alignment are published, its fields are private
 * (struct job in exec_int.h, checked at build time to fit).
 */
#define EXEC_JOB_SIZE (45 * sizeof(void *) + 24 * 8 + URL_HOST_MAX + 1)
struct exec_job {
	union {
		max_align_t align;
		unsigned char bytes[EXEC_JOB_SIZE];
	} opaque;
};

/*
 * Create an executor on loop l resolving through r (both borrowed; they
 * must outlive it).  Loads the trust anchors (the given PEM, or the system
 * bundle) unless verification is off.  Returns 0, or -errno with a
 * message in err.  Setup phase only.
 */
int exec_new(struct exec **out, struct rx_loop *l, struct dns_resolver *r,
    const struct exec_config *c, char *err, size_t errlen);

/*
 * Destroy e: jobs still in flight are cancelled (no callbacks), pooled
 * connections closed.  Call it outside reactor callbacks (after rx_run()
 * returned): a dial cancelled here is freed at once.  Stream closes are
 * deferred by the reactor: run one more loop iteration (rx_run_once(l,
 * 0)) before rx_free() so their memory (and the executor's) is released.
 */
void exec_free(struct exec *e);

/*
 * Start executing req, which is borrowed: it must stay alive and unchanged
 * until done runs or the job is cancelled.  job must not be active.  done
 * is called exactly once, never from inside exec_submit() (an immediate
 * failure is reported from the reactor's deferred work).
 */
void exec_submit(struct exec *e, struct exec_job *job,
    const Connector__V1__HttpRequest *req, exec_done_fn *done);

/*
 * As exec_submit(), and the request carries the W3C traceparent value
 * traceparent (NUL-terminated, borrowed like req) in place of any
 * traceparent field of req's headers (the executor's span, trace/trace.h).
 * NULL: exactly exec_submit().
 */
void exec_submit_traced(struct exec *e, struct exec_job *job,
    const Connector__V1__HttpRequest *req, const char *traceparent,
    exec_done_fn *done);

/*
 * Cancel a job in flight: no callback afterwards; its upstream connection
 * is closed, not pooled.  Harmless on a job that is not active.
 */
void exec_cancel(struct exec_job *job);

/*
 * Streamed responses (spec/streaming.md).  The sink's callbacks run on the
 * reactor from the job's I/O, never from inside exec_submit_stream() or
 * exec_resume(); each may not call exec_cancel() on its own job (return
 * false instead).
 */
struct exec_sink {
	/* The final response head: status and headers, body empty (valid
	 * during the call).  false: the job fails with EXEC_OVERLOADED
	 * before any body byte ("cannot deliver the response"). */
	bool (*head)(
	    struct exec_job *job, const Connector__V1__HttpResponse *resp);
	/* How many body bytes the sink takes now; 0 stops the upstream
	 * reads until the sink calls exec_resume(). */
	size_t (*room)(struct exec_job *job);
	/* n body bytes (1 .. the last room()), in order, valid during the
	 * call.  false: the job fails with EXEC_OVERLOADED. */
	bool (*data)(struct exec_job *job, const uint8_t *p, size_t n);
};

/*
 * Like exec_submit_traced(), but the response body is handed to sink (borrowed,
 * static) as it arrives instead of whole: with HTTP/1.1 framing decoded
 * (Content-Length, chunked, or close-delimited), in the order received.
 * Only what room() allows is read from the upstream, so a job holds at
 * most its connection's buffers.  request_timeout_ms bounds the time to
 * the head; afterwards stream_idle_ms bounds every silence (no body byte
 * moved: a slow upstream or a full sink alike), and max_streamed_body the
 * body (a longer Content-Length fails before the head).  A host that
 * redaction rules cover (exec_set_redaction()) is answered buffered, as
 * exec_submit() does: the rules need the whole body.
 *
 * done is called exactly once: before sink->head (a failure, or the
 * buffered answer: resp not NULL) exactly as for exec_submit(); after it
 * with resp NULL and EXEC_OK (the body is complete) or the reason the
 * body is cut (EXEC_RESET, EXEC_TIMEOUT, EXEC_TOO_LARGE, EXEC_BAD_RESPONSE,
 * EXEC_OVERLOADED).
 */
void exec_submit_stream(struct exec *e, struct exec_job *job,
    const Connector__V1__HttpRequest *req, const char *traceparent,
    exec_done_fn *done, const struct exec_sink *sink);

/*
 * The sink has room again: the job reads on, from the reactor's deferred
 * work.  Harmless on a job that is not streaming or not active.
 */
void exec_resume(struct exec_job *job);

/*
 * Redaction (REDACTION_RULES_FILE): every response body, and every request
 * body when redact_live_requests(), passes through l before it leaves the
 * executor (http/redact.h); a body it refuses is never passed on and the
 * job fails with EXEC_REDACTION.  l is borrowed and must outlive e; NULL
 * (the default): no redaction.
 */
struct redact_live;
void exec_set_redaction(struct exec *e, struct redact_live *l);

/* Counters, for tests and metrics. */
struct exec_stats {
	uint64_t dials; /* connections opened (TCP connects started) */
	uint64_t reused; /* requests sent on a pooled connection */
	uint64_t retries; /* stale pooled connections retried */
	unsigned idle; /* connections in the pool now */
	unsigned conns; /* connections open now (idle or busy) */
	unsigned slots; /* connection slots allocated (at most max_conns) */
};
void exec_stats(const struct exec *e, struct exec_stats *st);

#endif
