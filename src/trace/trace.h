/*
 * trace.h — W3C Trace Context (level 1) and the span recorder: the
 * traceparent / tracestate header values, trace and span ids, the
 * OpenTelemetry samplers (OTEL_TRACES_SAMPLER) and a bounded batch of
 * finished spans handed to an exporter (OTEL_BSP_*).  Used by the
 * connector and the edge; nothing here knows HTTP, the tunnel or OTLP.
 *
 * Objects and ownership:
 *   struct trace_ctx       a span context by value (ids and flags).
 *   struct trace_span      the span being recorded, with its attributes
 *                          copied into its own fixed arena (1.2 KiB);
 *                          embedded in the caller's object.
 *   struct trace_ref       hot object embedded in objects many of which
 *                          live at once (a tunnelled request): a span's
 *                          context, and a trace_span from the recorder's
 *                          pool only while one is recorded for export.
 *   struct trace_recorder  startup object (trace_recorder_new/_free): the
 *                          sampler and the queue of finished spans, sized
 *                          from the settings at start (max_queue spans,
 *                          allocated once; nothing is allocated per span).
 *
 * Cost: a span the sampler drops does no work beyond the decision (no
 * clock read, no id drawn, no copy); ids come from getrandom(2) through
 * a small buffer, so one system call serves several spans.
 * Single-threaded: everything runs on the reactor's thread.
 */
#ifndef TRACE_TRACE_H
#define TRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rx_loop;

#define TRACE_ID_LEN 16
#define TRACE_SPAN_ID_LEN 8
/* "00-" 32 hex "-" 16 hex "-" 2 hex: the version 00 traceparent. */
#define TRACE_PARENT_LEN 55
/* The tracestate kept for a span: the W3C spec's 512 characters a vendor
 * should propagate at least; a longer one is not recorded. */
#define TRACE_STATE_MAX 512
#define TRACE_FLAG_SAMPLED 0x01u

struct trace_ctx {
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t span_id[TRACE_SPAN_ID_LEN];
	uint8_t flags; /* TRACE_FLAG_SAMPLED or 0; other bits never kept */
};

/*
 * Parse a traceparent value (v, n bytes, not NUL-terminated) into c.
 * Version 00: exactly 55 characters, lowercase hex, ids not all zero.
 * A later version (not "ff"): its first 55 characters are read the same
 * way, then either the end or a '-' (the spec's rule for versions it does
 * not know yet).  Of the flags only the sampled bit is kept.  False on
 * anything else: the caller then starts a new trace (and must not use
 * tracestate).
 */
bool trace_parent_parse(struct trace_ctx *c, const char *v, size_t n);

/* Write c as a version 00 traceparent, NUL-terminated, into out. */
void trace_parent_format(
    const struct trace_ctx *c, char out[TRACE_PARENT_LEN + 1]);

/*
 * True when v (n bytes) is a valid tracestate: at most 32 list members
 * key=value separated by ',' with optional blanks, empty members allowed;
 * keys lowercase (simple or tenant@system), values printable ASCII
 * without ',' or '=' and not ending in a blank; n at most
 * TRACE_STATE_MAX.
 */
bool trace_state_valid(const char *v, size_t n);

/*
 * Fresh random ids (never all zero), from getrandom(2).  0, or -errno when
 * the kernel gave no randomness (then the ids are unusable).
 */
int trace_new_trace_id(uint8_t id[TRACE_ID_LEN]);
int trace_new_span_id(uint8_t id[TRACE_SPAN_ID_LEN]);

/* --- samplers (the OpenTelemetry SDK's, by their OTEL_TRACES_SAMPLER name) */

enum trace_sampler_kind {
	TRACE_ALWAYS_ON,
	TRACE_ALWAYS_OFF,
	TRACE_RATIO,
	TRACE_PARENT_ALWAYS_ON,
	TRACE_PARENT_ALWAYS_OFF,
	TRACE_PARENT_RATIO,
};

struct trace_sampler {
	enum trace_sampler_kind kind;
	uint64_t bound; /* ratio samplers: sampled when id value < bound */
	bool all; /* ratio 1: every trace (bound cannot say 2^64) */
};

/*
 * Set s from a sampler name and a ratio in thousandths (0..1000; the
 * OTEL_TRACES_SAMPLER_ARG setting, 1000 when unset).  False for an
 * unknown name.
 */
bool trace_sampler_init(
    struct trace_sampler *s, const char *name, int64_t ratio_milli);

/*
 * The decision for a new span of trace trace_id: parent is the span
 * context it continues (local or remote) or NULL for a root.  The
 * parentbased samplers follow the parent's sampled flag and use their
 * root sampler only without one; traceidratio reads the trace id's last
 * 8 bytes as a big-endian number (uniform for random ids, so the same
 * trace gets the same answer everywhere it is sampled this way).
 */
bool trace_sampled(const struct trace_sampler *s,
    const struct trace_ctx *parent, const uint8_t trace_id[TRACE_ID_LEN]);

/* --- spans ---------------------------------------------------------------- */

enum trace_kind {
	TRACE_KIND_INTERNAL = 1,
	TRACE_KIND_SERVER = 2,
	TRACE_KIND_CLIENT = 3,
};

enum trace_status { TRACE_STATUS_UNSET, TRACE_STATUS_OK, TRACE_STATUS_ERROR };

#define TRACE_ATTRS_MAX 10
/* Bytes for a span's string attribute values and its tracestate. */
#define TRACE_ARENA (TRACE_STATE_MAX + 256 + 64)

struct trace_attr {
	const char *key; /* static text (a semantic-convention name) */
	bool is_str;
	int64_t num;
	uint16_t off, len; /* is_str: the value in the span's arena */
};

/*
 * A span.  Fields are readable by exporters; set them through the
 * functions below only.  name is static text.  Times are Unix nanoseconds.
 */
struct trace_span {
	bool active; /* started with a recorder: ctx is set */
	bool recording; /* sampled: attributes and the end are recorded */
	struct trace_ctx ctx;
	uint8_t parent_id[TRACE_SPAN_ID_LEN];
	bool has_parent;
	const char *name;
	enum trace_kind kind;
	enum trace_status status;
	uint64_t start_ns, end_ns;
	uint16_t state_len; /* tracestate at arena[0], 0: none */
	uint16_t used; /* arena bytes used */
	uint8_t nattrs;
	struct trace_attr attrs[TRACE_ATTRS_MAX];
	char arena[TRACE_ARENA];
};

struct trace_recorder;

/*
 * The exporter's callback: spans[0..n) finished spans, valid during the
 * call only (encode them before returning).  At most max_batch at once.
 */
typedef void trace_export_fn(
    void *arg, const struct trace_span *const *spans, size_t n);

/* The exporter's count of n spans the recorder dropped (its queue was
 * full), so that they are counted where the exporter counts its own. */
typedef void trace_drop_fn(void *arg, size_t n);

struct trace_config {
	struct trace_sampler sampler;
	size_t max_queue; /* OTEL_BSP_MAX_QUEUE_SIZE, >= 1 */
	size_t max_batch; /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE, <= max_queue */
	int64_t schedule_delay_ms; /* OTEL_BSP_SCHEDULE_DELAY */
};

/* Counters, for tests and metrics. */
struct trace_stats {
	uint64_t started; /* sampled spans started */
	uint64_t ended; /* sampled spans queued */
	uint64_t exported; /* spans handed to the exporter */
	uint64_t dropped; /* spans dropped, the oldest, from a full queue */
	uint64_t unsampled; /* spans the sampler dropped */
};

/*
 * Create a recorder on loop l (borrowed, must outlive it) exporting
 * through fn (NULL: finished spans are counted as exported and discarded,
 * e.g. when only propagation is wanted).  Every schedule_delay_ms, or as
 * soon as max_batch spans wait, up to max_batch of the oldest spans go to
 * fn.  Returns 0 or -ENOMEM.  Setup phase only.
 */
int trace_recorder_new(struct trace_recorder **out, struct rx_loop *l,
    const struct trace_config *c, trace_export_fn *fn, void *arg);

/*
 * The recorder the settings ask for (OTEL_TRACES_SAMPLER, _ARG: 1 when
 * unset; OTEL_BSP_MAX_QUEUE_SIZE, _MAX_EXPORT_BATCH_SIZE, _SCHEDULE_DELAY),
 * with no exporter yet (trace_recorder_set_export).  *out is NULL, and 0
 * returned, when OTEL_SDK_DISABLED or TRAVERSAL_DISABLE_TELEMETRY is true:
 * tracing off.  0, -ENOMEM, or -EINVAL for a sampler name src/cfg let
 * through (a bug).  Setup phase only.
 */
struct cfg;
int trace_recorder_from_cfg(
    struct trace_recorder **out, struct rx_loop *l, const struct cfg *c);

/*
 * The OTLP exporter's callbacks (trace_otlp.c): arg is a struct otel
 * (whose traces signal is on, otel/otel.h); the spans go there as one
 * ExportTraceServiceRequest.  A batch that finds no memory is dropped.
 * Drops of either kind count in outpost_otlp_dropped_total{signal="traces"}.
 */
void trace_otlp_export(
    void *arg, const struct trace_span *const *spans, size_t n);
void trace_otlp_dropped(void *arg, size_t n);

/* Send finished spans to fn, and the count of dropped ones to drop, from
 * now on (NULL: discard them, uncounted but in trace_stats). */
void trace_recorder_set_export(struct trace_recorder *r, trace_export_fn *fn,
    trace_drop_fn *drop, void *arg);

/* Export what is queued (the shutdown flush), then free r.  NULL: no-op. */
void trace_recorder_free(struct trace_recorder *r);

/* Hand every queued span to the exporter now, in batches. */
void trace_recorder_flush(struct trace_recorder *r);

void trace_recorder_stats(
    const struct trace_recorder *r, struct trace_stats *st);

/*
 * Start span s (caller memory, any content) named name, of kind kind,
 * continuing parent (NULL: a root of a new trace; remote true when parent
 * came from a traceparent header, whose tracestate, when valid, may be
 * given in state/state_len, else NULL/0).  Returns s->recording: whether
 * the sampler kept it.  Either way s->ctx is the span's context to
 * propagate (s->active): a fresh span id, the parent's trace id or a fresh
 * one for a root, the sampled flag saying the decision; a dropped span
 * reads no clock and records nothing.  r NULL: tracing is off, s is
 * neither active nor recording.
 */
bool trace_span_start(struct trace_recorder *r, struct trace_span *s,
    const char *name, enum trace_kind kind, const struct trace_ctx *parent,
    const char *state, size_t state_len);

/* Attributes of a recording span (no-ops otherwise).  key is static text;
 * a string is copied up to its first NUL (cut to what the arena has
 * left; dropped when TRACE_ATTRS_MAX are set). */
void trace_span_attr_str(
    struct trace_span *s, const char *key, const char *v, size_t n);
void trace_span_attr_int(struct trace_span *s, const char *key, int64_t v);
void trace_span_set_status(struct trace_span *s, enum trace_status st);

/* End a recording span now and queue it for export (a full queue drops
 * its oldest span, counted); a span not recording is left alone.  s may
 * be reused at once. */
void trace_span_end(struct trace_recorder *r, struct trace_span *s);

/* --- spans by reference ----------------------------------------------------- */

/*
 * A span held by reference: its context by value (what propagation, log
 * lines and exemplars need), and the recording itself only when the
 * sampler keeps the span and an exporter takes finished spans
 * (trace_recorder_set_export with a function): then span is a struct
 * trace_span from the recorder's pool, set through the functions above,
 * until trace_ref_end.  Without an exporter a sampled span still
 * propagates as sampled and counts as started, ended and exported (what
 * the recorder does with finished spans then), and records nothing.
 * Read the fields; set them through trace_ref_start/_end only.
 */
struct trace_ref {
	bool active; /* started with a recorder: ctx is set */
	bool open; /* sampled and not ended yet */
	struct trace_ctx ctx;
	struct trace_span *span; /* recording: from the pool; else NULL */
};

/*
 * trace_span_start for a reference (same arguments and context rules).
 * Returns whether the sampler kept it (ctx's sampled flag); s->span is
 * NULL unless it is recorded (an exporter is set, and the pool found
 * memory: a span that finds none is dropped, counted as dropped).
 * Every started ref must reach trace_ref_end before s is forgotten (its
 * pool span is reused from there); the recorder frees any still held.
 */
bool trace_ref_start(struct trace_recorder *r, struct trace_ref *s,
    const char *name, enum trace_kind kind, const struct trace_ctx *parent,
    const char *state, size_t state_len);

/* End s now: trace_span_end for its recording, which goes back to the
 * pool (s->span is NULL after); a second call, or one for a span not
 * sampled, does nothing.  s->active and s->ctx stay as they were. */
void trace_ref_end(struct trace_recorder *r, struct trace_ref *s);

#endif
