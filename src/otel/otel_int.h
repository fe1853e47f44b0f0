/* otel_int.h — the exporter's private parts, shared by src/otel/. */
#ifndef OTEL_OTEL_INT_H
#define OTEL_OTEL_INT_H

#include "http/http.h"
#include "lib/url.h"
#include "net/dial.h"
#include "net/stream.h"
#include "otel/otel.h"
#include "tls/tls.h"

#define OTEL_RESP_MAX 4096 /* the collector's answer head we read */
#define OTEL_RESP_BODY_MAX (64 * 1024) /* answer body read (and discarded) */
/* The longest a kept connection rests idle: below the 5 s keep-alive
 * timeout of Node's http server (and the OTLP receivers built on it),
 * so that we close it before the collector does; shorter when the
 * collector's Keep-Alive header asks for less. */
#define OTEL_IDLE_MS 4000
#define OTEL_IDLE_MARGIN_MS 1000 /* taken off the collector's Keep-Alive */
#define OTEL_HEAD_MAX 8192 /* our request head, headers included */
#define OTEL_PLAIN_BUF 16384 /* plaintext stream buffers */
#define OTEL_RES_MAX 32 /* resource attributes */
#define OTEL_BACKOFF_MIN_MS 1000
#define OTEL_BACKOFF_MAX_MS 32000
#define OTEL_RETRY_AFTER_MAX_S 60

/* One encoded export request. */
struct otel_req {
	uint8_t *body;
	size_t len;
	size_t nitems;
	unsigned attempts;
	int64_t since; /* its first attempt began (reactor ms), 0: not yet */
};

/* A ring of requests, oldest at head. */
struct otel_queue {
	struct otel_req r[OTEL_QUEUE_MAX];
	size_t head, n, bytes;
};

/* Where one signal goes. */
struct otel_endpoint {
	bool on;
	bool tls;
	char host[URL_HOST_MAX + 1];
	uint16_t port;
	char *target; /* request-target: the path, or absolute-form via proxy */
	char *authority; /* Host header */
};

/*
 * The connection: IDLE (none), DIALING, SENDING and READING (an export in
 * flight), PARKED (open and idle after a complete answer, kept for the
 * next export to the same endpoint for at most its idle time), CLOSING
 * (the stream's deferred close is pending).
 */
enum otel_state {
	OTEL_IDLE,
	OTEL_DIALING,
	OTEL_SENDING,
	OTEL_READING,
	OTEL_PARKED,
	OTEL_CLOSING
};

enum otel_result { OTEL_R_OK, OTEL_R_RETRY, OTEL_R_REJECTED, OTEL_R_N };

/* The resource, flattened: attributes point into strs. */
struct otel_resource {
	Opentelemetry__Proto__Resource__V1__Resource res;
	Opentelemetry__Proto__Common__V1__KeyValue kv[OTEL_RES_MAX];
	Opentelemetry__Proto__Common__V1__AnyValue av[OTEL_RES_MAX];
	Opentelemetry__Proto__Common__V1__KeyValue *kvp[OTEL_RES_MAX];
	char *strs; /* heap: every key and value, NUL-terminated */
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
};

struct otel_logs;

/*
 * The collector's answer to one export, read incrementally and bounded
 * (sans-I/O, otel_resp.c): the head (1xx interim answers skipped), then
 * the body as its framing says (Content-Length or chunked, at most
 * OTEL_RESP_BODY_MAX bytes, discarded), so that the connection can carry
 * the next export.
 */
enum otel_resp_state { OTEL_RESP_HEAD, OTEL_RESP_BODY, OTEL_RESP_DONE };

struct otel_resp {
	enum otel_resp_state state;
	int status; /* once past HEAD */
	int64_t retry_ms; /* Retry-After in ms, or -1 */
	int64_t
	    idle_ms; /* at DONE: how long the connection may rest; 0: close */
	enum http_body_kind kind;
	uint64_t left; /* HTTP_BODY_LENGTH: body bytes still to come */
	struct http_chunked ch;
	size_t len; /* head bytes so far */
	char head[OTEL_RESP_MAX];
};

struct otel {
	struct rx_loop *loop;
	struct dns_resolver *dns;
	struct dns_resolver *own_dns; /* when none was shared */
	enum otel_protocol proto;
	struct otel_endpoint ep[OTEL_SIGNALS];
	struct otel_queue q[OTEL_SIGNALS];
	char *headers; /* "Name: value\r\n"...: secret, wiped on free */
	struct dial_proxy *proxy;
	struct tls_upstream_config *tls;
	struct tls_upstream_conn *tc; /* heap: BearSSL's buffers are large */
	int64_t timeout_ms;
	int64_t
	    span_timeout_ms; /* OTEL_BSP_EXPORT_TIMEOUT: a span batch, all attempts */
	uint64_t start_ns;

	/* The export in flight (one at a time). */
	enum otel_state state;
	enum otel_signal sig;
	struct otel_req cur;
	bool have_cur;
	enum otel_signal next; /* the signal whose turn is next */
	char head[OTEL_HEAD_MAX];
	size_t head_len, off; /* off: bytes of head + body written */
	struct otel_resp resp;
	int64_t backoff_ms;
	bool backing_off;
	struct dial dial;
	struct stream st;
	bool st_open;
	enum otel_signal
	    conn_sig; /* the endpoint the open connection goes to */
	bool reused; /* the export in flight runs on a kept connection */
	/* the export's timeout, the backoff, or a kept connection's idle time */
	struct rx_timer deadline;
	struct rx_defer kick; /* start an export after a submit */
	uint8_t *plain; /* 2 * OTEL_PLAIN_BUF, plaintext stream buffers */

	struct otel_resource r;

	/* Metrics. */
	struct metrics *registry;
	int64_t interval_ms;
	struct rx_timer tick;

	struct otel_logs *logs;

	/* The shutdown flush (otel_flush). */
	bool flushing;
	struct rx_timer flush_timer;
	otel_flushed_fn *flushed;
	void *flushed_arg;

	/* outpost_otlp_* families. */
	struct metric_family f_dropped, f_exports;
	struct metric m_dropped[OTEL_SIGNALS];
	struct metric m_exports[OTEL_SIGNALS][OTEL_R_N];
};

/* "metrics", "traces", "logs". */
const char *otel_signal_name(enum otel_signal s);

/* --- otel_conf.c: the settings ------------------------------------------ */
int otel_conf_load(
    struct otel *o, const struct otel_conf *c, char *err, size_t errlen);
void otel_conf_free(struct otel *o);

/* --- otel_res.c: the resource --------------------------------------------- */
int otel_resource_init(
    struct otel *o, const struct otel_conf *c, char *err, size_t errlen);
void otel_resource_free(struct otel *o);

/* Point kv at key = string val (both borrowed). */
void otel_attr_str(Opentelemetry__Proto__Common__V1__KeyValue *kv,
    Opentelemetry__Proto__Common__V1__AnyValue *av, const char *key,
    const char *val);

/* --- otel_export.c: the connection ------------------------------------- */
int otel_export_init(struct otel *o);
void otel_export_kick(struct otel *o);
void otel_export_stop(struct otel *o);

/* --- otel_resp.c: the collector's answer ------------------------------- */
void otel_resp_reset(struct otel_resp *r);

/*
 * Feed n bytes of the answer.  Returns the bytes taken: all n, or fewer
 * once the answer is complete (state DONE: what follows is not part of
 * it, and a connection with such bytes is not reused), or -1 when the
 * head is malformed or longer than OTEL_RESP_MAX (state HEAD), or the
 * body is malformed or longer than OTEL_RESP_BODY_MAX (state DONE with
 * idle_ms 0: the status stands).
 */
long otel_resp_feed(struct otel_resp *r, const uint8_t *p, size_t n);

/* The connection ended after n answer bytes: DONE when the status is
 * known (idle_ms 0), else the answer stays incomplete. */
void otel_resp_eof(struct otel_resp *r);

/* --- otel_json.c: the OTLP JSON mapping -------------------------------- */

/* Append msg as OTLP JSON; false when b overflowed. */
bool otel_json_encode(const ProtobufCMessage *msg, struct buf *b);

/* --- otel_metrics.c: the registry as ExportMetricsServiceRequest ------- */
void otel_metrics_start(struct otel *o);
void otel_metrics_stop(struct otel *o);

/* --- otel_logs.c: log lines as log records ----------------------------- */
int otel_logs_start(struct otel *o);
void otel_logs_stop(struct otel *o);
/* Queue the records batched so far and capture no more (the shutdown). */
void otel_logs_flush(struct otel *o);

#endif
