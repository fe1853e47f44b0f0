/* The ACPI power button: an evdev device that reports KEY_POWER. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"
#include "lib/util.h"

/*
 * The evdev ABI from <linux/input.h> and input-event-codes.h: musl ships
 * no kernel headers, and these four values are all init needs.
 */
struct input_event {
	struct timeval time;
	uint16_t type;
	uint16_t code;
	int32_t value;
};
#define EV_KEY 0x01
#define KEY_POWER 116
#define KEY_MAX 0x2ff
#define EVIOCGBIT(ev, len) _IOC(_IOC_READ, 'E', 0x20 + (ev), len)

#define EVDEV_SCAN 32 /* /dev/input/event0..31 */
#define BITS_LONG (8 * sizeof(unsigned long))

static bool
has_power_key(int fd)
{
	unsigned long keys[KEY_MAX / BITS_LONG + 1] = {0};

	if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) < 0)
		return false;
	return (keys[KEY_POWER / BITS_LONG] >> (KEY_POWER % BITS_LONG)) & 1;
}

static void
power_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct init *in = container_of(l, struct init, loop);
	struct input_event ev[16];
	ssize_t n;
	size_t i;

	n = read(w->fd, ev, sizeof(ev));
	if (n < 0 && errno != EAGAIN) {
		rx_watch_close(l, w);
		return;
	}
	for (i = 0; n > 0 && i < (size_t)n / sizeof(ev[0]); i++)
		if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER &&
		    ev[i].value == 1)
			init_shutdown_begin(in, "power button");
}

/* see init_int.h */
void
init_power_start(struct init *in)
{
	char path[32];
	int i, fd;

	for (i = 0; i < EVDEV_SCAN && in->npower < INIT_POWER_MAX; i++) {
		snprintf(path, sizeof(path), "/dev/input/event%d", i);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!has_power_key(fd)) {
			close(fd);
			continue;
		}
		rx_watch_init(&in->power[in->npower], fd, power_io, NULL);
		rx_watch_set(&in->loop, &in->power[in->npower], RX_READ);
		in->npower++;
		log_info("init: watching %s for the power button", path);
	}
}
