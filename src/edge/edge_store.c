/*
 * edge_store.c — the small line-oriented files under EDGE_DATA_DIR:
 * read line by line, rewritten whole and atomically (mode 0600) after
 * each change, and the lock that makes a read-modify-write of them atomic
 * across the edge replicas sharing the directory (README "Scaling out").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/edge_id.h"
#include "lib/util.h"

#define LOCK_FILE "lock"

static void
store_path(const struct edge_id *id, const char *file, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", id->dir, file);
}

/* see edge_id.h */
int
edge_store_lines(const struct edge_id *id, const char *file, edge_line_fn *fn,
    void *arg, char *err, size_t errlen)
{
	char path[EDGE_ID_PATH_MAX + 16], line[1024];
	uint8_t *p;
	size_t n, i = 0, k, lineno = 0;
	int rc;

	store_path(id, file, path, sizeof(path));
	if ((rc = edge_file_read(path, &p, &n)) == -ENOENT)
		return 0;
	if (rc < 0) {
		snprintf(
		    err, errlen, "EDGE_DATA_DIR: %s: %s", path, strerror(-rc));
		return -1;
	}
	for (rc = 0; i < n && rc == 0; i += k + 1) {
		lineno++;
		for (k = 0; i + k < n && p[i + k] != '\n'; k++)
			;
		if (k == 0)
			continue;
		if (k >= sizeof(line) || memchr(p + i, '\0', k) != NULL) {
			snprintf(err, errlen,
			    "EDGE_DATA_DIR: %s line %zu: "
			    "malformed",
			    path, lineno);
			rc = -1;
			break;
		}
		memcpy(line, p + i, k);
		line[k] = '\0';
		if ((rc = fn(line, arg)) < 0)
			snprintf(err, errlen,
			    "EDGE_DATA_DIR: %s line %zu: malformed", path,
			    lineno);
	}
	util_wipe(p, n);
	free(p);
	return rc < 0 ? -1 : 0;
}

/* see edge_id.h */
int
edge_store_save(const struct edge_id *id, const char *file, const struct buf *b,
    char *err, size_t errlen)
{
	char path[EDGE_ID_PATH_MAX + 16];

	if (b->overflow) {
		snprintf(err, errlen, "%s: store too large", file);
		return -1;
	}
	store_path(id, file, path, sizeof(path));
	return pki_write_file_atomic(
		   path, b->p, b->len, 0600, false, err, errlen) < 0
	    ? -1
	    : 0;
}

static int
open_lock(const struct edge_id *id, char *path, size_t cap)
{
	store_path(id, LOCK_FILE, path, cap);
	return open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* see edge_id.h */
bool
edge_store_usable(const struct edge_id *id)
{
	char path[EDGE_ID_PATH_MAX + 16];
	int fd = open_lock(id, path, sizeof(path));

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* see edge_id.h */
int
edge_store_lock(const struct edge_id *id, char *err, size_t errlen)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char path[EDGE_ID_PATH_MAX + 16];
	int fd;

	if ((fd = open_lock(id, path, sizeof(path))) < 0) {
		snprintf(err, errlen, "EDGE_DATA_DIR: %s: %s", path,
		    strerror(errno));
		return -1;
	}
	/* Open-file-description locks: per open, released by its close,
	 * honoured by other processes (and by NFS servers, as POSIX locks). */
	while (fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "EDGE_DATA_DIR: lock %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* see edge_id.h */
void
edge_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
