/*
 * libFuzzer target: edge_update_head() (edge/edge_update.h), the edge's
 * reading of an uploaded bundle's head (magic, manifest and signature
 * lengths, the manifest text).  The first 8 input bytes are the file size
 * the head claims to be of; the rest is the head.  Invariants: no read
 * past the input (ASan, an exact-size copy); a refusal has a reason; an
 * accepted head names a valid version, a NUL-terminated arch and parts
 * inside the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct update_manifest m;
	uint64_t fsize = 0;
	char err[160];
	uint8_t *v;
	size_t i;

	if (size < 8)
		return 0;
	for (i = 0; i < 8; i++)
		fsize = fsize << 8 | data[i];
	size -= 8;
	if ((v = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(v, data + 8, size);
	err[0] = '\0';
	if (edge_update_head(v, size, fsize, &m, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			abort();
		free(v);
		return 0;
	}
	if (!update_version_valid(m.version) ||
	    memchr(m.arch, '\0', sizeof(m.arch)) == NULL || m.nparts == 0)
		abort();
	for (i = 0; i < m.nparts; i++)
		if (m.part[i].off + m.part[i].size > fsize)
			abort();
	free(v);
	return 0;
}
