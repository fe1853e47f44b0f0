/*
 * Boot assessment (issue #21, docs: README "Two slots"): which slot this
 * boot runs, from the kernel command line the slot's UKI (or syslinux
 * label) carries.  See init_int.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init/init_int.h"

#define SLOT_KEY "outpost.slot="

/* see init_int.h */
int
init_boot_slot(const char *cmdline, char *slot, size_t n)
{
	const char *p = cmdline;
	size_t len;

	slot[0] = '\0';
	for (;;) {
		p += strspn(p, " \t\n");
		if (*p == '\0')
			return -1;
		len = strcspn(p, " \t\n");
		if (strncmp(p, SLOT_KEY, strlen(SLOT_KEY)) == 0)
			break;
		p += len;
	}
	p += strlen(SLOT_KEY);
	len -= strlen(SLOT_KEY);
	if (len != 1 || (p[0] != 'a' && p[0] != 'b') || n < 2)
		return -1;
	slot[0] = p[0];
	slot[1] = '\0';
	return 0;
}

/* see init_int.h */
void
init_boot_read(struct init *in)
{
	char line[4096];
	ssize_t r = -1;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		r = read(fd, line, sizeof(line) - 1);
		close(fd);
	}
	line[r > 0 ? r : 0] = '\0';
	snprintf(in->update.version, sizeof(in->update.version), "%s",
	    OUTPOST_VERSION);
	if (init_boot_slot(line, in->update.slot, sizeof(in->update.slot)) < 0)
		init_console(
		    "outpost: no outpost.slot=a|b on the kernel command "
		    "line: the running slot is unknown");
}
