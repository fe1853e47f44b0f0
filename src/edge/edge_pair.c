/*
 * edge_pair.c — device pairing (RFC 8628 style): a connector without a
 * token asks for a pairing, shows the user code, and polls; an operator
 * approves the code under a name (or denies it).  Pairings live in
 * memory only (a restart forgets them; the connector asks again), are
 * bounded in total and per source address, and expire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_id.h"
#include "lib/util.h"

/* Consonants only (RFC 8628 6.1): no vowels, no 0/O or 1/I confusion. */
static const char alphabet[] = "BCDFGHJKLMNPQRSTVWXZ";

static void
drop(struct edge_pairing *p)
{
	free(p->csr);
	memset(p, 0, sizeof(*p));
}

/* see edge_id.h */
void
edge_pair_expire(struct edge_id *id)
{
	int64_t now = util_wall_ms() / 1000;
	size_t i;

	for (i = 0; i < EDGE_PAIRINGS_MAX; i++)
		if (id->pairs[i].used && id->pairs[i].expires <= now)
			drop(&id->pairs[i]);
}

static int
random_code(struct edge_pairing *p)
{
	uint8_t r[16 + 8];
	size_t i, k = 0;

	if (util_random(r, sizeof(r)) != 0)
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(p->id + 2 * i, 3, "%02x", r[i]);
	for (i = 0; i < 8; i++) {
		if (i == 4)
			p->code[k++] = '-';
		/* 256 % 20 != 0: the bias (< 7%) costs under 0.1 bit. */
		p->code[k++] = alphabet[r[16 + i] % (sizeof(alphabet) - 1)];
	}
	p->code[k] = '\0';
	return 0;
}

/* see edge_id.h */
struct edge_pairing *
edge_pair_create(struct edge_id *id, const char *addr, const char *hostname,
    const uint8_t *csr, size_t len, const char **why)
{
	struct edge_pairing *p = NULL;
	size_t i, same = 0;

	edge_pair_expire(id);
	for (i = 0; i < EDGE_PAIRINGS_MAX; i++) {
		if (!id->pairs[i].used)
			p = p != NULL ? p : &id->pairs[i];
		else if (strcmp(id->pairs[i].addr, addr) == 0)
			same++;
	}
	*why = "rate_limited";
	if (p == NULL || same >= EDGE_PAIRINGS_PER_ADDR)
		return NULL;
	*why = "out of memory";
	if ((p->csr = malloc(len)) == NULL)
		return NULL;
	if (random_code(p) < 0) {
		drop(p);
		*why = "no entropy";
		return NULL;
	}
	memcpy(p->csr, csr, len);
	p->csr_len = len;
	p->used = true;
	p->state = EDGE_P_PENDING;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	snprintf(p->hostname, sizeof(p->hostname), "%s", hostname);
	p->expires = util_wall_ms() / 1000 + id->pair_ttl_s;
	p->last_poll_ms = util_mono_ms();
	return p;
}

/* see edge_id.h */
struct edge_pairing *
edge_pair_by_id(struct edge_id *id, const char *pid)
{
	size_t i;

	for (i = 0; i < EDGE_PAIRINGS_MAX; i++)
		if (id->pairs[i].used && strcmp(id->pairs[i].id, pid) == 0)
			return &id->pairs[i];
	return NULL;
}

/* "bcdf-ghjk", "BCDFGHJK" → "BCDF-GHJK"; false when not a code. */
static bool
normalise(const char *s, size_t n, char *out)
{
	char l[8];
	size_t i, k = 0;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '-' && k == 4)
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (k == sizeof(l) || c == '\0' || strchr(alphabet, c) == NULL)
			return false;
		l[k++] = c;
	}
	if (k != sizeof(l))
		return false;
	snprintf(out, EDGE_USER_CODE_MAX, "%.4s-%.4s", l, l + 4);
	return true;
}

/* see edge_id.h */
struct edge_pairing *
edge_pair_by_code(struct edge_id *id, const char *code, size_t n)
{
	char want[EDGE_USER_CODE_MAX];
	size_t i;

	edge_pair_expire(id);
	if (!normalise(code, n, want))
		return NULL;
	for (i = 0; i < EDGE_PAIRINGS_MAX; i++)
		if (id->pairs[i].used && id->pairs[i].state == EDGE_P_PENDING &&
		    strcmp(id->pairs[i].code, want) == 0)
			return &id->pairs[i];
	return NULL;
}

/* see edge_id.h */
void
edge_pair_drop(struct edge_pairing *p)
{
	drop(p);
}
