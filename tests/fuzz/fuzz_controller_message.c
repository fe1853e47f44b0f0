/*
 * Fuzz target: protobuf-c decoding of connector.v1.ControllerMessage, the
 * bytes a controller sends.  A decoded message is re-encoded and decoded
 * again; the walk over the oneof touches every pointer the tunnel uses.
 * Unknown fields are kept verbatim by protobuf-c, which accepts some it
 * cannot re-read (e.g. field number 0, at any depth), so a failed re-decode
 * is tolerated; when it succeeds, the request id and the case must match.
 * A decoded message's bytes also go through pb_strings_clean(), the tunnel's
 * raw check for NULs in string fields (tunnel_msg.c), on the same input,
 * and pb_unpack_bounded() decodes the input again under the tunnel's
 * budget and under one of half the input's size,
 * which fails part-way for most inputs: protobuf-c's cleanup after a
 * failed allocation, under ASan and LeakSanitizer; pb_unpack_arena() the
 * same.  pb_unpacked_size(), which sizes the arena, must be exactly what
 * protobuf-c allocates (pb_unpack_bounded's count) for a decodable message (the
 * merge it does not count cannot happen in a ControllerMessage: its
 * singular sub-messages outside the oneof repeat no field).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connector/pb_check.h"
#include "proto/connector/v1/connector.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every field the tunnel reads so ASan sees bad pointers. */
static size_t
touch(const Connector__V1__ControllerMessage *m)
{
	size_t n = strlen(m->request_id), i;
	const Connector__V1__HttpRequest *h;

	switch (m->message_case) {
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HTTP_REQUEST:
		h = m->http_request;
		n += strlen(h->method) + strlen(h->url) + h->body.len;
		for (i = 0; i < h->n_headers; i++)
			n += strlen(h->headers[i]->key) +
			    strlen(h->headers[i]->value);
		break;
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_HEALTH_CHECK_REQUEST:
		n += (size_t)m->health_check_request->unix_millis;
		break;
	case CONNECTOR__V1__CONTROLLER_MESSAGE__MESSAGE_CONNECTION_REQUEST:
		n += (size_t)m->connection_request->action;
		break;
	default:
		break;
	}
	return n;
}

/* Decode under the tunnel's budget (2 x size + 64 KiB) and a tight one
 * (size / 2): the same answer as the unbounded decode, or a failure on the
 * budget, never one blamed on the bytes. */
static void
expect(const ProtobufCMessage *m, bool over, bool decodable)
{
	if ((m != NULL && !decodable) || (m == NULL && decodable && !over))
		abort();
}

static void
bounded(const uint8_t *data, size_t size, bool decodable)
{
	const ProtobufCMessageDescriptor *d =
	    &connector__v1__controller_message__descriptor;
	const size_t budgets[2] = {2 * size + (64u << 10), size / 2};
	ProtobufCMessage *m;
	bool over;
	size_t i;

	for (i = 0; i < 2; i++) {
		m = pb_unpack_bounded(d, data, size, budgets[i], &over);
		expect(m, over, decodable);
		if (m != NULL)
			protobuf_c_message_free_unpacked(m, NULL);
		/* the arena the tunnel unpacks into: the same answers */
		m = pb_unpack_arena(d, data, size, budgets[i], &over, NULL);
		expect(m, over, decodable);
		pb_arena_free(m);
	}
}

/* The walk's size and NUL answer for a decodable input: protobuf-c
 * unpacks it within that budget, not within one byte less. */
static void
sized(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d =
	    &connector__v1__controller_message__descriptor;
	bool clean, over;
	size_t need = pb_unpacked_size(d, data, size, &clean);
	ProtobufCMessage *m = pb_unpack_bounded(d, data, size, need, &over);

	if (m == NULL || clean != pb_strings_clean(d, data, size))
		abort();
	protobuf_c_message_free_unpacked(m, NULL);
	if (pb_unpack_bounded(d, data, size, need - 1, &over) != NULL || !over)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Connector__V1__ControllerMessage *m, *again;
	uint8_t *wire;
	size_t n;

	m = connector__v1__controller_message__unpack(NULL, size, data);
	bounded(data, size, m != NULL);
	if (m == NULL)
		return 0;
	(void)touch(m);
	sized(data, size);
	n = connector__v1__controller_message__get_packed_size(m);
	wire = malloc(n ? n : 1);
	if (wire == NULL)
		abort();
	if (connector__v1__controller_message__pack(m, wire) != n)
		abort();
	again = connector__v1__controller_message__unpack(NULL, n, wire);
	if (again == NULL)
		goto out;
	if (strcmp(again->request_id, m->request_id) != 0 ||
	    again->message_case != m->message_case)
		abort();
	connector__v1__controller_message__free_unpacked(again, NULL);
out:
	free(wire);
	connector__v1__controller_message__free_unpacked(m, NULL);
	return 0;
}
