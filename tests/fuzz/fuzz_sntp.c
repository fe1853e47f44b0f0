/*
 * Fuzz target: the SNTP answer parser and the NTP_SERVERS list parser.
 * The query's cookie is taken from the input's origin field so the fuzzer
 * gets past the cookie check; bytes 48..63 are the local send and receive
 * times.  Invariants: a good answer has a non-negative delay and a
 * stratum in 1..15; a parsed server list has bounded, non-empty hosts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/sntp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_answer(const uint8_t *data, size_t size)
{
	struct sntp_query q;
	struct sntp_result r;
	int64_t t1 = 1000, t4 = 1000;

	memset(q.cookie, 1, sizeof(q.cookie));
	if (size >= 32)
		memcpy(q.cookie, data + 24, sizeof(q.cookie));
	if (size >= 64) {
		memcpy(&t1, data + 48, sizeof(t1));
		memcpy(&t4, data + 56, sizeof(t4));
	}
	if (sntp_parse(&q, data, size, t1, t4, &r) == SNTP_OK) {
		if (r.delay_ms < 0 || r.stratum < 1 || r.stratum > 15)
			abort();
	}
}

static void
fuzz_servers(const uint8_t *data, size_t size)
{
	static struct sntp_client c;
	char list[512], err[128];
	size_t n = size < sizeof(list) - 1 ? size : sizeof(list) - 1, i;

	memcpy(list, data, n);
	list[n] = '\0';
	if (sntp_client_init(&c, NULL, NULL, list, 0, NULL, err, sizeof(err)) <
	    0)
		return;
	if (c.n_servers > SNTP_MAX_SERVERS)
		abort();
	for (i = 0; i < c.n_servers; i++)
		if (c.server[i].host[0] == '\0' || c.server[i].port == 0 ||
		    strlen(c.server[i].host) > SNTP_HOST_MAX)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_answer(data, size);
	fuzz_servers(data, size);
	return 0;
}
