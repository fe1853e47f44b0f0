/*
 * Fuzz target: the BIOS path's files on the ESP (init/init_int.h, bios.c):
 * syslinux.cfg and the tries file.  Input: the file's bytes, read both as
 * a syslinux.cfg and as a tries file.  Invariants: no read past the input
 * (ASan); a parsed syslinux.cfg formats and parses back to the same
 * slots, versions and command lines; a parsed tries file formats back to
 * exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_int.h"

#define INPUT_MAX (2 * INIT_BIOS_CFG_MAX)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
cfg(const char *s, size_t n)
{
	static char out[INIT_BIOS_CFG_MAX];
	static struct init_bios_cfg c, d;
	int len, i;

	if (!init_bios_cfg_parse(s, n, &c))
		return;
	for (i = 0; i < 2; i++)
		if (strchr(c.label[i].cmdline, '\n') != NULL ||
		    strchr(c.label[i].version, '\n') != NULL)
			abort();
	if ((len = init_bios_cfg_format(&c, out, sizeof(out))) < 0)
		return;
	if (!init_bios_cfg_parse(out, (size_t)len, &d))
		abort();
	for (i = 0; i < 2; i++)
		if (c.label[i].present != d.label[i].present ||
		    (c.label[i].present &&
			(strcmp(c.label[i].version, d.label[i].version) != 0 ||
			    strcmp(c.label[i].cmdline, d.label[i].cmdline) !=
				0)))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct init_tries t;
	char out[64];
	char *s;

	if (size > INPUT_MAX || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	cfg(s, size);
	if (init_tries_parse(s, size, &t) &&
	    (init_tries_format(&t, out, sizeof(out)) != (int)size ||
		memcmp(out, s, size) != 0))
		abort();
	free(s);
	return 0;
}
