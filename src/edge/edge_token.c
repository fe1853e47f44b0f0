/*
 * edge_token.c — single-use enrolment tokens: "opt_" and 192 random bits
 * in hex, stored only as their SHA-256 in EDGE_DATA_DIR/tokens with the
 * name they enrol and their expiry.  A token is looked up in constant
 * time per slot and removed from the store (file rewritten) on its first
 * successful use.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "edge/edge_id.h"
#include "lib/util.h"

#define TOKENS_FILE "tokens"
#define LINE_MAX_BYTES (64 + 24 + EDGE_NAME_MAX + 4)

static void
hash_token(const char *tok, size_t len, uint8_t out[32])
{
	br_sha256_context h;

	br_sha256_init(&h);
	br_sha256_update(&h, tok, len);
	br_sha256_out(&h, out);
}

static bool
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	int a, b;

	if (strlen(s) != 2 * n)
		return false;
	for (i = 0; i < n; i++) {
		if ((a = util_hexval(s[2 * i])) < 0 ||
		    (b = util_hexval(s[2 * i + 1])) < 0)
			return false;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return true;
}

/* "hash expires name" */
static int
parse_line(char *line, void *arg)
{
	struct edge_id *id = arg;
	struct edge_token *t;
	char hx[65], name[EDGE_NAME_MAX];
	long long exp;
	int end = -1;

	if (id->ntokens == EDGE_TOKENS_MAX)
		return -1;
	t = &id->tokens[id->ntokens];
	if (sscanf(line, "%64s %lld %63s%n", hx, &exp, name, &end) != 3 ||
	    line[end] != '\0' || !unhex(hx, t->hash, sizeof(t->hash)) ||
	    !edge_name_valid(name, strlen(name)))
		return -1;
	t->expires = exp;
	snprintf(t->name, sizeof(t->name), "%s", name);
	id->ntokens++;
	return 0;
}

/* see edge_id.h */
int
edge_tokens_load(struct edge_id *id, char *err, size_t errlen)
{
	id->tokens = calloc(EDGE_TOKENS_MAX, sizeof(*id->tokens));
	if (id->tokens == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return edge_store_lines(id, TOKENS_FILE, parse_line, id, err, errlen);
}

/* Forget expired tokens, then write the store. */
static int
save(struct edge_id *id, char *err, size_t errlen)
{
	int64_t now = util_wall_ms() / 1000;
	size_t i, k = 0, cap = EDGE_TOKENS_MAX * LINE_MAX_BYTES;
	char hx[65];
	struct buf b;
	void *mem;
	int rc;

	for (i = 0; i < id->ntokens; i++)
		if (id->tokens[i].expires > now)
			id->tokens[k++] = id->tokens[i];
	id->ntokens = k;
	if ((mem = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	buf_init(&b, mem, cap);
	for (i = 0; i < id->ntokens; i++) {
		util_hex(id->tokens[i].hash, sizeof(id->tokens[i].hash), hx);
		buf_printf(&b, "%s %" PRId64 " %s\n", hx, id->tokens[i].expires,
		    id->tokens[i].name);
	}
	rc = edge_store_save(id, TOKENS_FILE, &b, err, errlen);
	free(mem);
	return rc;
}

/* Under the lock: the store as the other replicas left it. */
static int
reload(struct edge_id *id, char *err, size_t errlen)
{
	id->ntokens = 0;
	return edge_store_lines(id, TOKENS_FILE, parse_line, id, err, errlen);
}

/* Add t under the lock; 0 or -1 with err (the store unchanged). */
static int
add_locked(
    struct edge_id *id, const struct edge_token *t, char *err, size_t errlen)
{
	if (reload(id, err, errlen) < 0)
		return -1;
	if (id->ntokens == EDGE_TOKENS_MAX) {
		save(id, err, errlen); /* drops expired ones */
		if (id->ntokens == EDGE_TOKENS_MAX) {
			snprintf(err, errlen, "too many unused tokens (%d)",
			    EDGE_TOKENS_MAX);
			return -1;
		}
	}
	id->tokens[id->ntokens++] = *t;
	if (save(id, err, errlen) < 0) {
		id->ntokens--;
		return -1;
	}
	return 0;
}

static int
add(struct edge_id *id, const struct edge_token *t, char *err, size_t errlen)
{
	int fd = edge_store_lock(id, err, errlen), rc;

	if (fd < 0)
		return -1;
	rc = add_locked(id, t, err, errlen);
	edge_store_unlock(fd);
	return rc;
}

/* see edge_id.h */
int
edge_token_create(struct edge_id *id, const char *name, int64_t ttl_s,
    char *tok, int64_t *expires, char *err, size_t errlen)
{
	uint8_t rnd[EDGE_TOKEN_RANDOM];
	struct edge_token t;
	size_t pl = strlen(EDGE_TOKEN_PREFIX);

	if (util_random(rnd, sizeof(rnd)) != 0) {
		snprintf(err, errlen, "no entropy");
		return -1;
	}
	memcpy(tok, EDGE_TOKEN_PREFIX, pl);
	util_hex(rnd, sizeof(rnd), tok + pl);
	util_wipe(rnd, sizeof(rnd));
	hash_token(tok, strlen(tok), t.hash);
	t.expires = util_wall_ms() / 1000 + ttl_s;
	snprintf(t.name, sizeof(t.name), "%s", name);
	*expires = t.expires;
	if (add(id, &t, err, errlen) < 0) {
		util_wipe(tok, EDGE_TOKEN_MAX);
		return -1;
	}
	return 0;
}

/* The slot of an unused, unexpired token, or -1 with why. */
static int
find(struct edge_id *id, const char *tok, size_t len, const char **why)
{
	uint8_t h[32];
	size_t i;
	int slot = -1;

	hash_token(tok, len, h);
	/* Every slot is compared, so timing does not tell where. */
	for (i = 0; i < id->ntokens; i++)
		if (util_ct_eq(h, id->tokens[i].hash, sizeof(h)))
			slot = (int)i;
	util_wipe(h, sizeof(h));
	if (slot < 0) {
		*why = "unknown or already used";
		return -1;
	}
	if (id->tokens[slot].expires <= util_wall_ms() / 1000) {
		*why = "expired";
		return -1;
	}
	return slot;
}

static int
claim_locked(struct edge_id *id, const char *tok, size_t len,
    struct edge_token *out, const char **why, char *err, size_t errlen)
{
	int slot;

	if (reload(id, err, errlen) < 0)
		return -2;
	if ((slot = find(id, tok, len, why)) < 0)
		return -1;
	*out = id->tokens[slot];
	id->tokens[slot] = id->tokens[--id->ntokens];
	if (save(id, err, errlen) == 0)
		return 0;
	/* Not written: the token stays usable, the caller answers an error. */
	id->tokens[id->ntokens++] = *out;
	return -2;
}

/* see edge_id.h */
int
edge_token_claim(struct edge_id *id, const char *tok, size_t len,
    struct edge_token *out, const char **why, char *err, size_t errlen)
{
	int fd = edge_store_lock(id, err, errlen), rc;

	if (fd < 0)
		return -2;
	rc = claim_locked(id, tok, len, out, why, err, errlen);
	edge_store_unlock(fd);
	return rc;
}

/* see edge_id.h */
int
edge_token_unclaim(
    struct edge_id *id, const struct edge_token *t, char *err, size_t errlen)
{
	return add(id, t, err, errlen);
}
