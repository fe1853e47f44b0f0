/*
 * Unit tests: trace/ — W3C traceparent and tracestate (the spec's
 * examples and its error cases, a value ending at a guard page), ids,
 * the samplers, the recorder's batches, drops and flush on a real
 * reactor, and the spans' OTLP/protobuf bytes (trace_pb.c) against
 * protobuf-c's packing of the same message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "rx/rx.h"
#include "proto/opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "trace/trace_int.h"

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static bool
parse(struct trace_ctx *c, const char *v)
{
	return trace_parent_parse(c, v, strlen(v));
}

static void
traceparent_valid(void **state)
{
	static const uint8_t tid[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd,
	    0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	static const uint8_t sid[8] = {
	    0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
	struct trace_ctx c;
	char out[TRACE_PARENT_LEN + 1];

	assert_true(parse(&c, TP));
	assert_memory_equal(c.trace_id, tid, 16);
	assert_memory_equal(c.span_id, sid, 8);
	assert_int_equal(c.flags, TRACE_FLAG_SAMPLED);
	trace_parent_format(&c, out);
	assert_string_equal(out, TP);
	assert_true(parse(
	    &c, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
	assert_int_equal(c.flags, 0);
	/* Unknown flag bits are ignored and never passed on. */
	assert_true(parse(
	    &c, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff"));
	assert_int_equal(c.flags, TRACE_FLAG_SAMPLED);
	trace_parent_format(&c, out);
	assert_string_equal(out, TP);
	/* A later version: its first 55 characters, then end or '-'. */
	assert_true(parse(
	    &c, "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
	assert_true(parse(&c,
	    "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what"));
	trace_parent_format(&c, out);
	assert_string_equal(out, TP);
}

static void
traceparent_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "00",
	    /* version 00 with more after it */
	    TP "-",
	    TP "0",
	    /* a later version with more not after a '-' */
	    "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.x",
	    /* version ff is invalid */
	    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    /* uppercase hex */
	    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
	    "0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
	    /* all-zero ids */
	    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
	    /* separators and lengths */
	    "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",
	    "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",
	    " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	};
	struct trace_ctx c;
	size_t i;

	for (i = 0; i < nitems(bad); i++)
		if (parse(&c, bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
}

/* The value ends where a page with no access begins: no read past it. */
static void
traceparent_guard_page(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct trace_ctx c;
	size_t n = strlen(TP), k;
	char *v;

	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	/* Every prefix, each ending at the guard. */
	for (k = 0; k <= n; k++) {
		v = m + pg - k;
		memcpy(v, TP, k);
		assert_int_equal(trace_parent_parse(&c, v, k), k == n);
	}
	v = m + pg - n;
	memcpy(v, "cc", 2);
	assert_true(trace_parent_parse(&c, v, n));
	munmap(m, (size_t)pg * 2);
}

static void
tracestate_rules(void **state)
{
	static const char *const good[] = {
	    "",
	    "congo=t61rcWkgMzE",
	    "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
	    " rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE ",
	    "a=1,,b=2",
	    "tenant1@vendor=x",
	    "1tenant@v_-*/=x",
	    "k=va lue",
	};
	static const char *const bad[] = {
	    "Rojo=1",
	    "1rojo=1",
	    "rojo",
	    "rojo=",
	    "rojo=a,b",
	    "rojo=a=b",
	    "rojo=\x01",
	    "@vendor=1",
	    "tenant@=1",
	    "tenant@Vendor=1",
	    "tenant@vendorvendorvend=1",
	    "a@b@c=1",
	    "k=v\x7f",
	};
	char many[33 * 4 + 1];
	size_t i;

	for (i = 0; i < nitems(good); i++)
		if (!trace_state_valid(good[i], strlen(good[i])))
			fail_msg("refused \"%s\"", good[i]);
	for (i = 0; i < nitems(bad); i++)
		if (trace_state_valid(bad[i], strlen(bad[i])))
			fail_msg("accepted \"%s\"", bad[i]);
	/* 32 members are fine, 33 are not. */
	for (i = 0; i < 33; i++)
		memcpy(many + 4 * i, "a=1,", 4);
	assert_true(trace_state_valid(many, 32 * 4 - 1));
	assert_false(trace_state_valid(many, 33 * 4 - 1));
}

static void
ids_random(void **state)
{
	uint8_t a[TRACE_ID_LEN], b[TRACE_ID_LEN], z[TRACE_ID_LEN] = {0};
	uint8_t s[TRACE_SPAN_ID_LEN];
	int i;

	for (i = 0; i < 100; i++) { /* across several refills */
		assert_int_equal(trace_new_trace_id(a), 0);
		assert_int_equal(trace_new_trace_id(b), 0);
		assert_int_equal(trace_new_span_id(s), 0);
		assert_memory_not_equal(a, b, TRACE_ID_LEN);
		assert_memory_not_equal(a, z, TRACE_ID_LEN);
		assert_memory_not_equal(s, z, TRACE_SPAN_ID_LEN);
	}
}

static void
samplers(void **state)
{
	struct trace_sampler s;
	struct trace_ctx on = {.flags = TRACE_FLAG_SAMPLED}, off = {0};
	uint8_t lo[16] = {0}, hi[16];

	memset(hi, 0xff, sizeof(hi));
	lo[15] = 1;
	assert_false(trace_sampler_init(&s, "sometimes", 1000));
	assert_true(trace_sampler_init(&s, "always_on", 1000));
	assert_true(trace_sampled(&s, &off, hi));
	assert_true(trace_sampler_init(&s, "always_off", 1000));
	assert_false(trace_sampled(&s, &on, lo));
	assert_true(trace_sampler_init(&s, "parentbased_always_on", 1000));
	assert_true(trace_sampled(&s, NULL, hi));
	assert_true(trace_sampled(&s, &on, hi));
	assert_false(trace_sampled(&s, &off, hi));
	assert_true(trace_sampler_init(&s, "parentbased_always_off", 1000));
	assert_false(trace_sampled(&s, NULL, lo));
	assert_true(trace_sampled(&s, &on, lo));
	/* Ratio: the id's last 8 bytes against ratio x 2^64. */
	assert_true(trace_sampler_init(&s, "traceidratio", 500));
	assert_true(trace_sampled(&s, &off, lo));
	assert_false(trace_sampled(&s, &on, hi));
	hi[8] = 0x7f; /* just under half */
	assert_true(trace_sampled(&s, NULL, hi));
	hi[8] = 0x80;
	assert_false(trace_sampled(&s, NULL, hi));
	assert_true(trace_sampler_init(&s, "traceidratio", 0));
	assert_false(trace_sampled(&s, NULL, lo));
	assert_true(trace_sampler_init(&s, "traceidratio", 1000));
	memset(hi, 0xff, sizeof(hi));
	assert_true(trace_sampled(&s, NULL, hi));
	assert_true(trace_sampler_init(&s, "parentbased_traceidratio", 0));
	assert_false(trace_sampled(&s, NULL, lo));
	assert_true(trace_sampled(&s, &on, hi));
}

/* --- the recorder on a real reactor --------------------------------------- */

struct sink {
	size_t calls, spans, biggest, dropped;
	char names[64][16];
	struct trace_span last; /* the last span exported */
};

static void
sink_export(void *arg, const struct trace_span *const *spans, size_t n)
{
	struct sink *k = arg;
	size_t i;

	k->calls++;
	if (n > k->biggest)
		k->biggest = n;
	for (i = 0; i < n; i++, k->spans++)
		if (k->spans < 64)
			snprintf(k->names[k->spans], 16, "%s", spans[i]->name);
	if (n > 0)
		k->last = *spans[n - 1];
}

static void
sink_dropped(void *arg, size_t n)
{
	((struct sink *)arg)->dropped += n;
}

static const char *const names[] = {
    "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"};

static struct trace_recorder *
recorder(struct rx_loop *l, struct sink *k, const char *sampler, size_t queue,
    size_t batch, int64_t delay)
{
	struct trace_config c = {
	    .max_queue = queue, .max_batch = batch, .schedule_delay_ms = delay};
	struct trace_recorder *r;

	assert_true(trace_sampler_init(&c.sampler, sampler, 1000));
	assert_int_equal(rx_init(l, 8), 0);
	memset(k, 0, sizeof(*k));
	assert_int_equal(trace_recorder_new(&r, l, &c, sink_export, k), 0);
	return r;
}

static void
end_spans(struct trace_recorder *r, size_t n)
{
	struct trace_span s;
	size_t i;

	for (i = 0; i < n; i++) {
		assert_true(trace_span_start(
		    r, &s, names[i % 10], TRACE_KIND_SERVER, NULL, NULL, 0));
		trace_span_end(r, &s);
	}
}

static void
recorder_batches(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r = recorder(&l, &k, "always_on", 8, 3, 60000);
	struct trace_stats st;

	end_spans(r, 7);
	assert_int_equal(k.calls, 0); /* never from inside span_end */
	rx_run_once(&l, 0);
	rx_run_once(&l, 0);
	/* Two full batches went at once; one span waits for the delay. */
	assert_int_equal(k.spans, 6);
	assert_int_equal(k.biggest, 3);
	assert_string_equal(k.names[0], "s0");
	assert_string_equal(k.names[5], "s5");
	trace_recorder_stats(r, &st);
	assert_int_equal(st.exported, 6);
	trace_recorder_free(r); /* flushes */
	assert_int_equal(k.spans, 7);
	assert_string_equal(k.names[6], "s6");
	rx_free(&l);
}

static void
recorder_drops_oldest(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r = recorder(&l, &k, "always_on", 4, 4, 60000);
	struct trace_stats st;

	/* Ten spans before the loop runs: the queue keeps the last four, and
	 * tells the exporter of each span it drops. */
	trace_recorder_set_export(r, sink_export, sink_dropped, &k);
	end_spans(r, 10);
	trace_recorder_stats(r, &st);
	assert_int_equal(st.dropped, 6);
	assert_int_equal(k.dropped, 6);
	assert_int_equal(st.ended, 10);
	rx_run_once(&l, 0);
	assert_int_equal(k.spans, 4);
	assert_string_equal(k.names[0], "s6");
	assert_string_equal(k.names[3], "s9");
	trace_recorder_free(r);
	rx_free(&l);
}

static void
recorder_delay(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r = recorder(&l, &k, "always_on", 16, 8, 20);
	int i;

	end_spans(r, 2);
	rx_run_once(&l, 0);
	assert_int_equal(k.spans, 0);
	for (i = 0; i < 50 && k.spans == 0; i++)
		rx_run_once(&l, 100);
	assert_int_equal(k.spans, 2);
	assert_int_equal(k.calls, 1);
	trace_recorder_free(r);
	rx_free(&l);
}

/* A dropped span: context to propagate, nothing recorded or queued. */
static void
span_unsampled(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r = recorder(&l, &k, "always_off", 4, 4, 10);
	struct trace_ctx parent;
	struct trace_span s;
	struct trace_stats st;

	assert_false(
	    trace_span_start(r, &s, "x", TRACE_KIND_SERVER, NULL, NULL, 0));
	assert_true(s.active);
	assert_int_equal(s.ctx.flags, 0);
	trace_span_attr_int(&s, "k", 1);
	trace_span_end(r, &s);
	assert_true(parse(&parent, TP));
	assert_false(
	    trace_span_start(r, &s, "x", TRACE_KIND_SERVER, &parent, NULL, 0));
	assert_memory_equal(s.ctx.trace_id, parent.trace_id, TRACE_ID_LEN);
	assert_memory_not_equal(s.ctx.span_id, parent.span_id, 8);
	trace_span_end(r, &s);
	trace_recorder_stats(r, &st);
	assert_int_equal(st.unsampled, 2);
	assert_int_equal(st.ended + st.started, 0);
	/* No recorder: tracing off, no context either. */
	assert_false(
	    trace_span_start(NULL, &s, "x", TRACE_KIND_SERVER, NULL, NULL, 0));
	assert_false(s.active);
	trace_recorder_free(r);
	assert_int_equal(k.spans, 0);
	rx_free(&l);
}

static void
span_fields(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r =
	    recorder(&l, &k, "parentbased_always_on", 4, 4, 10);
	struct trace_ctx parent;
	struct trace_span s;
	char big[TRACE_ARENA + 10];
	int i;

	assert_true(parse(&parent, TP));
	assert_true(
	    trace_span_start(r, &s, "x", TRACE_KIND_CLIENT, &parent, "a=1", 3));
	assert_memory_equal(s.parent_id, parent.span_id, 8);
	assert_true(s.has_parent);
	assert_int_equal(s.state_len, 3);
	assert_memory_equal(s.arena, "a=1", 3);
	assert_int_equal(s.ctx.flags, TRACE_FLAG_SAMPLED);
	trace_span_attr_str(&s, "http.request.method", "GET", 3);
	trace_span_attr_int(&s, "server.port", 8080);
	assert_int_equal(s.nattrs, 2);
	assert_true(s.attrs[0].is_str);
	assert_memory_equal(s.arena + s.attrs[0].off, "GET", 3);
	assert_int_equal(s.attrs[1].num, 8080);
	/* The arena and the attribute slots are bounds, not errors. */
	memset(big, 'x', sizeof(big));
	trace_span_attr_str(&s, "big", big, sizeof(big));
	assert_int_equal(s.used, TRACE_ARENA);
	for (i = 0; i < TRACE_ATTRS_MAX; i++)
		trace_span_attr_int(&s, "n", i);
	assert_int_equal(s.nattrs, TRACE_ATTRS_MAX);
	trace_span_set_status(&s, TRACE_STATUS_ERROR);
	trace_span_end(r, &s);
	assert_false(s.recording);
	trace_recorder_free(r);
	assert_int_equal(k.spans, 1);
	rx_free(&l);
}

/* Spans by reference with an exporter: recorded in a pooled span, whose
 * attributes and tracestate reach the exporter; the pool reuses it. */
static void
ref_recorded(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r =
	    recorder(&l, &k, "parentbased_always_on", 64, 64, 60000);
	struct trace_ref s, many[40];
	struct trace_span *first;
	struct trace_ctx parent;
	struct trace_stats st;
	size_t i;

	assert_true(parse(&parent, TP));
	assert_true(
	    trace_ref_start(r, &s, "x", TRACE_KIND_CLIENT, &parent, "a=1", 3));
	assert_true(s.active);
	assert_int_equal(s.ctx.flags, TRACE_FLAG_SAMPLED);
	assert_memory_equal(s.ctx.trace_id, parent.trace_id, TRACE_ID_LEN);
	assert_non_null(s.span);
	assert_memory_equal(&s.span->ctx, &s.ctx, sizeof(s.ctx));
	trace_span_attr_str(s.span, "http.request.method", "GET", 3);
	trace_span_set_status(s.span, TRACE_STATUS_ERROR);
	first = s.span;
	trace_ref_end(r, &s);
	assert_null(s.span);
	assert_true(s.active); /* the context outlives the recording */
	trace_ref_end(r, &s); /* the second end does nothing */
	trace_recorder_flush(r);
	assert_int_equal(k.spans, 1);
	assert_string_equal(k.last.name, "x");
	assert_int_equal(k.last.kind, TRACE_KIND_CLIENT);
	assert_int_equal(k.last.status, TRACE_STATUS_ERROR);
	assert_true(k.last.has_parent);
	assert_memory_equal(k.last.parent_id, parent.span_id, 8);
	assert_memory_equal(k.last.ctx.span_id, s.ctx.span_id, 8);
	assert_int_equal(k.last.state_len, 3);
	assert_memory_equal(k.last.arena, "a=1", 3);
	assert_int_equal(k.last.nattrs, 1);
	assert_memory_equal(k.last.arena + k.last.attrs[0].off, "GET", 3);
	assert_true(k.last.end_ns >= k.last.start_ns);
	/* The next span reuses the pooled one; more at once than the pool
	 * keeps are allocated, and given back past its bound. */
	assert_true(
	    trace_ref_start(r, &s, "y", TRACE_KIND_SERVER, NULL, NULL, 0));
	assert_ptr_equal(s.span, first);
	assert_false(s.span->has_parent);
	assert_int_equal(s.span->state_len, 0);
	for (i = 0; i < 40; i++)
		assert_true(trace_ref_start(
		    r, &many[i], "m", TRACE_KIND_INTERNAL, NULL, NULL, 0));
	for (i = 0; i < 40; i++)
		trace_ref_end(r, &many[i]);
	trace_recorder_stats(r, &st);
	assert_int_equal(st.started, 42);
	assert_int_equal(st.ended, 41);
	/* s never ended: the recorder frees its span (no leak under ASan). */
	trace_recorder_free(r);
	assert_int_equal(k.spans, 41);
	rx_free(&l);
}

/* Without an exporter a ref records nothing but keeps its context and
 * the sampler's decision; the counts are those of discarded spans. */
static void
ref_without_exporter(void **state)
{
	struct trace_config c = {
	    .max_queue = 4, .max_batch = 4, .schedule_delay_ms = 10};
	struct trace_recorder *r;
	struct trace_ref s;
	struct trace_stats st;
	struct rx_loop l;

	assert_true(trace_sampler_init(&c.sampler, "always_on", 1000));
	assert_int_equal(rx_init(&l, 8), 0);
	assert_int_equal(trace_recorder_new(&r, &l, &c, NULL, NULL), 0);
	assert_true(
	    trace_ref_start(r, &s, "x", TRACE_KIND_SERVER, NULL, NULL, 0));
	assert_true(s.active && s.open);
	assert_null(s.span);
	assert_int_equal(s.ctx.flags, TRACE_FLAG_SAMPLED);
	assert_false(trace_zero(s.ctx.trace_id, TRACE_ID_LEN));
	assert_false(trace_zero(s.ctx.span_id, TRACE_SPAN_ID_LEN));
	trace_ref_end(r, &s);
	trace_ref_end(r, &s);
	trace_recorder_stats(r, &st);
	assert_int_equal(st.started, 1);
	assert_int_equal(st.ended, 1);
	assert_int_equal(st.exported, 1);
	trace_recorder_free(r);
	/* A sampler that drops: context unsampled, counted as such. */
	assert_true(trace_sampler_init(&c.sampler, "always_off", 1000));
	assert_int_equal(trace_recorder_new(&r, &l, &c, NULL, NULL), 0);
	assert_false(
	    trace_ref_start(r, &s, "x", TRACE_KIND_SERVER, NULL, NULL, 0));
	assert_true(s.active);
	assert_false(s.open);
	assert_int_equal(s.ctx.flags, 0);
	trace_ref_end(r, &s);
	trace_recorder_stats(r, &st);
	assert_int_equal(st.unsampled, 1);
	assert_int_equal(st.started + st.ended, 0);
	trace_recorder_free(r);
	/* No recorder: tracing off. */
	assert_false(
	    trace_ref_start(NULL, &s, "x", TRACE_KIND_SERVER, NULL, NULL, 0));
	assert_false(s.active);
	assert_null(s.span);
	trace_ref_end(NULL, &s);
	rx_free(&l);
}

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    pb_req;

/* Spans of every shape the encoder knows, as trace_span_start() and the
 * attribute calls leave them. */
static size_t
pb_spans(struct trace_recorder *r, struct trace_span *s)
{
	static const char nul[] = {'a', 'b', '\0', 'c'};
	struct trace_ctx parent;
	int i;

	assert_true(parse(&parent, TP));
	/* A root: no parent, no tracestate, status unset, no attributes. */
	assert_true(trace_span_start(
	    r, &s[0], "tunnel.dial", TRACE_KIND_INTERNAL, NULL, NULL, 0));
	/* A child with a tracestate, every attribute kind, an error. */
	assert_true(trace_span_start(r, &s[1], "executor.upstream_http",
	    TRACE_KIND_CLIENT, &parent, "a=1,b=2", 7));
	trace_span_attr_str(&s[1], "http.request.method", "GET", 3);
	trace_span_attr_str(&s[1], "empty", "", 0);
	trace_span_attr_str(&s[1], "nul", nul, sizeof(nul));
	trace_span_attr_int(&s[1], "zero", 0);
	trace_span_attr_int(&s[1], "negative", -5);
	trace_span_attr_int(&s[1], "big", INT64_MAX);
	trace_span_attr_int(&s[1], "server.port", 8080);
	trace_span_set_status(&s[1], TRACE_STATUS_ERROR);
	/* All the attributes a span holds, its arena full, status ok. */
	assert_true(trace_span_start(r, &s[2], "connector.handle_http_request",
	    TRACE_KIND_SERVER, &parent, NULL, 0));
	for (i = 0; i < TRACE_ATTRS_MAX; i++) {
		char v[200];

		memset(v, 'a' + i, sizeof(v));
		trace_span_attr_str(&s[2], "k", v, sizeof(v));
	}
	trace_span_set_status(&s[2], TRACE_STATUS_OK);
	for (i = 0; i < 3; i++)
		s[i].end_ns = s[i].start_ns + 1000 * (uint64_t)(i + 1);
	/* An unsampled parent's child (flags 0), as a remote parent may
	 * ask for with parentbased_always_on's root sampler. */
	s[3] = s[0];
	s[3].ctx.flags = 0;
	return 4;
}

static void
pb_request(void **state)
{
	struct rx_loop l;
	struct sink k;
	struct trace_recorder *r = recorder(&l, &k, "always_on", 8, 8, 10);
	Opentelemetry__Proto__Common__V1__KeyValue kv =
	    OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__KeyValue *kvp = &kv;
	Opentelemetry__Proto__Common__V1__AnyValue av =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	Opentelemetry__Proto__Resource__V1__Resource res =
	    OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
	    OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	static struct trace_span s[4];
	const struct trace_span *sp[4];
	Opentelemetry__Proto__Trace__V1__Span *d;
	size_t i, n, len, len2;
	uint8_t *body, *again;
	pb_req *req;

	kv.key = "service.name";
	kv.value = &av;
	av.value_case =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av.string_value = "outpost";
	res.n_attributes = 1;
	res.attributes = &kvp;
	scope.name = "outpost";
	scope.version = "1.2.3";
	n = pb_spans(r, s);
	for (i = 0; i < n; i++)
		sp[i] = &s[i];
	for (i = 0; i <= n; i++) { /* no span at all, too */
		body = trace_pb_request(
		    &res.base, &scope.base, sp, i, 1u << 20, &len);
		assert_non_null(body);
		req =
		    opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, len, body);
		assert_non_null(req);
		/* protobuf-c packs what it read back to the same bytes. */
		len2 = protobuf_c_message_get_packed_size(&req->base);
		assert_int_equal(len2, len);
		again = malloc(len2);
		assert_non_null(again);
		assert_int_equal(
		    protobuf_c_message_pack(&req->base, again), len);
		assert_memory_equal(again, body, len);
		assert_int_equal(req->n_resource_spans, 1);
		assert_int_equal(req->resource_spans[0]->n_scope_spans, 1);
		assert_int_equal(
		    req->resource_spans[0]->scope_spans[0]->n_spans, i);
		assert_string_equal(
		    req->resource_spans[0]->scope_spans[0]->scope->version,
		    "1.2.3");
		if (i == n) {
			d = req->resource_spans[0]->scope_spans[0]->spans[1];
			assert_string_equal(d->name, "executor.upstream_http");
			assert_string_equal(d->trace_state, "a=1,b=2");
			assert_int_equal(d->parent_span_id.len, 8);
			assert_memory_equal(
			    d->trace_id.data, s[1].ctx.trace_id, 16);
			assert_int_equal(
			    d->end_time_unix_nano - d->start_time_unix_nano,
			    2000);
			assert_int_equal(d->n_attributes, 7);
			assert_string_equal(
			    d->attributes[2]->value->string_value, "ab");
			assert_int_equal(
			    d->attributes[4]->value->int_value, -5);
			assert_int_equal(d->status->code, 2);
			assert_int_equal(d->flags, 1);
			d = req->resource_spans[0]->scope_spans[0]->spans[3];
			assert_int_equal(d->flags, 0);
			assert_int_equal(d->parent_span_id.len, 0);
		}
		protobuf_c_message_free_unpacked(&req->base, NULL);
		free(again);
		free(body);
	}
	/* Over max: no bytes, and the size it would have. */
	body = trace_pb_request(&res.base, &scope.base, sp, n, 1u << 20, &len);
	free(body);
	assert_null(
	    trace_pb_request(&res.base, &scope.base, sp, n, len - 1, &len2));
	assert_int_equal(len2, len);
	for (i = 0; i < 3; i++)
		trace_span_end(r, &s[i]);
	trace_recorder_free(r);
	rx_free(&l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(traceparent_valid),
	    cmocka_unit_test(traceparent_invalid),
	    cmocka_unit_test(traceparent_guard_page),
	    cmocka_unit_test(tracestate_rules),
	    cmocka_unit_test(ids_random),
	    cmocka_unit_test(samplers),
	    cmocka_unit_test(recorder_batches),
	    cmocka_unit_test(recorder_drops_oldest),
	    cmocka_unit_test(recorder_delay),
	    cmocka_unit_test(span_unsampled),
	    cmocka_unit_test(span_fields),
	    cmocka_unit_test(ref_recorded),
	    cmocka_unit_test(ref_without_exporter),
	    cmocka_unit_test(pb_request),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
