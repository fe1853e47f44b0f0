/*
 * Fuzz target: init_notify_parse() (init/init_int.h, ready.c), init's
 * reader of the worker's sd_notify datagrams, and init_uki_counter() /
 * init_uki_good_name() (slot.c), the readers of UKI names on the ESP.
 * Input: a datagram (not NUL-terminated, at most INIT_NOTIFY_MAX bytes),
 * also read as a file name.  Invariants: the verdict is one of the enum;
 * STATUS= comes out NUL-terminated, printable and within its buffer; a
 * counted UKI name has a good name that is a UKI of ours without a
 * counter; no read past the input (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
names(const uint8_t *data, size_t size)
{
	char s[INIT_NOTIFY_MAX + 1], good[96], v[INITCTL_VERSION_MAX], sl[2];
	unsigned left, done;

	memcpy(s, data, size);
	s[size] = '\0';
	if (init_uki_counter(s, &left, &done)) {
		if (!init_uki_parse(s, v, sizeof(v), sl))
			abort();
		if (init_uki_good_name(s, good, sizeof(good)) == 0 &&
		    (init_uki_counter(good, &left, &done) ||
			!init_uki_parse(good, v, sizeof(v), sl)))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char status[INITCTL_REASON_MAX];
	enum init_notify r;
	size_t i, n;

	if (size > INIT_NOTIFY_MAX)
		return 0;
	memset(status, 'x', sizeof(status));
	status[0] = '\0';
	r = init_notify_parse((const char *)data, size, status, sizeof(status));
	if (r != INIT_NOTIFY_NONE && r != INIT_NOTIFY_READY &&
	    r != INIT_NOTIFY_NOT_READY)
		abort();
	n = strnlen(status, sizeof(status));
	if (n == sizeof(status))
		abort();
	for (i = 0; i < n; i++)
		if (status[i] < 0x20 || status[i] > 0x7e)
			abort();
	names(data, size);
	return 0;
}
