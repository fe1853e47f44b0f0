/* The appliance's mounts: kernel filesystems, /config, /data. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"
#include "lib/util.h"

#define PART_WAIT_MS 3000 /* disks were probed before root was mounted */
#define MNT_SAFE (MS_NOSUID | MS_NODEV | MS_NOEXEC)

struct mnt {
	const char *src, *dir, *type;
	unsigned long flags;
	const char *data;
};

static const struct mnt base[] = {
    {"proc", "/proc", "proc", MNT_SAFE, NULL},
    {"sysfs", "/sys", "sysfs", MNT_SAFE, NULL},
    {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755"},
    {"tmpfs", "/run", "tmpfs", MNT_SAFE, "mode=0755,size=16m"},
    {"tmpfs", "/tmp", "tmpfs", MNT_SAFE, "mode=1777,size=32m"},
};

static int
mount_one(const struct mnt *m)
{
	if (mount(m->src, m->dir, m->type, m->flags, m->data) == 0)
		return 0;
	if (errno == EBUSY) /* devtmpfs is automounted by the kernel */
		return 0;
	log_error("init: mount %s on %s: %s", m->type, m->dir, strerror(errno));
	return -errno;
}

/* see init_int.h */
int
init_mount_base(void)
{
	size_t i;
	int r;

	for (i = 0; i < nitems(base); i++)
		if ((r = mount_one(&base[i])) < 0)
			return r;
	if (mkdir(INIT_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
part_wait(const char *name, char *dev, size_t n)
{
	int64_t end = util_mono_ms() + PART_WAIT_MS;
	int r;

	while ((r = init_part_find("/sys", name, dev, n)) == -ENOENT &&
	    util_mono_ms() < end)
		usleep(50 * 1000);
	return r;
}

static void
write_state(const char *file, const char *text)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", INIT_RUN_DIR, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		log_warn("init: write %s: %s", path, strerror(errno));
	close(fd);
}

static void
mount_config(struct init *in)
{
	char dev[80];
	int r = part_wait("outpost-config", dev, sizeof(dev));

	if (r == 0 &&
	    mount(dev, "/config", "vfat", MS_RDONLY | MNT_SAFE,
		"uid=0,gid=999,fmask=0137,dmask=0027") == 0) {
		in->config_ok = true;
		return;
	}
	init_console("outpost: config partition %s: %s", "outpost-config",
	    r < 0 ? strerror(-r) : strerror(errno));
}

/* A data partition that is missing or will not mount: tmpfs instead. */
static void
data_recovery(const char *why)
{
	char text[200];

	if (mount("tmpfs", "/data", "tmpfs", MNT_SAFE, "mode=0700,size=16m") ==
	    0)
		(void)chown("/data", INIT_WORKER_UID, INIT_WORKER_GID);
	snprintf(text, sizeof(text), "needs_recovery: %.160s\n", why);
	write_state("data-state", text);
	init_console("outpost: data partition %s; /data is tmpfs, identity "
		     "will not persist (needs recovery)",
	    why);
}

/*
 * /data/boot-count: incremented on every boot with the data partition,
 * written durably (temporary file, fsync, rename).  Proves to the
 * operator (banner) and to tests that /data persists.  0 on any error.
 */
static unsigned
boot_count(void)
{
	char text[24] = "";
	unsigned n = 0;
	int fd, len;

	fd = open("/data/boot-count", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, text, sizeof(text) - 1) > 0)
			n = (unsigned)strtoul(text, NULL, 10);
		close(fd);
	}
	len = snprintf(text, sizeof(text), "%u\n", ++n);
	fd = open("/data/boot-count.new",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 0;
	if (write(fd, text, (size_t)len) != len || fsync(fd) < 0) {
		close(fd);
		return 0;
	}
	close(fd);
	return rename("/data/boot-count.new", "/data/boot-count") == 0 ? n : 0;
}

static void
mount_data(struct init *in)
{
	char dev[80], why[160];
	int r = part_wait("outpost-data", dev, sizeof(dev));

	if (r < 0) {
		snprintf(why, sizeof(why), "outpost-data not found");
		data_recovery(why);
		return;
	}
	if (mount(dev, "/data", "ext4", MNT_SAFE, "errors=remount-ro") < 0) {
		snprintf(why, sizeof(why), "%.64s will not mount: %.64s", dev,
		    strerror(errno));
		data_recovery(why);
		return;
	}
	in->data_ok = true;
	write_state("data-state", "ok\n");
	in->boots = boot_count();
}

/* see init_int.h */
void
init_mount_disks(struct init *in)
{
	mount_config(in);
	mount_data(in);
}

/* see init_int.h */
void
init_unmount_disks(void)
{
	sync();
	if (umount2("/data", 0) < 0 && errno != EINVAL)
		log_warn("init: umount /data: %s", strerror(errno));
	(void)umount2("/config", 0);
	sync();
}
