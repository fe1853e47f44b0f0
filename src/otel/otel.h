/*
 * otel.h — the OTLP/HTTP exporter (issue #15): metrics, logs and traces
 * POSTed to an OpenTelemetry collector on the reactor, never blocking it
 * and never delaying a request.
 *
 * Model: a bounded queue of encoded export requests per signal.  A
 * producer builds one Export{Metrics,Logs,Trace}ServiceRequest (protobuf-c
 * message from src/proto/opentelemetry/...) naming otel_resource() as its
 * resource, and hands it over with otel_submit_msg(): the exporter encodes
 * it in the configured protocol (http/protobuf: protobuf_c_message_pack;
 * http/json: the OTLP JSON mapping, otel_json.c) into a heap buffer it
 * owns, and the caller may free its message as soon as the call returns.
 * otel_submit() queues bytes already encoded in otel_protocol()'s format.
 *
 * Each queue holds at most OTEL_QUEUE_MAX requests and OTEL_QUEUE_BYTES
 * bytes; a submit that does not fit drops the oldest queued requests
 * until it does, adding their item counts (data points, log records,
 * spans) to outpost_otlp_dropped_total{signal}.  One export is in flight
 * at a time (signals take turns), over one HTTP/1.1 connection kept
 * between exports: dial (through EGRESS_PROXY_URL when set: CONNECT for
 * https, absolute-form for http), TLS verified against
 * OTEL_EXPORTER_OTLP_CERTIFICATE or the system CAs, POST, read the whole
 * answer (head and body, bounded: OTEL_RESP_MAX, OTEL_RESP_BODY_MAX).
 * After a complete 2xx answer the connection rests for the next export
 * to the same endpoint, for at most OTEL_IDLE_MS (less when the
 * collector's Keep-Alive header says so); it is closed after any other
 * outcome, a "Connection: close", an answer delimited by the close, or
 * stray bytes.  A kept connection that turns out closed before any answer
 * byte (the collector dropped it as it was taken up) is replaced by a
 * fresh one at once, without counting an attempt.
 * 2xx: done.  429, 502, 503, 504 and transport errors: retried with
 * exponential backoff (1 s doubling to 32 s, or the Retry-After seconds,
 * at most 60), at most OTEL_RETRIES attempts, then dropped and counted.
 * Other statuses are dropped at once (outpost_otlp_exports_total{signal,
 * result}).  Every export has OTEL_EXPORTER_OTLP_TIMEOUT.  Failures are
 * logged rate-limited, never with a header value (OTEL_EXPORTER_OTLP_HEADERS
 * is a secret).
 *
 * Endpoints follow the OpenTelemetry SDK rules: a per-signal
 * OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT is used as is; otherwise
 * OTEL_EXPORTER_OTLP_ENDPOINT plus "/v1/metrics", "/v1/logs" or
 * "/v1/traces".  A signal without an endpoint is off: otel_enabled() says
 * false and its submits are refused (-ENOTCONN) without any work, so a
 * producer should test otel_enabled() before building a message.
 * OTEL_SDK_DISABLED or TRAVERSAL_DISABLE_TELEMETRY turn everything off.
 *
 * Single-threaded: every function runs on the reactor's thread; submit
 * may be called from any reactor callback.
 */
#ifndef OTEL_OTEL_H
#define OTEL_OTEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "lib/metrics.h"
#include "net/dns.h"
#include "proto/opentelemetry/proto/common/v1/common.pb-c.h"
#include "proto/opentelemetry/proto/resource/v1/resource.pb-c.h"
#include "rx/rx.h"

enum otel_signal { OTEL_METRICS, OTEL_TRACES, OTEL_LOGS, OTEL_SIGNALS };

enum otel_protocol { OTEL_PROTOBUF, OTEL_JSON };

#define OTEL_QUEUE_MAX 16 /* requests queued per signal */
#define OTEL_QUEUE_BYTES (4u << 20) /* bytes queued per signal */
#define OTEL_RETRIES 5 /* attempts of one request */
/* Reactor timers the exporter uses (its own, the dialer's, DNS). */
#define OTEL_TIMERS 9

struct cfg;
struct otel;

/*
 * Who runs the exporter.  dns: a resolver to share, or NULL for one of
 * the exporter's own (DNS_SERVERS); service_version: OUTPOST_VERSION; instance_id:
 * a stable id of this process's identity (the connector id), or NULL for a
 * random one; registry: exported every OTEL_METRIC_EXPORT_INTERVAL (NULL:
 * no metrics).  All borrowed; they must outlive the exporter.
 */
struct otel_conf {
	struct rx_loop *loop;
	struct dns_resolver *dns;
	const struct cfg *cfg;
	const char *service_version;
	const char *instance_id;
	struct metrics *registry;
};

/*
 * Set up from the OTEL_* settings (setup phase: reads the CA file).
 * Returns 0 with *out set (NULL when telemetry is off: disabled, or no
 * endpoint at all), or -1 with err naming the setting at fault.  The
 * exporter adds its own families (outpost_otlp_*) to the registry.
 */
int otel_new(
    const struct otel_conf *c, struct otel **out, char *err, size_t errlen);

/* Stop exporting, drop what is queued (counted in
 * outpost_otlp_dropped_total{signal} and logged: otel_flush() first to
 * export it), free: once the reactor stopped running (the worker's
 * shutdown).  NULL is a no-op. */
void otel_free(struct otel *o);

/* See otel_flush(). */
typedef void otel_flushed_fn(void *arg);

/*
 * The shutdown flush, while the reactor still runs: export what is
 * queued for at most ms (the drain deadline's rest; <= 0: nothing more is
 * tried), then call done(arg) once, from a reactor callback, never from
 * inside this call.  The caller first hands over what its producers hold
 * (trace_recorder_flush()).  Metrics stop; the log records batched so far
 * are queued and later log lines are not captured.  Retries and backoff
 * continue within ms.  What is still queued at the end is dropped by
 * otel_free(), counted and logged.  Called at most once.
 */
void otel_flush(struct otel *o, int64_t ms, otel_flushed_fn *done, void *arg);

/* True when signal s has an endpoint (o may be NULL: false). */
bool otel_enabled(const struct otel *o, enum otel_signal s);

/* The protocol the queues hold (OTEL_EXPORTER_OTLP_PROTOCOL). */
enum otel_protocol otel_protocol(const struct otel *o);

/* The resource of every request; owned by o, valid until otel_free(). */
Opentelemetry__Proto__Resource__V1__Resource *otel_resource(struct otel *o);

/* The instrumentation scope outpost names ("outpost", its version). */
Opentelemetry__Proto__Common__V1__InstrumentationScope *otel_scope(
    struct otel *o);

/*
 * Queue len bytes (copied) holding nitems items for signal s.  Returns 0
 * (queued, perhaps after dropping older requests), -ENOTCONN (signal off
 * or o NULL), -EMSGSIZE (larger than OTEL_QUEUE_BYTES: dropped and
 * counted) or -ENOMEM (dropped and counted).
 */
int otel_submit(struct otel *o, enum otel_signal s, const void *body,
    size_t len, size_t nitems);

/*
 * Queue body (len bytes from malloc, taken over: freed however this ends)
 * holding nitems items, already in otel_protocol(o), as otel_submit().
 */
int otel_submit_take(struct otel *o, enum otel_signal s, uint8_t *body,
    size_t len, size_t nitems);

/*
 * Count n items of signal s that a producer dropped before they reached
 * a queue (outpost_otlp_dropped_total{signal}): the span recorder's full
 * queue (OTEL_BSP_MAX_QUEUE_SIZE).  o may not be NULL.
 */
void otel_count_dropped(struct otel *o, enum otel_signal s, size_t n);

/* Encode req in otel_protocol(o) and queue it, as otel_submit(). */
int otel_submit_msg(struct otel *o, enum otel_signal s,
    const ProtobufCMessage *req, size_t nitems);

/*
 * The current time in Unix nanoseconds (wall clock, for time_unix_nano
 * fields) and the exporter's start time (start_time_unix_nano).
 */
uint64_t otel_now_ns(void);
uint64_t otel_start_ns(const struct otel *o);

#endif
