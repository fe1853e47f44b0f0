/*
 * The SNTP engine: request and answer as bytes (RFC 5905 section 7.3
 * packet format).  No I/O, no clock.
 */
#include <errno.h>
#include <string.h>

#include "lib/util.h"
#include "net/sntp.h"

/* Byte offsets in the packet. */
#define OFF_FLAGS 0
#define OFF_STRATUM 1
#define OFF_REFID 12
#define OFF_ORIGIN 24
#define OFF_RECEIVE 32
#define OFF_TRANSMIT 40

#define MODE_CLIENT 3
#define MODE_SERVER 4
#define LI_ALARM 3
#define STRATUM_MAX 15

/* Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix). */
#define NTP_UNIX_DELTA 2208988800LL
/* Server times before this (2024-01-01, Unix) belong to the next era. */
#define ERA_PIVOT_UNIX 1704067200LL
#define ERA_SECONDS (1LL << 32)

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * A 32.32 NTP timestamp as Unix milliseconds in the era window; 0 for
 * the all-zero "unknown" timestamp.
 */
static int64_t
ntp_to_unix_ms(const uint8_t *p)
{
	int64_t sec = get32(p);
	uint32_t frac = get32(p + 4);

	if (sec == 0 && frac == 0)
		return 0;
	sec -= NTP_UNIX_DELTA;
	if (sec < ERA_PIVOT_UNIX)
		sec += ERA_SECONDS;
	return sec * 1000 + (int64_t)(((uint64_t)frac * 1000) >> 32);
}

/* see sntp.h */
int
sntp_request(struct sntp_query *q, uint8_t out[SNTP_PACKET_LEN])
{
	int rc;

	memset(out, 0, SNTP_PACKET_LEN);
	out[OFF_FLAGS] = 4 << 3 | MODE_CLIENT; /* LI 0, version 4 */
	if ((rc = util_random(q->cookie, sizeof(q->cookie))) < 0)
		return rc;
	/* An all-zero cookie would match a server's "unknown" origin. */
	q->cookie[0] |= 1;
	memcpy(out + OFF_TRANSMIT, q->cookie, sizeof(q->cookie));
	return 0;
}

static int
check_header(const struct sntp_query *q, const uint8_t *buf, size_t len,
    struct sntp_result *res)
{
	unsigned li, vn, mode;

	if (len < SNTP_PACKET_LEN)
		return SNTP_EFORMAT;
	li = buf[OFF_FLAGS] >> 6;
	vn = (buf[OFF_FLAGS] >> 3) & 7;
	mode = buf[OFF_FLAGS] & 7;
	if (mode != MODE_SERVER || vn < 3 || vn > 4)
		return SNTP_EFORMAT;
	if (memcmp(buf + OFF_ORIGIN, q->cookie, sizeof(q->cookie)) != 0)
		return SNTP_EORIGIN;
	res->stratum = buf[OFF_STRATUM];
	if (res->stratum == 0) {
		/* The reference id carries the kiss code, e.g. "RATE". */
		memcpy(res->kod, buf + OFF_REFID, 4);
		res->kod[4] = '\0';
		return SNTP_EKOD;
	}
	if (li == LI_ALARM || res->stratum > STRATUM_MAX)
		return SNTP_EUNSYNC;
	return SNTP_OK;
}

/*
 * offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2):
 * T1/T4 local send/receive, T2/T3 server receive/transmit.  Halves are
 * added so no sum can overflow; a bad local time is reported, not used.
 */
static int
compute(int64_t t1, int64_t t2, int64_t t3, int64_t t4, struct sntp_result *res)
{
	int64_t a, b, rtt, server;

	if (t2 == 0 || t3 == 0 || t3 < t2)
		return SNTP_ETIME;
	if (t1 < 0 || t4 < t1 || t4 > INT64_MAX / 4)
		return SNTP_ETIME;
	if (__builtin_sub_overflow(t2, t1, &a) ||
	    __builtin_sub_overflow(t3, t4, &b))
		return SNTP_ETIME;
	rtt = t4 - t1;
	server = t3 - t2;
	res->offset_ms = a / 2 + b / 2;
	res->delay_ms = rtt > server ? rtt - server : 0;
	res->server_ms = t3;
	return SNTP_OK;
}

/* see sntp.h */
int
sntp_parse(const struct sntp_query *q, const uint8_t *buf, size_t len,
    int64_t t1_ms, int64_t t4_ms, struct sntp_result *res)
{
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = check_header(q, buf, len, res)) != SNTP_OK)
		return rc;
	return compute(t1_ms, ntp_to_unix_ms(buf + OFF_RECEIVE),
	    ntp_to_unix_ms(buf + OFF_TRANSMIT), t4_ms, res);
}

/* see sntp.h */
const char *
sntp_status_str(int status)
{
	switch (status) {
	case SNTP_OK:
		return "ok";
	case SNTP_EFORMAT:
		return "format";
	case SNTP_EORIGIN:
		return "origin";
	case SNTP_EKOD:
		return "kod";
	case SNTP_EUNSYNC:
		return "unsynchronised";
	case SNTP_ETIME:
		return "time";
	}
	return "unknown";
}
