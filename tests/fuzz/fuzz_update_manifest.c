/*
 * Fuzz target: update/ — the bundle manifest parser (update_int.h), as
 * update_open() calls it once a signature verified.  Invariants: accepted
 * manifests have 1..UPDATE_PARTS_MAX parts with unique NUL-terminated
 * names, in order of offset, starting at or after the data start, not
 * overlapping, inside the file; versions valid; a refusal says
 * "manifest: " and leaves m zeroed of parts beyond what it counted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/update_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DATA_START 4096
#define FILE_SIZE (1u << 20)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past it. */
	char *v = malloc(size > 0 ? size : 1), err[128];
	struct update_manifest m;
	uint64_t end = DATA_START;
	size_t i;

	if (v == NULL)
		return 0;
	memcpy(v, data, size);
	if (update_manifest_parse(
		v, size, DATA_START, FILE_SIZE, &m, err, sizeof(err)) < 0) {
		if (strncmp(err, "manifest: ", 10) != 0)
			abort();
		free(v);
		return 0;
	}
	if (m.nparts == 0 || m.nparts > UPDATE_PARTS_MAX ||
	    !update_version_valid(m.version) ||
	    !update_version_valid(m.min_version))
		abort();
	for (i = 0; i < m.nparts; i++) {
		const struct update_part *p = &m.part[i];

		if (memchr(p->name, 0, sizeof(p->name)) == NULL ||
		    update_part_find(&m, p->name) != p || p->off < end ||
		    p->size > FILE_SIZE - p->off)
			abort();
		end = p->off + p->size;
	}
	free(v);
	return 0;
}
