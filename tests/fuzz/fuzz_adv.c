/*
 * Fuzz target: syslinux's ADV (init/init_int.h, adv.c), which init reads
 * from ldlinux.sys on the ESP.  Input: up to INIT_ADV_BYTES (zero-padded).
 * Invariants: init_adv_get() never reads past the buffer (ASan) and
 * returns -1..255; setting the boot-once command always yields a valid
 * ADV that reads it back, whatever was there, and keeps what the other
 * tags said.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t adv[INIT_ADV_BYTES] = {0};
	char before[256], after[256], once[256];
	int r, k;

	memcpy(adv, data, size < sizeof(adv) ? size : sizeof(adv));
	r = init_adv_get(adv, 2, before, sizeof(before));
	if (r < -1 || r > 255)
		abort();
	if (init_adv_get(adv, INIT_ADV_BOOTONCE, once, sizeof(once)) < -1)
		abort();
	if (init_adv_set(adv, INIT_ADV_BOOTONCE, "b", 1) < 0)
		return 0; /* the other records fill it */
	if (init_adv_get(adv, INIT_ADV_BOOTONCE, once, sizeof(once)) != 1 ||
	    strcmp(once, "b") != 0)
		abort();
	k = init_adv_get(adv, 2, after, sizeof(after));
	if (r > 0 && (k != r || memcmp(before, after, (size_t)r) != 0))
		abort();
	if (init_adv_set(adv, INIT_ADV_BOOTONCE, "", 0) < 0 ||
	    init_adv_get(adv, INIT_ADV_BOOTONCE, once, sizeof(once)) != 0)
		abort();
	return 0;
}
