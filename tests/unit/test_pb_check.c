/* pb_check: NUL bytes in protobuf string fields (issue #17 item 5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "unit.h"
#include "connector/pb_check.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "proto/opentelemetry/proto/trace/v1/trace.pb-c.h"

static const ProtobufCMessageDescriptor *const D =
    &connector__v1__controller_message__descriptor;

/* A ControllerMessage carrying an HttpRequest with one header, packed. */
static size_t
pack(uint8_t *out, size_t cap, const char *value, const uint8_t *body,
    size_t blen)
{
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Connector__V1__HttpRequest r = CONNECTOR__V1__HTTP_REQUEST__INIT;
	Connector__V1__Header h = CONNECTOR__V1__HEADER__INIT, *hp = &h;
	size_t n;

	h.key = "X-A";
	h.value = (char *)value;
	r.method = "GET";
	r.url = "http://127.0.0.1/";
	r.headers = &hp;
	r.n_headers = 1;
	r.body.data = (uint8_t *)body;
	r.body.len = blen;
	m.request_id = "r1";
	m.message_case =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HTTP_REQUEST;
	m.http_request = &r;
	n = connector__v1__controller_message__get_packed_size(&m);
	assert_true(n <= cap);
	return connector__v1__controller_message__pack(&m, out);
}

/* Replace the first 'X' of the packed value "vXw" by a NUL. */
static void
poke_nul(uint8_t *p, size_t n)
{
	uint8_t *x = memmem(p, n, "vXw", 3);

	assert_non_null(x);
	x[1] = 0;
}

static void
pb_clean_and_nul(void **state)
{
	static const uint8_t body[] = {'a', 0, 'b'};
	uint8_t buf[512];
	size_t n;

	n = pack(buf, sizeof(buf), "vXw", body, sizeof(body));
	/* NUL bytes in a bytes field (the body) are data, not a problem. */
	assert_true(pb_strings_clean(D, buf, n));
	poke_nul(buf, n);
	/* protobuf-c still unpacks it, truncated: that is what we refuse. */
	{
		Connector__V1__ControllerMessage *m =
		    connector__v1__controller_message__unpack(NULL, n, buf);

		assert_non_null(m);
		assert_string_equal(m->http_request->headers[0]->value, "v");
		connector__v1__controller_message__free_unpacked(m, NULL);
	}
	assert_false(pb_strings_clean(D, buf, n));
}

static void
pb_malformed_and_unknown(void **state)
{
	/* Field 99 (unknown, length-delimited) holding a NUL: skipped. */
	static const uint8_t unknown[] = {0x9a, 0x06, 2, 'a', 0};
	/* A length past the end, a truncated varint, a group. */
	static const uint8_t over[] = {0x0a, 5, 'a'};
	static const uint8_t trunc[] = {0x08, 0x80};
	static const uint8_t group[] = {0x0b, 0x0c};
	/* request_id (field 1, a string) with a NUL. */
	static const uint8_t id_nul[] = {0x0a, 2, 'a', 0};

	assert_true(pb_strings_clean(D, unknown, sizeof(unknown)));
	assert_true(pb_strings_clean(D, NULL, 0));
	assert_false(pb_strings_clean(D, over, sizeof(over)));
	assert_false(pb_strings_clean(D, trunc, sizeof(trunc)));
	assert_false(pb_strings_clean(D, group, sizeof(group)));
	assert_false(pb_strings_clean(D, id_nul, sizeof(id_nul)));
}

/* The two ways of unpacking under a budget, each with its free. */
static void
free_plain(ProtobufCMessage *m)
{
	protobuf_c_message_free_unpacked(m, NULL);
}

static ProtobufCMessage *
unpack_arena(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
    size_t budget, bool *over)
{
	return pb_unpack_arena(d, p, n, budget, over, NULL);
}

static const struct {
	ProtobufCMessage *(*unpack)(const ProtobufCMessageDescriptor *,
	    const uint8_t *, size_t, size_t, bool *);
	void (*release)(ProtobufCMessage *);
} unpackers[] = {
    {pb_unpack_bounded, free_plain},
    {unpack_arena, pb_arena_free},
};

/* An HttpRequest of 1000 empty headers: 2 bytes each on the wire, far more
 * once unpacked; over a budget it is refused as such, not as malformed.
 * The same answers from the arena (whose 1000 headers do not fit in its
 * first block). */
static void
pb_unpack_budget(void **state)
{
	const ProtobufCMessageDescriptor *d =
	    &connector__v1__controller_message__descriptor;
	static uint8_t wire[6 + 2000];
	Connector__V1__ControllerMessage *m;
	bool over;
	size_t i, u;

	memcpy(wire, "\x1a\xd3\x0f", 3); /* field 3, 2003 bytes */
	memcpy(wire + 3, "\x0a\x01G", 3); /* method "G" */
	for (i = 0; i < 1000; i++)
		memcpy(wire + 6 + 2 * i, "\x1a\x00", 2);
	for (u = 0; u < sizeof unpackers / sizeof unpackers[0]; u++) {
		m = (Connector__V1__ControllerMessage *)unpackers[u].unpack(
		    d, wire, 2006, 1 << 20, &over);
		assert_non_null(m);
		assert_false(over);
		assert_int_equal(m->http_request->n_headers, 1000);
		assert_string_equal(m->http_request->method, "G");
		unpackers[u].release(&m->base);
		assert_null(
		    unpackers[u].unpack(d, wire, 2006, 2 * 2006, &over));
		assert_true(over);
		assert_null(unpackers[u].unpack(d, wire, 2005, 1 << 20, &over));
		assert_false(over); /* truncated: malformed */
		assert_null(unpackers[u].unpack(d, wire, 2006, 8, &over));
		assert_true(over);
	}
	pb_arena_free(NULL);
}

/* pb_unpacked_size(p[0..n)) is what unpacking it allocates (protobuf-c
 * unpacks within that budget, not within one byte less), the arena's one
 * block holds the message, and *clean is pb_strings_clean's. */
static void
expect_size(const uint8_t *p, size_t n)
{
	ProtobufCMessage *m;
	bool clean = false, over = true;
	size_t size = pb_unpacked_size(D, p, n, &clean);
	uint8_t again[4096];

	m = pb_unpack_bounded(D, p, n, size, &over);
	assert_non_null(m);
	protobuf_c_message_free_unpacked(m, NULL);
	assert_null(pb_unpack_bounded(D, p, n, size - 1, &over));
	assert_true(over);
	assert_int_equal(clean, pb_strings_clean(D, p, n));
	/* the arena's message packs to the same bytes */
	m = pb_unpack_arena(D, p, n, size, &over, NULL);
	assert_non_null(m);
	assert_false(over);
	assert_true(n <= sizeof(again));
	if (clean) { /* (protobuf-c packs a string up to its NUL) */
		assert_int_equal(protobuf_c_message_pack(m, again), n);
		assert_memory_equal(again, p, n);
	}
	pb_arena_free(m);
	assert_null(pb_unpack_arena(D, p, n, size - 1, &over, NULL));
	assert_true(over);
}

/* The walk's size against protobuf-c's allocations: strings, bytes,
 * sub-messages, a repeated field, unknown fields of each wire type, more
 * than 16 fields (protobuf-c's slabs), scalars, an empty message. */
static void
pb_size_exact(void **state)
{
	static const uint8_t body[] = {'a', 0, 'b'};
	/* unknown: field 99 length-delimited, 98 varint, 97 fixed32, 96
	 * fixed64 */
	static const uint8_t unknown[] = {0x9a, 0x06, 2, 'a', 0, 0x90, 0x06,
	    0x85, 0x01, 0x8d, 0x06, 1, 2, 3, 4, 0x81, 0x06, 1, 2, 3, 4, 5, 6, 7,
	    8};
	/* health_check_request {unix_millis: 5} */
	static const uint8_t health[] = {0x12, 2, 0x08, 5};
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Connector__V1__HttpRequest r = CONNECTOR__V1__HTTP_REQUEST__INIT;
	Connector__V1__Header h[40], *hp[40];
	uint8_t buf[4096];
	size_t n, i;

	n = pack(buf, sizeof(buf), "vXw", body, sizeof(body));
	expect_size(buf, n);
	poke_nul(buf, n);
	expect_size(buf, n); /* not clean */
	n = pack(buf, sizeof(buf), "", NULL, 0);
	memcpy(buf + n, unknown, sizeof(unknown));
	expect_size(buf, n + sizeof(unknown));
	expect_size(health, sizeof(health));
	expect_size(NULL, 0);
	for (i = 0; i < 40; i++) {
		connector__v1__header__init(&h[i]);
		h[i].key = i % 2 ? "accept" : "x-a-longer-header-name";
		h[i].value = i % 3 ? "v" : "";
		hp[i] = &h[i];
	}
	r.method = "POST";
	r.url = "http://127.0.0.1:8080/a/b?c=d";
	r.headers = hp;
	r.n_headers = 40;
	r.stream_response = true;
	m.request_id = "0123456789abcdef";
	m.message_case =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HTTP_REQUEST;
	m.http_request = &r;
	assert_true(connector__v1__controller_message__get_packed_size(&m) <=
	    sizeof(buf));
	n = connector__v1__controller_message__pack(&m, buf);
	expect_size(buf, n);
}

/* A singular message field twice outside a oneof: protobuf-c merges the
 * two, concatenating their repeated fields into a new array the walk does
 * not count; the arena grows and gives protobuf-c's own answer.  (The
 * tunnel's messages repeat only inside a oneof, where the latter wins.) */
static void
pb_arena_merge(void **state)
{
	const ProtobufCMessageDescriptor *rs =
	    &opentelemetry__proto__trace__v1__resource_spans__descriptor;
	/* resource {attributes {}}, resource {attributes {}} */
	static const uint8_t twice[] = {0x0a, 2, 0x0a, 0, 0x0a, 2, 0x0a, 0};
	Opentelemetry__Proto__Trace__V1__ResourceSpans *m, *plain;
	bool over, clean;

	plain = (Opentelemetry__Proto__Trace__V1__ResourceSpans *)
	    protobuf_c_message_unpack(rs, NULL, sizeof(twice), twice);
	assert_non_null(plain);
	assert_int_equal(plain->resource->n_attributes, 2);
	m = (Opentelemetry__Proto__Trace__V1__ResourceSpans *)pb_unpack_arena(
	    rs, twice, sizeof(twice), 1 << 20, &over, &clean);
	assert_non_null(m);
	assert_true(clean);
	assert_int_equal(m->resource->n_attributes, 2);
	assert_non_null(m->resource->attributes[1]);
	pb_arena_free(&m->base);
	protobuf_c_message_free_unpacked(&plain->base, NULL);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pb_clean_and_nul),
	    cmocka_unit_test(pb_malformed_and_unknown),
	    cmocka_unit_test(pb_unpack_budget),
	    cmocka_unit_test(pb_size_exact),
	    cmocka_unit_test(pb_arena_merge),
	};

	if (unit_filter(argc, argv) != 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
