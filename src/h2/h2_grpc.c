/*
 * h2_grpc.c — the gRPC header values HTTP/2 carries (gRPC's PROTOCOL-HTTP2
 * mapping): content-type, grpc-status, grpc-message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "h2/h2.h"
#include "lib/util.h"

/* see h2.h */
int
h2_grpc_status_parse(const void *v, size_t n)
{
	const uint8_t *s = v;
	int code = 0;
	size_t i;

	if (n == 0 || n > 3)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		code = code * 10 + (s[i] - '0');
	}
	return code;
}

/* True when c may appear unencoded in a grpc-message value. */
static bool
message_plain(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e && c != '%';
}

/* see h2.h */
size_t
h2_grpc_message_encode(char *out, size_t cap, const char *msg)
{
	static const char hex[] = "0123456789ABCDEF";
	const uint8_t *s = (const uint8_t *)msg;
	size_t o = 0;

	for (; *s != '\0'; s++) {
		if (message_plain(*s)) {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)*s;
			continue;
		}
		if (o + 3 >= cap)
			break;
		out[o++] = '%';
		out[o++] = hex[*s >> 4];
		out[o++] = hex[*s & 0xf];
	}
	out[o] = '\0';
	return o;
}

/* see h2.h */
size_t
h2_grpc_message_decode(char *out, size_t cap, const void *in, size_t n)
{
	const uint8_t *s = in;
	size_t i = 0, o = 0;
	int hi, lo;

	while (i < n && o + 1 < cap) {
		hi = lo = -1;
		if (s[i] == '%' && n - i >= 3) {
			hi = util_hexval(s[i + 1]);
			lo = util_hexval(s[i + 2]);
		}
		if (hi >= 0 && lo >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else {
			out[o++] = (char)s[i++];
		}
	}
	out[o] = '\0';
	return o;
}

/* see h2.h */
bool
h2_grpc_content_type_ok(const void *v, size_t n)
{
	size_t k = sizeof(H2_GRPC_CONTENT_TYPE) - 1;
	const char *s = v;

	if (n < k || memcmp(s, H2_GRPC_CONTENT_TYPE, k) != 0)
		return false;
	return n == k || s[k] == '+' || s[k] == ';';
}
