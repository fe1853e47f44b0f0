/*
 * Fuzz target: the DHCP client engine.  The input is a series of records
 * [flags][advance][len hi][len lo][datagram]: each datagram is fed after
 * the clock moves on by advance seconds; flag bit 0 patches in the
 * client's current xid and MAC so the fuzzer reaches the state machine,
 * not just the header checks.  Invariants are checked after every step.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static void
check(const struct dhcp *d)
{
	const struct dhcp_lease *l = dhcp_lease(d);
	size_t n;

	if (d->outlen > DHCP_PKT_MAX || d->state > DHCP_RENEWING)
		abort();
	if (dhcp_take(d, &n) != NULL && n < 240)
		abort();
	if (l != NULL &&
	    (l->addr == 0 || l->lease_s == 0 || l->t1_s > l->lease_s ||
		l->ndns > DHCP_DNS_MAX))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[1500];
	struct dhcp d;
	int64_t now = 0, wait;
	size_t len, i = 0, steps = 0;

	dhcp_init(&d, mac, 1, 0);
	dhcp_tick(&d, now, &wait);
	while (i + 4 <= size && steps++ < 64) {
		len = (size_t)data[i + 2] << 8 | data[i + 3];
		if (len > sizeof(pkt) || len > size - i - 4)
			len = size - i - 4 < sizeof(pkt) ? size - i - 4
							 : sizeof(pkt);
		memcpy(pkt, data + i + 4, len);
		if ((data[i] & 1) && len >= 34) {
			memcpy(pkt + 4, &d.xid, 4);
			memcpy(pkt + 28, mac, 6);
		}
		now += (int64_t)data[i + 1] * 1000;
		dhcp_tick(&d, now, &wait);
		dhcp_ack(&d);
		dhcp_feed(&d, pkt, len, now);
		check(&d);
		if (wait < 0)
			abort();
		i += 4 + len;
	}
	return 0;
}
