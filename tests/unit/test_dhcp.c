/*
 * Unit tests for the sans-I/O DHCP client: a full exchange against
 * replies built here, renewal, NAK, expiry, and foreign or malformed
 * datagrams (one ending at a guard page).  Usage: test_dhcp [filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "init/dhcp.h"

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* Find option code in a datagram we sent; NULL if absent. */
static const uint8_t *
opt_find(const uint8_t *p, size_t n, uint8_t code, uint8_t *len)
{
	size_t i = 240;

	while (i + 1 < n && p[i] != 255) {
		if (p[i] == 0) {
			i++;
			continue;
		}
		if (p[i] == code) {
			*len = p[i + 1];
			return p + i + 2;
		}
		i += 2 + p[i + 1];
	}
	return NULL;
}

static uint8_t
sent_type(const struct dhcp *d)
{
	size_t n;
	const uint8_t *p = dhcp_take(d, &n), *v;
	uint8_t len;

	assert_non_null(p);
	v = opt_find(p, n, 53, &len);
	assert_non_null(v);
	return v[0];
}

/* A server reply to the client's pending datagram. */
static size_t
reply(const struct dhcp *d, uint8_t type, const char *yiaddr, uint8_t *out,
    uint32_t lease_s)
{
	size_t n, i;
	const uint8_t *req = dhcp_take(d, &n);
	uint32_t a, be;

	assert_non_null(req);
	memset(out, 0, 548);
	out[0] = 2;
	out[1] = 1;
	out[2] = 6;
	memcpy(out + 4, req + 4, 4); /* xid */
	inet_pton(AF_INET, yiaddr, &a);
	memcpy(out + 16, &a, 4);
	memcpy(out + 28, mac, 6);
	memcpy(out + 236, "\x63\x82\x53\x63", 4);
	i = 240;
	out[i++] = 53, out[i++] = 1, out[i++] = type;
	out[i++] = 54, out[i++] = 4;
	memcpy(out + i, "\x0a\x00\x02\x02", 4), i += 4;
	out[i++] = 1, out[i++] = 4;
	memcpy(out + i, "\xff\xff\xff\x00", 4), i += 4;
	out[i++] = 3, out[i++] = 4;
	memcpy(out + i, "\x0a\x00\x02\x02", 4), i += 4;
	out[i++] = 6, out[i++] = 8;
	memcpy(out + i, "\x0a\x00\x02\x03\x08\x08\x08\x08", 8), i += 8;
	be = htonl(lease_s);
	out[i++] = 51, out[i++] = 4;
	memcpy(out + i, &be, 4), i += 4;
	out[i++] = 255;
	return i;
}

/* Drive the client from INIT to BOUND at time 0; returns the client. */
static void
bind_at_zero(struct dhcp *d)
{
	uint8_t r[548];
	size_t n;
	int64_t wait;

	dhcp_init(d, mac, 42, 0);
	assert_int_equal(dhcp_tick(d, 0, &wait), DHCP_EV_NONE);
	assert_int_equal(sent_type(d), 1); /* DISCOVER */
	n = reply(d, 2, "10.0.2.15", r, 86400);
	dhcp_ack(d);
	assert_int_equal(dhcp_feed(d, r, n, 10), DHCP_EV_NONE);
	assert_int_equal(sent_type(d), 3); /* REQUEST */
	n = reply(d, 5, "10.0.2.15", r, 86400);
	dhcp_ack(d);
	assert_int_equal(dhcp_feed(d, r, n, 20), DHCP_EV_BOUND);
}

static void
dhcp_full_exchange(void **state)
{
	struct dhcp d;
	const struct dhcp_lease *l;
	uint8_t r[548], len;
	const uint8_t *p, *v;
	size_t n;
	int64_t wait;

	dhcp_init(&d, mac, 42, 0);
	assert_null(dhcp_lease(&d));
	dhcp_tick(&d, 0, &wait);
	p = dhcp_take(&d, &n);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[10], 0x80); /* broadcast flag */
	assert_memory_equal(p + 28, mac, 6);
	assert_true(wait >= 250 && wait < 500);
	n = reply(&d, 2, "10.0.2.15", r, 3600);
	dhcp_ack(&d);
	dhcp_feed(&d, r, n, 5);
	p = dhcp_take(&d, &n);
	v = opt_find(p, n, 50, &len); /* requested address */
	assert_non_null(v);
	assert_memory_equal(v, "\x0a\x00\x02\x0f", 4);
	v = opt_find(p, n, 54, &len); /* server id */
	assert_non_null(v);
	assert_memory_equal(v, "\x0a\x00\x02\x02", 4);
	n = reply(&d, 5, "10.0.2.15", r, 3600);
	dhcp_ack(&d);
	assert_int_equal(dhcp_feed(&d, r, n, 6), DHCP_EV_BOUND);
	l = dhcp_lease(&d);
	assert_non_null(l);
	assert_int_equal(l->addr, htonl(0x0a00020f));
	assert_int_equal(l->router, htonl(0x0a000202));
	assert_int_equal(l->ndns, 2);
	assert_int_equal(l->dns[1], htonl(0x08080808));
	assert_int_equal(dhcp_prefix_len(l->mask), 24);
	assert_int_equal(l->lease_s, 3600);
	assert_int_equal(l->t1_s, 1800);
}

static void
dhcp_retransmits_discover(void **state)
{
	struct dhcp d;
	int64_t wait, now = 0;
	unsigned i;

	dhcp_init(&d, mac, 7, 0);
	for (i = 0; i < 8; i++) {
		dhcp_tick(&d, now, &wait);
		assert_int_equal(sent_type(&d), 1);
		dhcp_ack(&d);
		/* 0.25 s doubling to 16 s, plus less than 0.25 s of jitter. */
		assert_true(wait >= (250 << (i < 6 ? i : 6)));
		assert_true(wait < (250 << (i < 6 ? i : 6)) + 250);
		now += wait;
	}
	/* No datagram between deadlines. */
	dhcp_tick(&d, now - 1, &wait);
	assert_int_equal(wait, 1);
}

static void
dhcp_renews_at_t1(void **state)
{
	struct dhcp d;
	uint8_t r[548];
	size_t n;
	int64_t wait;
	const uint8_t *p;

	bind_at_zero(&d);
	assert_int_equal(dhcp_tick(&d, 1000, &wait), DHCP_EV_NONE);
	assert_null(dhcp_take(&d, &n));
	assert_int_equal(wait, 43200 * 1000 + 20 - 1000);
	dhcp_tick(&d, 43200 * 1000 + 20, &wait);
	p = dhcp_take(&d, &n);
	assert_int_equal(sent_type(&d), 3);
	assert_memory_equal(p + 12, "\x0a\x00\x02\x0f", 4); /* ciaddr */
	n = reply(&d, 5, "10.0.2.15", r, 86400);
	dhcp_ack(&d);
	assert_int_equal(
	    dhcp_feed(&d, r, n, 43200 * 1000 + 30), DHCP_EV_RENEWED);
}

static void
dhcp_lease_expires(void **state)
{
	struct dhcp d;
	int64_t wait, now = 43200 * 1000 + 20;
	enum dhcp_event ev = DHCP_EV_NONE;
	unsigned i;

	bind_at_zero(&d);
	for (i = 0; i < 100 && ev == DHCP_EV_NONE; i++) {
		ev = dhcp_tick(&d, now, &wait);
		dhcp_ack(&d);
		now += wait;
	}
	assert_int_equal(ev, DHCP_EV_LOST);
	assert_null(dhcp_lease(&d));
	assert_true(now - wait >= 86400 * 1000);
}

static void
dhcp_nak_restarts(void **state)
{
	struct dhcp d;
	uint8_t r[548];
	size_t n;
	int64_t wait;

	bind_at_zero(&d);
	dhcp_tick(&d, 43200 * 1000 + 20, &wait);
	n = reply(&d, 6, "0.0.0.0", r, 0);
	dhcp_ack(&d);
	assert_int_equal(dhcp_feed(&d, r, n, 43200 * 1000 + 30), DHCP_EV_LOST);
	dhcp_tick(&d, 43200 * 1000 + 30, &wait);
	assert_int_equal(sent_type(&d), 1);
}

static void
dhcp_ignores_foreign_and_malformed(void **state)
{
	struct dhcp d;
	uint8_t r[548], bad[548];
	size_t n, cut;
	int64_t wait;

	dhcp_init(&d, mac, 42, 0);
	dhcp_tick(&d, 0, &wait);
	n = reply(&d, 2, "10.0.2.15", r, 3600);
	memcpy(bad, r, n);
	bad[4] ^= 1; /* another xid */
	assert_int_equal(dhcp_feed(&d, bad, n, 1), DHCP_EV_NONE);
	memcpy(bad, r, n);
	bad[33] ^= 1; /* another client */
	assert_int_equal(dhcp_feed(&d, bad, n, 1), DHCP_EV_NONE);
	memcpy(bad, r, n);
	bad[236] = 0; /* no magic cookie */
	assert_int_equal(dhcp_feed(&d, bad, n, 1), DHCP_EV_NONE);
	/* An ACK while selecting is not an OFFER. */
	memcpy(bad, r, n);
	bad[242] = 5;
	assert_int_equal(dhcp_feed(&d, bad, n, 1), DHCP_EV_NONE);
	/* Every cut inside the server-id option (it ends at 249). */
	for (cut = 0; cut < 249; cut++)
		assert_int_equal(dhcp_feed(&d, r, cut, 1), DHCP_EV_NONE);
	assert_int_equal(d.state, DHCP_SELECTING);
	assert_int_equal(dhcp_feed(&d, r, n, 2), DHCP_EV_NONE);
	assert_int_equal(d.state, DHCP_REQUESTING);
}

static void
dhcp_guard_page(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m, r[548], *at;
	struct dhcp d;
	size_t n, cut;
	int64_t wait;

	m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, pg, PROT_NONE), 0);
	dhcp_init(&d, mac, 42, 0);
	dhcp_tick(&d, 0, &wait);
	n = reply(&d, 2, "10.0.2.15", r, 3600);
	/* The option lengths claim more than is there at every cut. */
	for (cut = 240; cut <= n; cut++) {
		at = m + pg - cut;
		memcpy(at, r, cut);
		dhcp_feed(&d, at, cut, 1);
		d.state = DHCP_SELECTING;
	}
	munmap(m, 2 * pg);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dhcp_full_exchange),
	    cmocka_unit_test(dhcp_retransmits_discover),
	    cmocka_unit_test(dhcp_renews_at_t1),
	    cmocka_unit_test(dhcp_lease_expires),
	    cmocka_unit_test(dhcp_nak_restarts),
	    cmocka_unit_test(dhcp_ignores_foreign_and_malformed),
	    cmocka_unit_test(dhcp_guard_page),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
