/*
 * edge_revoke.c — revoked connector names, kept in EDGE_DATA_DIR/revoked.
 *
 * Revoking a name refuses every certificate of that name from then on,
 * whoever issued it, except the ones this edge issues to the name
 * afterwards (re-enrolment, and their renewals): their serials are kept
 * with the name (the last EDGE_REVOKED_SERIALS).  Serials are compared
 * without leading zero bytes (DER adds one before a high bit).
 *
 * Replicas sharing EDGE_DATA_DIR: a change is a re-read and rewrite under
 * edge_store_lock(), and a check first re-reads the file when it was
 * replaced since the last read (inode, size or mtime differ), so a name
 * revoked on one replica is refused by all; a file that cannot be read
 * then refuses every certificate (fail closed).  The edge also polls the
 * file (edge_rwatch.c) to close tunnels revoked on another replica.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edge/edge_id.h"
#include "lib/log.h"
#include "lib/util.h"

#define REVOKED_FILE "revoked"
#define LINE_BYTES (EDGE_NAME_MAX + 24 + EDGE_REVOKED_SERIALS * 36)

static void
trim(const uint8_t **p, size_t *n)
{
	while (*n > 1 && **p == 0) {
		(*p)++;
		(*n)--;
	}
}

static struct edge_revoked *
find(const struct edge_id *id, const char *name)
{
	size_t i;

	for (i = 0; i < id->nrevoked; i++)
		if (strcmp(id->revoked[i].name, name) == 0)
			return &id->revoked[i];
	return NULL;
}

static bool
add_serial(struct edge_revoked *r, const uint8_t *s, size_t n)
{
	size_t k;

	trim(&s, &n);
	if (n == 0 || n > sizeof(r->serial[0]))
		return false;
	if (r->nserials == EDGE_REVOKED_SERIALS) {
		memmove(r->serial[0], r->serial[1],
		    (EDGE_REVOKED_SERIALS - 1) * sizeof(r->serial[0]));
		memmove(
		    r->serial_len, r->serial_len + 1, EDGE_REVOKED_SERIALS - 1);
		r->nserials--;
	}
	k = r->nserials++;
	memcpy(r->serial[k], s, n);
	r->serial_len[k] = (uint8_t)n;
	return true;
}

/* "name at [serial-hex]..." */
static int
parse_line(char *line, void *arg)
{
	struct edge_id *id = arg;
	struct edge_revoked *r;
	uint8_t s[PKI_SERIAL_LEN + 1];
	char *tok, *save = NULL;
	size_t n;
	int a, b;

	if (id->nrevoked == EDGE_REVOKED_MAX)
		return -1;
	r = &id->revoked[id->nrevoked];
	memset(r, 0, sizeof(*r));
	if ((tok = strtok_r(line, " ", &save)) == NULL ||
	    !edge_name_valid(tok, strlen(tok)))
		return -1;
	snprintf(r->name, sizeof(r->name), "%s", tok);
	if ((tok = strtok_r(NULL, " ", &save)) == NULL)
		return -1;
	r->at = strtoll(tok, NULL, 10);
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (strlen(tok) % 2 != 0 || strlen(tok) > 2 * sizeof(s))
			return -1;
		for (n = 0; tok[2 * n] != '\0'; n++) {
			if ((a = util_hexval(tok[2 * n])) < 0 ||
			    (b = util_hexval(tok[2 * n + 1])) < 0)
				return -1;
			s[n] = (uint8_t)(a << 4 | b);
		}
		if (!add_serial(r, s, n))
			return -1;
	}
	id->nrevoked++;
	return 0;
}

/* What identifies the file's version on disk ({0} when absent). */
static void
version(const struct edge_id *id, int64_t v[3])
{
	char path[EDGE_ID_PATH_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", id->dir, REVOKED_FILE);
	v[0] = v[1] = v[2] = 0;
	if (stat(path, &st) == 0) {
		v[0] = (int64_t)st.st_ino;
		v[1] = (int64_t)st.st_size;
		v[2] = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
	}
}

/* Read the file again (what other replicas wrote). */
static int
reload(struct edge_id *id, char *err, size_t errlen)
{
	version(id, id->revoked_version);
	id->nrevoked = 0;
	id->revoked_stale =
	    edge_store_lines(id, REVOKED_FILE, parse_line, id, err, errlen) < 0;
	return id->revoked_stale ? -1 : 0;
}

/* see edge_id.h */
int
edge_revoked_load(struct edge_id *id, char *err, size_t errlen)
{
	id->revoked = calloc(EDGE_REVOKED_MAX, sizeof(*id->revoked));
	if (id->revoked == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return reload(id, err, errlen);
}

/* see edge_id.h */
int
edge_revoked_refresh(struct edge_id *id)
{
	bool was_stale = id->revoked_stale;
	int64_t v[3];
	char err[256];

	version(id, v);
	if (!was_stale && memcmp(v, id->revoked_version, sizeof(v)) == 0)
		return 0;
	if (reload(id, err, sizeof(err)) == 0)
		return 1;
	if (!was_stale) /* once per failure, not per check */
		log_error(
		    "edge: revocations: %s (every certificate refused)", err);
	return -1;
}

/* Before a check: false when the file changed and cannot be read. */
static bool
fresh(struct edge_id *id)
{
	return edge_revoked_refresh(id) >= 0;
}

static int
save(const struct edge_id *id, char *err, size_t errlen)
{
	size_t i, k, j, cap = EDGE_REVOKED_MAX * LINE_BYTES;
	const struct edge_revoked *r;
	struct buf b;
	void *mem;
	int rc;

	if ((mem = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	buf_init(&b, mem, cap);
	for (i = 0; i < id->nrevoked; i++) {
		r = &id->revoked[i];
		buf_printf(&b, "%s %" PRId64, r->name, r->at);
		for (k = 0; k < r->nserials; k++) {
			buf_adds(&b, " ");
			for (j = 0; j < r->serial_len[k]; j++)
				buf_printf(&b, "%02x", r->serial[k][j]);
		}
		buf_adds(&b, "\n");
	}
	rc = edge_store_save(id, REVOKED_FILE, &b, err, errlen);
	free(mem);
	return rc;
}

static int
revoke_locked(struct edge_id *id, const char *name, char *err, size_t errlen)
{
	struct edge_revoked *r;
	bool added = false;

	if (reload(id, err, errlen) < 0)
		return -1;
	if ((r = find(id, name)) == NULL) {
		if (id->nrevoked == EDGE_REVOKED_MAX) {
			snprintf(err, errlen, "too many revoked names (%d)",
			    EDGE_REVOKED_MAX);
			return -1;
		}
		r = &id->revoked[id->nrevoked++];
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", name);
		added = true;
	}
	r->at = util_wall_ms() / 1000;
	r->nserials = 0;
	if (save(id, err, errlen) == 0)
		return 0;
	if (added)
		id->nrevoked--;
	id->revoked_stale = true; /* memory differs from the file */
	return -1;
}

/* see edge_id.h */
int
edge_revoke(struct edge_id *id, const char *name, char *err, size_t errlen)
{
	int fd = edge_store_lock(id, err, errlen), rc;

	if (fd < 0)
		return -1;
	rc = revoke_locked(id, name, err, errlen);
	edge_store_unlock(fd);
	return rc;
}

/* see edge_id.h */
bool
edge_is_revoked(
    struct edge_id *id, const char *name, const uint8_t *serial, size_t len)
{
	const struct edge_revoked *r;
	size_t k;

	if (!fresh(id))
		return true;
	if ((r = find(id, name)) == NULL)
		return false;
	if (serial == NULL)
		return true;
	trim(&serial, &len);
	for (k = 0; k < r->nserials; k++)
		if (r->serial_len[k] == len &&
		    memcmp(r->serial[k], serial, len) == 0)
			return false;
	return true;
}

static int
issued_locked(struct edge_id *id, const char *name, const uint8_t *serial,
    size_t len, char *err, size_t errlen)
{
	struct edge_revoked *r, old;

	if (reload(id, err, errlen) < 0)
		return -1;
	if ((r = find(id, name)) == NULL)
		return 0;
	old = *r;
	if (!add_serial(r, serial, len)) {
		snprintf(err, errlen, "bad serial");
		return -1;
	}
	if (save(id, err, errlen) == 0)
		return 0;
	*r = old;
	return -1;
}

/* see edge_id.h */
int
edge_revoked_issued(struct edge_id *id, const char *name, const uint8_t *serial,
    size_t len, char *err, size_t errlen)
{
	int fd = edge_store_lock(id, err, errlen), rc;

	if (fd < 0)
		return -1;
	rc = issued_locked(id, name, serial, len, err, errlen);
	edge_store_unlock(fd);
	return rc;
}
