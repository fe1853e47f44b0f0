/*
 * update_manifest.c — the manifest's text (docs/updates.md) and version
 * numbers: strict, bounded, one line at a time.
 */
#include <string.h>

#include "lib/util.h"
#include "update/update_int.h"

#define LINE_MAX_LEN 127
#define FIELDS_MAX 6
#define VERSION_PARTS 4
#define VERSION_DIGITS 9

/* Split line on single spaces into at most FIELDS_MAX fields; the count,
 * or -1 for an empty field or too many. */
static int
fields(char *line, char **f)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *sp = strchr(p, ' ');

		if (n == FIELDS_MAX || *p == '\0' || p == sp)
			return -1;
		f[n++] = p;
		if (sp == NULL)
			return n;
		*sp = '\0';
		p = sp + 1;
	}
}

/* Components of a valid version into c (missing ones 0); false if v is not
 * one. */
static bool
version_parse(const char *v, uint32_t c[VERSION_PARTS])
{
	size_t n = 0;

	memset(c, 0, VERSION_PARTS * sizeof(c[0]));
	for (;;) {
		size_t d = 0;

		if (n == VERSION_PARTS)
			return false;
		while (v[d] >= '0' && v[d] <= '9') {
			if (d == VERSION_DIGITS)
				return false;
			c[n] = c[n] * 10 + (uint32_t)(v[d] - '0');
			d++;
		}
		if (d == 0 || (d > 1 && v[0] == '0'))
			return false;
		n++;
		if (v[d] == '\0')
			return true;
		if (v[d] != '.')
			return false;
		v += d + 1;
	}
}

/* see update.h */
bool
update_version_valid(const char *v)
{
	uint32_t c[VERSION_PARTS];

	return version_parse(v, c);
}

/* see update.h */
int
update_version_cmp(const char *a, const char *b)
{
	uint32_t x[VERSION_PARTS], y[VERSION_PARTS];
	size_t i;

	version_parse(a, x);
	version_parse(b, y);
	for (i = 0; i < VERSION_PARTS; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* A decimal u64 without sign, leading zeros or overflow. */
static bool
number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* 64 lowercase hex digits into 32 bytes. */
static bool
sha256_hex(const char *s, uint8_t out[32])
{
	size_t i;

	if (strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++)
		if (util_hexval(s[i]) < 0 || (s[i] >= 'A' && s[i] <= 'F'))
			return false;
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(util_hexval(s[2 * i]) << 4 |
		    util_hexval(s[2 * i + 1]));
	return true;
}

/* A name of 1 to max-1 characters from [a-z0-9_-], into out. */
static bool
name_copy(const char *s, char *out, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
			s[i] == '_'))
			return false;
	memcpy(out, s, n + 1);
	return true;
}

static bool
version_copy(const char *s, char *out, size_t max)
{
	if (strlen(s) >= max || !update_version_valid(s))
		return false;
	strcpy(out, s);
	return true;
}

/* Parse one "part NAME OFF SIZE SHA256" line's fields; *end is where the
 * previous part ended. */
static int
part_line(struct update_manifest *m, char **f, uint64_t *end,
    uint64_t file_size, char *err, size_t errlen)
{
	struct update_part *p = &m->part[m->nparts];

	if (m->nparts == UPDATE_PARTS_MAX)
		return util_fail(err, errlen, "manifest: more than %d parts",
		    UPDATE_PARTS_MAX);
	if (!name_copy(f[1], p->name, sizeof(p->name)))
		return util_fail(err, errlen, "manifest: bad part name");
	if (update_part_find(m, p->name) != NULL)
		return util_fail(
		    err, errlen, "manifest: part %s twice", p->name);
	if (!number(f[2], &p->off) || !number(f[3], &p->size) ||
	    !sha256_hex(f[4], p->sha256))
		return util_fail(err, errlen,
		    "manifest: part %s: bad offset, size or sha256", p->name);
	if (p->off < *end)
		return util_fail(err, errlen,
		    "manifest: part %s overlaps the header or the part before "
		    "it",
		    p->name);
	if (p->off > file_size || p->size > file_size - p->off)
		return util_fail(err, errlen,
		    "manifest: part %s: outside the file (truncated?)",
		    p->name);
	*end = p->off + p->size;
	m->nparts++;
	return 0;
}

/* The key expected on line i (0-based) before the parts. */
static const char *const head_keys[] = {
    "outpost-update", "version", "arch", "min-version"};

static int
head_line(struct update_manifest *m, size_t i, char **f, int nf, char *err,
    size_t errlen)
{
	bool ok;

	if (nf != 2 || strcmp(f[0], head_keys[i]) != 0)
		return util_fail(err, errlen, "manifest: line %zu is not %s",
		    i + 1, head_keys[i]);
	switch (i) {
	case 0:
		ok = strcmp(f[1], "1") == 0;
		break;
	case 1:
		ok = version_copy(f[1], m->version, sizeof(m->version));
		break;
	case 2:
		ok = name_copy(f[1], m->arch, sizeof(m->arch));
		break;
	default:
		ok = version_copy(f[1], m->min_version, sizeof(m->min_version));
		break;
	}
	return ok ? 0
		  : util_fail(err, errlen, "manifest: bad %s", head_keys[i]);
}

/* see update_int.h */
int
update_manifest_parse(const char *s, size_t n, uint64_t data_start,
    uint64_t file_size, struct update_manifest *m, char *err, size_t errlen)
{
	uint64_t end = data_start;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (n > UPDATE_MANIFEST_MAX)
		return util_fail(err, errlen, "manifest: over %d bytes",
		    UPDATE_MANIFEST_MAX);
	for (i = 0; n > 0; i++) {
		const char *nl = memchr(s, '\n', n);
		size_t len = nl == NULL ? n : (size_t)(nl - s);
		char line[LINE_MAX_LEN + 1], *f[FIELDS_MAX];
		int nf;

		if (nl == NULL || len > LINE_MAX_LEN || memchr(s, 0, len))
			return util_fail(err, errlen,
			    "manifest: line %zu is not a line of text", i + 1);
		memcpy(line, s, len);
		line[len] = '\0';
		s += len + 1;
		n -= len + 1;
		nf = fields(line, f);
		if (i < nitems(head_keys)) {
			if (head_line(m, i, f, nf, err, errlen) < 0)
				return -1;
		} else if (nf != 5 || strcmp(f[0], "part") != 0) {
			return util_fail(err, errlen,
			    "manifest: line %zu is not a part", i + 1);
		} else if (part_line(m, f, &end, file_size, err, errlen) < 0) {
			return -1;
		}
	}
	if (m->nparts == 0)
		return util_fail(err, errlen, "manifest: no parts");
	return 0;
}
