/*
 * edge_update.h — the edge's side of appliance update delivery (issue
 * #21, docs/protocol-extensions.md "Appliance updates"): bundles uploaded
 * through the front door (POST /v1/updates, streamed into
 * EDGE_DATA_DIR/updates), offers per connector or for all, UpdateOffer on
 * the tunnels that advertised "update", the Updates/Fetch and
 * Updates/Report calls, and each connector's reported state.
 *
 *   edge_update.c       offers, the /v1/updates routes, JSON, metrics
 *   edge_update_up.c    a bundle upload read from the client's socket
 *   edge_update_call.c  the Fetch and Report calls on a tunnel connection
 */
#ifndef EDGE_EDGE_UPDATE_H
#define EDGE_EDGE_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "update/update.h"

#define EDGE_UPD_FETCH_PATH "/outpost.v1.Updates/Fetch"
#define EDGE_UPD_REPORT_PATH "/outpost.v1.Updates/Report"
#define EDGE_UPD_CHUNK 65536u /* FetchChunk data, at most (contract) */
#define EDGE_UPD_OFFERS 16 /* offers kept: one for all, the rest named */
#define EDGE_UPD_REASON_MAX 256

/* A connector's last UpdateStatus (strings bounded, truncated). */
struct edge_ustatus {
	int64_t at_ms; /* wall clock of the report; 0: none yet */
	int64_t reboot_ms; /* when the front door asked for a reboot; 0 never */
	uint64_t reboot_req; /* which of its requests (edge_updates.reboots) */
	uint32_t percent;
	char slot[4];
	char version[32];
	char other_version[32];
	char state[16];
	char offered_version[32];
	char reason[EDGE_UPD_REASON_MAX];
};

/*
 * The manifest of a bundle from its first n bytes (n may be more than the
 * head) for a file of size bytes: the framing (update_layout) and the
 * manifest text (update_manifest_parse).  The signature is not verified
 * here: the edge only shows version and arch (the connector and init
 * verify).  0, or -1 with a reason in err.  Sans-I/O (fuzzed: tests/fuzz/fuzz_edge_update.c).
 */
int edge_update_head(const uint8_t *p, size_t n, uint64_t size,
    struct update_manifest *m, char *err, size_t errlen);

#endif
