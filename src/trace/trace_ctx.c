/*
 * W3C Trace Context level 1 header values: traceparent parsed and
 * written, tracestate checked.  Pure functions over the caller's bytes.
 */
#include <string.h>

#include "lib/util.h"
#include "trace/trace_int.h"

static int
lowhex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1; /* uppercase is invalid in traceparent */
}

/* n bytes from 2n lowercase hex characters; false on any other. */
static bool
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		hi = lowhex(s[2 * i]);
		lo = lowhex(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* see trace.h */
bool
trace_parent_parse(struct trace_ctx *c, const char *v, size_t n)
{
	uint8_t version, flags;

	if (n < TRACE_PARENT_LEN || !unhex(v, &version, 1) || version == 0xff)
		return false;
	if (version == 0 ? n != TRACE_PARENT_LEN
			 : n > TRACE_PARENT_LEN && v[TRACE_PARENT_LEN] != '-')
		return false;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-' ||
	    !unhex(v + 3, c->trace_id, TRACE_ID_LEN) ||
	    !unhex(v + 36, c->span_id, TRACE_SPAN_ID_LEN) ||
	    !unhex(v + 53, &flags, 1))
		return false;
	c->flags = flags & TRACE_FLAG_SAMPLED;
	return !trace_zero(c->trace_id, TRACE_ID_LEN) &&
	    !trace_zero(c->span_id, TRACE_SPAN_ID_LEN);
}

/* see trace.h */
void
trace_parent_format(const struct trace_ctx *c, char out[TRACE_PARENT_LEN + 1])
{
	uint8_t flags = c->flags & TRACE_FLAG_SAMPLED;

	memcpy(out, "00-", 3);
	util_hex(c->trace_id, TRACE_ID_LEN, out + 3);
	out[35] = '-';
	util_hex(c->span_id, TRACE_SPAN_ID_LEN, out + 36);
	out[52] = '-';
	util_hex(&flags, 1, out + 53);
}

static bool
lcalpha(char ch)
{
	return ch >= 'a' && ch <= 'z';
}

static bool
key_char(char ch)
{
	return lcalpha(ch) || (ch >= '0' && ch <= '9') || ch == '_' ||
	    ch == '-' || ch == '*' || ch == '/';
}

/*
 * key = simple-key / multi-tenant-key
 * simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
 * multi-tenant-key = tenant-id "@" system-id
 * tenant-id = ( lcalpha / DIGIT ) 0*240( key chars )
 * system-id = lcalpha 0*13( key chars )
 */
static bool
key_ok(const char *k, size_t n)
{
	const char *at = memchr(k, '@', n);
	size_t i, tn, sn;

	for (i = 0; i < n; i++)
		if (k[i] != '@' && !key_char(k[i]))
			return false;
	if (at == NULL)
		return n >= 1 && n <= 256 && lcalpha(k[0]);
	tn = (size_t)(at - k);
	sn = n - tn - 1;
	return tn >= 1 && tn <= 241 &&
	    (lcalpha(k[0]) || (k[0] >= '0' && k[0] <= '9')) && sn >= 1 &&
	    sn <= 14 && lcalpha(at[1]) && memchr(at + 1, '@', sn) == NULL;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
 * nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static bool
value_ok(const char *v, size_t n)
{
	size_t i;

	if (n < 1 || n > 256 || v[n - 1] == ' ')
		return false;
	for (i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
			return false;
	return true;
}

/* One list member, blanks around it allowed: 1, 0 when empty (allowed),
 * -1 when invalid. */
static int
member_ok(const char *m, size_t n)
{
	const char *eq;

	while (n > 0 && (*m == ' ' || *m == '\t'))
		m++, n--;
	while (n > 0 && (m[n - 1] == ' ' || m[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	eq = memchr(m, '=', n);
	return eq != NULL && key_ok(m, (size_t)(eq - m)) &&
		value_ok(eq + 1, n - (size_t)(eq + 1 - m))
	    ? 1
	    : -1;
}

/* see trace.h */
bool
trace_state_valid(const char *v, size_t n)
{
	const char *e, *end = v + n;
	unsigned members = 0;
	int m;

	if (n > TRACE_STATE_MAX)
		return false;
	for (;;) {
		e = memchr(v, ',', (size_t)(end - v));
		if (e == NULL)
			e = end;
		if ((m = member_ok(v, (size_t)(e - v))) < 0)
			return false;
		members += (unsigned)m;
		if (e == end)
			return members <= 32;
		v = e + 1;
	}
}
