/*
 * pki_file.c — atomic, durable writes of identity files: a temporary file
 * in the target's directory, fsync, rename (or link, to never replace),
 * fsync of the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/pki.h"

/* Record the failing step; returns -errno of the failure. */
static int
file_fail(const char *step, const char *path, int e, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s %s: %s", step, path, strerror(e));
	return -e;
}

/* Write all of data to fd, then flush it to disk. */
static int
file_write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return fsync(fd);
}

static int
file_sync_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = file_fail("fsync directory of", path, errno, err, errlen);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Put the finished temporary file in place; -errno or 0. */
static int
file_commit(
    const char *tmp, const char *path, bool excl, char *err, size_t errlen)
{
	if (excl) {
		if (link(tmp, path) < 0)
			return file_fail(
			    errno == EEXIST ? "refusing to replace" : "link",
			    path, errno, err, errlen);
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		return file_fail("rename", path, errno, err, errlen);
	}
	return file_sync_dir(path, err, errlen);
}

/* see pki.h */
int
pki_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, bool excl, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >=
	    sizeof(tmp))
		return file_fail("write", path, ENAMETOOLONG, err, errlen);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return file_fail(
		    "create temporary file for", path, errno, err, errlen);
	if (fchmod(fd, mode) < 0 || file_write_all(fd, data, len) < 0) {
		rc = file_fail("write", path, errno, err, errlen);
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (close(fd) < 0) {
		rc = file_fail("write", path, errno, err, errlen);
		unlink(tmp);
		return rc;
	}
	rc = file_commit(tmp, path, excl, err, errlen);
	if (rc < 0)
		unlink(tmp);
	return rc;
}
