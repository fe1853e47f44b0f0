/*
 * Fuzz target: the chunked decoder.  The first byte chooses a piece size;
 * the rest is decoded once in those pieces and once in one go, and both
 * runs must agree on the result, the bytes used and the data produced.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	long result; /* 1 done, 0 needs more, < 0 error */
	size_t used;
	size_t out;
	uint64_t sum; /* a cheap digest of the data */
};

static void
decode(const uint8_t *in, size_t n, size_t step, struct run *r)
{
	struct http_chunked c;
	const uint8_t *d;
	size_t dl, piece, i;
	long k;

	http_chunked_init(&c, 32, 4096);
	memset(r, 0, sizeof(*r));
	while (r->used < n && !http_chunked_done(&c)) {
		piece = n - r->used < step ? n - r->used : step;
		k = http_chunked_feed(&c, in + r->used, piece, &d, &dl);
		if (k < 0) {
			r->result = k;
			return;
		}
		if (k == 0 || (size_t)k > piece)
			abort();
		if (dl > 0 && (d < in + r->used || d + dl > in + r->used + k))
			abort();
		for (i = 0; i < dl; i++)
			r->sum = r->sum * 31 + d[i];
		r->out += dl;
		r->used += (size_t)k;
	}
	r->result = http_chunked_done(&c) ? 1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a, b;

	if (size < 1)
		return 0;
	decode(data + 1, size - 1, (size_t)data[0] % 17 + 1, &a);
	decode(data + 1, size - 1, size, &b);
	if (a.result != b.result)
		abort();
	if (a.result >= 0 &&
	    (a.used != b.used || a.out != b.out || a.sum != b.sum))
		abort();
	if (a.out > 4096)
		abort();
	return 0;
}
