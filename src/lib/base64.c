#include <errno.h>
#include <stdint.h>

#include "lib/base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 digit, 64 for '=', 65 for whitespace, 66 otherwise. */
static unsigned
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	if (c == '=')
		return 64;
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f')
		return 65;
	return 66;
}

/* see base64.h */
ssize_t
base64_decode(void *dst, size_t cap, const char *src, size_t n)
{
	uint8_t *out = dst;
	uint32_t acc = 0;
	size_t i, len = 0;
	unsigned v, bits = 0, pad = 0, digits = 0;

	for (i = 0; i < n; i++) {
		v = b64_value((unsigned char)src[i]);
		if (v == 65)
			continue;
		if (v == 66 || (pad > 0 && v != 64))
			return -EINVAL;
		if (v == 64) {
			pad++;
			continue;
		}
		digits++;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (len == cap)
				return -ENOSPC;
			out[len++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* One digit left over cannot encode a byte; leftover bits must be 0. */
	if (digits % 4 == 1 || acc != 0)
		return -EINVAL;
	if (pad > 0 && (pad > 2 || (digits + pad) % 4 != 0))
		return -EINVAL;
	return (ssize_t)len;
}

/* see base64.h */
ssize_t
base64_encode(char *dst, size_t cap, const void *src, size_t n)
{
	const uint8_t *in = src;
	size_t i, o = 0;
	uint32_t w;

	if (cap < BASE64_ENCODED_LEN(n) + 1)
		return -ENOSPC;
	for (i = 0; i + 2 < n; i += 3) {
		w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		dst[o++] = b64_alphabet[w >> 18];
		dst[o++] = b64_alphabet[(w >> 12) & 63];
		dst[o++] = b64_alphabet[(w >> 6) & 63];
		dst[o++] = b64_alphabet[w & 63];
	}
	if (i < n) {
		w = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			w |= (uint32_t)in[i + 1] << 8;
		dst[o++] = b64_alphabet[w >> 18];
		dst[o++] = b64_alphabet[(w >> 12) & 63];
		dst[o++] = i + 1 < n ? b64_alphabet[(w >> 6) & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return (ssize_t)o;
}
