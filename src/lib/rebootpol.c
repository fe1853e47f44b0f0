/* UPDATE_REBOOT: now, manual, or a daily UTC window.  See rebootpol.h. */
#include <string.h>

#include "lib/rebootpol.h"
#include "lib/util.h"

#define DAY_S 86400

/* "HH:MM" at s into minutes after midnight; -1 when malformed. */
static int
hhmm(const char *s)
{
	int d[4], i;

	for (i = 0; i < 4; i++) {
		const char c = s[i < 2 ? i : i + 1];

		if (c < '0' || c > '9')
			return -1;
		d[i] = c - '0';
	}
	if (s[2] != ':' || d[0] * 10 + d[1] > 23 || d[2] > 5)
		return -1;
	return (d[0] * 10 + d[1]) * 60 + d[2] * 10 + d[3];
}

/* see rebootpol.h */
int
rebootpol_parse(const char *s, struct rebootpol *p, char *err, size_t errlen)
{
	int a, b;

	memset(p, 0, sizeof(*p));
	if (strcmp(s, "now") == 0)
		return 0;
	if (strcmp(s, "manual") == 0) {
		p->mode = REBOOTPOL_MANUAL;
		return 0;
	}
	if (strlen(s) != 11 || s[5] != '-' || (a = hhmm(s)) < 0 ||
	    (b = hhmm(s + 6)) < 0)
		return util_fail(err, errlen,
		    "not now, manual or a daily UTC window HH:MM-HH:MM");
	if (a == b)
		return util_fail(err, errlen,
		    "the window starts where it ends (use now for any time)");
	p->mode = REBOOTPOL_WINDOW;
	p->start = (unsigned)a;
	p->end = (unsigned)b;
	return 0;
}

/* see rebootpol.h */
int64_t
rebootpol_wait(const struct rebootpol *p, int64_t now_s)
{
	int64_t t = ((now_s % DAY_S) + DAY_S) % DAY_S;
	int64_t a = (int64_t)p->start * 60, b = (int64_t)p->end * 60;

	switch (p->mode) {
	case REBOOTPOL_NOW:
		return 0;
	case REBOOTPOL_MANUAL:
		return -1;
	case REBOOTPOL_WINDOW:
		break;
	}
	if (a < b ? (t >= a && t < b) : (t >= a || t < b))
		return 0;
	return ((a - t) % DAY_S + DAY_S) % DAY_S;
}
