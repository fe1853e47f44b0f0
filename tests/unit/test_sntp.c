/*
 * Unit tests: the SNTP engine on hand-built packets (the packet ends at a
 * guard page), and the client against real UDP responders on loopback
 * driven by the same reactor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/sntp.h"
#include "rx/rx.h"

#define NTP_UNIX 2208988800ULL

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* A Unix ms time as an NTP timestamp (era 0 or 1, as the wire has it). */
static void
put_ts(uint8_t *p, int64_t unix_ms)
{
	uint64_t sec = (uint64_t)(unix_ms / 1000) + NTP_UNIX;

	put32(p, (uint32_t)sec);
	put32(p + 4, (uint32_t)(((uint64_t)(unix_ms % 1000) << 32) / 1000 + 1));
}

/* The answer a good server gives to req: received at t2, sent at t3. */
static void
reply(uint8_t *out, const uint8_t *req, int64_t t2, int64_t t3)
{
	memset(out, 0, SNTP_PACKET_LEN);
	out[0] = 0 << 6 | 4 << 3 | 4; /* LI 0, version 4, server */
	out[1] = 2;
	memcpy(out + 12, "GPS\0", 4);
	memcpy(out + 24, req + 40, 8);
	put_ts(out + 32, t2);
	put_ts(out + 40, t3);
}

/* 48 bytes that end exactly at a PROT_NONE page. */
static uint8_t *
guarded(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	return m + pg - n;
}

static void
unguard(uint8_t *p, size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);

	munmap(p + n - pg, (size_t)pg * 2);
}

#define T_SERVER 1795629577000LL /* 2026-11-25, Unix ms */

static void
request_format(void **state)
{
	struct sntp_query q1, q2;
	uint8_t a[SNTP_PACKET_LEN], b[SNTP_PACKET_LEN], zero[40] = {0};

	assert_int_equal(sntp_request(&q1, a), 0);
	assert_int_equal(sntp_request(&q2, b), 0);
	assert_int_equal(a[0], 0x23); /* LI 0, version 4, client */
	/* Nothing about us is sent but the cookie: no clock, no refid. */
	assert_memory_equal(a + 1, zero, 39);
	assert_memory_equal(a + 40, q1.cookie, 8);
	assert_memory_not_equal(q1.cookie, q2.cookie, 8);
}

static void
parse_offset_and_delay(void **state)
{
	struct sntp_query q;
	struct sntp_result r;
	uint8_t req[SNTP_PACKET_LEN], *p = guarded(SNTP_PACKET_LEN);

	assert_int_equal(sntp_request(&q, req), 0);
	/* A board that thinks it is 1970: sent at 1000, answer at 1100. */
	reply(p, req, T_SERVER, T_SERVER + 20);
	assert_int_equal(
	    sntp_parse(&q, p, SNTP_PACKET_LEN, 1000, 1100, &r), SNTP_OK);
	/* ((T2 - T1) + (T3 - T4)) / 2 and (T4 - T1) - (T3 - T2). */
	assert_int_equal(
	    r.offset_ms, (T_SERVER - 1000 + T_SERVER + 20 - 1100) / 2);
	assert_int_equal(r.delay_ms, 80);
	assert_int_equal(r.server_ms, T_SERVER + 20);
	assert_int_equal(r.stratum, 2);
	/* Extension fields after the header are ignored. */
	unguard(p, SNTP_PACKET_LEN);
}

static void
parse_short_at_guard_page(void **state)
{
	struct sntp_query q;
	struct sntp_result r;
	uint8_t req[SNTP_PACKET_LEN], good[SNTP_PACKET_LEN], *p;
	size_t n;

	assert_int_equal(sntp_request(&q, req), 0);
	reply(good, req, T_SERVER, T_SERVER);
	for (n = 0; n < SNTP_PACKET_LEN; n++) {
		p = guarded(n);
		memcpy(p, good, n);
		assert_int_equal(sntp_parse(&q, p, n, 0, 0, &r), SNTP_EFORMAT);
		unguard(p, n);
	}
}

static void
parse_era_after_2036(void **state)
{
	struct sntp_query q;
	struct sntp_result r;
	uint8_t req[SNTP_PACKET_LEN], p[SNTP_PACKET_LEN];
	int64_t t2040 = 2208988800000LL; /* 2040-01-01, past the NTP wrap */

	assert_int_equal(sntp_request(&q, req), 0);
	reply(p, req, t2040, t2040);
	assert_true(p[32] < 0x10); /* the wire seconds wrapped */
	assert_int_equal(
	    sntp_parse(&q, p, sizeof(p), t2040, t2040, &r), SNTP_OK);
	assert_int_equal(r.server_ms, t2040);
	assert_true(r.offset_ms >= 0 && r.offset_ms <= 1);
}

static void
parse_rejects(void **state)
{
	struct sntp_query q;
	struct sntp_result r;
	uint8_t req[SNTP_PACKET_LEN], good[SNTP_PACKET_LEN], p[SNTP_PACKET_LEN];

	assert_int_equal(sntp_request(&q, req), 0);
	reply(good, req, T_SERVER, T_SERVER);
#define BAD(edit, want) \
	do { \
		memcpy(p, good, sizeof(p)); \
		edit; \
		assert_int_equal( \
		    sntp_parse(&q, p, sizeof(p), 1000, 1000, &r), want); \
	} while (0)
	BAD((void)0, SNTP_OK);
	BAD(p[0] = 0x23, SNTP_EFORMAT); /* a client request */
	BAD(p[0] = 0x14, SNTP_EFORMAT); /* version 2 */
	BAD(p[0] = 0x25, SNTP_EFORMAT); /* broadcast */
	BAD(p[24] ^= 1, SNTP_EORIGIN); /* not our cookie */
	BAD(memset(p + 24, 0, 8), SNTP_EORIGIN);
	BAD(p[0] |= 0xc0, SNTP_EUNSYNC); /* leap indicator 3: alarm */
	BAD(p[1] = 16, SNTP_EUNSYNC);
	BAD(memset(p + 40, 0, 8), SNTP_ETIME); /* no transmit time */
	BAD(memset(p + 32, 0, 8), SNTP_ETIME); /* no receive time */
	BAD(put_ts(p + 32, T_SERVER + 5000),
	    SNTP_ETIME); /* sent before received */
	BAD((p[1] = 0, memcpy(p + 12, "RATE", 4)), SNTP_EKOD);
	assert_string_equal(r.kod, "RATE");
	assert_int_equal(sntp_parse(&q, good, sizeof(good), 2000, 1000, &r),
	    SNTP_ETIME); /* answered before asked */
	assert_int_equal(
	    sntp_parse(&q, good, sizeof(good), -1, 1000, &r), SNTP_ETIME);
#undef BAD
	assert_string_equal(sntp_status_str(SNTP_EKOD), "kod");
}

/* --- the client against loopback responders ---------------------------- */

enum behaviour { GOOD, SILENT, KOD, SPOOF_FIRST, UNSYNC };

struct responder {
	struct rx_watch w;
	uint16_t port;
	enum behaviour how;
	int64_t skew_ms; /* the responder's clock minus ours */
	unsigned asked;
};

static void
responder_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct responder *rs = container_of(w, struct responder, w);
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	uint8_t in[512], out[SNTP_PACKET_LEN];
	ssize_t n;
	int64_t now;

	while ((n = recvfrom(w->fd, in, sizeof(in), 0, (struct sockaddr *)&from,
		    &flen)) > 0) {
		rs->asked++;
		if (n != SNTP_PACKET_LEN || rs->how == SILENT)
			continue;
		now = util_wall_ms() + rs->skew_ms;
		reply(out, in, now, now + 1);
		if (rs->how == KOD) {
			out[1] = 0;
			memcpy(out + 12, "DENY", 4);
		} else if (rs->how == UNSYNC) {
			out[0] |= 0xc0;
		} else if (rs->how == SPOOF_FIRST) {
			/* A forged answer a day off, then the real one. */
			uint8_t forged[SNTP_PACKET_LEN];
			reply(forged, in, now + 86400000, now + 86400001);
			forged[24] ^= 0xff;
			sendto(w->fd, forged, sizeof(forged), 0,
			    (struct sockaddr *)&from, flen);
		}
		sendto(
		    w->fd, out, sizeof(out), 0, (struct sockaddr *)&from, flen);
	}
}

static void
responder_start(struct rx_loop *l, struct responder *rs, enum behaviour how)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*rs = (struct responder){
	    .port = ntohs(sa.sin_port), .how = how, .skew_ms = 3600 * 1000};
	rx_watch_init(&rs->w, fd, responder_io, NULL);
	rx_watch_set(l, &rs->w, RX_READ);
}

struct fx {
	struct rx_loop loop;
	struct dns_resolver *r;
	struct sntp_client c;
	struct responder rs[2];
	int calls;
	enum sntp_error err;
	struct sntp_result res;
	char server[64], detail[128];
};

static void
on_done(struct sntp_client *c, enum sntp_error err,
    const struct sntp_result *res, const char *server, const char *detail)
{
	struct fx *f = container_of(c, struct fx, c);

	f->calls++;
	f->err = err;
	if (res != NULL)
		f->res = *res;
	snprintf(f->server, sizeof(f->server), "%s", server ? server : "");
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
}

static struct fx *
fx_new(enum behaviour a, enum behaviour b)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dns_config dc = {.servers = "127.0.0.1:9", .lookups = "b"};
	char err[128];

	assert_non_null(f);
	assert_int_equal(rx_init(&f->loop, 32), 0);
	assert_int_equal(dns_new(&f->r, &f->loop, &dc, err, sizeof(err)), 0);
	responder_start(&f->loop, &f->rs[0], a);
	responder_start(&f->loop, &f->rs[1], b);
	return f;
}

static void
fx_free(struct fx *f)
{
	sntp_client_stop(&f->c);
	rx_watch_close(&f->loop, &f->rs[0].w);
	rx_watch_close(&f->loop, &f->rs[1].w);
	rx_run_once(&f->loop, 0);
	dns_free(f->r);
	rx_free(&f->loop);
	free(f);
}

/* Start the client on "servers" and run the loop until done or 5 s. */
static void
ask(struct fx *f, const char *servers, int64_t try_ms)
{
	char err[128];
	int64_t end = util_mono_ms() + 5000;

	assert_int_equal(sntp_client_init(&f->c, &f->loop, f->r, servers,
			     try_ms, on_done, err, sizeof(err)),
	    0);
	assert_int_equal(sntp_client_start(&f->c), 0);
	assert_int_equal(f->calls, 0); /* never from inside start */
	assert_int_equal(sntp_client_start(&f->c), -EALREADY);
	while (f->calls == 0 && util_mono_ms() < end)
		rx_run_once(&f->loop, 20);
	assert_int_equal(f->calls, 1);
}

static void
client_gets_the_offset(void **state)
{
	struct fx *f = fx_new(GOOD, GOOD);
	char list[64];

	snprintf(list, sizeof(list), "127.0.0.1:%u", f->rs[0].port);
	ask(f, list, 1000);
	assert_int_equal(f->err, SNTP_DONE);
	assert_string_equal(f->server, "127.0.0.1");
	assert_true(llabs(f->res.offset_ms - 3600 * 1000) < 500);
	assert_true(f->res.delay_ms >= 0 && f->res.delay_ms < 500);
	assert_int_equal(f->rs[0].asked, 1);
	fx_free(f);
}

static void
client_moves_past_silent_and_kod_servers(void **state)
{
	struct fx *f = fx_new(SILENT, GOOD);
	struct responder kod;
	char list[128];

	responder_start(&f->loop, &kod, KOD);
	snprintf(list, sizeof(list),
	    "127.0.0.1:%u, [127.0.0.1]:%u,localhost:%u", f->rs[0].port,
	    kod.port, f->rs[1].port);
	ask(f, list, 200);
	assert_int_equal(f->err, SNTP_DONE);
	assert_string_equal(f->server, "localhost");
	assert_int_equal(f->rs[0].asked, 1);
	assert_int_equal(kod.asked, 1);
	assert_int_equal(f->rs[1].asked, 1);
	rx_watch_close(&f->loop, &kod.w);
	fx_free(f);
}

static void
client_ignores_a_forged_answer(void **state)
{
	struct fx *f = fx_new(SPOOF_FIRST, GOOD);
	char list[64];

	snprintf(list, sizeof(list), "127.0.0.1:%u", f->rs[0].port);
	ask(f, list, 1000);
	assert_int_equal(f->err, SNTP_DONE);
	assert_true(llabs(f->res.offset_ms - 3600 * 1000) < 500);
	fx_free(f);
}

static void
client_reports_when_nobody_answers(void **state)
{
	struct fx *f = fx_new(SILENT, UNSYNC);
	char list[64];
	int64_t t0 = util_mono_ms();

	snprintf(list, sizeof(list), "127.0.0.1:%u,127.0.0.1:%u", f->rs[0].port,
	    f->rs[1].port);
	ask(f, list, 150);
	assert_int_equal(f->err, SNTP_NO_ANSWER);
	assert_non_null(strstr(f->detail, "unsynchronised"));
	assert_true(util_mono_ms() - t0 < 2000);
	fx_free(f);
}

static void
never_fires(struct rx_loop *l, struct rx_timer *t)
{
	fail_msg("a filler timer fired");
}

/*
 * Starting, and resolving a literal, are deferred work (rx_defer), not
 * 0 ms timers: with the timer heap full, sntp_client_start() succeeds
 * (it used to fail with -ENOSPC) and the one step that needs a timer, the
 * address's deadline, reports its failure through done, naming the
 * server.  With one timer free the exchange completes.
 */
static void
client_starts_with_the_timer_heap_full(void **state)
{
	struct fx *f = fx_new(GOOD, GOOD);
	struct rx_timer fill[33];
	char list[64];
	size_t n;

	for (n = 0; n < nitems(fill); n++) {
		rx_timer_init(&fill[n], never_fires);
		if (rx_timer_start(&f->loop, &fill[n], 60000) < 0)
			break;
	}
	assert_true(n > 0 && n < nitems(fill)); /* the heap is full */
	snprintf(list, sizeof(list), "127.0.0.1:%u", f->rs[0].port);
	ask(f, list, 1000);
	assert_int_equal(f->err, SNTP_NO_ANSWER);
	assert_non_null(strstr(f->detail, "127.0.0.1"));
	assert_non_null(strstr(f->detail, strerror(ENOSPC)));
	rx_timer_stop(&f->loop, &fill[--n]);
	f->calls = 0;
	ask(f, list, 1000);
	assert_int_equal(f->err, SNTP_DONE);
	assert_true(llabs(f->res.offset_ms - 3600 * 1000) < 500);
	while (n > 0)
		rx_timer_stop(&f->loop, &fill[--n]);
	fx_free(f);
}

static void
client_server_lists(void **state)
{
	struct sntp_client c;
	struct rx_loop l;
	char err[128];

	assert_int_equal(rx_init(&l, 4), 0);
	assert_int_equal(sntp_client_init(&c, &l, NULL,
			     " pool.example:1123, [::1]:5,::1 , 10.0.0.1", 0,
			     on_done, err, sizeof(err)),
	    0);
	assert_int_equal(c.n_servers, 4);
	assert_string_equal(c.server[0].host, "pool.example");
	assert_int_equal(c.server[0].port, 1123);
	assert_string_equal(c.server[1].host, "::1");
	assert_int_equal(c.server[1].port, 5);
	assert_string_equal(c.server[2].host, "::1");
	assert_int_equal(c.server[2].port, SNTP_PORT);
	assert_int_equal(c.server[3].port, SNTP_PORT);
	assert_int_equal(
	    sntp_client_init(&c, &l, NULL, "", 0, on_done, err, sizeof(err)),
	    0);
	assert_int_equal(sntp_client_start(&c), -ENOENT);
	assert_true(sntp_client_init(
			&c, &l, NULL, "a:0", 0, on_done, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "'a:0'"));
	assert_true(sntp_client_init(&c, &l, NULL, "[::1", 0, on_done, err,
			sizeof(err)) < 0);
	assert_true(sntp_client_init(&c, &l, NULL, "a:99999", 0, on_done, err,
			sizeof(err)) < 0);
	assert_true(sntp_client_init(&c, &l, NULL, "a,b,c,d,e,f,g,h,i", 0,
			on_done, err, sizeof(err)) < 0);
	rx_free(&l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(request_format),
	    cmocka_unit_test(parse_offset_and_delay),
	    cmocka_unit_test(parse_short_at_guard_page),
	    cmocka_unit_test(parse_era_after_2036),
	    cmocka_unit_test(parse_rejects),
	    cmocka_unit_test(client_gets_the_offset),
	    cmocka_unit_test(client_moves_past_silent_and_kod_servers),
	    cmocka_unit_test(client_ignores_a_forged_answer),
	    cmocka_unit_test(client_reports_when_nobody_answers),
	    cmocka_unit_test(client_starts_with_the_timer_heap_full),
	    cmocka_unit_test(client_server_lists),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
