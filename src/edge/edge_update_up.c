/*
 * edge_update_up.c — one bundle upload (POST /v1/updates): the front
 * door admits it on the token alone, before any byte of the body; this
 * takes the client's socket over (http_exchange_upgrade on a raw_body
 * route) and streams the body into EDGE_DATA_DIR/updates/.upload.tmp in
 * 64 KiB reads, hashing as it goes, keeping only the bundle's head (its
 * manifest) in memory.  Complete: fsync, the manifest read from the head,
 * rename to <sha256>.update, offered; the client gets a JSON answer and
 * the connection closes.  One upload at a time (409 for a second); a body
 * that makes no progress for UP_IDLE_MS is dropped with its file.
 */
#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edge/edge_update_int.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/net.h"

#define UP_BUF (64u << 10)
#define UP_IDLE_MS 10000
#define UP_READS 16 /* reads per event */

struct edge_upload {
	struct edge_updates *u;
	struct rx_watch w;
	struct rx_timer timer;
	int file;
	bool all;
	char name[EDGE_NAME_MAX];
	uint64_t length, got;
	br_sha256_context h;
	size_t headlen;
	uint8_t head[UPDATE_HEAD_MAX]; /* the framing (update_layout) */
	char tmp[EDGE_ID_PATH_MAX + 96];
	uint8_t buf[UP_BUF];
};

static void
up_free(struct edge_upload *up)
{
	if (up->file >= 0) {
		close(up->file);
		unlink(up->tmp);
	}
	if (up->u != NULL)
		up->u->up = NULL;
	free(up);
}

static void
on_closed(struct rx_loop *l, struct rx_watch *w)
{
	(void)l;
	up_free(container_of(w, struct edge_upload, w));
}

/* Answer on the socket (small: the socket buffer takes it) and close. */
static void
answer(struct edge_upload *up, int status, const char *json)
{
	char hd[256];
	int n;

	n = snprintf(hd, sizeof(hd),
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, status == 201 ? "Created" : "Error", strlen(json));
	if (write(up->w.fd, hd, (size_t)n) != n ||
	    write(up->w.fd, json, strlen(json)) != (ssize_t)strlen(json))
		log_debug("edge: update upload: answer not written");
	shutdown(up->w.fd, SHUT_WR);
	rx_timer_stop(up->u->e->l, &up->timer);
	rx_watch_close(up->u->e->l, &up->w);
}

static void
fail(struct edge_upload *up, int status, const char *error, const char *why)
{
	char json[512];
	struct buf b;

	log_warn("edge: update upload refused: %s", why);
	buf_init(&b, json, sizeof(json) - 1);
	buf_adds(&b, "{\"error\":");
	json_cstr(&b, error);
	buf_adds(&b, ",\"message\":");
	json_cstr(&b, why);
	buf_adds(&b, "}\n");
	json[b.overflow ? 0 : b.len] = '\0';
	answer(up, status, json);
}

/* All bytes are in: check the head, put the file in place, offer it. */
static void
complete(struct edge_upload *up)
{
	struct edge_bundle bd = {0};
	struct update_manifest m;
	char err[256], hex[65], json[512];
	const char *dir = up->u->e->conf->id->dir;
	struct buf b;

	br_sha256_out(&up->h, bd.sha256);
	if (edge_update_head(
		up->head, up->headlen, up->length, &m, err, sizeof(err)) < 0) {
		fail(up, 400, "bad_bundle", err);
		return;
	}
	if (fsync(up->file) < 0) {
		fail(up, 500, "internal", strerror(errno));
		return;
	}
	util_hex(bd.sha256, sizeof(bd.sha256), hex);
	snprintf(bd.version, sizeof(bd.version), "%s", m.version);
	snprintf(bd.arch, sizeof(bd.arch), "%s", m.arch);
	bd.size = up->length;
	snprintf(bd.path, sizeof(bd.path), "%s/updates/%s.update", dir, hex);
	if (rename(up->tmp, bd.path) < 0) {
		fail(up, 500, "internal", strerror(errno));
		return;
	}
	close(up->file);
	up->file = -1;
	if (edge_update_offer_set(up->u, up->all ? NULL : up->name, &bd) < 0) {
		unlink(bd.path);
		fail(up, 409, "too_many_offers", "withdraw an offer first");
		return;
	}
	buf_init(&b, json, sizeof(json) - 1);
	buf_adds(&b, "{\"connector\":");
	json_cstr(&b, up->all ? "all" : up->name);
	buf_adds(&b, ",\"version\":");
	json_cstr(&b, bd.version);
	buf_adds(&b, ",\"arch\":");
	json_cstr(&b, bd.arch);
	buf_printf(
	    &b, ",\"size\":%" PRIu64 ",\"sha256\":\"%s\"}\n", bd.size, hex);
	json[b.overflow ? 0 : b.len] = '\0';
	answer(up, 201, json);
}

/* n body bytes at p: into the file, the hash and the head. */
static int
take(struct edge_upload *up, const uint8_t *p, size_t n)
{
	size_t k, off = 0;
	ssize_t w;

	if (n > up->length - up->got)
		n = (size_t)(up->length - up->got);
	br_sha256_update(&up->h, p, n);
	if (up->headlen < sizeof(up->head)) {
		k = sizeof(up->head) - up->headlen;
		k = k < n ? k : n;
		memcpy(up->head + up->headlen, p, k);
		up->headlen += k;
	}
	while (off < n) {
		if ((w = write(up->file, p + off, n - off)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	up->got += n;
	return 0;
}

static void
on_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct edge_upload *up = container_of(w, struct edge_upload, w);
	uint64_t want;
	ssize_t n;
	int i, rc;

	(void)events;
	for (i = 0; i < UP_READS && up->got < up->length; i++) {
		want = up->length - up->got;
		n = read(w->fd, up->buf, want < UP_BUF ? (size_t)want : UP_BUF);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			log_warn(
			    "edge: update upload: client left after %" PRIu64
			    " of %" PRIu64 " bytes",
			    up->got, up->length);
			rx_timer_stop(l, &up->timer);
			rx_watch_close(l, w);
			return;
		}
		if ((rc = take(up, up->buf, (size_t)n)) < 0) {
			fail(up, 500, "internal", strerror(-rc));
			return;
		}
		rx_timer_start(l, &up->timer, UP_IDLE_MS);
	}
	if (up->got == up->length) {
		rx_watch_set(l, w, 0);
		complete(up);
	}
}

static void
on_idle(struct rx_loop *l, struct rx_timer *t)
{
	struct edge_upload *up = container_of(t, struct edge_upload, timer);

	(void)l;
	fail(up, 408, "timeout", "the bundle's body stalled");
}

static int
open_tmp(struct edge_upload *up, const char *dir)
{
	char d[EDGE_ID_PATH_MAX + 16];

	snprintf(d, sizeof(d), "%s/updates", dir);
	if (mkdir(d, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(up->tmp, sizeof(up->tmp), "%s/.upload.tmp", d);
	unlink(up->tmp); /* one left by an edge that stopped mid-upload */
	up->file = open(up->tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return up->file < 0 ? -errno : 0;
}

/* see edge_update_int.h */
void
edge_update_upload(struct edge_updates *u, struct http_exchange *x,
    const char *name, uint64_t length)
{
	struct edge_upload *up;
	size_t pre = 0;
	int fd, rc;

	if (u->e->conf->id == NULL) {
		edge_api_json(x, 409, "no_data_dir", NULL,
		    "the edge has no EDGE_DATA_DIR");
		return;
	}
	if (u->up != NULL) {
		edge_api_json(x, 409, "upload_busy", NULL,
		    "another bundle upload is in progress");
		return;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		edge_api_json(x, 500, "internal", NULL, "out of memory");
		return;
	}
	up->u = u;
	up->file = -1;
	up->length = length;
	up->all = name == NULL;
	snprintf(up->name, sizeof(up->name), "%s", name != NULL ? name : "");
	br_sha256_init(&up->h);
	if ((rc = open_tmp(up, u->e->conf->id->dir)) < 0) {
		edge_api_json(x, 500, "internal", NULL, strerror(-rc));
		free(up);
		return;
	}
	fd = http_exchange_upgrade(x, up->buf, UP_BUF, &pre);
	if (fd < 0) {
		edge_api_json(x, 500, "internal", NULL, "cannot take the body");
		close(up->file);
		unlink(up->tmp);
		free(up);
		return;
	}
	u->up = up;
	rx_watch_init(&up->w, fd, on_io, on_closed);
	rx_timer_init(&up->timer, on_idle);
	log_info("edge: update upload of %" PRIu64 " bytes for %s", length,
	    name != NULL ? name : "all");
	if (pre > 0 && (rc = take(up, up->buf, pre)) < 0) {
		fail(up, 500, "internal", strerror(-rc));
		return;
	}
	if (up->got == up->length) {
		complete(up);
		return;
	}
	rx_watch_set(u->e->l, &up->w, RX_READ);
	rx_timer_start(u->e->l, &up->timer, UP_IDLE_MS);
}

/* see edge_update_int.h */
void
edge_update_upload_abort(struct edge_updates *u)
{
	struct edge_upload *up = u->up;

	if (up == NULL)
		return;
	rx_timer_stop(u->e->l, &up->timer);
	rx_watch_close(u->e->l, &up->w); /* on_closed frees it */
	up->u = NULL; /* u is going away */
	u->up = NULL;
}
