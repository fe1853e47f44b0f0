/*
 * Fuzz target: protobuf-c decoding of outpost.v1.ResponsePart, the messages
 * a connector sends on a Deliver call (spec/streaming.md) and the edge
 * decodes.  The input is read twice: as one message, and as the bytes of a
 * Deliver call, gRPC-framed messages through the edge's own path
 * (grpc_reader with the edge's message limit, then edge_part_decode with
 * its ordering rules: one head first, data of 1..65536 bytes, one end),
 * whose verdicts must be consistent.  A data part the edge reads in place
 * (its plain encoding, without protobuf-c) must be one protobuf-c decodes
 * to the same bytes.  Every field a relay reads is touched (the head's
 * status and headers, the data bytes, the end's strings) so ASan sees bad
 * pointers; a
 * decoded part is re-encoded and decoded again, and when that succeeds
 * (protobuf-c keeps some unknown fields it cannot re-read) the case, the
 * data and the head's header count must match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "grpc/grpc.h"
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

/* A part read in place says what protobuf-c says of the same bytes. */
static void
in_place(const uint8_t *msg, size_t len, const struct edge_part *part)
{
	Outpost__V1__ResponsePart *m =
	    outpost__v1__response_part__unpack(NULL, len, msg);

	if (m == NULL ||
	    m->part_case != OUTPOST__V1__RESPONSE_PART__PART_DATA ||
	    m->data.len != part->len ||
	    memcmp(m->data.data, part->data, part->len) != 0)
		abort();
	outpost__v1__response_part__free_unpacked(m, NULL);
}

/* Whether the spec forbids what was accepted in state was. */
static int
forbidden(enum edge_pstate was, const struct edge_part *part)
{
	int kind = part->m != NULL ? (int)part->m->part_case
				   : OUTPOST__V1__RESPONSE_PART__PART_DATA;

	if (kind == OUTPOST__V1__RESPONSE_PART__PART_DATA)
		return was != EDGE_P_BODY || part->len == 0 ||
		    part->len > EDGE_PART_DATA_MAX;
	if (kind == OUTPOST__V1__RESPONSE_PART__PART_HEAD)
		return was != EDGE_P_HEAD;
	return was == EDGE_P_END;
}

/* The call's bytes as the edge reads them, until a part is refused. */
static void
deliver(const uint8_t *data, size_t size)
{
	static uint8_t buf[EDGE_PART_MSG_MAX];
	enum edge_pstate st = EDGE_P_HEAD, was;
	struct grpc_reader rd;
	struct edge_part part;
	const uint8_t *msg;
	size_t used, len;
	const char *why;
	int r;

	grpc_reader_init(&rd, buf, sizeof(buf));
	while (size > 0) {
		r = grpc_reader_feed(&rd, data, size, &used, &msg, &len);
		if (r != GRPC_MSG)
			return;
		data += used;
		size -= used;
		was = st;
		why = edge_part_decode(&st, msg, len, &part);
		if (why != NULL) {
			if (part.m != NULL || part.len != 0 || st != was)
				abort(); /* a refused part leaves no trace */
			return;
		}
		if (part.m != NULL)
			(void)touch(part.m);
		else
			in_place(msg, len, &part);
		if (forbidden(was, &part))
			abort(); /* accepted what the spec forbids */
		edge_part_free(&part);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Outpost__V1__ResponsePart *m, *again;
	uint8_t *wire;
	size_t n;

	deliver(data, size);
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
