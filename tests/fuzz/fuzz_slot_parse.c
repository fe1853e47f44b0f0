/*
 * Fuzz target: init_slot_parse() (init/init_int.h, slot.c), the reader of
 * "outpost.slot=" on the kernel command line.  Input: the command line
 * (a NUL-terminated copy).  Invariants: an accepted line yields "a" or "b"
 * and holds the word "outpost.slot=<it>"; a refused one leaves "";
 * no read past the input (ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_int.h"

#define INPUT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char slot[INITCTL_SLOT_MAX], word[16], *s;

	if (size > INPUT_MAX || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (init_slot_parse(s, slot, sizeof(slot))) {
		if (strcmp(slot, "a") != 0 && strcmp(slot, "b") != 0)
			abort();
		snprintf(word, sizeof(word), "outpost.slot=%s", slot);
		if (strstr(s, word) == NULL)
			abort();
	} else if (slot[0] != '\0') {
		abort();
	}
	free(s);
	return 0;
}
