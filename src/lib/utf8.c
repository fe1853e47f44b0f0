/*
 * utf8.c — well-formed UTF-8 (RFC 3629 section 4) and the in-place
 * scrub of everything else (see utf8.h).
 */
#include "lib/utf8.h"

static uint64_t replaced;

static bool
cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* see utf8.h */
size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0; /* continuation, overlong lead 0xc0/0xc1, > 0xf4 */
	/* The second byte's range rules out overlongs, surrogates and
	 * code points above U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (!cont(s[i]))
			return 0;
	return len;
}

/* see utf8.h */
bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if ((k = utf8_seq_len(p + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/* see utf8.h */
size_t
utf8_scrub(char *s, size_t n)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0, k, bad = 0;

	while (i < n) {
		if (p[i] < 0x80) { /* ASCII, the common case */
			i++;
			continue;
		}
		if ((k = utf8_seq_len(p + i, n - i)) > 0) {
			i += k;
			continue;
		}
		p[i++] = '?';
		bad++;
	}
	replaced += bad;
	return bad;
}

/* see utf8.h */
uint64_t
utf8_replaced_total(void)
{
	return replaced;
}

/* see utf8.h */
size_t
utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}
