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

static const struct {
	ProtobufCMessage *(*unpack)(const ProtobufCMessageDescriptor *,
	    const uint8_t *, size_t, size_t, bool *);
	void (*release)(ProtobufCMessage *);
} unpackers[] = {
    {pb_unpack_bounded, free_plain},
    {pb_unpack_arena, pb_arena_free},
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

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pb_clean_and_nul),
	    cmocka_unit_test(pb_malformed_and_unknown),
	    cmocka_unit_test(pb_unpack_budget),
	};

	if (unit_filter(argc, argv) != 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
