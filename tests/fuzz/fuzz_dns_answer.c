/*
 * Fuzz target: dns_note_answer(), which reads the response code and the
 * question name (through c-ares's ares_expand_name) of every datagram the
 * resolver receives.  Invariants: only a busy slot whose name covers the
 * question is marked, and only with SERVFAIL (2) or REFUSED (5).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"servfail.test", "a", "x.y.z."};
	struct dns_slot slots[4] = {{0}};
	struct dns_resolver r = {.nslots = 4, .slots = slots};
	size_t i;

	for (i = 0; i < 3; i++) {
		slots[i].busy = true;
		strcpy(slots[i].name, names[i]);
	}
	strcpy(slots[3].name, "servfail.test"); /* not busy */
	dns_note_answer(&r, data, size);
	for (i = 0; i < 4; i++)
		if (slots[i].rcode != 0 &&
		    ((slots[i].rcode != 2 && slots[i].rcode != 5) ||
			!slots[i].busy))
			abort();
	return 0;
}
