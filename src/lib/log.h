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
 * A second destination of every line written (the OTLP exporter's log
 * records): called after the line went to the fd, with the level and the
 * message (not NUL-terminated; no JSON).  A line logged from inside the
 * sink is written to the fd only.  fn NULL: no sink.
 */
typedef void log_sink_fn(
    void *arg, enum log_level level, const char *msg, size_t n);
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
