/* Reading a whole file, bounded; see util.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

/* Bytes read at first when the size is not known (pipes, devices). */
#define READ_FILE_CHUNK 65536

static void
discard(char *p, size_t cap)
{
	if (p != NULL)
		util_wipe(p, cap);
	free(p);
}

/* Grow *p (capacity *cap) to hold more, wiping what is left behind. */
static int
grow(char **p, size_t *cap, size_t used, size_t max)
{
	size_t ncap = *cap == 0 ? READ_FILE_CHUNK : *cap * 2;
	char *np;

	if (ncap > max + 2)
		ncap = max + 2; /* room to see one byte too many, and a NUL */
	if ((np = malloc(ncap)) == NULL)
		return -ENOMEM;
	if (used > 0)
		memcpy(np, *p, used);
	discard(*p, *cap);
	*p = np;
	*cap = ncap;
	return 0;
}

/* Read fd to its end into *p: at most max bytes, else -EFBIG. */
static int
read_all(int fd, size_t hint, size_t max, char **p, size_t *cap, size_t *len)
{
	ssize_t n;
	int rc;

	*cap = 0;
	*len = 0;
	if (hint > 0 && (*p = malloc(*cap = hint + 2)) == NULL)
		return -ENOMEM;
	for (;;) {
		if (*len + 1 >= *cap) {
			if (*cap >= max + 2)
				return -EFBIG;
			if ((rc = grow(p, cap, *len, max)) < 0)
				return rc;
		}
		n = read(fd, *p + *len, *cap - 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len > max)
			return -EFBIG;
	}
}

/* see util.h */
int
util_read_file(const char *path, size_t max, char **out, size_t *len)
{
	return util_read_file_at(AT_FDCWD, path, 0, max, out, len);
}

/* see util.h */
int
util_read_file_at(
    int dfd, const char *name, int flags, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *p = NULL;
	size_t cap = 0, n = 0;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	if ((flags & ~O_NOFOLLOW) != 0)
		return -EINVAL;
	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags)) <
	    0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max)
		rc = -EFBIG;
	/* A size of 0 may be unknown (procfs): read to the end then. */
	if (!S_ISREG(st.st_mode))
		st.st_size = 0;
	if (rc == 0)
		rc = read_all(fd, (size_t)st.st_size, max, &p, &cap, &n);
	/* A regular file that changed size while it was read. */
	if (rc == 0 && st.st_size > 0 && n != (size_t)st.st_size)
		rc = -EIO;
	close(fd);
	if (rc < 0) {
		discard(p, cap);
		return rc;
	}
	if (p == NULL && (p = malloc(1)) == NULL)
		return -ENOMEM;
	p[n] = '\0';
	*out = p;
	*len = n;
	return 0;
}
