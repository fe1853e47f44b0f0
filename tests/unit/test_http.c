/*
 * Unit tests: HTTP/1.1 request and response heads, framing, and the
 * chunked decoder.  Every parser input is placed so that it ends exactly
 * at a PROT_NONE guard page and is parsed all at once and one byte at a
 * time.  Run one case with: test_http <name-pattern>.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "http/http.h"

#define GUARD_PAGES 16

static uint8_t *guard_base;
static size_t guard_len; /* bytes usable before the guard page */

static void
guard_setup(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	guard_len = pg * GUARD_PAGES;
	guard_base = mmap(NULL, guard_len + pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED)
		abort();
	if (mprotect(guard_base + guard_len, pg, PROT_NONE) != 0)
		abort();
}

/* Copy s[0..n) so that its last byte is the last byte before the guard. */
static const char *
at_guard(const void *s, size_t n)
{
	uint8_t *p;

	assert_true(n <= guard_len);
	p = guard_base + guard_len - n;
	memcpy(p, s, n);
	return (const char *)p;
}

static const struct http_limits lim_default = {
    .max_line = 8192,
    .max_headers = 64,
    .max_header_bytes = 16384,
    .max_total = 16384,
};

static int
req_parse(const char *s, size_t n, struct http_request *r,
    struct http_header *h, size_t cap, const struct http_limits *lim)
{
	r->headers = h;
	r->nheaders = cap;
	return http_parse_request(at_guard(s, n), n, r, lim);
}

/*
 * Parse every prefix of s: shorter ones must be HTTP_PARTIAL (or the final
 * error, once the offending byte is in), the whole must give 'want'.
 */
static void
req_each_prefix(const char *s, const struct http_limits *lim, int want)
{
	struct http_header h[64];
	struct http_request r;
	size_t n = strlen(s), k;
	int got;

	for (k = 0; k < n; k++) {
		got = req_parse(s, k, &r, h, 64, lim);
		if (got != HTTP_PARTIAL && got != want) {
			fail_msg("prefix %zu of %zu: got %d want %d or partial",
			    k, n, got, want);
		}
		if (want > 0)
			assert_int_equal(got, HTTP_PARTIAL);
	}
	assert_int_equal(req_parse(s, n, &r, h, 64, lim), want);
}

static void
req_simple(void **state)
{
	static const char m[] = "GET /healthz?x=1 HTTP/1.1\r\n"
				"Host: example.org\r\n"
				"Accept:  */*  \r\n"
				"X-Empty:\r\n"
				"\r\n";
	struct http_header h[8];
	struct http_request r;

	assert_int_equal(
	    req_parse(m, strlen(m), &r, h, 8, &lim_default), (int)strlen(m));
	assert_int_equal(r.method_len, 3);
	assert_memory_equal(r.method, "GET", 3);
	assert_int_equal(r.target_len, 12);
	assert_memory_equal(r.target, "/healthz?x=1", 12);
	assert_int_equal(r.minor_version, 1);
	assert_int_equal(r.nheaders, 3);
	assert_int_equal(h[0].name_len, 4);
	assert_memory_equal(h[0].value, "example.org", h[0].value_len);
	assert_int_equal(h[1].value_len, 3);
	assert_memory_equal(h[1].value, "*/*", 3);
	assert_int_equal(h[2].value_len, 0);
	req_each_prefix(m, &lim_default, (int)strlen(m));
}

static void
req_pipelined(void **state)
{
	static const char m[] = "HEAD / HTTP/1.0\r\n\r\nGET /b HTTP/1.1\r\n";
	struct http_header h[8];
	struct http_request r;

	assert_int_equal(req_parse(m, strlen(m), &r, h, 8, &lim_default), 19);
	assert_int_equal(r.minor_version, 0);
	assert_int_equal(r.nheaders, 0);
	/* Leading empty lines are skipped (RFC 9112 2.2). */
	req_each_prefix("\r\nGET / HTTP/1.1\r\n\r\n", &lim_default, 20);
}

static void
req_malformed(void **state)
{
	static const char *bad[] = {
	    "GET  / HTTP/1.1\r\n\r\n",
	    " GET / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\n\r\n",
	    "GET / HTTP/2.0\r\n\r\n",
	    "GET / HTTP/1.x\r\n\r\n",
	    "GET / HTTX/1.1\r\n\r\n",
	    "GET /\x01 HTTP/1.1\r\n\r\n",
	    "G(T / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1 \r\n\r\n",
	    "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	    "GET / HTTP/1.1\r\n: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: b\nB: c\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: b\r\r\n\r\n",
	    "GET / HTTP/1.1\r\n\rX",
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	    "GET\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		req_each_prefix(bad[i], &lim_default, HTTP_ERROR);
	assert_int_equal(http_error_status(HTTP_ERROR), 400);
}

static char *
repeat(const char *head, char c, size_t n, const char *tail)
{
	size_t a = strlen(head), b = strlen(tail);
	char *s = malloc(a + n + b + 1);

	assert_non_null(s);
	memcpy(s, head, a);
	memset(s + a, c, n);
	memcpy(s + a + n, tail, b + 1);
	return s;
}

static void
req_limit_line(void **state)
{
	struct http_limits lim = lim_default;
	char *ok, *big, *partial;

	lim.max_line = 100;
	/* "GET /" + n + " HTTP/1.1" is n + 14 bytes. */
	ok = repeat("GET /", 'a', 86, " HTTP/1.1\r\n\r\n");
	big = repeat("GET /", 'a', 87, " HTTP/1.1\r\n\r\n");
	partial = repeat("GET /", 'a', 200, "");
	req_each_prefix(ok, &lim, (int)strlen(ok));
	req_each_prefix(big, &lim, HTTP_ERROR_LINE);
	req_each_prefix(partial, &lim, HTTP_ERROR_LINE);
	assert_int_equal(http_error_status(HTTP_ERROR_LINE), 414);
	free(ok);
	free(big);
	free(partial);
}

static void
req_limit_count(void **state)
{
	struct http_limits lim = lim_default;
	struct http_header h[4];
	struct http_request r;
	static const char four[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n"
				   "C: 3\r\nD: 4\r\n\r\n";
	static const char five[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n"
				   "C: 3\r\nD: 4\r\nE: 5\r\n\r\n";

	lim.max_headers = 4;
	req_each_prefix(four, &lim, (int)strlen(four));
	req_each_prefix(five, &lim, HTTP_ERROR_TOO_LARGE);
	/* The caller's array is a limit too. */
	assert_int_equal(req_parse(four, strlen(four), &r, h, 3, &lim_default),
	    HTTP_ERROR_TOO_LARGE);
	assert_int_equal(http_error_status(HTTP_ERROR_TOO_LARGE), 431);
}

static void
req_limit_bytes(void **state)
{
	struct http_limits lim = lim_default;
	char *ok, *big, *endless;

	/* Header section = "X: " + n + CRLF + CRLF = n + 7 bytes. */
	lim.max_header_bytes = 107;
	ok = repeat("GET / HTTP/1.1\r\nX: ", 'v', 100, "\r\n\r\n");
	big = repeat("GET / HTTP/1.1\r\nX: ", 'v', 101, "\r\n\r\n");
	endless = repeat("GET / HTTP/1.1\r\nX: ", 'v', 300, "");
	req_each_prefix(ok, &lim, (int)strlen(ok));
	req_each_prefix(big, &lim, HTTP_ERROR_TOO_LARGE);
	req_each_prefix(endless, &lim, HTTP_ERROR_TOO_LARGE);
	free(ok);
	free(big);
	free(endless);
}

static void
req_limit_total(void **state)
{
	struct http_limits lim = lim_default;
	char *ok, *big;

	ok = repeat("GET / HTTP/1.1\r\nX: ", 'v', 100, "\r\n\r\n");
	lim.max_total = strlen(ok);
	big = repeat("GET / HTTP/1.1\r\nX: ", 'v', 101, "\r\n\r\n");
	req_each_prefix(ok, &lim, (int)strlen(ok));
	req_each_prefix(big, &lim, HTTP_ERROR_TOO_LARGE);
	/* A request line under max_line can still break max_total. */
	lim.max_total = 10;
	req_each_prefix(
	    "GET /abcdefgh HTTP/1.1\r\n\r\n", &lim, HTTP_ERROR_TOO_LARGE);
	free(ok);
	free(big);
}

static int
resp_parse(const char *s, size_t n, struct http_response *r,
    struct http_header *h, size_t cap)
{
	r->headers = h;
	r->nheaders = cap;
	return http_parse_response(at_guard(s, n), n, r, &lim_default);
}

static void
resp_each_prefix(const char *s, int want)
{
	struct http_header h[64];
	struct http_response r;
	size_t n = strlen(s), k;
	int got;

	for (k = 0; k < n; k++) {
		got = resp_parse(s, k, &r, h, 64);
		if (got != HTTP_PARTIAL && got != want)
			fail_msg("prefix %zu: got %d want %d", k, got, want);
		if (want > 0)
			assert_int_equal(got, HTTP_PARTIAL);
	}
	assert_int_equal(resp_parse(s, n, &r, h, 64), want);
}

static void
resp_simple(void **state)
{
	static const char m[] = "HTTP/1.1 404 Not Found\r\n"
				"Content-Length: 5\r\n"
				"Connection: keep-alive, Upgrade\r\n\r\nhello";
	struct http_header h[8];
	struct http_response r;
	struct http_framing f;

	assert_int_equal(
	    resp_parse(m, strlen(m), &r, h, 8), (int)strlen(m) - 5);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.minor_version, 1);
	assert_int_equal(r.reason_len, 9);
	assert_memory_equal(r.reason, "Not Found", 9);
	assert_int_equal(r.nheaders, 2);
	assert_int_equal(http_response_framing(&r, "GET", 3, &f), 0);
	assert_int_equal(f.kind, HTTP_BODY_LENGTH);
	assert_int_equal(f.length, 5);
	assert_true(f.keep_alive);
	assert_int_equal(http_response_framing(&r, "HEAD", 4, &f), 0);
	assert_int_equal(f.kind, HTTP_BODY_NONE);
	resp_each_prefix("HTTP/1.1 200 OK\r\nA: b\r\n\r\n", 25);
	resp_each_prefix("HTTP/1.0 204\r\n\r\n", 16);
	resp_each_prefix("HTTP/1.1 200 \r\n\r\n", 17);
}

static void
resp_malformed(void **state)
{
	static const char *bad[] = {
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 2000 OK\r\n\r\n",
	    "HTTP/1.1 099 OK\r\n\r\n",
	    "HTTP/1.1  200 OK\r\n\r\n",
	    "HTTP/1.1 200 O\x01K\r\n\r\n",
	    "HTTP/2 200 OK\r\n\r\n",
	    "http/1.1 200 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nA: x\n\r\n",
	    "SSH-2.0-OpenSSH_9.2\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		resp_each_prefix(bad[i], HTTP_ERROR);
}

static void
resp_framing(void **state)
{
	struct http_header h[8];
	struct http_response r;
	struct http_framing f;
	static const char *close_delim = "HTTP/1.1 200 OK\r\n\r\n";
	static const char *chunked = "HTTP/1.1 200 OK\r\n"
				     "Transfer-Encoding: gzip, chunked\r\n\r\n";
	static const char *conflict = "HTTP/1.1 200 OK\r\nContent-Length: 1"
				      "\r\nContent-Length: 2\r\n\r\n";
	static const char *h10 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	/* Issue #17 item 4: both framings is response splitting. */
	static const char *cl_te = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";

	assert_true(resp_parse(close_delim, strlen(close_delim), &r, h, 8) > 0);
	assert_int_equal(http_response_framing(&r, "GET", 3, &f), 0);
	assert_int_equal(f.kind, HTTP_BODY_CLOSE);
	assert_false(f.keep_alive);
	assert_true(resp_parse(chunked, strlen(chunked), &r, h, 8) > 0);
	assert_int_equal(http_response_framing(&r, "GET", 3, &f), 0);
	assert_int_equal(f.kind, HTTP_BODY_CHUNKED);
	assert_true(resp_parse(conflict, strlen(conflict), &r, h, 8) > 0);
	assert_int_equal(http_response_framing(&r, "GET", 3, &f), HTTP_ERROR);
	assert_true(resp_parse(cl_te, strlen(cl_te), &r, h, 8) > 0);
	assert_int_equal(http_response_framing(&r, "GET", 3, &f), HTTP_ERROR);
	assert_true(resp_parse(h10, strlen(h10), &r, h, 8) > 0);
	assert_int_equal(http_response_framing(&r, "GET", 3, &f), 0);
	assert_int_equal(f.kind, HTTP_BODY_NONE);
	assert_false(f.keep_alive);
}

static int
req_framing_of(const char *s, struct http_framing *f)
{
	struct http_header h[16];
	struct http_request r;

	assert_true(req_parse(s, strlen(s), &r, h, 16, &lim_default) > 0);
	return http_request_framing(&r, f);
}

static void
req_framing(void **state)
{
	struct http_framing f;

	assert_int_equal(req_framing_of("GET / HTTP/1.1\r\n\r\n", &f), 0);
	assert_int_equal(f.kind, HTTP_BODY_NONE);
	assert_true(f.keep_alive);
	assert_int_equal(req_framing_of("GET / HTTP/1.1\r\nConnection: "
					"Upgrade, close\r\n\r\n",
			     &f),
	    0);
	assert_false(f.keep_alive);
	assert_int_equal(req_framing_of("GET / HTTP/1.0\r\n\r\n", &f), 0);
	assert_false(f.keep_alive);
	assert_int_equal(req_framing_of("GET / HTTP/1.0\r\nConnection: "
					"Keep-Alive\r\n\r\n",
			     &f),
	    0);
	assert_true(f.keep_alive);
	assert_int_equal(req_framing_of("POST / HTTP/1.1\r\nContent-Length: "
					"12\r\ncontent-length: 12\r\n\r\n",
			     &f),
	    0);
	assert_int_equal(f.kind, HTTP_BODY_LENGTH);
	assert_int_equal(f.length, 12);
	assert_int_equal(req_framing_of("POST / HTTP/1.1\r\nTransfer-Encoding:"
					" chunked\r\n\r\n",
			     &f),
	    0);
	assert_int_equal(f.kind, HTTP_BODY_CHUNKED);
	/* Smuggling shapes are refused. */
	assert_int_equal(req_framing_of("POST / HTTP/1.1\r\nContent-Length: "
					"1\r\nContent-Length: 2\r\n\r\n",
			     &f),
	    HTTP_ERROR);
	assert_int_equal(
	    req_framing_of("POST / HTTP/1.1\r\nContent-Length: "
			   "1\r\nTransfer-Encoding: chunked\r\n\r\n",
		&f),
	    HTTP_ERROR);
	assert_int_equal(req_framing_of("POST / HTTP/1.1\r\nContent-Length: "
					"+1\r\n\r\n",
			     &f),
	    HTTP_ERROR);
	assert_int_equal(req_framing_of("POST / HTTP/1.1\r\nContent-Length: "
					"1, 1\r\n\r\n",
			     &f),
	    HTTP_ERROR);
	assert_int_equal(req_framing_of("POST / HTTP/1.1\r\nTransfer-Encoding:"
					" gzip, chunked\r\n\r\n",
			     &f),
	    HTTP_ERROR);
	assert_int_equal(req_framing_of("POST / HTTP/1.0\r\nTransfer-Encoding:"
					" chunked\r\n\r\n",
			     &f),
	    HTTP_ERROR);
}

/* Decode s through the chunked decoder in pieces of 'step' bytes. */
static long
chunk_run(const char *s, size_t n, size_t step, size_t max_line,
    uint64_t max_body, char *out, size_t *outlen, size_t *used)
{
	struct http_chunked c;
	const uint8_t *p = (const uint8_t *)at_guard(s, n), *d;
	size_t off = 0, piece, dl;
	long r = 0;
	int guard = 0;

	http_chunked_init(&c, max_line, max_body);
	*outlen = 0;
	while (off < n && !http_chunked_done(&c) && guard++ < 100000) {
		piece = n - off < step ? n - off : step;
		/* Each piece ends where the input so far ends. */
		r = http_chunked_feed(&c, p + off, piece, &d, &dl);
		if (r < 0)
			return r;
		assert_true((size_t)r <= piece);
		if (dl > 0)
			memcpy(out + *outlen, d, dl);
		*outlen += dl;
		off += (size_t)r;
	}
	*used = off;
	return http_chunked_done(&c) ? 1 : 0;
}

static void
chunk_expect(const char *s, const char *want, size_t want_used)
{
	size_t steps[] = {1, 2, 3, 7, 4096}, i, ol, used;
	char out[256];

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(
		    chunk_run(s, strlen(s), steps[i], 64, 0, out, &ol, &used),
		    1);
		assert_int_equal(ol, strlen(want));
		assert_memory_equal(out, want, ol);
		assert_int_equal(used, want_used);
	}
}

static void
chunk_error(const char *s, size_t max_line, uint64_t max_body, long want)
{
	size_t steps[] = {1, 5, 4096}, i, ol, used;
	char out[256];

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		assert_int_equal(chunk_run(s, strlen(s), steps[i], max_line,
				     max_body, out, &ol, &used),
		    want);
}

static void
chunked_ok(void **state)
{
	static const char a[] = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
	static const char b[] = "A;name=\"v\"\r\n0123456789\r\n0 ; x\r\n"
				"Trailer: t\r\n\r\nNEXT";
	static const char c[] = "00000002\r\nok\r\n0\r\n\r\n";

	chunk_expect(a, "hello, world", strlen(a));
	chunk_expect(b, "0123456789", strlen(b) - 4);
	chunk_expect(c, "ok", strlen(c));
}

static void
chunked_bad(void **state)
{
	chunk_error("x\r\n", 64, 0, HTTP_ERROR);
	chunk_error("\r\n", 64, 0, HTTP_ERROR);
	chunk_error("5\nhello\r\n0\r\n\r\n", 64, 0, HTTP_ERROR);
	chunk_error("5\r\nhelloX\r\n0\r\n\r\n", 64, 0, HTTP_ERROR);
	chunk_error("5\r\nhello\r\n0\r\nA: b\n\r\n", 64, 0, HTTP_ERROR);
	chunk_error("1 2\r\nx\r\n0\r\n\r\n", 64, 0, HTTP_ERROR);
	chunk_error("-1\r\n", 64, 0, HTTP_ERROR);
	chunk_error("0\r\n\rX", 64, 0, HTTP_ERROR);
}

static void
chunked_limits(void **state)
{
	char *longext = repeat("1;", 'e', 100, "\r\nx\r\n0\r\n\r\n");
	char *longtrail = repeat("0\r\nX: ", 't', 100, "\r\n\r\n");

	/* 16 hex digits could overflow 64 bits. */
	chunk_error("1000000000000000\r\n", 64, 0, HTTP_ERROR_TOO_LARGE);
	chunk_error(longext, 64, 0, HTTP_ERROR_TOO_LARGE);
	chunk_error(longtrail, 64, 0, HTTP_ERROR_TOO_LARGE);
	/* The body limit is checked from the size line, before data. */
	chunk_error("5\r\nhello\r\n6\r\n", 64, 10, HTTP_ERROR_TOO_LARGE);
	chunk_error("fffffffffffffff\r\n", 64, 10, HTTP_ERROR_TOO_LARGE);
	free(longext);
	free(longtrail);
}

static void
chunked_sticky(void **state)
{
	struct http_chunked c;
	const uint8_t *d;
	size_t dl;

	http_chunked_init(&c, 64, 0);
	assert_int_equal(
	    http_chunked_feed(&c, (const uint8_t *)"z", 1, &d, &dl),
	    HTTP_ERROR);
	assert_int_equal(
	    http_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &d, &dl),
	    HTTP_ERROR);
	assert_false(http_chunked_done(&c));
}

static void
misc_helpers(void **state)
{
	struct http_header h[2] = {
	    {"Host", 4, "a", 1},
	    {"content-TYPE", 12, "text/plain", 10},
	};

	assert_true(http_token_eq("GeT", 3, "GET"));
	assert_false(http_token_eq("GE", 2, "GET"));
	assert_false(http_token_eq("GETS", 4, "GET"));
	assert_ptr_equal(http_header_find(h, 2, "Content-Type"), &h[1]);
	assert_null(http_header_find(h, 2, "Content-Length"));
	assert_string_equal(
	    http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(799), "Unknown");
}

/* Field names are tokens: every tchar of RFC 9110 5.6.2, no separator. */
static void
field_name_tchars(void **state)
{
	static const char ok[] = "!#$%&'*+-.^_`|~09azAZ";
	static const char bad[] = "(),/;<=>?@[\\]{}\"";
	struct http_header h[4];
	struct http_request r;
	char m[96];
	size_t i;

	snprintf(m, sizeof(m), "GET / HTTP/1.1\r\n%s: v\r\n\r\n", ok);
	assert_int_equal(
	    req_parse(m, strlen(m), &r, h, 4, &lim_default), (int)strlen(m));
	assert_int_equal(h[0].name_len, strlen(ok));
	for (i = 0; i < sizeof(bad) - 1; i++) {
		snprintf(
		    m, sizeof(m), "GET / HTTP/1.1\r\nA%cB: v\r\n\r\n", bad[i]);
		assert_int_equal(
		    req_parse(m, strlen(m), &r, h, 4, &lim_default),
		    HTTP_ERROR);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(req_simple),
	    cmocka_unit_test(req_pipelined),
	    cmocka_unit_test(req_malformed),
	    cmocka_unit_test(field_name_tchars),
	    cmocka_unit_test(req_limit_line),
	    cmocka_unit_test(req_limit_count),
	    cmocka_unit_test(req_limit_bytes),
	    cmocka_unit_test(req_limit_total),
	    cmocka_unit_test(req_framing),
	    cmocka_unit_test(resp_simple),
	    cmocka_unit_test(resp_malformed),
	    cmocka_unit_test(resp_framing),
	    cmocka_unit_test(chunked_ok),
	    cmocka_unit_test(chunked_bad),
	    cmocka_unit_test(chunked_limits),
	    cmocka_unit_test(chunked_sticky),
	    cmocka_unit_test(misc_helpers),
	};

	guard_setup();
	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
