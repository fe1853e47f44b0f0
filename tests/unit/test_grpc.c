/*
 * Unit tests: gRPC message framing, trailer values, and the connector.v1
 * messages through protobuf-c.  Usage: test_grpc [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "grpc/grpc.h"

#define MAXMSG 256

/* Three framed messages: "hello", "" and 200 x 'z'. */
static size_t
make_stream(uint8_t *out)
{
	size_t n = 0;

	assert_true(grpc_prefix_write(out + n, 5));
	memcpy(out + n + 5, "hello", 5);
	n += 10;
	assert_true(grpc_prefix_write(out + n, 0));
	n += 5;
	assert_true(grpc_prefix_write(out + n, 200));
	memset(out + n + 5, 'z', 200);
	n += 205;
	return n;
}

/* Feed the stream in chunks of step bytes; check the three messages. */
static void
feed_in_steps(const uint8_t *in, size_t n, size_t step)
{
	uint8_t mem[MAXMSG];
	struct grpc_reader r;
	const uint8_t *msg;
	size_t off = 0, used, len, got = 0, lens[3] = {5, 0, 200};
	int rc;

	grpc_reader_init(&r, mem, sizeof(mem));
	while (off < n) {
		size_t k = step < n - off ? step : n - off;

		rc = grpc_reader_feed(&r, in + off, k, &used, &msg, &len);
		assert_int_not_equal(rc, GRPC_ERROR);
		assert_true(used <= k);
		off += used;
		if (rc == GRPC_MSG) {
			assert_true(got < 3);
			assert_int_equal(len, lens[got]);
			if (got == 0)
				assert_memory_equal(msg, "hello", 5);
			if (got == 2)
				assert_true(msg[0] == 'z' && msg[199] == 'z');
			got++;
		} else {
			assert_int_equal(used, k);
		}
	}
	assert_int_equal(got, 3);
	assert_true(grpc_reader_idle(&r));
}

static void
frame_all_at_once(void **state)
{
	uint8_t in[512];

	feed_in_steps(in, make_stream(in), sizeof(in));
}

static void
frame_byte_at_a_time(void **state)
{
	uint8_t in[512];
	size_t n = make_stream(in), step;

	for (step = 1; step < 12; step++)
		feed_in_steps(in, n, step);
}

/* The input ends at a guard page: a reader that over-reads faults. */
static void
frame_guard_page(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t tmp[512], *map, *in;
	size_t n = make_stream(tmp);

	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pg, pg, PROT_NONE), 0);
	in = map + pg - n;
	memcpy(in, tmp, n);
	feed_in_steps(in, n, n);
	feed_in_steps(in, n, 1);
	munmap(map, 2 * pg);
}

/* What a reader waiting for a whole message in place must wait for. */
static void
frame_span(void **state)
{
	uint8_t mem[16], in[8] = {0};
	struct grpc_reader r;
	const uint8_t *msg;
	size_t used, len;

	grpc_reader_init(&r, mem, sizeof(mem));
	assert_int_equal(grpc_reader_span(&r, in, 0), GRPC_PREFIX_LEN);
	assert_int_equal(grpc_reader_span(&r, in, 4), GRPC_PREFIX_LEN);
	grpc_prefix_write(in, 3);
	assert_int_equal(grpc_reader_span(&r, in, 5), 8);
	assert_int_equal(grpc_reader_span(&r, in, 8), 8);
	grpc_prefix_write(in, sizeof(mem));
	assert_int_equal(grpc_reader_span(&r, in, 5), 5 + sizeof(mem));
	grpc_prefix_write(in, sizeof(mem) + 1); /* too large: feed says so */
	assert_int_equal(grpc_reader_span(&r, in, 5), 0);
	grpc_prefix_write(in, 3);
	in[0] = 1; /* compressed */
	assert_int_equal(grpc_reader_span(&r, in, 5), 0);
	in[0] = 0;
	assert_int_equal(
	    grpc_reader_feed(&r, in, 6, &used, &msg, &len), GRPC_PARTIAL);
	assert_int_equal(grpc_reader_span(&r, in + 6, 2), 0); /* has part */
}

static void
frame_partial_is_not_idle(void **state)
{
	uint8_t mem[16], in[8];
	struct grpc_reader r;
	const uint8_t *msg;
	size_t used, len;

	grpc_reader_init(&r, mem, sizeof(mem));
	assert_true(grpc_reader_idle(&r));
	grpc_prefix_write(in, 3);
	assert_int_equal(
	    grpc_reader_feed(&r, in, 2, &used, &msg, &len), GRPC_PARTIAL);
	assert_false(grpc_reader_idle(&r));
	assert_int_equal(
	    grpc_reader_feed(&r, in + 2, 3, &used, &msg, &len), GRPC_PARTIAL);
	assert_false(grpc_reader_idle(&r));
	grpc_reader_reset(&r);
	assert_true(grpc_reader_idle(&r));
}

static void
frame_compressed_rejected(void **state)
{
	uint8_t mem[16], in[8] = {1, 0, 0, 0, 1, 'x'};
	struct grpc_reader r;
	const uint8_t *msg;
	size_t used, len;

	grpc_reader_init(&r, mem, sizeof(mem));
	assert_int_equal(
	    grpc_reader_feed(&r, in, 6, &used, &msg, &len), GRPC_ERROR);
	assert_int_equal(grpc_reader_error(&r), GRPC_ERR_COMPRESSED);
	/* Sticky until reset. */
	grpc_prefix_write(in, 1);
	assert_int_equal(
	    grpc_reader_feed(&r, in, 6, &used, &msg, &len), GRPC_ERROR);
	grpc_reader_reset(&r);
	assert_int_equal(
	    grpc_reader_feed(&r, in, 6, &used, &msg, &len), GRPC_MSG);
	assert_string_equal(grpc_error_name(GRPC_ERR_COMPRESSED), "compressed");
}

static void
frame_too_large_rejected(void **state)
{
	uint8_t mem[16], in[8];
	struct grpc_reader r;
	const uint8_t *msg;
	size_t used, len;

	grpc_reader_init(&r, mem, sizeof(mem));
	grpc_prefix_write(in, 16);
	assert_int_equal(
	    grpc_reader_feed(&r, in, 5, &used, &msg, &len), GRPC_PARTIAL);
	grpc_reader_reset(&r);
	grpc_prefix_write(in, 17);
	/* Rejected from the prefix alone, before any body byte arrives. */
	assert_int_equal(
	    grpc_reader_feed(&r, in, 5, &used, &msg, &len), GRPC_ERROR);
	assert_int_equal(grpc_reader_error(&r), GRPC_ERR_TOO_LARGE);
	grpc_reader_reset(&r);
	in[1] = 0xff;
	assert_int_equal(
	    grpc_reader_feed(&r, in, 5, &used, &msg, &len), GRPC_ERROR);
}

static void
status_names(void **state)
{
	assert_string_equal(grpc_status_name(14), "UNAVAILABLE");
	assert_string_equal(grpc_status_name(0), "OK");
	assert_string_equal(grpc_status_name(17), "UNKNOWN");
	assert_string_equal(grpc_status_name(-3), "UNKNOWN");
}

/* A ConnectorMessage packed, framed, reassembled byte by byte, unpacked. */
static void
proto_round_trip(void **state)
{
	Connector__V1__ConnectorMessage m =
	    CONNECTOR__V1__CONNECTOR_MESSAGE__INIT;
	Connector__V1__ErrorResponse e = CONNECTOR__V1__ERROR_RESPONSE__INIT;
	Connector__V1__ConnectorMessage *out;
	uint8_t wire[256], mem[256];
	const uint8_t *msg = NULL;
	struct grpc_reader r;
	size_t n, i, used, len = 0;

	m.request_id = "r-1";
	m.message_case =
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_ERROR_RESPONSE;
	m.error_response = &e;
	e.code = "UPSTREAM_ERROR";
	e.message = "[dns] no such host";
	e.reason = "dns";
	n = connector__v1__connector_message__get_packed_size(&m);
	assert_true(n + 5 <= sizeof(wire));
	grpc_prefix_write(wire, n);
	connector__v1__connector_message__pack(&m, wire + 5);
	grpc_reader_init(&r, mem, sizeof(mem));
	for (i = 0; i < n + 5; i++) {
		int rc = grpc_reader_feed(&r, wire + i, 1, &used, &msg, &len);

		assert_int_equal(rc, i == n + 4 ? GRPC_MSG : GRPC_PARTIAL);
	}
	out = connector__v1__connector_message__unpack(NULL, len, msg);
	assert_non_null(out);
	assert_string_equal(out->request_id, "r-1");
	assert_int_equal(out->message_case,
	    CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_ERROR_RESPONSE);
	assert_string_equal(out->error_response->reason, "dns");
	assert_string_equal(out->error_response->code, "UPSTREAM_ERROR");
	connector__v1__connector_message__free_unpacked(out, NULL);
}

/* The one envelope builder: request id and oneof member by field number. */
static void
envelope_builder(void **state)
{
	Connector__V1__HealthCheckRequest h =
	    CONNECTOR__V1__HEALTH_CHECK_REQUEST__INIT;
	Connector__V1__ControllerMessage *m;
	struct grpc_out *o;

	h.unix_millis = 1234;
	o = grpc_out_envelope(&connector__v1__controller_message__descriptor,
	    "id-7",
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST,
	    &h.base);
	assert_non_null(o);
	assert_int_equal(o->data[0], 0);
	m = connector__v1__controller_message__unpack(
	    NULL, o->len - GRPC_PREFIX_LEN, o->data + GRPC_PREFIX_LEN);
	assert_non_null(m);
	assert_string_equal(m->request_id, "id-7");
	assert_int_equal(m->message_case,
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST);
	assert_int_equal(m->health_check_request->unix_millis, 1234);
	connector__v1__controller_message__free_unpacked(m, NULL);
	free(o);
	/* Field 1 is the id, 99 does not exist, and a sub-message is not an
	 * envelope (field 1 is not a string). */
	assert_null(grpc_out_envelope(
	    &connector__v1__controller_message__descriptor, "x", 1, &h.base));
	assert_null(grpc_out_envelope(
	    &connector__v1__controller_message__descriptor, "x", 99, &h.base));
	assert_null(grpc_out_envelope(
	    &connector__v1__health_check_request__descriptor, "x", 1, &h.base));
}

/* One health check message with id, packed by grpc_out_envelope(). */
static struct grpc_out *
health(const char *id, int64_t ms)
{
	Connector__V1__HealthCheckRequest h =
	    CONNECTOR__V1__HEALTH_CHECK_REQUEST__INIT;

	h.unix_millis = ms;
	return grpc_out_envelope(&connector__v1__controller_message__descriptor,
	    id, CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST,
	    &h.base);
}

/* The message in o has request id id and health check time ms. */
static void
assert_health(const struct grpc_out *o, const char *id, int64_t ms)
{
	Connector__V1__ControllerMessage *m;

	assert_true(o->len <= o->cap);
	assert_int_equal(o->off, 0);
	assert_false(list_linked(&o->link));
	m = connector__v1__controller_message__unpack(
	    NULL, o->len - GRPC_PREFIX_LEN, o->data + GRPC_PREFIX_LEN);
	assert_non_null(m);
	assert_string_equal(m->request_id, id);
	assert_int_equal(m->health_check_request->unix_millis, ms);
	connector__v1__controller_message__free_unpacked(m, NULL);
}

/*
 * A released message's buffer carries the next message that fits (no
 * allocation per message); a larger message gets a buffer of its own.
 */
static void
out_buffer_reused(void **state)
{
	char big[600];
	struct grpc_out *a, *b, *c;

	a = health("first", 1);
	assert_non_null(a);
	assert_health(a, "first", 1);
	a->off = 3;
	grpc_out_free(a);
	b = health("other", 2);
	assert_ptr_equal(b, a);
	assert_health(b, "other", 2);
	memset(big, 'i', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c = health(big, 3);
	assert_non_null(c);
	assert_ptr_not_equal(c, b);
	assert_true(c->cap > b->cap);
	assert_health(c, big, 3);
	grpc_out_free(b);
	grpc_out_free(c);
	grpc_out_free(NULL);
}

static void
on_h2(struct h2_stream *st, unsigned ev, void *arg)
{
	(void)st, (void)ev, (void)arg;
}

/* A response message with a body of n bytes, in an envelope. */
static const ProtobufCMessage *
response(union grpc_envelope *u, Connector__V1__HttpResponse *r,
    Connector__V1__Header *h, Connector__V1__Header **hp, uint8_t *body,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		body[i] = (uint8_t)(i * 31 + i / 255);
	connector__v1__header__init(h);
	h->key = "content-type";
	h->value = "text/plain";
	*hp = h;
	connector__v1__http_response__init(r);
	r->http_status = 200;
	r->n_headers = 1;
	r->headers = hp;
	r->body.data = body;
	r->body.len = n;
	return grpc_envelope(u, &connector__v1__connector_message__descriptor,
	    "req-42", CONNECTOR__V1__CONNECTOR_MESSAGE__MESSAGE_HTTP_RESPONSE,
	    &r->base);
}

/* What the grpc_sendq_put tests send from: a client session with one
 * stream, a queue, and a response message's parts. */
struct put_fix {
	struct h2_session s;
	struct h2_stream st;
	struct grpc_sendq q;
	Connector__V1__HttpResponse r;
	Connector__V1__Header h, *hp;
	union grpc_envelope u;
};

static void
put_open(struct put_fix *f, uint8_t *rx, size_t rxn, uint8_t *tx, size_t txn)
{
	static const struct h2_conf conf = {.window = 4096,
	    .conn_window = 4096,
	    .max_frame = 16384,
	    .max_streams = 4,
	    .ping_timeout_ms = 500};

	assert_int_equal(
	    h2_session_init(&f->s, H2_CLIENT, &conf, on_h2, NULL, NULL, 0), 0);
	h2_stream_init(&f->st, rx, rxn, tx, txn);
	assert_int_equal(
	    h2_stream_open(&f->s, &f->st, "https", "edge.test", "/p", NULL, 0),
	    0);
	grpc_sendq_init(&f->q, 4);
}

static const ProtobufCMessage *
put_response(struct put_fix *f, uint8_t *body, size_t n)
{
	return response(&f->u, &f->r, &f->h, &f->hp, body, n);
}

/*
 * grpc_sendq_put() packs straight into the stream's send ring, byte for
 * byte what protobuf-c's flat pack (grpc_out_pack) gives; without room, or
 * behind a queued message, it queues the same bytes instead.
 */
static void
put_packs_into_the_ring(void **state)
{
	static uint8_t rx[4096], tx[80000], body[70000];
	static struct put_fix f;
	const ProtobufCMessage *m;
	struct grpc_out *o, *first;

	put_open(&f, rx, sizeof(rx), tx, sizeof(tx));
	m = put_response(&f, body, 65536);
	assert_non_null(m);
	o = grpc_out_pack(m);
	assert_non_null(o);
	assert_true(grpc_sendq_put(&f.q, &f.st, m));
	assert_true(grpc_sendq_empty(&f.q));
	assert_int_equal(sizeof(tx) - h2_stream_send_room(&f.st), o->len);
	assert_memory_equal(tx, o->data, o->len);
	/* No room for a second one: queued, the same bytes. */
	assert_true(grpc_sendq_put(&f.q, &f.st, m));
	assert_false(grpc_sendq_empty(&f.q));
	first = list_entry(list_first(&f.q.q), struct grpc_out, link);
	assert_int_equal(first->len, o->len);
	assert_memory_equal(first->data, o->data, o->len);
	/* A small one behind it waits its turn, though it would fit. */
	m = put_response(&f, body, 10);
	assert_true(h2_stream_send_room(&f.st) > 100);
	assert_true(grpc_sendq_put(&f.q, &f.st, m));
	assert_int_equal(f.q.n, 2);
	grpc_out_free(o);
	grpc_sendq_clear(&f.q);
	h2_session_free(&f.s);
}

/*
 * Small messages (up to 2 KiB) are packed on the stack and sent in one
 * piece, larger ones appended field by field: both give protobuf-c's flat
 * pack behind the gRPC prefix, on each side of the boundary (not through
 * grpc_out_pack: its kept buffers are out_buffer_reused's).
 */
static void
put_small_and_large_alike(void **state)
{
	static uint8_t rx[4096], tx[8192], body[4096], want[8192];
	static struct put_fix f;
	const ProtobufCMessage *m;
	size_t len, n, seen = 0;

	for (len = 0; len < 2200; len += len < 1990 ? 199 : 1) {
		put_open(&f, rx, sizeof(rx), tx, sizeof(tx));
		m = put_response(&f, body, len);
		n = protobuf_c_message_get_packed_size(m);
		seen |= (n == 2048) | (n == 2049) << 1;
		assert_true(grpc_prefix_write(want, n));
		assert_int_equal(
		    protobuf_c_message_pack(m, want + GRPC_PREFIX_LEN), n);
		assert_true(grpc_sendq_put(&f.q, &f.st, m));
		assert_true(grpc_sendq_empty(&f.q));
		assert_int_equal(sizeof(tx) - h2_stream_send_room(&f.st),
		    GRPC_PREFIX_LEN + n);
		assert_memory_equal(tx, want, GRPC_PREFIX_LEN + n);
		h2_session_free(&f.s);
	}
	assert_int_equal(seen, 3); /* both sides of 2 KiB were packed */
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(frame_all_at_once),
	    cmocka_unit_test(put_packs_into_the_ring),
	    cmocka_unit_test(put_small_and_large_alike),
	    cmocka_unit_test(frame_byte_at_a_time),
	    cmocka_unit_test(frame_guard_page),
	    cmocka_unit_test(frame_span),
	    cmocka_unit_test(frame_partial_is_not_idle),
	    cmocka_unit_test(frame_compressed_rejected),
	    cmocka_unit_test(frame_too_large_rejected),
	    cmocka_unit_test(status_names),
	    cmocka_unit_test(proto_round_trip),
	    cmocka_unit_test(envelope_builder),
	    cmocka_unit_test(out_buffer_reused),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
