/*
 * Unit tests: the edge's front-door router, upstream URL building, the
 * registry JSON and the decoding of streamed response parts.  Usage: test_edge [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"

#include "edge/edge_int.h"
#include "proto/outpost/v1/responses.pb-c.h"

static enum edge_route_kind
route(const char *p, struct edge_route *r)
{
	return edge_route_parse(p, strlen(p), r);
}

static void
route_table(void **state)
{
	static const struct {
		const char *path;
		enum edge_route_kind kind;
	} cases[] = {
	    {"/v1/connectors", EDGE_R_LIST},
	    {"/v1/connectors/a", EDGE_R_CONNECTOR},
	    {"/v1/connectors/a.b-c_D9", EDGE_R_CONNECTOR},
	    {"/v1/connectors/a/proxy/http/h", EDGE_R_PROXY},
	    {"/v1/connectors/a/proxy/https/h:8443/x/y", EDGE_R_PROXY},
	    {"/v1/connectors/a/tunnels/0f-aa_1/drain", EDGE_R_DRAIN},
	    {"/v1/connectors/a/revoke", EDGE_R_REVOKE},
	    {"/v1/connectors/a/revoke/", EDGE_R_NONE},
	    {"/v1/connectors/a/revokex", EDGE_R_NONE},
	    {"/v1/connectors/a/connect/db:5432", EDGE_R_CONNECT},
	    {"/v1/connectors/a/connect/db:5432/", EDGE_R_NONE},
	    {"/v1/connectors/a/connect/db:5432/x", EDGE_R_NONE},
	    {"/v1/connectors/a/connect", EDGE_R_NONE},
	    {"/v1/connectors/", EDGE_R_NONE},
	    {"/v1/connectors/a/", EDGE_R_NONE},
	    {"/v1/connectorsx", EDGE_R_NONE},
	    {"/v1/connectors/..", EDGE_R_NONE},
	    {"/v1/connectors/.", EDGE_R_NONE},
	    {"/v1/connectors/a%20b", EDGE_R_NONE},
	    {"/v1/connectors/a/proxy/ftp/h", EDGE_R_NONE},
	    {"/v1/connectors/a/proxy/http/", EDGE_R_NONE},
	    {"/v1/connectors/a/proxy/http", EDGE_R_NONE},
	    {"/v1/connectors/a/tunnels/x/drain/", EDGE_R_NONE},
	    {"/v1/connectors/a/tunnels/x.y/drain", EDGE_R_NONE},
	    {"/v1/connectors/a/tunnels//drain", EDGE_R_NONE},
	    {"/v1/connectors/a/other", EDGE_R_NONE},
	    {"/v2/connectors", EDGE_R_NONE},
	    {"", EDGE_R_NONE},
	};
	struct edge_route r;
	size_t i;

	for (i = 0; i < nitems(cases); i++)
		if (route(cases[i].path, &r) != cases[i].kind)
			fail_msg("%s: kind %d, want %d", cases[i].path, r.kind,
			    cases[i].kind);
}

static void
route_slices(void **state)
{
	struct edge_route r;

	assert_int_equal(
	    route("/v1/connectors/web-1/proxy/https/[::1]:8443/a/b", &r),
	    EDGE_R_PROXY);
	assert_int_equal(r.namelen, 5);
	assert_memory_equal(r.name, "web-1", 5);
	assert_true(r.tls);
	assert_int_equal(r.hostportlen, 10);
	assert_memory_equal(r.hostport, "[::1]:8443", 10);
	assert_int_equal(r.restlen, 4);
	assert_memory_equal(r.rest, "/a/b", 4);
	assert_int_equal(
	    route("/v1/connectors/n/tunnels/t-1/drain", &r), EDGE_R_DRAIN);
	assert_int_equal(r.tunnellen, 3);
	assert_memory_equal(r.tunnel, "t-1", 3);
}

static long
url(const char *path, const char *q, char *out, size_t cap)
{
	struct edge_route r;

	assert_int_equal(route(path, &r), EDGE_R_PROXY);
	return edge_route_url(&r, q, strlen(q), out, cap);
}

static void
route_urls(void **state)
{
	char out[256];

	assert_true(url("/v1/connectors/a/proxy/http/h:81/x", "q=1&r", out,
			sizeof(out)) > 0);
	assert_string_equal(out, "http://h:81/x?q=1&r");
	assert_true(
	    url("/v1/connectors/a/proxy/https/svc", "", out, sizeof(out)) > 0);
	assert_string_equal(out, "https://svc/");
	assert_true(url("/v1/connectors/a/proxy/http/[::1]:8080/", "", out,
			sizeof(out)) > 0);
	assert_string_equal(out, "http://[::1]:8080/");
	/* No userinfo, no escapes or fragments in the host, valid ports. */
	assert_int_equal(
	    url("/v1/connectors/a/proxy/http/u@h/", "", out, sizeof(out)), -1);
	assert_int_equal(
	    url("/v1/connectors/a/proxy/http/h%2f/", "", out, sizeof(out)), -1);
	assert_int_equal(
	    url("/v1/connectors/a/proxy/http/h#f/", "", out, sizeof(out)), -1);
	assert_int_equal(
	    url("/v1/connectors/a/proxy/http/h:99999/", "", out, sizeof(out)),
	    -1);
	/* Too long for the caller's buffer. */
	assert_int_equal(
	    url("/v1/connectors/a/proxy/http/h/abcdef", "", out, 12), -1);
}

/* The router never reads past the path: it ends at a guard page. */
static void
route_guard_page(void **state)
{
	static const char *paths[] = {"/v1/connectors", "/v1/connectors/abc",
	    "/v1/connectors/a/proxy/http/h", "/v1/connectors/a/tunnels/t/drain",
	    "/v1/connectors/a/tunnels/t/dr"};
	long pg = sysconf(_SC_PAGESIZE);
	struct edge_route r;
	char *m;
	size_t i, n;

	m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, pg, PROT_NONE), 0);
	for (i = 0; i < nitems(paths); i++) {
		n = strlen(paths[i]);
		memcpy(m + pg - n, paths[i], n);
		for (size_t k = 0; k <= n; k++)
			edge_route_parse(m + pg - k, k, &r);
	}
	munmap(m, 2 * pg);
}

/* Connect targets: host:port, [v6]:port; the port is required. */
static void
route_targets(void **state)
{
	static const struct {
		const char *path, *host;
		unsigned port;
	} cases[] = {
	    {"/v1/connectors/a/connect/db.internal:5432", "db.internal", 5432},
	    {"/v1/connectors/a/connect/10.0.0.1:22", "10.0.0.1", 22},
	    {"/v1/connectors/a/connect/[fd00::1]:3389", "fd00::1", 3389},
	    {"/v1/connectors/a/connect/h:65535", "h", 65535},
	    {"/v1/connectors/a/connect/h:65536", NULL, 0},
	    {"/v1/connectors/a/connect/h:0", NULL, 0},
	    {"/v1/connectors/a/connect/h:", NULL, 0},
	    {"/v1/connectors/a/connect/h", NULL, 0},
	    {"/v1/connectors/a/connect/:22", NULL, 0},
	    {"/v1/connectors/a/connect/h%20x:22", NULL, 0},
	    {"/v1/connectors/a/connect/[fd00::g]:22", NULL, 0},
	    {"/v1/connectors/a/connect/h:99999999999999999999", NULL, 0},
	};
	struct edge_route r;
	char host[EDGE_HOST_MAX];
	uint16_t port;
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		assert_int_equal(route(cases[i].path, &r), EDGE_R_CONNECT);
		if (cases[i].host == NULL) {
			assert_false(
			    edge_route_target(&r, host, sizeof(host), &port));
			continue;
		}
		assert_true(edge_route_target(&r, host, sizeof(host), &port));
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
	assert_int_equal(
	    route("/v1/connectors/a/connect/abcdef:1", &r), EDGE_R_CONNECT);
	assert_false(edge_route_target(&r, host, 4, &port)); /* too long */
}

static void
json_escapes_peer_strings(void **state)
{
	static struct edge e;
	static struct edge_conn c;
	static struct edge_tunnel t;
	struct edge_connector k = {0};
	char mem[4096];
	struct buf b;

	memset(&c, 0, sizeof(c));
	memset(&t, 0, sizeof(t));
	strcpy(k.name, "alpha");
	strcpy(t.id, "t1");
	strcpy(t.hostname, "h\"\\\n\x01");
	strcpy(c.addr, "127.0.0.1:5");
	c.tls = true;
	c.e = &e;
	assert_int_equal(edge_sessions_init(&e), 0);
	t.c = &c;
	t.accepted = true;
	t.in_flight = 2;
	list_init(&k.tunnels);
	list_append(&k.tunnels, &t.link);
	buf_init(&b, mem, sizeof(mem));
	edge_json_connector(&b, &k);
	assert_false(b.overflow);
	buf_add(&b, "", 1);
	assert_non_null(
	    strstr(mem, "\"hostname\":\"h\\\"\\\\\\u000a\\u0001\""));
	assert_non_null(strstr(mem, "\"name\":\"alpha\",\"state\":\"online\""));
	assert_non_null(strstr(mem, "\"in_flight\":2,"));
	assert_non_null(strstr(mem, "\"transport\":\"mtls\""));
	assert_non_null(strstr(mem, "\"connected_since\":null"));
	assert_non_null(strstr(mem, "\"transport\":\"mtls\",\"sessions\":[]}"));
	edge_sessions_free(&e);
}

/* Decode n bytes at p in the body state: the reason, and the part. */
static const char *
body_part(const uint8_t *p, size_t n, struct edge_part *out)
{
	enum edge_pstate st = EDGE_P_BODY;

	return edge_part_decode(&st, p, n, out);
}

/* A data part in its plain encoding is read in place; any other goes
 * through protobuf-c, which gives the same bytes or the typed refusal. */
static void
part_data_in_place(void **state)
{
	static const uint8_t plain[] = {0x12, 0x03, 'a', 'b', 'c'};
	static const uint8_t overlong[] = {0x12, 0x83, 0x00, 'a', 'b', 'c'};
	static const uint8_t four[] = {
	    0x12, 0x83, 0x80, 0x80, 0x00, 'a', 'b', 'c'};
	static const uint8_t more[] = {0x12, 0x01, 'a', 0x12, 0x01, 'b'};
	static const uint8_t past[] = {0x12, 0x04, 'a', 'b', 'c'};
	static const uint8_t empty[] = {0x12, 0x00};
	static const uint8_t cut[] = {0x12, 0x80};
	struct edge_part m;

	assert_null(body_part(plain, sizeof(plain), &m));
	assert_null(m.m);
	assert_ptr_equal(m.data, plain + 2);
	assert_int_equal(m.len, 3);
	/* Overlong lengths (of up to three bytes: in place) and a later
	 * field (protobuf-c: the last one wins) decode the same way. */
	assert_null(body_part(overlong, sizeof(overlong), &m));
	assert_null(m.m);
	assert_ptr_equal(m.data, overlong + 3);
	assert_null(body_part(four, sizeof(four), &m));
	assert_non_null(m.m);
	assert_int_equal(m.len, 3);
	assert_memory_equal(m.data, "abc", 3);
	edge_part_free(&m);
	assert_null(body_part(more, sizeof(more), &m));
	assert_non_null(m.m);
	assert_int_equal(m.len, 1);
	assert_memory_equal(m.data, "b", 1);
	edge_part_free(&m);
	assert_null(m.m);
	assert_string_equal(
	    body_part(past, sizeof(past), &m), "malformed_part");
	assert_string_equal(body_part(cut, sizeof(cut), &m), "malformed_part");
	assert_string_equal(body_part(empty, sizeof(empty), &m), "empty_part");
	assert_null(m.m);
	assert_int_equal(m.len, 0);
}

/* The limit is the spec's: 65536 bytes in place, one more refused. */
static void
part_data_limit(void **state)
{
	size_t n = 4 + EDGE_PART_DATA_MAX + 1;
	uint8_t *p = calloc(1, n);
	struct edge_part m;
	enum edge_pstate st = EDGE_P_HEAD;

	assert_non_null(p);
	memcpy(p, (const uint8_t[]){0x12, 0x80, 0x80, 0x04}, 4);
	assert_null(body_part(p, n - 1, &m));
	assert_null(m.m);
	assert_int_equal(m.len, EDGE_PART_DATA_MAX);
	p[1] = 0x81;
	assert_string_equal(body_part(p, n, &m), "data_too_large");
	/* Before the head a plain data part is refused, not read. */
	p[1] = 0x80;
	assert_string_equal(
	    edge_part_decode(&st, p, n - 1, &m), "data_before_head");
	assert_int_equal(st, EDGE_P_HEAD);
	free(p);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(route_table),
	    cmocka_unit_test(route_slices),
	    cmocka_unit_test(route_urls),
	    cmocka_unit_test(route_guard_page),
	    cmocka_unit_test(route_targets),
	    cmocka_unit_test(json_escapes_peer_strings),
	    cmocka_unit_test(part_data_in_place),
	    cmocka_unit_test(part_data_limit),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
