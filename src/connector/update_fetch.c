/*
 * update_fetch.c — the Updates/Fetch call and the .part file it fills
 * (update_ctl.h): one call at a time, on any routable tunnel, from the
 * bytes already held; each chunk written at its offset as it arrives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connector/manager.h"
#include "connector/pb_check.h"
#include "connector/update_ctl_int.h"
#include "lib/log.h"
#include "lib/util.h"

/* A FetchChunk's encoding around its data (offset, tags, lengths). */
#define CHUNK_SLACK 32
#define CHUNK_MSG_MAX (UPDATE_CHUNK_MAX + CHUNK_SLACK)
/* The call's receive window: two chunks (backpressure, update_ctl.h). */
#define FETCH_RXRING (2 * CHUNK_MSG_MAX)
#define FETCH_TXRING 4096 /* one FetchRequest */

static const struct conn_call_ops fetch_ops;

static bool
downloading(const struct update_ctl *u)
{
	return u->state == INITCTL_OFFERED || u->state == INITCTL_DOWNLOADING;
}

static void
close_part(struct update_ctl *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

/*
 * Open the .part file: created (0600, O_EXCL|O_NOFOLLOW) when nothing is
 * held, else opened again to resume, its size checked against what was
 * hashed (anything else starts over).  0 or -1 (failed, reported).
 */
static int
open_part(struct update_ctl *u)
{
	char path[320];
	struct stat st;

	upd_part_path(u, path, sizeof(path));
	if (u->held > 0) {
		u->fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (u->fd >= 0 && fstat(u->fd, &st) == 0 &&
		    S_ISREG(st.st_mode) && (uint64_t)st.st_size == u->held)
			return 0;
		log_warn("update %s: the partial file changed: starting over",
		    u->off_version);
		close_part(u);
	}
	u->held = 0;
	br_sha256_init(&u->hash);
	if (mkdir(u->dir, 0700) < 0 && errno != EEXIST) {
		upd_fail(u, UPD_FAIL_WRITE, "%s: %s", u->dir, strerror(errno));
		return -1;
	}
	(void)unlink(path); /* a previous run's: its hash is not known */
	u->fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		upd_fail(u, UPD_FAIL_WRITE, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static struct tunnel_slot *
routable_slot(const struct update_ctl *u)
{
	unsigned i;

	for (i = 0; i < u->m->nslots; i++)
		if (tunnel_slot_routable(&u->m->slots[i]))
			return &u->m->slots[i];
	return NULL;
}

/* see update_ctl_int.h */
void
upd_fetch_kick(struct update_ctl *u)
{
	Outpost__V1__FetchRequest q = OUTPOST__V1__FETCH_REQUEST__INIT;
	struct tunnel_slot *t;

	if (!downloading(u) || conn_call_busy(&u->fetch) ||
	    rx_timer_active(&u->retry) || u->m->stopping ||
	    (t = routable_slot(u)) == NULL)
		return;
	if (u->fd < 0 && open_part(u) < 0)
		return;
	if (conn_call_open(&t->conn, &u->fetch, UPDATE_FETCH_PATH, NULL, 0) <
	    0) {
		close_part(u);
		rx_timer_start(
		    u->loop, &u->retry, backoff_next(&u->backoff, upd_rnd()));
		return;
	}
	u->call_gen = u->gen;
	q.version = u->off_version;
	q.sha256.data = u->off_sha;
	q.sha256.len = sizeof(u->off_sha);
	q.offset = u->held;
	if (!conn_call_send(&u->fetch, &q.base)) {
		conn_call_cancel(&u->fetch);
		return;
	}
	conn_call_end(&u->fetch);
	log_info("update %s: fetching from byte %llu on tunnel %u",
	    u->off_version, (unsigned long long)u->held, t->index);
	if (u->state != INITCTL_DOWNLOADING) {
		u->state = INITCTL_DOWNLOADING;
		u->percent = (unsigned)(u->held * 100 / u->off_size);
		upd_changed(u);
	}
}

/* see update_ctl_int.h */
void
upd_fetch_stop(struct update_ctl *u, bool unlink_part)
{
	char path[320];

	conn_call_cancel(&u->fetch);
	u->gen++; /* the call's end, if any, is no longer ours */
	rx_timer_stop(u->loop, &u->retry);
	close_part(u);
	if (unlink_part && u->have_offer) {
		upd_part_path(u, path, sizeof(path));
		(void)unlink(path);
	}
	u->held = 0;
}

/* Write all n bytes at the file's end (where held says it is). */
static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *
chunk_take(struct update_ctl *u, const Outpost__V1__FetchChunk *ch)
{
	unsigned pct;

	if (ch->offset != u->held)
		return "FetchChunk at an offset other than the next byte";
	if (ch->data.len == 0 || ch->data.len > UPDATE_CHUNK_MAX)
		return "FetchChunk data not 1 .. 65536 bytes";
	if (ch->data.len > u->off_size - u->held)
		return "FetchChunk past the offered size";
	if (lseek(u->fd, (off_t)u->held, SEEK_SET) < 0 ||
	    write_all(u->fd, ch->data.data, ch->data.len) < 0) {
		upd_fail(u, UPD_FAIL_WRITE, "write: %s", strerror(errno));
		upd_fetch_stop(u, true);
		return "the staged file cannot be written";
	}
	backoff_reset(&u->backoff);
	br_sha256_update(&u->hash, ch->data.data, ch->data.len);
	u->held += ch->data.len;
	metric_add(&u->m_bytes, (double)ch->data.len);
	pct = (unsigned)(u->held * 100 / u->off_size);
	if (pct != u->percent) {
		u->percent = pct;
		upd_changed(u);
	}
	return NULL;
}

static const char *
on_message(struct conn_call *c, const uint8_t *p, size_t n)
{
	struct update_ctl *u = conn_call_arg(c);
	Outpost__V1__FetchChunk *ch;
	const char *bad;
	bool over;

	if (!downloading(u) || u->fd < 0)
		return "a FetchChunk for an abandoned download";
	ch = (Outpost__V1__FetchChunk *)pb_unpack_bounded(
	    &outpost__v1__fetch_chunk__descriptor, p, n, 2 * n + 1024, &over);
	if (ch == NULL)
		return "undecodable FetchChunk";
	bad = chunk_take(u, ch);
	outpost__v1__fetch_chunk__free_unpacked(ch, NULL);
	return bad;
}

static enum upd_fail
fail_of(int status, const char *reason)
{
	if (status == 5)
		return UPD_FAIL_NOT_FOUND;
	if (reason != NULL && strcmp(reason, "protocol") == 0)
		return UPD_FAIL_PROTOCOL;
	if (reason != NULL && strcmp(reason, "closed") == 0)
		return UPD_FAIL_CLOSED;
	return UPD_FAIL_STREAM;
}

static void
on_end(struct conn_call *c, int status, const char *reason, const char *detail)
{
	struct update_ctl *u = conn_call_arg(c);
	enum upd_fail why = fail_of(status, reason);
	int64_t ms;

	if (!downloading(u) || u->call_gen != u->gen) {
		/* abandoned (a newer offer may wait), or failed writing */
		upd_fetch_kick(u);
		return;
	}
	if (u->held == u->off_size && u->fd >= 0) {
		upd_stage(u);
		return;
	}
	close_part(u);
	if (why == UPD_FAIL_NOT_FOUND) {
		upd_fetch_stop(u, true);
		upd_fail(u, why, "the edge no longer offers it");
		return;
	}
	metric_inc(&u->m_fail[why]);
	ms = backoff_next(&u->backoff, upd_rnd());
	log_info("update %s: fetch ended at byte %llu (%s: %s); again in "
		 "%lld ms",
	    u->off_version, (unsigned long long)u->held,
	    reason != NULL ? reason : "no more data", detail, (long long)ms);
	rx_timer_start(u->loop, &u->retry, ms);
}

static void
on_retry(struct rx_loop *l, struct rx_timer *t)
{
	struct update_ctl *u = container_of(t, struct update_ctl, retry);

	(void)l;
	upd_fetch_kick(u);
}

/* see update_ctl_int.h */
int
upd_fetch_init(struct update_ctl *u)
{
	rx_timer_init(&u->retry, on_retry);
	return conn_call_init(&u->fetch, &fetch_ops, u, FETCH_RXRING,
	    FETCH_TXRING, CHUNK_MSG_MAX, 2);
}

static const struct conn_call_ops fetch_ops = {
    .on_message = on_message,
    .on_end = on_end,
};
