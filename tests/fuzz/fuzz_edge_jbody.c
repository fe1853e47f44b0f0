/*
 * libFuzzer target: the front door's JSON body reader (edge_jbody.c).
 * The input is the body.  Whatever it finds must be NUL-terminated inside
 * the caller's buffer and free of control bytes other than the escapes'
 * tab/newline class; asking twice must give the same answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"name", "ttl", "token"};
	char out[64], again[64];
	size_t i;
	int r;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		memset(out, 0x55, sizeof(out));
		r = edge_jbody_str(
		    (const char *)data, size, keys[i], out, sizeof(out));
		if (r < -1 || r > 1)
			abort();
		if (r == 1 && memchr(out, '\0', sizeof(out)) == NULL)
			abort();
		if (edge_jbody_str((const char *)data, size, keys[i], again,
			sizeof(again)) != r ||
		    (r == 1 && strcmp(out, again) != 0))
			abort();
	}
	return 0;
}
