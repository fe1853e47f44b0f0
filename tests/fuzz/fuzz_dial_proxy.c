/*
 * Fuzz target: what the dialer parses itself — the proxy URL (with its
 * percent-encoded credentials) and the proxy's answer to CONNECT.  The
 * first byte picks which.  Invariants: a parsed proxy has a host and an
 * auth value that is empty or "Basic ..."; an answer's head length never
 * exceeds the bytes given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "net/dial_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_url(const uint8_t *data, size_t size)
{
	static char url[URL_MAX + 1];
	struct dial_proxy p;
	const char *why = NULL;

	if (size > URL_MAX)
		return;
	memcpy(url, data, size);
	url[size] = '\0';
	if (!dial_proxy_parse(&p, url, &why)) {
		if (why == NULL)
			abort();
		return;
	}
	if (p.host[0] == '\0' || p.host[sizeof(p.host) - 1] != '\0' ||
	    p.auth[sizeof(p.auth) - 1] != '\0')
		abort();
	if (p.auth[0] != '\0' && strncmp(p.auth, "Basic ", 6) != 0)
		abort();
	dial_proxy_wipe(&p);
}

static void
fuzz_answer(const uint8_t *data, size_t size)
{
	static uint8_t buf[DIAL_PROXY_BUF];
	static struct dial d = {.pbuf = buf};
	int r, status = 0;

	if (size > sizeof(buf))
		return;
	memcpy(d.pbuf, data, size);
	d.plen = size;
	r = dial_proxy_answer(&d, &status);
	if (r > (int)size || (r > 0 && (status < 100 || status > 999)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_answer(data + 1, size - 1);
	else
		fuzz_url(data + 1, size - 1);
	return 0;
}
