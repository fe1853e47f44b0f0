/*
 * Fuzz target: init_pe_section() (init/init_int.h, pe.c), which finds the
 * kernel and command line of a bundle's UKI for the BIOS path.  Input:
 * the file's first bytes (its headers); the file's size is the input's
 * size, then the same headers in a file twice as large.  Invariants: no
 * read past the headers (ASan); a section found lies inside the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const uint8_t *p, size_t n, uint64_t file, const char *name)
{
	struct init_pe_section s;
	char err[128];

	if (init_pe_section(p, n, file, name, &s, err, sizeof(err)) == 0 &&
	    (s.off > file || s.size > file - s.off))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p;
	size_t n = size < INIT_PE_HEAD_MAX ? size : INIT_PE_HEAD_MAX;

	if ((p = malloc(n + 1)) == NULL)
		return 0;
	memcpy(p, data, n);
	check(p, n, size, ".linux");
	check(p, n, size, ".cmdline");
	check(p, n, 2 * (uint64_t)size, ".linux");
	free(p);
	return 0;
}
