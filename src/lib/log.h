/*
 * log.h — JSON-lines logging on stderr, one write(2) per line:
 *   {"ts":"2026-11-25T17:38:19.123Z","level":"info","msg":"..."}
 * Messages are truncated at LOG_LINE_MAX bytes.  Never pass a secret.
 * Safe to call from any reactor callback; not async-signal-safe.
 *
 * Repeated lines are rate-limited per call site: each log_*() statement
 * writes at most LOG_BURST lines per LOG_WINDOW_MS; the lines beyond are
 * counted, and the site's next line that is written says how many were
 * suppressed ("... (1234 similar lines suppressed)").  A process that
 * fails the same way in a loop (accept on EMFILE, a peer flooding bad
 * input) therefore writes a bounded number of lines.  Lines below the
 * level are filtered first and never count.
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

#define LOG_LINE_MAX 1024

/* Parse "debug", "info", "warn"/"warning", "error" (case-insensitive). */
bool log_level_parse(const char *s, enum log_level *out);

#define LOG_BURST 20
#define LOG_WINDOW_MS 1000

/* One call site's rate limit state (static, zero-initialised). */
struct log_site {
	int64_t window; /* start of the current window (monotonic ms) */
	unsigned lines; /* written in this window */
	unsigned long suppressed; /* not written since the last line */
};

void log_set_level(enum log_level level);
void log_set_fd(int fd);

/*
 * The current trace context: the span of the tunnelled request being
 * handled (ids as in W3C trace context; flags: its trace flags, bit 0
 * sampled).  While one is set, every line carries "trace_id" and
 * "span_id" (lowercase hex) after "msg", and the sink gets it too.  Ids
 * only: never request data.
 *
 * Rule: the reactor is single-threaded, so this is one module-level
 * value.  A callback that handles one request sets it first and clears it
 * before it returns (log_clear_trace() on every path), so that no other
 * callback's lines name that request.  Setting again replaces it (no
 * nesting); clearing when none is set is a no-op.
 */
struct log_trace {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;
};

void log_set_trace(
    const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags);
void log_clear_trace(void);

/* The current trace context, or NULL when none is set. */
const struct log_trace *log_current_trace(void);

/*
 * A second destination of every line written (the OTLP exporter's log
 * records): called after the line went to the fd, with the level, the
 * message (not NUL-terminated; no JSON) and the current trace context
 * (NULL: none; valid during the call only).  A line logged from inside
 * the sink is written to the fd only.  fn NULL: no sink.
 */
typedef void log_sink_fn(void *arg, enum log_level level, const char *msg,
    size_t n, const struct log_trace *trace);
void log_set_sink(log_sink_fn *fn, void *arg);

/* Write a line for call site 'site', subject to its rate limit. */
void log_site_msg(struct log_site *site, enum log_level level, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

#define log_at(level, ...) \
	do { \
		static struct log_site log_site_; \
		log_site_msg(&log_site_, (level), __VA_ARGS__); \
	} while (0)

#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
