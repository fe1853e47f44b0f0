/*
 * edge_update_call.c — the Updates calls a connector makes beside its
 * Tunnel call on the same HTTP/2 connection (edge_update.h):
 *
 *   Fetch   one FetchRequest; FetchChunk messages of at most 64 KiB from
 *           its offset to the end, each pread from the bundle file when
 *           the stream's send ring has room for a whole one, so the
 *           connector's HTTP/2 window paces the reads; then status 0.
 *           NOT_FOUND when the version+sha256 is not what this connector
 *           is offered now, OUT_OF_RANGE for an offset at or past the size.
 *   Report  one UpdateStatus, kept (strings truncated to their fields) on
 *           the connector; answered by an empty ReportAck.
 *
 * The connector is the connection's certificate name, or (h2c) the owner
 * of a Tunnel call on the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/edge_update_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/outpost/v1/updates.pb-c.h"

#define CALL_MSG_MAX 8192 /* a FetchRequest or an UpdateStatus */
#define ROUNDS 16

struct edge_ucall {
	bool report;
	bool done; /* the request was taken: only our end is owed */
	int fd; /* Fetch: the bundle, once streaming */
	uint64_t off, size;
	char name[EDGE_NAME_MAX];
	uint8_t buf[CALL_MSG_MAX];
};

static void
end(struct edge_tunnel *t, int status, const char *msg)
{
	t->ucall->done = true;
	t->ended = true;
	h2_stream_end_status(&t->hs, status, msg);
	edge_conn_kick(t->c);
}

/*
 * The connector the connection belongs to: 0 (name set), or the status
 * to refuse the call with: UNAVAILABLE while an h2c Tunnel call awaits
 * the MetadataResponse that names it (the caller may try again),
 * PERMISSION_DENIED when no Tunnel call is there to name it.
 */
static int
conn_name(const struct edge_conn *c, char *name)
{
	const struct edge_tunnel *t;
	bool pending = false;
	size_t i;

	if (c->name[0] != '\0') {
		snprintf(name, EDGE_NAME_MAX, "%s", c->name);
		return 0;
	}
	for (i = 0; i < c->ntun; i++) {
		if ((t = c->tun[i]) == NULL)
			continue;
		if (t->owner != NULL) {
			snprintf(name, EDGE_NAME_MAX, "%s", t->owner->name);
			return 0;
		}
		pending = pending || (t->accepted && !t->ended);
	}
	return pending ? GRPC_STATUS_UNAVAILABLE
		       : GRPC_STATUS_PERMISSION_DENIED;
}

/* see edge_int.h */
void
edge_update_attach(struct edge_tunnel *t)
{
	struct edge_ucall *uc;
	int status;

	t->ended = true; /* unless accepted below */
	if ((uc = calloc(1, sizeof(*uc))) == NULL) {
		h2_stream_end_status(
		    &t->hs, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		edge_conn_kick(t->c);
		return;
	}
	uc->fd = -1;
	uc->report = strcmp(h2_stream_path(&t->hs), EDGE_UPD_REPORT_PATH) == 0;
	t->ucall = uc;
	if ((status = conn_name(t->c, uc->name)) != 0) {
		end(t, status,
		    status == GRPC_STATUS_UNAVAILABLE
			? "this connection's Tunnel call is not named yet"
			: "no named Tunnel call on this connection");
		return;
	}
	if (h2_stream_respond(&t->hs) < 0) {
		end(t, GRPC_STATUS_INTERNAL, "cannot respond");
		return;
	}
	t->ended = false;
	grpc_reader_init(&t->rd, uc->buf, sizeof(uc->buf));
	edge_conn_kick(t->c);
}

static void
copy(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s != NULL ? s : "");
}

static void
on_report(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	static const uint8_t ack[GRPC_PREFIX_LEN] = {0};
	struct edge *e = t->c->e;
	struct edge_connector *k;
	Outpost__V1__UpdateStatus *m;
	struct edge_ustatus *s;

	if ((m = outpost__v1__update_status__unpack(NULL, n, p)) == NULL) {
		end(t, GRPC_STATUS_INVALID_ARGUMENT, "malformed UpdateStatus");
		return;
	}
	k = edge_registry_find(e, t->ucall->name, strlen(t->ucall->name));
	if (k != NULL) {
		s = &k->ust;
		copy(s->slot, sizeof(s->slot), m->slot);
		copy(s->version, sizeof(s->version), m->version);
		copy(s->other_version, sizeof(s->other_version),
		    m->other_version);
		copy(s->state, sizeof(s->state), m->state);
		copy(s->offered_version, sizeof(s->offered_version),
		    m->offered_version);
		copy(s->reason, sizeof(s->reason), m->reason);
		s->percent = m->percent > 100 ? 100 : m->percent;
		s->at_ms = util_wall_ms();
		log_info("edge: connector %s: update state %s (%u%%)%s%s",
		    k->name, s->state, (unsigned)s->percent,
		    s->reason[0] ? ": " : "", s->reason);
	}
	outpost__v1__update_status__free_unpacked(m, NULL);
	h2_stream_send(&t->hs, ack, sizeof(ack));
	end(t, GRPC_STATUS_OK, NULL);
}

/* Chunks while the send ring has room for a whole one. */
static void
pump(struct edge_tunnel *t)
{
	struct edge_updates *u = t->c->e->upd;
	struct edge_ucall *uc = t->ucall;
	Outpost__V1__FetchChunk c = OUTPOST__V1__FETCH_CHUNK__INIT;
	size_t want, len;
	ssize_t n;
	int i;

	for (i = 0; i < ROUNDS && uc->off < uc->size; i++) {
		if (h2_stream_send_room(&t->hs) < sizeof(u->msg))
			return; /* H2_EV_WRITE brings us back */
		want = uc->size - uc->off < EDGE_UPD_CHUNK
		    ? (size_t)(uc->size - uc->off)
		    : EDGE_UPD_CHUNK;
		n = pread(uc->fd, u->chunk, want, (off_t)uc->off);
		if (n <= 0) {
			log_warn("edge: update fetch by %s: read at %" PRIu64
				 ": %s",
			    uc->name, uc->off,
			    n < 0 ? strerror(errno) : "short file");
			end(t, GRPC_STATUS_INTERNAL, "bundle read failed");
			return;
		}
		c.offset = uc->off;
		c.data.data = u->chunk;
		c.data.len = (size_t)n;
		len = outpost__v1__fetch_chunk__get_packed_size(&c);
		grpc_prefix_write(u->msg, len);
		outpost__v1__fetch_chunk__pack(&c, u->msg + GRPC_PREFIX_LEN);
		h2_stream_send(&t->hs, u->msg, GRPC_PREFIX_LEN + len);
		uc->off += (uint64_t)n;
	}
	if (uc->off >= uc->size) {
		log_info("edge: update fetch by %s: sent to the end (%" PRIu64
			 " bytes)",
		    uc->name, uc->size);
		end(t, GRPC_STATUS_OK, NULL);
		return;
	}
	edge_conn_kick(t->c);
}

static void
on_fetch(struct edge_tunnel *t, const uint8_t *p, size_t n)
{
	struct edge_ucall *uc = t->ucall;
	const struct edge_offer *o;
	Outpost__V1__FetchRequest *m;
	char why[96];

	if ((m = outpost__v1__fetch_request__unpack(NULL, n, p)) == NULL) {
		end(t, GRPC_STATUS_INVALID_ARGUMENT, "malformed FetchRequest");
		return;
	}
	o = edge_update_offer_for(t->c->e->upd, uc->name);
	if (o == NULL || m->version == NULL ||
	    strcmp(m->version, o->b.version) != 0 ||
	    m->sha256.len != sizeof(o->b.sha256) ||
	    memcmp(m->sha256.data, o->b.sha256, sizeof(o->b.sha256)) != 0) {
		outpost__v1__fetch_request__free_unpacked(m, NULL);
		end(t, GRPC_STATUS_NOT_FOUND, "not offered");
		return;
	}
	uc->off = m->offset;
	outpost__v1__fetch_request__free_unpacked(m, NULL);
	if (uc->off >= o->b.size) {
		snprintf(why, sizeof(why),
		    "offset %" PRIu64 " >= size %" PRIu64, uc->off, o->b.size);
		end(t, GRPC_STATUS_OUT_OF_RANGE, why);
		return;
	}
	uc->size = o->b.size;
	if ((uc->fd = open(o->b.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_warn("edge: update %s: %s", o->b.path, strerror(errno));
		end(t, GRPC_STATUS_NOT_FOUND, "bundle file gone");
		return;
	}
	uc->done = true;
	log_info("edge: update fetch by %s: %s from %" PRIu64, uc->name,
	    o->b.version, uc->off);
	pump(t);
}

static void
on_read(struct edge_tunnel *t)
{
	const uint8_t *p, *msg;
	size_t n, used, len, total;
	int r;

	while (!t->ucall->done && (p = h2_stream_take(&t->hs, &n)) != NULL &&
	    n > 0) {
		total = n;
		while (n > 0 && !t->ucall->done) {
			r = grpc_reader_feed(&t->rd, p, n, &used, &msg, &len);
			if (r == GRPC_ERROR) {
				end(t, GRPC_STATUS_RESOURCE_EXHAUSTED,
				    grpc_error_name(grpc_reader_error(&t->rd)));
				break;
			}
			if (r == GRPC_MSG) {
				if (t->ucall->report)
					on_report(t, msg, len);
				else
					on_fetch(t, msg, len);
			}
			p += used;
			n -= used;
		}
		h2_stream_ack(&t->hs, total);
	}
	if (!t->ucall->done && h2_stream_eof(&t->hs))
		end(t, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
}

/* see edge_int.h */
void
edge_update_event(struct edge_tunnel *t, unsigned ev)
{
	if (t->ucall == NULL || t->ended || t->closed)
		return;
	if (ev & H2_EV_READ)
		on_read(t);
	if ((ev & H2_EV_WRITE) && t->ucall->fd >= 0 && !t->ended)
		pump(t);
}

/* see edge_int.h */
void
edge_update_closed(struct edge_tunnel *t)
{
	if (t->ucall == NULL)
		return;
	if (t->ucall->fd >= 0)
		close(t->ucall->fd);
	free(t->ucall);
	t->ucall = NULL;
}
