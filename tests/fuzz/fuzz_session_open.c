/*
 * Fuzz target: protobuf-c decoding of outpost.v1.SessionOpen (what an edge
 * sends in ControllerMessage field 100, spec/sessions.md) and the
 * connector's checks of it (session_id_valid, session_target_valid).  A
 * decoded message is re-encoded and decoded again; when that succeeds
 * (protobuf-c keeps some unknown fields it cannot re-read), the fields and
 * the verdicts must match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connector/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Outpost__V1__SessionOpen *m, *again;
	uint8_t *wire;
	size_t n;
	bool id_ok, target_ok;

	m = outpost__v1__session_open__unpack(NULL, size, data);
	if (m == NULL)
		return 0;
	id_ok = session_id_valid(m->session_id);
	target_ok = session_target_valid(m);
	if (id_ok && (strlen(m->session_id) == 0 || strlen(m->session_id) > 64))
		abort();
	if (target_ok && (m->port == 0 || m->port > 65535 || m->host[0] == 0))
		abort();
	n = outpost__v1__session_open__get_packed_size(m);
	wire = malloc(n ? n : 1);
	if (wire == NULL)
		abort();
	if (outpost__v1__session_open__pack(m, wire) != n)
		abort();
	again = outpost__v1__session_open__unpack(NULL, n, wire);
	if (again == NULL)
		goto out;
	if (strcmp(again->session_id, m->session_id) != 0 ||
	    strcmp(again->host, m->host) != 0 || again->port != m->port ||
	    again->connect_timeout_ms != m->connect_timeout_ms ||
	    again->idle_timeout_s != m->idle_timeout_s ||
	    session_id_valid(again->session_id) != id_ok ||
	    session_target_valid(again) != target_ok)
		abort();
	outpost__v1__session_open__free_unpacked(again, NULL);
out:
	free(wire);
	outpost__v1__session_open__free_unpacked(m, NULL);
	return 0;
}
