/*
 * redact_apply.c — applying compiled rules to one body (see redact.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/redact_int.h"

/* see redact_int.h */
enum redact_refusal
redact_subst(const struct redact_rules *r, const struct redact_rule *rule,
    const uint8_t *s, size_t n, uint8_t **out, size_t *out_len, size_t max_out,
    uint64_t *hits)
{
	PCRE2_SIZE cap = n + n / 2 + 64, len;
	uint8_t *buf = NULL;
	int rc;

	*out = NULL;
	for (;;) {
		uint8_t *nb = realloc(buf, cap + 1);

		if (nb == NULL) {
			free(buf);
			return REDACT_NOMEM;
		}
		buf = nb;
		len = cap;
		rc = pcre2_substitute(rule->re, s, n, 0,
		    PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
		    NULL, r->mctx, (PCRE2_SPTR)rule->replacement,
		    PCRE2_ZERO_TERMINATED, buf, &len);
		if (rc != PCRE2_ERROR_NOMEMORY)
			break;
		if (len > max_out) {
			free(buf);
			return REDACT_TOO_LARGE;
		}
		cap = len;
	}
	if (rc <= 0) {
		free(buf);
		if (rc == 0)
			return REDACT_OK;
		return rc == PCRE2_ERROR_NOMEMORY ? REDACT_NOMEM
						  : REDACT_MATCH_LIMIT;
	}
	if (len > max_out) {
		free(buf);
		return REDACT_TOO_LARGE;
	}
	*out = buf;
	*out_len = len;
	*hits += (uint64_t)rc;
	return REDACT_OK;
}

static bool
host_matches(const struct redact_rules *r, const struct redact_rule *rule,
    const char *host)
{
	pcre2_match_data *md;
	size_t i;
	bool hit = false;

	if (rule->n_hosts == 0)
		return true;
	md = pcre2_match_data_create(1, NULL);
	for (i = 0; md != NULL && i < rule->n_hosts && !hit; i++)
		hit = pcre2_match(rule->hosts[i], (PCRE2_SPTR)host,
			  strlen(host), 0, 0, md, r->mctx) >= 0;
	pcre2_match_data_free(md);
	return hit || md == NULL; /* out of memory: the rule applies */
}

/* The media type of ct without parameters, compared case-insensitively. */
static bool
type_is(const char *ct, const char *t)
{
	size_t n = strlen(t);

	return strncasecmp(ct, t, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static bool
type_suffix(const char *ct, const char *suffix)
{
	size_t n = strcspn(ct, "; "), m = strlen(suffix);

	return n >= m && strncasecmp(ct + n - m, suffix, m) == 0;
}

static bool
is_json(const char *ct)
{
	return ct != NULL &&
	    (type_is(ct, "application/json") || type_suffix(ct, "+json"));
}

static bool
is_text(const char *ct)
{
	static const char *const text[] = {"application/javascript",
	    "application/ecmascript", "application/xml",
	    "application/x-www-form-urlencoded", "application/graphql",
	    "application/x-ndjson", "application/yaml", NULL};
	size_t i;

	if (ct == NULL || *ct == '\0' || strncasecmp(ct, "text/", 5) == 0 ||
	    is_json(ct) || type_suffix(ct, "+xml"))
		return true;
	for (i = 0; text[i] != NULL; i++)
		if (type_is(ct, text[i]))
			return true;
	return false;
}

/* see redact.h */
const char *
redact_refusal_name(enum redact_refusal why)
{
	static const char *const names[REDACT__COUNT] = {"ok",
	    "content_encoding", "partial_content", "binary_content",
	    "malformed_json", "match_limit", "too_large", "out_of_memory",
	    "rules_invalid", "malformed_gzip"};

	return why < REDACT__COUNT ? names[why] : "unknown";
}

static enum redact_refusal
refuse(struct redact_result *res, enum redact_refusal why, const char *detail)
{
	res->refusal = why;
	snprintf(res->detail, sizeof(res->detail), "%s", detail);
	free(res->out);
	res->out = NULL;
	res->changed = false;
	return why;
}

/* Refusals that do not depend on the rules' patterns. */
static enum redact_refusal
check_input(const struct redact_input *in, struct redact_result *res)
{
	const char *ce = in->content_encoding;
	char d[128];

	if (ce != NULL && *ce != '\0' && strcasecmp(ce, "identity") != 0 &&
	    strcasecmp(ce, "gzip") != 0) {
		snprintf(d, sizeof(d),
		    "Content-Encoding %.40s cannot be "
		    "redacted",
		    ce);
		return refuse(res, REDACT_ENCODING, d);
	}
	if (in->status == 206)
		return refuse(res, REDACT_PARTIAL,
		    "a 206 partial response cannot be redacted");
	if (!is_text(in->content_type) && !in->binary_pass) {
		snprintf(d, sizeof(d), "binary Content-Type %.40s",
		    in->content_type);
		return refuse(res, REDACT_BINARY, d);
	}
	return REDACT_OK;
}

static enum redact_refusal
apply_rule(const struct redact_rules *r, size_t i,
    const struct redact_input *in, struct redact_result *res,
    const uint8_t **cur, size_t *cur_len)
{
	const struct redact_rule *rule = &r->rule[i];
	enum redact_refusal why;
	uint8_t *out = NULL;
	size_t out_len = 0;
	char d[128] = "";

	if (rule->type == REDACT_STRUCTURED && !is_json(in->content_type))
		return REDACT_OK;
	if (rule->type == REDACT_REGEX)
		why = redact_subst(r, rule, *cur, *cur_len, &out, &out_len,
		    in->max_out, &res->hits[i]);
	else
		why = redact_json(r, rule, *cur, *cur_len, &out, &out_len,
		    in->max_out, &res->hits[i], d, sizeof(d));
	if (why != REDACT_OK) {
		char msg[128];

		snprintf(msg, sizeof(msg), "rule \"%.40s\"%s%.60s", rule->name,
		    *d ? ": " : "", d);
		return refuse(res, why, msg);
	}
	if (out != NULL) {
		free(res->out);
		res->out = out;
		res->out_len = out_len;
		res->changed = true;
		*cur = out;
		*cur_len = out_len;
	}
	return REDACT_OK;
}

/* The rules for host, in file order, over body[0..len). */
static enum redact_refusal
apply_rules(const struct redact_rules *r, const struct redact_input *in,
    const uint8_t *body, size_t len, struct redact_result *res)
{
	const char *host = in->host ? in->host : "";
	const uint8_t *cur = body;
	size_t cur_len = len, i;

	res->hits = calloc(r->n ? r->n : 1, sizeof(*res->hits));
	if (res->hits == NULL)
		return refuse(res, REDACT_NOMEM, "out of memory");
	res->applied = true;
	for (i = 0; i < r->n; i++)
		if (host_matches(r, &r->rule[i], host) &&
		    apply_rule(r, i, in, res, &cur, &cur_len) != REDACT_OK)
			return res->refusal;
	return REDACT_OK;
}

/* A gzip body: decoded (bounded), redacted, encoded again if it changed. */
static enum redact_refusal
apply_gzip(const struct redact_rules *r, const struct redact_input *in,
    const uint8_t *body, size_t len, struct redact_result *res)
{
	enum redact_refusal why;
	uint8_t *plain, *z;
	size_t plain_len, z_len;

	why = redact_gunzip(body, len, in->max_decoded, &plain, &plain_len);
	if (why != REDACT_OK)
		return refuse(res, why,
		    why == REDACT_TOO_LARGE
			? "gzip body over MAX_DECODED_RESPONSE_BODY_SIZE_MB "
			  "once decoded"
			: "gzip body does not decode");
	why = apply_rules(r, in, plain, plain_len, res);
	free(plain);
	if (why != REDACT_OK || !res->changed)
		return why;
	why = redact_gzip(res->out, res->out_len, in->max_out, &z, &z_len);
	if (why != REDACT_OK)
		return refuse(res, why, "gzip: the redacted body does not fit");
	free(res->out);
	res->out = z;
	res->out_len = z_len;
	return REDACT_OK;
}

/* see redact.h */
bool
redact_rules_cover(const struct redact_rules *r, const char *host)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (host_matches(r, &r->rule[i], host))
			return true;
	return false;
}

/* see redact.h */
enum redact_refusal
redact_apply(const struct redact_rules *r, const struct redact_input *in,
    const uint8_t *body, size_t len, struct redact_result *res)
{
	const char *ce = in->content_encoding;

	memset(res, 0, sizeof(*res));
	if (!redact_rules_cover(r, in->host ? in->host : ""))
		return REDACT_OK;
	if (check_input(in, res) != REDACT_OK)
		return res->refusal;
	if (!is_text(in->content_type))
		return REDACT_OK; /* binary, REDACTION_BINARY=pass */
	if (ce != NULL && strcasecmp(ce, "gzip") == 0)
		return apply_gzip(r, in, body, len, res);
	return apply_rules(r, in, body, len, res);
}

/* see redact.h */
void
redact_result_free(struct redact_result *res)
{
	free(res->out);
	free(res->hits);
	res->out = NULL;
	res->hits = NULL;
}
