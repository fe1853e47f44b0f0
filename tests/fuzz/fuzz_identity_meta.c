/*
 * Fuzz target: the identity store's meta parser (idstore_meta_parse).
 * Invariants: an accepted file has a non-empty source and name without
 * control characters and non-negative times, and what the store would
 * write for those values parses back to the same values.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/identity_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idstore_files f = {0}, g = {0};
	char err[256], text[1024];
	int n;

	if (idstore_meta_parse(
		&f, (const char *)data, size, err, sizeof(err)) != 0)
		return 0;
	check_str(f.source);
	check_str(f.name);
	if (f.not_after < 0 || f.renew_at < 0)
		abort();
	n = snprintf(text, sizeof(text),
	    "source=%s\nname=%s\nnot_after=%" PRId64 "\nrenew_at=%" PRId64 "\n",
	    f.source, f.name, f.not_after, f.renew_at);
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    idstore_meta_parse(&g, text, (size_t)n, err, sizeof(err)) != 0 ||
	    strcmp(f.source, g.source) != 0 || strcmp(f.name, g.name) != 0 ||
	    f.not_after != g.not_after || f.renew_at != g.renew_at)
		abort();
	return 0;
}
