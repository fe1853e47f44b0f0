/*
 * Fuzz target: protobuf-c decoding of outpost.v1.SessionFrame, the
 * messages an edge sends on an Attach call (spec/sessions.md).  Every
 * field the connector reads is touched (the data bytes, the result's
 * strings) so ASan sees bad pointers; a decoded frame is re-encoded and
 * decoded again, and when that succeeds (protobuf-c keeps some unknown
 * fields it cannot re-read) the case and the data must match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/outpost/v1/sessions.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
touch(const Outpost__V1__SessionFrame *f)
{
	size_t i, n = 0;

	switch (f->frame_case) {
	case OUTPOST__V1__SESSION_FRAME__FRAME_DATA:
		for (i = 0; i < f->data.len; i++)
			n += f->data.data[i];
		break;
	case OUTPOST__V1__SESSION_FRAME__FRAME_RESULT:
		n = strlen(f->result->reason) + strlen(f->result->detail) +
		    (size_t)f->result->ok;
		break;
	case OUTPOST__V1__SESSION_FRAME__FRAME_HALF_CLOSE:
		n = (size_t)f->half_close;
		break;
	default:
		break;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Outpost__V1__SessionFrame *m, *again;
	uint8_t *wire;
	size_t n;

	m = outpost__v1__session_frame__unpack(NULL, size, data);
	if (m == NULL)
		return 0;
	(void)touch(m);
	n = outpost__v1__session_frame__get_packed_size(m);
	wire = malloc(n ? n : 1);
	if (wire == NULL)
		abort();
	if (outpost__v1__session_frame__pack(m, wire) != n)
		abort();
	again = outpost__v1__session_frame__unpack(NULL, n, wire);
	if (again == NULL)
		goto out;
	if (again->frame_case != m->frame_case ||
	    (m->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_DATA &&
		(again->data.len != m->data.len ||
		    (m->data.len > 0 &&
			memcmp(again->data.data, m->data.data, m->data.len) !=
			    0))))
		abort();
	outpost__v1__session_frame__free_unpacked(again, NULL);
out:
	free(wire);
	outpost__v1__session_frame__free_unpacked(m, NULL);
	return 0;
}
