/*
 * log.h — JSON-lines logging on stderr, one write(2) per line:
 *   {"ts":"2026-11-25T17:38:19.123Z","level":"info","msg":"..."}
 * Messages are truncated at LOG_LINE_MAX bytes.  Never pass a secret.
 * Safe to call from any reactor callback; not async-signal-safe.
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

#define LOG_LINE_MAX 1024

/* Parse "debug", "info", "warn"/"warning", "error" (case-insensitive). */
bool log_level_parse(const char *s, enum log_level *out);

void log_set_level(enum log_level level);
void log_set_fd(int fd);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
