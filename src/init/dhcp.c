/* A sans-I/O DHCPv4 client: see dhcp.h. */
#include <string.h>

#include "init/dhcp.h"

#define BOOTP_LEN 236 /* fixed BOOTP header before the magic cookie */
#define OPT_OFF (BOOTP_LEN + 4)
#define RETRY_MAX 4 /* REQUEST retransmissions before starting over */
#define LEASE_MAX_S (365u * 24 * 3600) /* caps "infinite" leases */

enum {
	MSG_DISCOVER = 1,
	MSG_OFFER = 2,
	MSG_REQUEST = 3,
	MSG_ACK = 5,
	MSG_NAK = 6,
};

enum {
	OPT_PAD = 0,
	OPT_MASK = 1,
	OPT_ROUTER = 3,
	OPT_DNS = 6,
	OPT_REQ_ADDR = 50,
	OPT_LEASE = 51,
	OPT_MSGTYPE = 53,
	OPT_SERVER = 54,
	OPT_PARAMS = 55,
	OPT_MAXSIZE = 57,
	OPT_T1 = 58,
	OPT_T2 = 59,
	OPT_CLIENT_ID = 61,
	OPT_END = 255,
};

static const uint8_t cookie[4] = {99, 130, 83, 99};

/* One parsed reply: only what the client uses. */
struct reply {
	int type;
	uint32_t xid;
	struct dhcp_lease l;
};

static uint32_t
rnd_next(struct dhcp *d)
{
	uint32_t x = d->rnd ? d->rnd : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return d->rnd = x;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint32_t
get32h(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Retransmission delay: 0.25 s doubling to 16 s, plus up to 0.25 s jitter.
 * RFC 2131 suggests starting at 4 s; a NIC whose link comes up just after
 * the first DISCOVER (e1000) would then delay the boot by seconds.
 */
static int64_t
retrans_ms(struct dhcp *d)
{
	unsigned s = d->tries < 6 ? d->tries : 6;

	return ((int64_t)250 << s) + rnd_next(d) % 250;
}

static size_t
put_opt(uint8_t *o, size_t i, uint8_t code, const void *v, uint8_t len)
{
	o[i] = code;
	o[i + 1] = len;
	memcpy(o + i + 2, v, len);
	return i + 2 + len;
}

/* The BOOTP header and the options common to every message we send. */
static size_t
build_head(struct dhcp *d, uint8_t type, uint32_t ciaddr)
{
	static const uint8_t params[] = {OPT_MASK, OPT_ROUTER, OPT_DNS,
	    OPT_LEASE, OPT_SERVER, OPT_T1, OPT_T2};
	uint8_t *o = d->out, cid[7];
	const uint8_t maxsz[2] = {DHCP_PKT_MAX >> 8, DHCP_PKT_MAX & 0xff};
	size_t i;

	memset(o, 0, sizeof(d->out));
	o[0] = 1; /* BOOTREQUEST */
	o[1] = 1; /* Ethernet */
	o[2] = 6;
	memcpy(o + 4, &d->xid, 4);
	o[10] = 0x80; /* broadcast flag: we have no address yet */
	memcpy(o + 12, &ciaddr, 4);
	memcpy(o + 28, d->mac, 6);
	memcpy(o + BOOTP_LEN, cookie, 4);
	cid[0] = 1;
	memcpy(cid + 1, d->mac, 6);
	i = put_opt(o, OPT_OFF, OPT_MSGTYPE, &type, 1);
	i = put_opt(o, i, OPT_CLIENT_ID, cid, sizeof(cid));
	i = put_opt(o, i, OPT_PARAMS, params, sizeof(params));
	return put_opt(o, i, OPT_MAXSIZE, maxsz, 2);
}

static void
send_discover(struct dhcp *d, int64_t now)
{
	size_t i;

	d->xid = rnd_next(d);
	i = build_head(d, MSG_DISCOVER, 0);
	d->out[i++] = OPT_END;
	d->outlen = i;
	d->state = DHCP_SELECTING;
	d->due = now + retrans_ms(d);
	d->tries++;
}

static void
send_request(struct dhcp *d, int64_t now)
{
	size_t i;

	if (d->state == DHCP_RENEWING) {
		i = build_head(d, MSG_REQUEST, d->lease.addr);
	} else {
		i = build_head(d, MSG_REQUEST, 0);
		i = put_opt(d->out, i, OPT_REQ_ADDR, &d->offer.addr, 4);
		i = put_opt(d->out, i, OPT_SERVER, &d->offer.server, 4);
	}
	d->out[i++] = OPT_END;
	d->outlen = i;
	d->due = now + retrans_ms(d);
	d->tries++;
}

/* see dhcp.h */
void
dhcp_init(struct dhcp *d, const uint8_t mac[6], uint32_t seed, int64_t now)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->mac, mac, 6);
	d->rnd = seed;
	d->state = DHCP_INIT;
	d->due = now;
}

static int64_t
lease_end(const struct dhcp *d)
{
	return d->bound_at + (int64_t)d->lease.lease_s * 1000;
}

/* RFC 2131 4.4.5: retry after half the time left, at least 60 s. */
static void
renew_due(struct dhcp *d, int64_t now)
{
	int64_t half = (lease_end(d) - now) / 2;

	d->due = now + (half > 60000 ? half : 60000);
	if (d->due > lease_end(d))
		d->due = lease_end(d);
}

/* see dhcp.h */
enum dhcp_event
dhcp_tick(struct dhcp *d, int64_t now, int64_t *wait_ms)
{
	enum dhcp_event ev = DHCP_EV_NONE;

	if (d->state == DHCP_RENEWING && now >= lease_end(d)) {
		d->state = DHCP_INIT;
		d->tries = 0;
		ev = DHCP_EV_LOST;
	}
	if (now >= d->due) {
		switch (d->state) {
		case DHCP_INIT:
		case DHCP_SELECTING:
			send_discover(d, now);
			break;
		case DHCP_REQUESTING:
			if (d->tries > RETRY_MAX)
				send_discover(d, now);
			else
				send_request(d, now);
			break;
		case DHCP_BOUND:
			d->state = DHCP_RENEWING;
			d->tries = 0;
			d->xid = rnd_next(d);
			send_request(d, now);
			renew_due(d, now);
			break;
		case DHCP_RENEWING:
			send_request(d, now);
			renew_due(d, now);
			break;
		}
	}
	*wait_ms = d->due > now ? d->due - now : 0;
	return ev;
}

/* Options of one reply into r; false when malformed. */
static bool
parse_opts(const uint8_t *p, size_t n, struct reply *r)
{
	size_t i = OPT_OFF, len, k;

	while (i < n) {
		if (p[i] == OPT_PAD) {
			i++;
			continue;
		}
		if (p[i] == OPT_END)
			return true;
		if (i + 2 > n || i + 2 + p[i + 1] > n)
			return false;
		len = p[i + 1];
		const uint8_t *v = p + i + 2;
		switch (p[i]) {
		case OPT_MSGTYPE:
			if (len == 1)
				r->type = v[0];
			break;
		case OPT_MASK:
			if (len == 4)
				r->l.mask = get32(v);
			break;
		case OPT_ROUTER:
			if (len >= 4)
				r->l.router = get32(v);
			break;
		case OPT_SERVER:
			if (len == 4)
				r->l.server = get32(v);
			break;
		case OPT_DNS:
			for (k = 0; k + 4 <= len && r->l.ndns < DHCP_DNS_MAX;
			     k += 4)
				r->l.dns[r->l.ndns++] = get32(v + k);
			break;
		case OPT_LEASE:
			if (len == 4)
				r->l.lease_s = get32h(v);
			break;
		case OPT_T1:
			if (len == 4)
				r->l.t1_s = get32h(v);
			break;
		case OPT_T2:
			if (len == 4)
				r->l.t2_s = get32h(v);
			break;
		}
		i += 2 + len;
	}
	return true; /* a missing END is tolerated, as most clients do */
}

static bool
parse_reply(const struct dhcp *d, const uint8_t *p, size_t n, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	if (n < OPT_OFF || n > 65535 || p[0] != 2 || p[1] != 1 || p[2] != 6)
		return false;
	if (memcmp(p + BOOTP_LEN, cookie, 4) != 0 ||
	    memcmp(p + 28, d->mac, 6) != 0)
		return false;
	memcpy(&r->xid, p + 4, 4);
	r->l.addr = get32(p + 16);
	return parse_opts(p, n, r) && r->type != 0;
}

/* Fill in what the server left out and bound the times. */
static void
lease_fix(struct dhcp_lease *l)
{
	if (l->mask == 0)
		l->mask = 0x00ffffffu; /* 255.255.255.0 in network order */
	if (l->lease_s == 0 || l->lease_s > LEASE_MAX_S)
		l->lease_s = l->lease_s ? LEASE_MAX_S : 3600;
	if (l->t1_s == 0 || l->t1_s >= l->lease_s)
		l->t1_s = l->lease_s / 2;
	if (l->t2_s == 0 || l->t2_s >= l->lease_s || l->t2_s < l->t1_s)
		l->t2_s = l->lease_s / 8 * 7;
}

static enum dhcp_event
on_ack(struct dhcp *d, struct reply *r, int64_t now)
{
	bool same = d->state == DHCP_RENEWING && r->l.addr == d->lease.addr;

	if (r->l.addr == 0)
		return DHCP_EV_NONE;
	lease_fix(&r->l);
	if (r->l.server == 0)
		r->l.server = d->offer.server;
	d->lease = r->l;
	d->state = DHCP_BOUND;
	d->bound_at = now;
	d->due = now + (int64_t)d->lease.t1_s * 1000;
	d->tries = 0;
	return same ? DHCP_EV_RENEWED : DHCP_EV_BOUND;
}

/* see dhcp.h */
enum dhcp_event
dhcp_feed(struct dhcp *d, const uint8_t *p, size_t n, int64_t now)
{
	struct reply r;
	bool was_bound = d->state == DHCP_RENEWING;

	if (!parse_reply(d, p, n, &r) || r.xid != d->xid)
		return DHCP_EV_NONE;
	if (d->state == DHCP_SELECTING && r.type == MSG_OFFER) {
		if (r.l.addr == 0 || r.l.server == 0)
			return DHCP_EV_NONE;
		d->offer = r.l;
		d->state = DHCP_REQUESTING;
		d->tries = 0;
		send_request(d, now);
		return DHCP_EV_NONE;
	}
	if (d->state != DHCP_REQUESTING && d->state != DHCP_RENEWING)
		return DHCP_EV_NONE;
	if (r.type == MSG_ACK)
		return on_ack(d, &r, now);
	if (r.type != MSG_NAK)
		return DHCP_EV_NONE;
	d->state = DHCP_INIT;
	d->tries = 0;
	d->due = now;
	return was_bound ? DHCP_EV_LOST : DHCP_EV_NONE;
}

/* see dhcp.h */
const uint8_t *
dhcp_take(const struct dhcp *d, size_t *n)
{
	*n = d->outlen;
	return d->outlen ? d->out : NULL;
}

/* see dhcp.h */
void
dhcp_ack(struct dhcp *d)
{
	d->outlen = 0;
}

/* see dhcp.h */
const struct dhcp_lease *
dhcp_lease(const struct dhcp *d)
{
	if (d->state == DHCP_BOUND || d->state == DHCP_RENEWING)
		return &d->lease;
	return NULL;
}

/* see dhcp.h */
int
dhcp_prefix_len(uint32_t mask)
{
	uint32_t h = get32h((const uint8_t *)&mask);
	int len = 0;

	while (h & 0x80000000u) {
		len++;
		h <<= 1;
	}
	return len;
}
