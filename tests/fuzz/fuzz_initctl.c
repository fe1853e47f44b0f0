/*
 * Fuzz target: init's control channel decoders (lib/initctl.h).
 * Invariants: a decoded request re-encodes to the same bytes (nothing
 * accepted that the encoder would not write) and its path is
 * NUL-terminated; the same for a reply; an APPLY path initctl_path_ok()
 * accepts stays inside the staging directory.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/initctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_req(const uint8_t *data, size_t size)
{
	struct initctl_req q;
	uint8_t b[INITCTL_REQ_SIZE];

	if (initctl_req_decode(data, size, &q) < 0)
		return;
	/* Text fields re-encode NUL-padded: compare up to the NUL only. */
	initctl_req_encode(&q, b);
	if (memcmp(b, data, 8) != 0 || strlen(q.path) >= sizeof(q.path) ||
	    strcmp((const char *)b + 8, q.path) != 0)
		abort();
	if (initctl_path_ok(q.path) &&
	    (strncmp(q.path, INITCTL_STAGE_DIR,
		 sizeof(INITCTL_STAGE_DIR) - 1) != 0 ||
		strstr(q.path, "..") ==
		    q.path + sizeof(INITCTL_STAGE_DIR) - 1 ||
		strchr(q.path + sizeof(INITCTL_STAGE_DIR) - 1, '/') != NULL))
		abort();
}

static void
fuzz_reply(const uint8_t *data, size_t size)
{
	struct initctl_reply r, again;
	uint8_t b[INITCTL_REPLY_SIZE];

	if (initctl_reply_decode(data, size, &r) < 0)
		return;
	initctl_reply_encode(&r, b);
	if (initctl_reply_decode(b, sizeof(b), &again) < 0 ||
	    memcmp(b, data, 20) != 0 || again.percent > 100 ||
	    strcmp(again.reason, r.reason) != 0 ||
	    strcmp(again.version, r.version) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_req(data, size);
	fuzz_reply(data, size);
	return 0;
}
