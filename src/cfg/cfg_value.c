/*
 * cfg_value.c — typed values: text to number, with the bounds of the
 * table.  Messages quote the offending value only for types that cannot
 * carry a secret (never base64, never URLs, which may hold a password).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg/cfg_int.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/url.h"
#include "lib/util.h"
#include "net/noproxy.h"

#define MB (1024 * 1024)

/* Copy at most 40 printable bytes of v into out, for a message. */
static void
quote_value(char *out, size_t cap, const char *v)
{
	size_t i, o = 0;

	for (i = 0; v[i] != '\0' && o + 4 < cap && i < 40; i++)
		out[o++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	if (v[i] != '\0' && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Parse a decimal integer with an optional sign; false on junk/overflow. */
static bool
parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	/* strtoll() would skip leading white space of any kind. */
	if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

#define NS_PER_MS 1000000LL

/* Length of the unit at u and its length in nanoseconds; 0 when none. */
static int64_t
unit_ns(const char *u, size_t *len)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000},
	    {"\xce\xbcs", 1000}, {"ms", NS_PER_MS}, {"s", 1000 * NS_PER_MS},
	    {"m", 60 * 1000 * NS_PER_MS}, {"h", 3600 * 1000 * NS_PER_MS}};
	size_t i;

	/* Two-byte names first: "ms" before "m". */
	for (i = 0; i < nitems(units); i++) {
		size_t n = strlen(units[i].name);

		if (strncmp(u, units[i].name, n) == 0) {
			*len = n;
			return units[i].ns;
		}
	}
	return 0;
}

/*
 * One "<digits>[.<digits>]<unit>" term at *s, added to *total (ns).  The
 * fraction is exact: a digit below a nanosecond fails.
 */
static bool
duration_term(const char **sp, int64_t *total)
{
	const char *s = *sp, *frac = NULL;
	int64_t whole = 0, unit, step, part = 0;
	size_t ulen, digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (whole > (INT64_MAX - 9) / 10)
			return false;
		whole = whole * 10 + (*s - '0');
	}
	if (*s == '.')
		for (frac = ++s; *s >= '0' && *s <= '9'; s++)
			digits++;
	if (digits == 0 || (unit = unit_ns(s, &ulen)) == 0 ||
	    whole > INT64_MAX / unit)
		return false;
	for (step = unit; frac != NULL && frac < s; frac++) {
		if (step % 10 != 0 && *frac != '0')
			return false;
		step /= 10;
		part += (*frac - '0') * step;
	}
	if (whole * unit > INT64_MAX - *total - part)
		return false;
	*total += whole * unit + part;
	*sp = s + ulen;
	return true;
}

/* see cfg_int.h */
bool
cfg_duration_parse(const char *s, int64_t *ms)
{
	int64_t total = 0, n;

	if (parse_i64(s, &n) && s[0] != '-' && s[0] != '+') {
		if (n > INT64_MAX / 1000)
			return false;
		*ms = n * 1000; /* a plain integer means seconds */
		return true;
	}
	if (*s == '\0')
		return false;
	while (*s != '\0')
		if (!duration_term(&s, &total))
			return false;
	/* Finer than a millisecond is not a value we can honour. */
	if (total % NS_PER_MS != 0)
		return false;
	*ms = total / NS_PER_MS;
	return true;
}

/* Write a duration the way a user would ("100ms", "5s", "2m", "24h"). */
static void
fmt_duration(char *out, size_t cap, int64_t ms)
{
	if (ms != 0 && ms % (3600 * 1000) == 0)
		snprintf(out, cap, "%" PRId64 "h", ms / (3600 * 1000));
	else if (ms != 0 && ms % (60 * 1000) == 0)
		snprintf(out, cap, "%" PRId64 "m", ms / (60 * 1000));
	else if (ms % 1000 == 0)
		snprintf(out, cap, "%" PRId64 "s", ms / 1000);
	else
		snprintf(out, cap, "%" PRId64 "ms", ms);
}

/* see cfg_int.h */
void
cfg_bound_fmt(const struct cfg_def *d, char *out, size_t cap, int64_t v)
{
	if (d->type == CFG_T_DUR)
		fmt_duration(out, cap, v);
	else if (d->type == CFG_T_FRAC)
		snprintf(
		    out, cap, "%" PRId64 ".%03" PRId64, v / 1000, v % 1000);
	else
		snprintf(out, cap, "%" PRId64, v);
}

/* v is in table units (MB for sizes); false with a message when outside. */
static bool
check_range(const struct cfg_def *d, int64_t v, char *why, size_t whylen)
{
	char lo[32], hi[32];

	if (d->min == 0 && d->max == 0)
		return true;
	if (v >= d->min && v <= d->max)
		return true;
	cfg_bound_fmt(d, lo, sizeof(lo), d->min);
	cfg_bound_fmt(d, hi, sizeof(hi), d->max);
	snprintf(why, whylen, "out of range (%s..%s)", lo, hi);
	return false;
}

static bool
parse_bool(const char *v, int64_t *num)
{
	if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*num = 1;
	else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*num = 0;
	else
		return false;
	return true;
}

/*
 * The anchor connector's ENV_LEVEL is a deployment level, not a log level:
 * its image sets "production".  Both of its values are accepted so its
 * deployments start unchanged; they choose a log level and relax nothing
 * (an http:// controller still needs ALLOW_INSECURE_CONTROLLER).
 */
static bool
anchor_level(const char *v, enum log_level *lvl)
{
	if (strcasecmp(v, "production") == 0)
		*lvl = LOG_INFO;
	else if (strcasecmp(v, "development") == 0)
		*lvl = LOG_DEBUG;
	else
		return false;
	return true;
}

#define PEM_BEGIN "-----BEGIN "

/* PEM text (after leading white space)?  '-' is not in the base64
 * alphabet, so the two forms cannot be mistaken for each other. */
static bool
is_pem(const char *v)
{
	v += strspn(v, " \t\r\n");
	return strncmp(v, PEM_BEGIN, strlen(PEM_BEGIN)) == 0;
}

/* see cfg_int.h */
int
cfg_b64_bytes(const char *v, uint8_t **out, size_t *len)
{
	size_t n = strlen(v);
	bool pem = is_pem(v);
	size_t cap = pem ? n : BASE64_DECODED_MAX(n);
	uint8_t *p = malloc(cap + 1);
	ssize_t r = (ssize_t)n;

	if (p == NULL)
		return -ENOMEM;
	if (pem)
		memcpy(p, v, n);
	else if ((r = base64_decode(p, cap, v, n)) <= 0) {
		util_wipe(p, cap + 1);
		free(p);
		return r < 0 ? (int)r : -ENODATA;
	}
	*out = p;
	*len = (size_t)r;
	return 0;
}

static bool
check_base64(const char *v)
{
	uint8_t *p;
	size_t n;

	if (cfg_b64_bytes(v, &p, &n) < 0)
		return false;
	util_wipe(p, n);
	free(p);
	return true;
}

/* "2/3", "0.75", "0", "1" or "1.0" in permille (rounded down); false on
 * junk. */
static bool
parse_fraction(const char *v, int64_t *num)
{
	int64_t n, m = 1;
	char tmp[24];
	char *slash, *dot, c;
	size_t i;

	if (strlen(v) >= sizeof(tmp) || v[0] < '0' || v[0] > '9')
		return false;
	snprintf(tmp, sizeof(tmp), "%s", v);
	if ((slash = strchr(tmp, '/')) != NULL) {
		*slash = '\0';
		if (!parse_i64(tmp, &n) || slash[1] < '1' || slash[1] > '9' ||
		    !parse_i64(slash + 1, &m) || n > 1000000 || m > 1000000)
			return false;
		*num = n * 1000 / m;
		return true;
	}
	/* The whole numbers 0 and 1, and 1.0 (as OTEL_TRACES_SAMPLER_ARG
	 * is written); 1.0 with up to three zeros. */
	if (strcmp(tmp, "0") == 0 || strcmp(tmp, "1") == 0 ||
	    (strncmp(tmp, "1.", 2) == 0 && strlen(tmp) <= 5 && tmp[2] != '\0' &&
		strspn(tmp + 2, "0") == strlen(tmp + 2))) {
		*num = tmp[0] == '1' ? 1000 : 0;
		return true;
	}
	/* A decimal: "0." and one to three digits. */
	dot = tmp + 1;
	if (tmp[0] != '0' || *dot != '.' || strlen(dot + 1) < 1 ||
	    strlen(dot + 1) > 3)
		return false;
	for (i = 1, n = 0; i <= 3; i++) {
		c = i <= strlen(dot + 1) ? dot[i] : '0';
		if (c < '0' || c > '9')
			return false;
		n = n * 10 + (c - '0');
	}
	*num = n;
	return true;
}

static bool
parse_number(const struct cfg_def *d, const char *v, int64_t *num, char *why,
    size_t whylen)
{
	char q[48];

	quote_value(q, sizeof(q), v);
	if (d->type == CFG_T_DUR) {
		if (!cfg_duration_parse(v, num)) {
			snprintf(why, whylen,
			    "invalid duration \"%s\" (use e.g. 500ms, 1.5s, 2m, 1h30m; "
			    "whole milliseconds)",
			    q);
			return false;
		}
		return check_range(d, *num, why, whylen);
	}
	if (d->type == CFG_T_FRAC) {
		if (!parse_fraction(v, num)) {
			snprintf(why, whylen,
			    "invalid fraction \"%s\" (use e.g. 2/3 or 0.75)",
			    q);
			return false;
		}
		return check_range(d, *num, why, whylen);
	}
	if (!parse_i64(v, num)) {
		snprintf(why, whylen, "invalid integer \"%s\"", q);
		return false;
	}
	if (!check_range(d, *num, why, whylen))
		return false;
	if (d->type == CFG_T_SIZE) {
		if (*num > INT64_MAX / MB || *num < 0) {
			snprintf(why, whylen, "size too large");
			return false;
		}
		*num *= MB;
	}
	return true;
}

/* see cfg_int.h */
bool
cfg_value_parse(const struct cfg_def *d, const char *v, int64_t *num, char *why,
    size_t whylen)
{
	enum log_level lvl;
	struct dial_proxy px;
	struct url u;
	const char *uwhy = NULL;
	char q[48];

	*num = 0;
	quote_value(q, sizeof(q), v);
	switch (d->type) {
	case CFG_T_INT:
	case CFG_T_PORT:
	case CFG_T_SIZE:
	case CFG_T_DUR:
	case CFG_T_FRAC:
		return parse_number(d, v, num, why, whylen);
	case CFG_T_BOOL:
		if (parse_bool(v, num))
			return true;
		snprintf(
		    why, whylen, "invalid bool \"%s\" (use true/false/1/0)", q);
		return false;
	case CFG_T_LEVEL:
		if (anchor_level(v, &lvl) || log_level_parse(v, &lvl)) {
			*num = lvl;
			return true;
		}
		snprintf(why, whylen,
		    "invalid level \"%s\" (use debug, info, warn, error, "
		    "production or development)",
		    q);
		return false;
	case CFG_T_URL:
		if (url_parse(v, strlen(v), &u, &uwhy))
			return true;
		snprintf(
		    why, whylen, "invalid URL: %s", uwhy ? uwhy : "malformed");
		return false;
	case CFG_T_B64:
		if (check_base64(v))
			return true;
		snprintf(why, whylen,
		    "not valid base64 or PEM text (value not shown)");
		return false;
	case CFG_T_PROXY:
		if (noproxy_proxy_parse(&px, v, &uwhy)) {
			dial_proxy_wipe(&px);
			return true;
		}
		snprintf(why, whylen, "invalid proxy: %s",
		    uwhy ? uwhy : "malformed");
		return false;
	case CFG_T_PATH:
		if (strlen(v) < PATH_MAX)
			return true;
		snprintf(why, whylen, "path too long");
		return false;
	case CFG_T_STR:
		return true;
	}
	snprintf(why, whylen, "unknown type");
	return false;
}
