#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

static enum log_level log_min = LOG_INFO;
static int log_fd = 2;
static log_sink_fn *log_sink;
static void *log_sink_arg;
static bool log_in_sink;
static struct log_trace log_trace;
static bool log_traced;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* see log.h */
bool
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < nitems(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_WARN;
		return true;
	}
	return false;
}

/* see log.h */
void
log_set_level(enum log_level level)
{
	log_min = level;
}

/* see log.h */
void
log_set_fd(int fd)
{
	log_fd = fd;
}

/* see log.h */
void
log_set_sink(log_sink_fn *fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

/* see log.h */
void
log_set_trace(
    const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags)
{
	memcpy(log_trace.trace_id, trace_id, sizeof(log_trace.trace_id));
	memcpy(log_trace.span_id, span_id, sizeof(log_trace.span_id));
	log_trace.flags = flags;
	log_traced = true;
}

/* see log.h */
void
log_clear_trace(void)
{
	log_traced = false;
}

/* see log.h */
const struct log_trace *
log_current_trace(void)
{
	return log_traced ? &log_trace : NULL;
}

/* A site may write now: within its burst, or a new window has begun. */
static bool
site_allows(struct log_site *site)
{
	int64_t now = util_mono_ms();

	if (site->window == 0 || now - site->window >= LOG_WINDOW_MS) {
		site->window = now;
		site->lines = 0;
	}
	if (site->lines >= LOG_BURST) {
		site->suppressed++;
		return false;
	}
	site->lines++;
	return true;
}

static void
write_line(enum log_level level, const char *msg, size_t n)
{
	char line[LOG_LINE_MAX * 2 + 160];
	char hex[2 * sizeof(log_trace.trace_id) + 1];
	struct buf b;
	struct tm tm;
	int64_t now;
	time_t sec;

	now = util_wall_ms();
	sec = (time_t)(now / 1000);
	gmtime_r(&sec, &tm);
	buf_init(&b, line, sizeof(line) - 1);
	buf_printf(&b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(now % 1000));
	buf_printf(&b, "\"level\":\"%s\",\"msg\":", level_names[level]);
	json_str(&b, msg, n);
	if (log_traced) {
		util_hex(log_trace.trace_id, sizeof(log_trace.trace_id), hex);
		buf_printf(&b, ",\"trace_id\":\"%s\"", hex);
		util_hex(log_trace.span_id, sizeof(log_trace.span_id), hex);
		buf_printf(&b, ",\"span_id\":\"%s\"", hex);
	}
	buf_adds(&b, "}");
	b.p[b.len++] = '\n';
	(void)!write(log_fd, b.p, b.len);
}

/* see log.h */
void
log_site_msg(struct log_site *site, enum log_level level, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX + 64];
	va_list ap;
	int n, k;

	if (level < log_min || !site_allows(site))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, LOG_LINE_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= LOG_LINE_MAX)
		n = LOG_LINE_MAX - 1;
	if (site->suppressed > 0) {
		k = snprintf(msg + n, sizeof(msg) - (size_t)n,
		    " (%lu similar lines suppressed)", site->suppressed);
		n += k > 0 ? MIN(k, (int)(sizeof(msg) - (size_t)n) - 1) : 0;
		site->suppressed = 0;
	}
	write_line(level, msg, (size_t)n);
	if (log_sink != NULL && !log_in_sink) {
		log_in_sink = true;
		log_sink(
		    log_sink_arg, level, msg, (size_t)n, log_current_trace());
		log_in_sink = false;
	}
}
