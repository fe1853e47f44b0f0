/*
 * redact_live.c — the rules in force for the executor (see redact.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/redact.h"

struct redact_live {
	struct redact_live_conf c;
	struct redact_rules *rules; /* NULL: refuse everything */
};

/* see redact.h */
struct redact_live *
redact_live_new(const struct redact_live_conf *c, struct redact_rules *rules)
{
	struct redact_live *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		redact_rules_free(rules);
		return NULL;
	}
	l->c = *c;
	l->rules = rules;
	return l;
}

/* see redact.h */
void
redact_live_free(struct redact_live *l)
{
	if (l == NULL)
		return;
	redact_rules_free(l->rules);
	free(l);
}

/* see redact.h */
void
redact_live_set(struct redact_live *l, struct redact_rules *rules)
{
	redact_rules_free(l->rules);
	l->rules = rules;
}

/* see redact.h */
bool
redact_live_requests(const struct redact_live *l)
{
	return l->c.requests;
}

/*
 * The first field called name, NUL-terminated in buf (truncated to fit);
 * returns how many fields have that name.
 */
static size_t
field_value(const struct http_header *f, size_t n, const char *name, char *buf,
    size_t size)
{
	size_t i, found = 0, len = strlen(name), k;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (f[i].name_len != len ||
		    strncasecmp(f[i].name, name, len) != 0)
			continue;
		if (found++ == 0) {
			k = f[i].value_len < size - 1 ? f[i].value_len
						      : size - 1;
			memcpy(buf, f[i].value, k);
			buf[k] = '\0';
		}
	}
	return found;
}

static enum redact_refusal
refuse(struct redact_result *res, enum redact_refusal why, const char *detail)
{
	memset(res, 0, sizeof(*res));
	res->refusal = why;
	snprintf(res->detail, sizeof(res->detail), "%s", detail);
	return why;
}

static enum redact_refusal
apply(struct redact_live *l, struct redact_input *in, const uint8_t *body,
    size_t len, struct redact_result *res)
{
	memset(res, 0, sizeof(*res));
	if (len == 0)
		return REDACT_OK; /* nothing to redact, nothing to leak */
	if (l->rules == NULL)
		return refuse(res, REDACT_RULES,
		    "the rules file changed and is invalid; stopping");
	in->binary_pass = l->c.binary_pass;
	in->max_out = l->c.max_out;
	return redact_apply(l->rules, in, body, len, res);
}

/* see redact.h */
enum redact_refusal
redact_live_response(struct redact_live *l, const char *host, int status,
    const struct http_header *fields, size_t nfields, const uint8_t *body,
    size_t len, struct redact_result *res)
{
	char ct[128], ce[64];
	struct redact_input in = {.host = host, .status = status};

	if (field_value(fields, nfields, "content-type", ct, sizeof(ct)) > 1 &&
	    len > 0)
		return refuse(
		    res, REDACT_BINARY, "several Content-Type fields");
	if (field_value(fields, nfields, "content-encoding", ce, sizeof(ce)) >
		1 &&
	    len > 0)
		return refuse(
		    res, REDACT_ENCODING, "several Content-Encoding fields");
	in.content_type = ct[0] ? ct : NULL;
	in.content_encoding = ce;
	return apply(l, &in, body, len, res);
}

/* see redact.h */
enum redact_refusal
redact_live_request(struct redact_live *l, const char *host,
    const char *content_type, const char *content_encoding, const uint8_t *body,
    size_t len, struct redact_result *res)
{
	struct redact_input in = {.host = host,
	    .content_type = content_type,
	    .content_encoding = content_encoding};

	return apply(l, &in, body, len, res);
}
