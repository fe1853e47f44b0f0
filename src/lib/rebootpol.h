/*
 * rebootpol.h — UPDATE_REBOOT (issue #21): when an appliance that has
 * written an update to its other slot may reboot into it.
 *
 *   now          as soon as the slot is written
 *   manual       never by itself: only when the operator asks (the REBOOT
 *                request of init's control channel, lib/initctl.h)
 *   HH:MM-HH:MM  a daily window in UTC, start included, end excluded;
 *                an end before the start spans midnight ("23:30-00:30")
 *
 * Parsed by cfg (check-config refuses what init would) and by init.  Pure
 * functions over caller memory: no I/O, no clock (the caller passes the
 * time), no allocation.
 */
#ifndef LIB_REBOOTPOL_H
#define LIB_REBOOTPOL_H

#include <stddef.h>
#include <stdint.h>

enum rebootpol_mode { REBOOTPOL_NOW, REBOOTPOL_MANUAL, REBOOTPOL_WINDOW };

struct rebootpol {
	enum rebootpol_mode mode;
	unsigned start, end; /* WINDOW: minutes after 00:00 UTC, 0..1439 */
};

/*
 * Parse s: "now", "manual" or "HH:MM-HH:MM" (two digits each, hours
 * 00..23, minutes 00..59, start != end).  0 with p filled, or -1 with the
 * reason in err (errlen bytes, truncated); p is then unspecified.
 */
int rebootpol_parse(
    const char *s, struct rebootpol *p, char *err, size_t errlen);

/*
 * Seconds from now_s (seconds since the Unix epoch, UTC) until a reboot is
 * allowed: 0 for now (NOW, or inside the window), the time to the window's
 * start (1..86399), or -1 for MANUAL.
 */
int64_t rebootpol_wait(const struct rebootpol *p, int64_t now_s);

#endif
