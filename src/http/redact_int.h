/*
 * redact_int.h — private to src/http/redact*.c: the compiled rules.
 */
#ifndef HTTP_REDACT_INT_H
#define HTTP_REDACT_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "http/redact.h"

enum redact_type { REDACT_REGEX, REDACT_STRUCTURED };

/* One '|'-joined JSON path, split; "*" matches any key or index. */
struct redact_path {
	size_t n;
	char **part;
};

struct redact_rule {
	char *name;
	enum redact_type type;
	pcre2_code *re;
	char *replacement; /* PCRE2 substitute syntax ($1, $$) */
	size_t n_hosts;
	pcre2_code **hosts; /* anchored, caseless; none: every host */
	size_t n_redact, n_skip;
	struct redact_path *redact, *skip;
};

struct redact_rules {
	size_t n;
	struct redact_rule *rule;
	pcre2_match_context *mctx;
};

/* Substitute rule re in s[0..n); *out heap when *hits > 0. */
enum redact_refusal redact_subst(const struct redact_rules *r,
    const struct redact_rule *rule, const uint8_t *s, size_t n, uint8_t **out,
    size_t *out_len, size_t max_out, uint64_t *hits);

/*
 * Apply structured rule to the JSON document j[0..n): every string value
 * in scope is substituted.  *out heap when *hits > 0.
 */
enum redact_refusal redact_json(const struct redact_rules *r,
    const struct redact_rule *rule, const uint8_t *j, size_t n, uint8_t **out,
    size_t *out_len, size_t max_out, uint64_t *hits, char *detail, size_t dlen);

/*
 * gzip (redact_gzip.c): decode all members of in[0..n) into *out (heap),
 * at most max bytes (REDACT_TOO_LARGE past it, REDACT_BAD_GZIP when it
 * does not decode); encode in[0..n) as one gzip member (level 6, no name,
 * no time: the same input gives the same bytes), at most max bytes.
 */
enum redact_refusal redact_gunzip(
    const uint8_t *in, size_t n, size_t max, uint8_t **out, size_t *out_len);
enum redact_refusal redact_gzip(
    const uint8_t *in, size_t n, size_t max, uint8_t **out, size_t *out_len);

#endif
