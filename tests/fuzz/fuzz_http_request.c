/*
 * Fuzz target: the HTTP/1.1 request head parser and request framing.
 * Checks that every slice lies inside the input, that a complete head is
 * found again from exactly its own bytes, and that one byte less is never
 * complete.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const uint8_t *data, size_t size, const char *p, size_t n)
{
	if (n > 0 &&
	    ((const uint8_t *)p < data || (const uint8_t *)p + n > data + size))
		abort();
}

static int
parse(const uint8_t *data, size_t size, struct http_request *r,
    struct http_header *h)
{
	const struct http_limits lim = {.max_line = 512,
	    .max_headers = 16,
	    .max_header_bytes = 2048,
	    .max_total = 2048};

	r->headers = h;
	r->nheaders = 16;
	return http_parse_request((const char *)data, size, r, &lim);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header h[16];
	struct http_request r;
	struct http_framing f;
	size_t i;
	int n, again;

	n = parse(data, size, &r, h);
	if (n <= 0)
		return 0;
	if ((size_t)n > size)
		abort();
	inside(data, size, r.method, r.method_len);
	inside(data, size, r.target, r.target_len);
	for (i = 0; i < r.nheaders; i++) {
		inside(data, size, h[i].name, h[i].name_len);
		inside(data, size, h[i].value, h[i].value_len);
	}
	(void)http_request_framing(&r, &f);
	if (parse(data, (size_t)n, &r, h) != n)
		abort();
	again = parse(data, (size_t)n - 1, &r, h);
	if (again > 0)
		abort();
	return 0;
}
