/* GPT partitions by name through sysfs: no udev, no blkid. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init/init_int.h"

#define UEVENT_MAX 1024

/* The value of "key=" in a uevent text, copied into out; false if absent. */
static bool
uevent_get(const char *text, const char *key, char *out, size_t n)
{
	size_t klen = strlen(key);
	const char *p = text, *e;

	while (*p) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=' && (size_t)(e - p - klen - 1) < n) {
			memcpy(out, p + klen + 1, (size_t)(e - p - klen - 1));
			out[e - p - klen - 1] = '\0';
			return true;
		}
		p = *e ? e + 1 : e;
	}
	return false;
}

static ssize_t
read_small(const char *path, char *buf, size_t n)
{
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -errno;
	buf[r] = '\0';
	return r;
}

/* Does <dir>/<ent>/uevent name the partition?  Copies DEVNAME. */
static bool
part_matches(
    const char *dir, const char *ent, const char *name, char *dev, size_t n)
{
	char path[PATH_MAX], text[UEVENT_MAX], pn[128];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/uevent", dir, ent) >=
	    sizeof(path))
		return false;
	if (read_small(path, text, sizeof(text)) < 0)
		return false;
	if (!uevent_get(text, "PARTNAME", pn, sizeof(pn)) ||
	    strcmp(pn, name) != 0)
		return false;
	return uevent_get(text, "DEVNAME", dev, n);
}

/* see init_int.h */
int
init_part_find(const char *sysfs, const char *name, char *out, size_t n)
{
	char dir[PATH_MAX], dev[64];
	struct dirent *de;
	DIR *d;
	int r = -ENOENT;

	snprintf(dir, sizeof(dir), "%s/class/block", sysfs);
	if ((d = opendir(dir)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    !part_matches(dir, de->d_name, name, dev, sizeof(dev)))
			continue;
		/* DEVNAME comes from the kernel, but stay inside /dev. */
		if (strstr(dev, "..") != NULL)
			continue;
		r = (size_t)snprintf(out, n, "/dev/%s", dev) < n
		    ? 0
		    : -ENAMETOOLONG;
		break;
	}
	closedir(d);
	return r;
}
