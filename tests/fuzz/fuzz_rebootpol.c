/*
 * Fuzz target: lib/rebootpol.h — the UPDATE_REBOOT parser and the wait it
 * decides.  Invariants: an accepted window has start != end, both below
 * 1440 minutes, and prints back as the input; its wait at any time is in
 * 0..86399 and 0 exactly inside the window; now waits 0, manual -1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rebootpol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_window(const struct rebootpol *p, const char *s, int64_t t)
{
	char back[16];
	int64_t w = rebootpol_wait(p, t), m = ((t % 86400) + 86400) % 86400;
	int64_t a = p->start * 60, b = p->end * 60;
	int inside = a < b ? (m >= a && m < b) : (m >= a || m < b);

	snprintf(back, sizeof(back), "%02u:%02u-%02u:%02u", p->start / 60,
	    p->start % 60, p->end / 60, p->end % 60);
	if (p->start == p->end || p->start >= 1440 || p->end >= 1440 ||
	    strcmp(back, s) != 0 || w < 0 || w >= 86400 || (w == 0) != inside)
		abort();
	/* Waiting that long lands inside the window. */
	if (w > 0 && rebootpol_wait(p, t + w) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rebootpol p;
	char s[32], err[128];
	int64_t t = 0;
	size_t n = size < sizeof(t) ? size : sizeof(t);

	/* The first 8 bytes are the clock, the rest the setting. */
	memcpy(&t, data, n);
	t %= (int64_t)1 << 40;
	if (size - n >= sizeof(s))
		return 0;
	memcpy(s, data + n, size - n);
	s[size - n] = '\0';
	if (rebootpol_parse(s, &p, err, sizeof(err)) < 0)
		return 0;
	if (p.mode == REBOOTPOL_WINDOW)
		check_window(&p, s, t);
	else if (rebootpol_wait(&p, t) != (p.mode == REBOOTPOL_NOW ? 0 : -1))
		abort();
	return 0;
}
