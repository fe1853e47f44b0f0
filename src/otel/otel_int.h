/* otel_int.h — the exporter's private parts, shared by src/otel/. */
#ifndef OTEL_OTEL_INT_H
#define OTEL_OTEL_INT_H

#include "lib/url.h"
#include "net/dial.h"
#include "net/stream.h"
#include "otel/otel.h"
#include "tls/tls.h"

#define OTEL_RESP_MAX 4096 /* the collector's answer head we read */
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

enum otel_state { OTEL_IDLE, OTEL_DIALING, OTEL_SENDING, OTEL_READING };

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
	char resp[OTEL_RESP_MAX];
	size_t resp_len;
	int64_t retry_ms; /* the server's Retry-After, or -1 */
	int64_t backoff_ms;
	bool backing_off;
	struct dial dial;
	struct stream st;
	bool st_open;
	struct rx_timer deadline; /* the export's timeout, or the backoff */
	struct rx_defer kick; /* start an export after a submit */
	uint8_t *plain; /* 2 * OTEL_PLAIN_BUF, plaintext stream buffers */

	struct otel_resource r;

	/* Metrics. */
	struct metrics *registry;
	int64_t interval_ms;
	struct rx_timer tick;

	struct otel_logs *logs;

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

/* --- otel_json.c: the OTLP JSON mapping -------------------------------- */

/* Append msg as OTLP JSON; false when b overflowed. */
bool otel_json_encode(const ProtobufCMessage *msg, struct buf *b);

/* --- otel_metrics.c: the registry as ExportMetricsServiceRequest ------- */
void otel_metrics_start(struct otel *o);
void otel_metrics_stop(struct otel *o);

/* --- otel_logs.c: log lines as log records ----------------------------- */
int otel_logs_start(struct otel *o);
void otel_logs_stop(struct otel *o);

#endif
