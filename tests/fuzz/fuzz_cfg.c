/*
 * Fuzz target: the KEY=VALUE parser and every value type.  The first byte
 * chooses a piece size; the rest is parsed once in those pieces and once
 * in one go, and both runs must report the same entries.  Each value is
 * then converted as every type of the table, and base64 decoding must
 * round-trip through the encoder.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint64_t sum; /* a digest of every entry */
	unsigned entries;
	bool convert;
};

static void
mix(struct run *r, const char *s)
{
	if (s == NULL) {
		r->sum = r->sum * 131 + 7;
		return;
	}
	for (; *s != '\0'; s++)
		r->sum = r->sum * 31 + (unsigned char)*s;
	r->sum = r->sum * 131 + 1;
}

/* The decoded bytes, encoded again, must decode to the same bytes. */
static void
check_base64(const char *v)
{
	size_t n = strlen(v), cap = BASE64_DECODED_MAX(n);
	uint8_t *a = malloc(cap + 1), *b = malloc(cap + 1);
	char *e = malloc(BASE64_ENCODED_LEN(cap) + 1);
	ssize_t la, le, lb;

	la = base64_decode(a, cap, v, n);
	if (la >= 0) {
		le = base64_encode(
		    e, BASE64_ENCODED_LEN(cap) + 1, a, (size_t)la);
		lb = base64_decode(b, cap, e, (size_t)le);
		if (le < 0 || lb != la || memcmp(a, b, (size_t)la) != 0)
			abort();
	}
	free(a);
	free(b);
	free(e);
}

static void
convert(const char *v)
{
	char why[200];
	int64_t num;
	bool seen[CFG_T_COUNT] = {false};
	int k;

	for (k = 0; k < CFG__COUNT; k++) {
		if (seen[cfg_defs[k].type])
			continue;
		seen[cfg_defs[k].type] = true;
		if (!cfg_value_parse(&cfg_defs[k], v, &num, why, sizeof(why)) &&
		    why[0] == '\0')
			abort();
	}
	cfg_duration_parse(v, &num);
	check_base64(v);
}

static void
on_entry(void *arg, const struct cfg_entry *e)
{
	struct run *r = arg;
	bool alias;

	r->entries++;
	r->sum = r->sum * 131 + e->line;
	mix(r, e->key);
	mix(r, e->value);
	mix(r, e->error);
	if ((e->value == NULL) == (e->error == NULL))
		abort();
	if (!r->convert || e->value == NULL)
		return;
	if (cfg_lookup(e->key, &alias) < 0)
		cfg_suggest(e->key);
	convert(e->value);
}

static void
parse(const uint8_t *in, size_t n, size_t step, struct run *r)
{
	static struct cfg_parser p;
	size_t i, k;

	cfg_parser_init(&p, on_entry, r);
	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		cfg_parser_feed(&p, in + i, k);
	}
	cfg_parser_finish(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a = {0, 0, true}, b = {0, 0, false};

	if (size < 1)
		return 0;
	parse(data + 1, size - 1, (size_t)data[0] % 17 + 1, &a);
	parse(data + 1, size - 1, size, &b);
	if (a.sum != b.sum || a.entries != b.entries)
		abort();
	return 0;
}
