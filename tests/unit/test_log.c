/* Unit tests: JSON-lines logging and its per-call-site rate limit. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/log.h"

static int fds[2];
static char text[1 << 16];

static int
setup(void **state)
{
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	log_set_fd(fds[1]);
	log_set_level(LOG_DEBUG);
	return 0;
}

static int
teardown(void **state)
{
	log_set_fd(2);
	log_set_level(LOG_INFO);
	close(fds[0]);
	close(fds[1]);
	return 0;
}

/* Lines written since the last call (into text). */
static int
lines(void)
{
	ssize_t n = read(fds[0], text, sizeof(text) - 1);
	int k = 0;
	char *p;

	text[n > 0 ? n : 0] = '\0';
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		k++;
	return k;
}

static void
one_site(int i)
{
	log_warn("accept: too many open files (%d)", i);
}

static void
log_site_burst_then_summary(void **state)
{
	struct timespec pause = {.tv_sec = 1, .tv_nsec = 100 * 1000 * 1000};
	int i;

	for (i = 0; i < 1000; i++)
		one_site(i);
	assert_int_equal(lines(), LOG_BURST);
	assert_non_null(strstr(text, "\"level\":\"warn\""));
	/* Another call site is not held back by the first. */
	log_info("something else");
	assert_int_equal(lines(), 1);
	nanosleep(&pause, NULL);
	one_site(1000);
	assert_int_equal(lines(), 1);
	assert_non_null(strstr(text, "(1000) (980 similar lines suppressed)"));
	one_site(1001);
	assert_int_equal(lines(), 1);
	assert_null(strstr(text, "suppressed"));
}

static void
log_level_filters_before_counting(void **state)
{
	int i;

	log_set_level(LOG_ERROR);
	for (i = 0; i < 100; i++)
		log_debug("hidden %d", i);
	assert_int_equal(lines(), 0);
}

static void
log_long_message_truncated_with_summary(void **state)
{
	static char big[LOG_LINE_MAX * 2];
	int i;

	memset(big, 'a', sizeof(big) - 1);
	for (i = 0; i < LOG_BURST + 1; i++)
		log_error("%s", big);
	assert_int_equal(lines(), LOG_BURST);
}

static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t sid[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

static struct {
	int calls;
	bool traced;
	struct log_trace trace;
} seen;

static void
record_sink(void *arg, enum log_level level, const char *msg, size_t n,
    const struct log_trace *trace)
{
	(void)arg;
	(void)level;
	(void)msg;
	(void)n;
	seen.calls++;
	seen.traced = trace != NULL;
	if (trace != NULL)
		seen.trace = *trace;
}

/* A line written while a trace context is set names it, in the JSON line
 * and to the sink; once cleared, neither does. */
static void
log_trace_context_set_and_cleared(void **state)
{
	log_set_sink(record_sink, NULL);
	assert_null(log_current_trace());
	log_info("before");
	assert_int_equal(lines(), 1);
	assert_null(strstr(text, "trace_id"));
	assert_int_equal(seen.calls, 1);
	assert_false(seen.traced);

	log_set_trace(tid, sid, 1);
	log_info("inside a request");
	assert_int_equal(lines(), 1);
	assert_non_null(strstr(text,
	    "\"msg\":\"inside a request\","
	    "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
	    "\"span_id\":\"00f067aa0ba902b7\"}\n"));
	assert_int_equal(seen.calls, 2);
	assert_true(seen.traced);
	assert_memory_equal(seen.trace.trace_id, tid, sizeof(tid));
	assert_memory_equal(seen.trace.span_id, sid, sizeof(sid));
	assert_int_equal(seen.trace.flags, 1);

	log_clear_trace();
	assert_null(log_current_trace());
	log_warn("after");
	assert_int_equal(lines(), 1);
	assert_null(strstr(text, "trace_id"));
	assert_null(strstr(text, "span_id"));
	assert_int_equal(seen.calls, 3);
	assert_false(seen.traced);
	log_set_sink(NULL, NULL);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		log_site_burst_then_summary, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		log_level_filters_before_counting, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		log_long_message_truncated_with_summary, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		log_trace_context_set_and_cleared, setup, teardown),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
