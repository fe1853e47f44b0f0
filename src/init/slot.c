/*
 * The A/B slots (issue #21): which one is running, which one an update
 * writes, and the names of their UKIs on the ESP.  Pure string work.
 */
#include <stdio.h>
#include <string.h>

#include "init/init_int.h"

#define SLOT_ARG "outpost.slot="

/* see init_int.h */
bool
init_slot_parse(const char *cmdline, char *out, size_t n)
{
	const char *p = cmdline, *v;
	size_t len;

	/* The last one wins, as the kernel's own parameters do. */
	out[0] = '\0';
	while ((p = strstr(p, SLOT_ARG)) != NULL) {
		v = p + strlen(SLOT_ARG);
		len = strcspn(v, " \t\n");
		if ((p == cmdline || p[-1] == ' ' || p[-1] == '\t') &&
		    len == 1 && (v[0] == 'a' || v[0] == 'b') && n > 1)
			snprintf(out, n, "%c", v[0]);
		p = v;
	}
	return out[0] != '\0';
}

/* see init_int.h */
const char *
init_slot_other(const char *slot)
{
	return strcmp(slot, "a") == 0 ? "b" : "a";
}

/* see init_int.h */
int
init_uki_name(char *out, size_t n, const char *version, const char *slot)
{
	if ((size_t)snprintf(out, n, "outpost-%s-%s+%d.efi", version, slot,
		INIT_UKI_TRIES) >= n)
		return -1;
	return 0;
}

/* "+N" or "+N-M" of a boot counter, then ".efi", at s. */
static bool
counter_tail(const char *s)
{
	size_t d;

	if (*s == '+') {
		s++;
		if ((d = strspn(s, "0123456789")) == 0)
			return false;
		s += d;
		if (*s == '-') {
			s++;
			if ((d = strspn(s, "0123456789")) == 0)
				return false;
			s += d;
		}
	}
	return strcmp(s, ".efi") == 0;
}

/* see init_int.h */
bool
init_uki_parse(const char *file, char *version, size_t vn, char *slot)
{
	const char *v = file + strlen("outpost-");
	size_t len;

	if (strncmp(file, "outpost-", strlen("outpost-")) != 0)
		return false;
	len = strspn(v, "0123456789.");
	if (len == 0 || len >= vn || v[len] != '-' ||
	    (v[len + 1] != 'a' && v[len + 1] != 'b') ||
	    !counter_tail(v + len + 2))
		return false;
	memcpy(version, v, len);
	version[len] = '\0';
	slot[0] = v[len + 1];
	slot[1] = '\0';
	return true;
}

/* Digits at *s, at most nine, advancing *s: false when none or too many. */
static bool
count(const char **s, unsigned *v)
{
	size_t d = strspn(*s, "0123456789");

	if (d == 0 || d > 9)
		return false;
	*v = 0;
	while (d-- > 0)
		*v = *v * 10 + (unsigned)(*(*s)++ - '0');
	return true;
}

/* see init_int.h */
bool
init_uki_counter(const char *file, unsigned *left, unsigned *done)
{
	char version[INITCTL_VERSION_MAX], slot[2];
	const char *s;

	*left = *done = 0;
	if (!init_uki_parse(file, version, sizeof(version), slot))
		return false;
	s = file + strlen("outpost-") + strlen(version) + 2;
	if (*s++ != '+' || !count(&s, left))
		return false;
	if (*s == '-' && (s++, !count(&s, done)))
		return false;
	return strcmp(s, ".efi") == 0;
}

/* see init_int.h */
int
init_uki_good_name(const char *file, char *out, size_t n)
{
	char version[INITCTL_VERSION_MAX], slot[2];

	if (!init_uki_parse(file, version, sizeof(version), slot) ||
	    (size_t)snprintf(out, n, "outpost-%s-%s.efi", version, slot) >= n)
		return -1;
	return 0;
}
