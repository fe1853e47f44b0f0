/*
 * Fuzz target: protobuf-c decoding of outpost.v1.ResponsePart, the messages
 * a connector sends on a Deliver call (spec/streaming.md) and the edge
 * decodes.  Every field a relay reads is touched (the head's status and
 * headers, the data bytes, the end's strings) so ASan sees bad pointers; a
 * decoded part is re-encoded and decoded again, and when that succeeds
 * (protobuf-c keeps some unknown fields it cannot re-read) the case, the
 * data and the head's header count must match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/outpost/v1/responses.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
touch_head(const Connector__V1__HttpResponse *h)
{
	size_t i, n = (size_t)h->http_status + h->body.len;

	for (i = 0; i < h->n_headers; i++)
		n += strlen(h->headers[i]->key) + strlen(h->headers[i]->value);
	return n;
}

static size_t
touch(const Outpost__V1__ResponsePart *p)
{
	size_t i, n = 0;

	switch (p->part_case) {
	case OUTPOST__V1__RESPONSE_PART__PART_HEAD:
		n = touch_head(p->head);
		break;
	case OUTPOST__V1__RESPONSE_PART__PART_DATA:
		for (i = 0; i < p->data.len; i++)
			n += p->data.data[i];
		break;
	case OUTPOST__V1__RESPONSE_PART__PART_END:
		n = strlen(p->end->error_reason) + strlen(p->end->detail);
		break;
	default:
		break;
	}
	return n;
}

/* Whether b, the re-decoded a, says the same to a relay. */
static int
same(const Outpost__V1__ResponsePart *a, const Outpost__V1__ResponsePart *b)
{
	if (a->part_case != b->part_case)
		return 0;
	switch (a->part_case) {
	case OUTPOST__V1__RESPONSE_PART__PART_HEAD:
		return a->head->http_status == b->head->http_status &&
		    a->head->n_headers == b->head->n_headers;
	case OUTPOST__V1__RESPONSE_PART__PART_DATA:
		return a->data.len == b->data.len &&
		    (a->data.len == 0 ||
			memcmp(a->data.data, b->data.data, a->data.len) == 0);
	case OUTPOST__V1__RESPONSE_PART__PART_END:
		return strcmp(a->end->error_reason, b->end->error_reason) == 0;
	default:
		return 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Outpost__V1__ResponsePart *m, *again;
	uint8_t *wire;
	size_t n;

	m = outpost__v1__response_part__unpack(NULL, size, data);
	if (m == NULL)
		return 0;
	(void)touch(m);
	n = outpost__v1__response_part__get_packed_size(m);
	wire = malloc(n ? n : 1);
	if (wire == NULL)
		abort();
	if (outpost__v1__response_part__pack(m, wire) != n)
		abort();
	again = outpost__v1__response_part__unpack(NULL, n, wire);
	if (again == NULL)
		goto out;
	if (!same(m, again))
		abort();
	outpost__v1__response_part__free_unpacked(again, NULL);
out:
	free(wire);
	outpost__v1__response_part__free_unpacked(m, NULL);
	return 0;
}
