/*
 * Unit tests: the edge's identity stores and parsers — the JSON body
 * reader, the token store, the revocation store (both reloaded from
 * their files), pairing codes.  A fresh EDGE_DATA_DIR under /tmp per
 * test.  Usage: test_edge_id [name-filter]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "edge/edge_id.h"

static struct edge_id *
fresh(void)
{
	struct edge_id *id = calloc(1, sizeof(*id));
	char err[256];

	assert_non_null(id);
	snprintf(id->dir, sizeof(id->dir), "/tmp/outpost-test-edge-id-XXXXXX");
	assert_non_null(mkdtemp(id->dir));
	id->pair_ttl_s = 600;
	id->pair_interval_s = 5;
	assert_int_equal(edge_tokens_load(id, err, sizeof(err)), 0);
	assert_int_equal(edge_revoked_load(id, err, sizeof(err)), 0);
	return id;
}

/* The same directory loaded again, as after a restart. */
static struct edge_id *
reload(struct edge_id *old)
{
	struct edge_id *id = calloc(1, sizeof(*id));
	char err[256];

	assert_non_null(id);
	memcpy(id->dir, old->dir, sizeof(id->dir));
	edge_id_free(old);
	assert_int_equal(edge_tokens_load(id, err, sizeof(err)), 0);
	assert_int_equal(edge_revoked_load(id, err, sizeof(err)), 0);
	return id;
}

static void
cleanup(struct edge_id *id)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", id->dir);
	edge_id_free(id);
	assert_int_equal(system(cmd), 0);
}

static int
jb(const char *body, const char *key, char *out, size_t cap)
{
	return edge_jbody_str(body, strlen(body), key, out, cap);
}

static void
jbody_cases(void **state)
{
	char v[16];

	assert_int_equal(
	    jb("{\"name\":\"alpha\",\"ttl\":\"1h\"}", "ttl", v, sizeof(v)), 1);
	assert_string_equal(v, "1h");
	assert_int_equal(
	    jb(" { \"name\" : \"a\\u0041\\n\\\"\" } ", "name", v, sizeof(v)),
	    1);
	assert_string_equal(v, "aA\n\"");
	assert_int_equal(jb("{}", "name", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(jb("{\"ttl\":\"1h\"}", "name", v, sizeof(v)), 0);
	/* Refused: not an object of strings, trailing bytes, repeats, too
	 * long for the buffer, escapes outside ASCII, raw control bytes. */
	assert_int_equal(jb("{\"name\":1}", "name", v, sizeof(v)), -1);
	assert_int_equal(jb("{\"name\":\"a\"} x", "name", v, sizeof(v)), -1);
	assert_int_equal(
	    jb("{\"name\":\"a\",\"name\":\"b\"}", "name", v, sizeof(v)), -1);
	assert_int_equal(
	    jb("{\"name\":\"0123456789abcdefX\"}", "name", v, sizeof(v)), -1);
	assert_int_equal(
	    jb("{\"name\":\"\\u00e9\"}", "name", v, sizeof(v)), -1);
	assert_int_equal(
	    jb("{\"name\":\"\\u0000\"}", "name", v, sizeof(v)), -1);
	assert_int_equal(jb("{\"name\":\"a\tb\"}", "name", v, sizeof(v)), -1);
	assert_int_equal(jb("{\"name\":\"a\"", "name", v, sizeof(v)), -1);
	assert_int_equal(jb("[\"name\"]", "name", v, sizeof(v)), -1);
	assert_int_equal(jb("", "name", v, sizeof(v)), -1);
}

static void
tokens_single_use(void **state)
{
	struct edge_id *id = fresh();
	char tok[EDGE_TOKEN_MAX], tok2[EDGE_TOKEN_MAX];
	char err[256], line[EDGE_ID_PATH_MAX + 16];
	struct edge_token tk;
	const char *why = NULL;
	int64_t exp;
	FILE *f;

	assert_int_equal(
	    edge_token_create(id, "alpha", 3600, tok, &exp, err, sizeof(err)),
	    0);
	assert_int_equal(strncmp(tok, "opt_", 4), 0);
	assert_int_equal(strlen(tok), 4 + 2 * EDGE_TOKEN_RANDOM);
	assert_int_equal(
	    edge_token_create(id, "beta", 3600, tok2, &exp, err, sizeof(err)),
	    0);
	assert_string_not_equal(tok, tok2);
	/* Only hashes on disk, mode 0600. */
	snprintf(line, sizeof(line), "%s/tokens", id->dir);
	struct stat st;
	assert_int_equal(stat(line, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(f = fopen(line, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		assert_null(strstr(line, tok + 4));
	fclose(f);
	/* Survives a restart; claimed once, then gone. */
	id = reload(id);
	assert_int_equal(
	    edge_token_claim(id, tok, strlen(tok), &tk, &why, err, sizeof(err)),
	    0);
	assert_string_equal(tk.name, "alpha");
	id = reload(id);
	assert_int_equal(
	    edge_token_claim(id, tok, strlen(tok), &tk, &why, err, sizeof(err)),
	    -1);
	assert_string_equal(why, "unknown or already used");
	/* A prefix of a token is not the token. */
	assert_int_equal(
	    edge_token_claim(id, tok2, 20, &tk, &why, err, sizeof(err)), -1);
	assert_int_equal(edge_token_claim(id, tok2, strlen(tok2), &tk, &why,
			     err, sizeof(err)),
	    0);
	assert_string_equal(tk.name, "beta");
	/* Put back (its enrolment failed): usable again, once. */
	assert_int_equal(edge_token_unclaim(id, &tk, err, sizeof(err)), 0);
	id = reload(id);
	assert_int_equal(edge_token_claim(id, tok2, strlen(tok2), &tk, &why,
			     err, sizeof(err)),
	    0);
	assert_int_equal(edge_token_claim(id, tok2, strlen(tok2), &tk, &why,
			     err, sizeof(err)),
	    -1);
	cleanup(id);
}

/* Rewrite the one token's line with an expiry in the past. */
static void
expire_on_disk(const struct edge_id *id)
{
	char path[EDGE_ID_PATH_MAX + 16], hx[65];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tokens", id->dir);
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fscanf(f, "%64s", hx), 1);
	fclose(f);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s %lld alpha\n", hx, (long long)(time(NULL) - 1));
	fclose(f);
}

static void
tokens_expire(void **state)
{
	struct edge_id *id = fresh();
	char tok[EDGE_TOKEN_MAX], err[256];
	struct edge_token tk;
	const char *why = NULL;
	int64_t exp;

	assert_int_equal(
	    edge_token_create(id, "alpha", 3600, tok, &exp, err, sizeof(err)),
	    0);
	expire_on_disk(id); /* white box: an hour later */
	assert_int_equal(
	    edge_token_claim(id, tok, strlen(tok), &tk, &why, err, sizeof(err)),
	    -1);
	assert_string_equal(why, "expired");
	cleanup(id);
}

/* Two replicas on one directory: B notices what A wrote, once. */
static void
revoked_refresh(void **state)
{
	struct edge_id *a = fresh(), *b = calloc(1, sizeof(*b));
	char err[256], path[EDGE_ID_PATH_MAX + 16];
	FILE *f;

	assert_non_null(b);
	memcpy(b->dir, a->dir, sizeof(b->dir));
	assert_int_equal(edge_revoked_load(b, err, sizeof(err)), 0);
	assert_int_equal(edge_revoked_refresh(b), 0);
	assert_int_equal(edge_revoke(a, "alpha", err, sizeof(err)), 0);
	assert_int_equal(edge_revoked_refresh(b), 1);
	assert_int_equal(edge_revoked_refresh(b), 0);
	assert_true(edge_is_revoked(b, "alpha", NULL, 0));
	assert_true(edge_store_usable(b));
	/* Unreadable: -1 on every poll until it reads, every name refused. */
	snprintf(path, sizeof(path), "%s/revoked", a->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("bad\n", f);
	fclose(f);
	assert_int_equal(edge_revoked_refresh(b), -1);
	assert_int_equal(edge_revoked_refresh(b), -1);
	assert_true(edge_is_revoked(b, "beta", NULL, 0));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(edge_revoked_refresh(b), 1);
	assert_false(edge_is_revoked(b, "alpha", NULL, 0));
	edge_id_free(b);
	cleanup(a);
}

static void
revoked_store(void **state)
{
	static const uint8_t old[16] = {0x81, 1, 2, 3},
			     fresh_sn[16] = {0x7f, 9};
	struct edge_id *id = fresh();
	uint8_t der_old[17] = {0};
	char err[256];

	assert_false(edge_is_revoked(id, "alpha", old, sizeof(old)));
	assert_int_equal(edge_revoke(id, "alpha", err, sizeof(err)), 0);
	assert_true(edge_is_revoked(id, "alpha", old, sizeof(old)));
	assert_true(edge_is_revoked(id, "alpha", NULL, 0));
	assert_false(edge_is_revoked(id, "beta", old, sizeof(old)));
	/* Issued afterwards: good, also as DER writes it (a sign byte). */
	assert_int_equal(edge_revoked_issued(id, "alpha", fresh_sn,
			     sizeof(fresh_sn), err, sizeof(err)),
	    0);
	id = reload(id);
	assert_false(edge_is_revoked(id, "alpha", fresh_sn, sizeof(fresh_sn)));
	memcpy(der_old + 1, old, sizeof(old));
	assert_true(edge_is_revoked(id, "alpha", der_old, sizeof(der_old)));
	/* Revoking again covers the re-enrolled certificate too. */
	assert_int_equal(edge_revoke(id, "alpha", err, sizeof(err)), 0);
	id = reload(id);
	assert_true(edge_is_revoked(id, "alpha", fresh_sn, sizeof(fresh_sn)));
	cleanup(id);
}

static void
pairing_codes(void **state)
{
	static const uint8_t csr[] = {0x30, 0};
	struct edge_id *id = fresh();
	struct edge_pairing *p, *q;
	char low[EDGE_USER_CODE_MAX];
	const char *why;
	size_t i;

	p = edge_pair_create(id, "10.0.0.1", "box", csr, sizeof(csr), &why);
	assert_non_null(p);
	assert_int_equal(strlen(p->code), 9);
	assert_int_equal(p->code[4], '-');
	for (i = 0; i < 9; i++)
		if (i != 4)
			assert_non_null(
			    strchr("BCDFGHJKLMNPQRSTVWXZ", p->code[i]));
	assert_ptr_equal(edge_pair_by_id(id, p->id), p);
	for (i = 0; i < 9; i++)
		low[i] = (char)(p->code[i] | 0x20);
	low[9] = '\0';
	assert_ptr_equal(edge_pair_by_code(id, low, 9), p);
	memmove(low + 4, low + 5, 5);
	assert_ptr_equal(edge_pair_by_code(id, low, 8), p);
	assert_null(edge_pair_by_code(id, "AAAA-AAAA", 9));
	assert_null(edge_pair_by_code(id, p->code, 8));
	/* Per-address cap; another address still gets one. */
	for (i = 1; i < EDGE_PAIRINGS_PER_ADDR; i++)
		assert_non_null(edge_pair_create(
		    id, "10.0.0.1", "", csr, sizeof(csr), &why));
	assert_null(
	    edge_pair_create(id, "10.0.0.1", "", csr, sizeof(csr), &why));
	assert_string_equal(why, "rate_limited");
	assert_non_null(
	    q = edge_pair_create(id, "10.0.0.2", "", csr, sizeof(csr), &why));
	/* Expiry forgets it. */
	q->expires = 1;
	edge_pair_expire(id);
	assert_null(edge_pair_by_id(id, q->id));
	cleanup(id);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jbody_cases),
	    cmocka_unit_test(tokens_single_use),
	    cmocka_unit_test(tokens_expire),
	    cmocka_unit_test(revoked_store),
	    cmocka_unit_test(revoked_refresh),
	    cmocka_unit_test(pairing_codes),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
