/*
 * The BIOS path of updates (issue #21), the pure part: syslinux counts no
 * tries, so init keeps them in a file on the ESP and arms each try with
 * syslinux's boot-once (adv.c).  The tries file, syslinux.cfg as we write
 * it, and what a boot is from them.  See init_int.h.
 */
#include <stdio.h>
#include <string.h>

#include "init/init_int.h"
#include "lib/util.h"
#include "update/update.h"

#define LABEL_VERSION "# outpost "

/* see init_int.h */
bool
init_tries_parse(const char *s, size_t n, struct init_tries *t)
{
	char buf[64], slot[2], version[INITCTL_VERSION_MAX], nl;
	unsigned left;

	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (sscanf(buf, "%1[ab] %31[0-9.] %3u%c", slot, version, &left, &nl) !=
		4 ||
	    nl != '\n' || left > INIT_UKI_TRIES)
		return false;
	if (!update_version_valid(version))
		return false;
	snprintf(t->slot, sizeof(t->slot), "%s", slot);
	snprintf(t->version, sizeof(t->version), "%s", version);
	t->left = left;
	/* Exactly what we write, nothing after it. */
	snprintf(buf, sizeof(buf), "%s %s %u\n", slot, version, left);
	return strlen(buf) == n && memcmp(buf, s, n) == 0;
}

/* see init_int.h */
int
init_tries_format(const struct init_tries *t, char *out, size_t n)
{
	int len = snprintf(out, n, "%s %s %u\n", t->slot, t->version, t->left);

	return len < 0 || (size_t)len >= n ? -1 : len;
}

/* see init_int.h */
struct init_bios_label *
init_bios_label(struct init_bios_cfg *c, const char *slot)
{
	return &c->label[strcmp(slot, "b") == 0 ? 1 : 0];
}

/* "KEY value" at p (KEY case-insensitive, as syslinux reads it): the
 * value, or NULL. */
static const char *
keyword(const char *p, const char *key)
{
	size_t k = strlen(key);

	if (strncasecmp(p, key, k) != 0 || (p[k] != ' ' && p[k] != '\t'))
		return NULL;
	return p + k + strspn(p + k, " \t");
}

static void
cfg_line(struct init_bios_cfg *c, const char *p, struct init_bios_label **l)
{
	const char *v;

	p += strspn(p, " \t");
	if ((v = keyword(p, "DEFAULT")) != NULL) {
		c->dflt[0] = '\0';
		if ((v[0] == 'a' || v[0] == 'b') && v[1] == '\0')
			snprintf(c->dflt, sizeof(c->dflt), "%s", v);
	} else if ((v = keyword(p, "LABEL")) != NULL) {
		*l = NULL;
		if ((v[0] == 'a' || v[0] == 'b') && v[1] == '\0') {
			*l = init_bios_label(c, v);
			memset(*l, 0, sizeof(**l));
			(*l)->present = true;
		}
	} else if (*l != NULL &&
	    strncmp(p, LABEL_VERSION, strlen(LABEL_VERSION)) == 0) {
		snprintf((*l)->version, sizeof((*l)->version), "%s",
		    p + strlen(LABEL_VERSION));
	} else if (*l != NULL && (v = keyword(p, "APPEND")) != NULL) {
		snprintf((*l)->cmdline, sizeof((*l)->cmdline), "%s", v);
	}
}

/* Whether line (n bytes with its final CR cut to a NUL) is text: a NUL,
 * CR or other control character inside (but tabs) makes it none of ours. */
static bool
text_line(const char *line, size_t n)
{
	size_t i, end = strlen(line);

	if (end + 1 < n)
		return false; /* a NUL inside */
	for (i = 0; i < end; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			return false;
	return true;
}

/* see init_int.h */
bool
init_bios_cfg_parse(const char *s, size_t n, struct init_bios_cfg *c)
{
	char line[INIT_BIOS_CMDLINE_MAX + 16];
	struct init_bios_label *l = NULL;
	size_t i = 0, len;
	const char *nl;

	memset(c, 0, sizeof(*c));
	while (i < n) {
		nl = memchr(s + i, '\n', n - i);
		len = (nl != NULL ? (size_t)(nl - s) : n) - i;
		if (len >= sizeof(line))
			return false;
		memcpy(line, s + i, len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (text_line(line, len))
			cfg_line(c, line, &l);
		i += len + 1;
	}
	return true;
}

/* see init_int.h */
int
init_bios_cfg_format(const struct init_bios_cfg *c, char *out, size_t n)
{
	size_t len, i;
	int k;

	k = snprintf(out, n, "DEFAULT %s\nPROMPT 0\nTIMEOUT 0\n",
	    c->dflt[0] ? c->dflt : "a");
	if (k < 0 || (size_t)k >= n)
		return -1;
	len = (size_t)k;
	for (i = 0; i < 2; i++) {
		if (!c->label[i].present)
			continue;
		k = snprintf(out + len, n - len,
		    "LABEL %c\n  " LABEL_VERSION "%s\n  LINUX /boot/linux-%c\n"
		    "  APPEND %s\n",
		    "ab"[i], c -> label[i].version, "ab"[i],
		    c -> label[i].cmdline);
		if (k < 0 || (size_t)k >= n - len)
			return -1;
		len += (size_t)k;
	}
	return (int)len;
}

/* see init_int.h */
void
init_bios_decide(const struct init_bios_cfg *c, const struct init_tries *t,
    const char *slot, struct init_update *u, bool *arm)
{
	const struct init_bios_label *other =
	    &c->label[strcmp(slot, "b") == 0 ? 0 : 1];

	*arm = false;
	u->percent = 0;
	u->reason[0] = '\0';
	snprintf(u->other_version, sizeof(u->other_version), "%s",
	    other->present ? other->version : "");
	if (t != NULL && strcmp(t->slot, slot) == 0) {
		u->state = INITCTL_TRIAL;
	} else if (t != NULL && t->left > 0 && other->present) {
		*arm = true;
		u->state = INITCTL_IDLE;
	} else if (t != NULL) {
		u->state = INITCTL_ROLLED_BACK;
		snprintf(u->reason, sizeof(u->reason),
		    "%s did not come up after %u tries", t->version,
		    INIT_UKI_TRIES);
	} else {
		u->state =
		    strcmp(c->dflt, slot) == 0 ? INITCTL_GOOD : INITCTL_IDLE;
	}
}
