/*
 * edge_update_int.h — shared by edge_update*.c only.
 */
#ifndef EDGE_EDGE_UPDATE_INT_H
#define EDGE_EDGE_UPDATE_INT_H

#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "edge/edge_update.h"
#include "lib/initctl.h"

struct edge_bundle {
	char version[32], arch[16];
	uint64_t size;
	uint8_t sha256[32];
	char path[EDGE_ID_PATH_MAX + 96];
};

/* An offer: for one connector (name) or for all (all). */
struct edge_offer {
	bool used, all;
	char name[EDGE_NAME_MAX];
	int64_t since_ms;
	struct edge_bundle b;
};

struct edge_upload;

struct edge_updates {
	struct edge *e;
	struct edge_offer offers[EDGE_UPD_OFFERS];
	struct edge_upload *up; /* the one upload in progress, or NULL */
	uint64_t seq;
	uint64_t reboots; /* POST /v1/updates/reboot requests so far */
	struct metric_family f_conn;
	struct metric m_conn[INITCTL__STATES + 1]; /* by state; then "other" */
	char labels[INITCTL__STATES + 1][32];
	uint8_t chunk[EDGE_UPD_CHUNK]; /* a Fetch call's pread */
	uint8_t msg[EDGE_UPD_CHUNK + 32]; /* its FetchChunk message */
};

/* The offer that applies to connector name (its own, else all's). */
const struct edge_offer *edge_update_offer_for(
    const struct edge_updates *u, const char *name);

/*
 * An upload is complete and in place (b->path): offer it to name (NULL:
 * all), replacing what was offered to the same target.  0, or -ENOSPC.
 */
int edge_update_offer_set(
    struct edge_updates *u, const char *name, const struct edge_bundle *b);

/*
 * Take over x (admitted POST /v1/updates?connector=..., body unread):
 * stream its Content-Length body into dir/updates, then offer it to
 * name (NULL: all).  Answers x (or, after the take-over, the socket).
 */
void edge_update_upload(struct edge_updates *u, struct http_exchange *x,
    const char *name, uint64_t length);
/* Abort the upload in progress (edge_update_free). */
void edge_update_upload_abort(struct edge_updates *u);

#endif
