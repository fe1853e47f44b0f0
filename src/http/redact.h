/*
 * redact.h — redaction rules (the anchor's TOML rules files) and their
 * application to HTTP bodies.
 *
 * A rules file (lib/toml) holds `version = 1` (or "1"), an optional
 * `default_replacement` ("[REDACTED]") and `[[rules]]` tables with `name`,
 * `type` ("regex": the whole body text; "regex-structured-data": each JSON
 * string value), `pattern`, optional `replacement` ($1.. groups), `hosts`
 * (patterns matched against the whole request host, case-insensitive),
 * `redact_fields` / `skip_fields` ('|'-joined JSON paths, '*' any key or
 * index; a path covers everything below it).  Patterns are PCRE2 with
 * match and depth limits; what RE2 would refuse for back-references or
 * look-around is refused.  Any error makes the whole file invalid; every
 * error is listed.
 *
 * struct redact_rules is a heap object, immutable once loaded, freed with
 * redact_rules_free().  Not thread-safe (one reactor thread).  No message
 * ever holds a matched value or a body byte.
 */
#ifndef HTTP_REDACT_H
#define HTTP_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define REDACT_ERRORS_MAX 32
#define REDACT_ERROR_LEN 512
#define REDACT_FILE_MAX (4u * 1024 * 1024)
#define REDACT_MATCH_MAX 1000000u
#define REDACT_DEPTH_MAX 10000u
#define REDACT_JSON_DEPTH 64

struct redact_errors {
	unsigned n_errors; /* errors seen, including dropped ones */
	unsigned n; /* stored in msg[] */
	char msg[REDACT_ERRORS_MAX][REDACT_ERROR_LEN];
};

struct redact_rules;

/*
 * Parse and compile a rules document; name is used in messages
 * ("rules.toml:7:1: rules[2] (\"email\"): unknown key 'patern'").
 * Returns the rules, or NULL with every error in errs (initialised here).
 */
struct redact_rules *redact_rules_parse(
    const char *text, size_t len, const char *name, struct redact_errors *errs);

/*
 * Read path (at most REDACT_FILE_MAX bytes) and parse it.  sha256 (may be
 * NULL) receives the digest of the content, also when the rules are
 * invalid (not when the file could not be read).
 */
struct redact_rules *redact_rules_load(
    const char *path, uint8_t sha256[32], struct redact_errors *errs);

/* The digest of path's content; -errno when it cannot be read. */
int redact_file_sha256(const char *path, uint8_t sha256[32]);

void redact_rules_free(struct redact_rules *r);

/* Number of rules, and the name of rule i (0-based, file order). */
size_t redact_rules_count(const struct redact_rules *r);
const char *redact_rule_name(const struct redact_rules *r, size_t i);

/* Print every message of errs to fd, one line each. */
void redact_errors_print(const struct redact_errors *errs, int fd);

/* What a body is. */
struct redact_input {
	const char *host; /* request host, no port; NULL: "" */
	const char *content_type; /* NULL: none (treated as text) */
	const char *content_encoding; /* NULL or "identity": none; "gzip" */
	int status; /* response status; 0 for a request body */
	bool binary_pass; /* REDACTION_BINARY=pass */
	size_t max_out; /* largest redacted body */
	size_t max_decoded; /* largest gzip body once decoded */
};

/* Why a body was refused (the metrics label and ErrorResponse detail). */
enum redact_refusal {
	REDACT_OK = 0,
	REDACT_ENCODING, /* Content-Encoding other than identity or gzip */
	REDACT_PARTIAL, /* 206 */
	REDACT_BINARY, /* binary content type and a rule for this host */
	REDACT_MALFORMED_JSON, /* structured rule on JSON that does not parse */
	REDACT_MATCH_LIMIT, /* PCRE2 match or depth limit hit */
	REDACT_TOO_LARGE, /* redacted body over max_out, decoded over max_decoded */
	REDACT_NOMEM,
	REDACT_RULES, /* the live rules are invalid (redact_live_set NULL) */
	REDACT_BAD_GZIP, /* Content-Encoding gzip that does not decode */
	REDACT__COUNT
};

/* "content_encoding", "partial_content", ... (metric label values). */
const char *redact_refusal_name(enum redact_refusal why);

struct redact_result {
	enum redact_refusal refusal;
	char detail[128]; /* why, when refused (no body bytes) */
	bool applied; /* at least one rule targeted this body */
	bool changed; /* at least one substitution: out/out_len hold it */
	uint8_t *out; /* heap (free()), when changed */
	size_t out_len;
	uint64_t *hits; /* heap, one per rule (free()), when applied */
};

/*
 * Apply the rules for in->host to body[0..len), in file order.  Returns
 * REDACT_OK (res->changed says whether res->out replaces the body) or the
 * refusal (res->detail says why; the body must not be passed on).  Always
 * call redact_result_free() afterwards.
 */
enum redact_refusal redact_apply(const struct redact_rules *r,
    const struct redact_input *in, const uint8_t *body, size_t len,
    struct redact_result *res);

/* True when a rule targets host (the request host without port). */
bool redact_rules_cover(const struct redact_rules *r, const char *host);

void redact_result_free(struct redact_result *res);

/*
 * The live rules: what the executor applies to the bodies it carries (see
 * connector/exec.h).  One per worker, made at start and owned by it; the
 * executor borrows it.  redact_live_set() swaps the rules in one store
 * between two bodies (a single reactor thread), so a body is redacted by
 * one rules file, never by a mix; NULL rules (an invalid reload, while the
 * worker stops) refuse every body.  Messages and details never hold a
 * body byte.
 */
struct redact_live_conf {
	bool binary_pass; /* REDACTION_BINARY=pass */
	bool requests; /* REDACT_REQUESTS: request bodies too */
	size_t max_out; /* largest redacted body */
	size_t max_decoded; /* MAX_DECODED_RESPONSE_BODY_SIZE_MB */
};

struct redact_live;

/* NULL when out of memory.  rules: owned from now on (may be NULL). */
struct redact_live *redact_live_new(
    const struct redact_live_conf *c, struct redact_rules *rules);
void redact_live_free(struct redact_live *l);

/* Swap in rules (owned from now on; NULL: refuse everything). */
void redact_live_set(struct redact_live *l, struct redact_rules *rules);

/*
 * Add the redaction metrics to reg (lib/metrics.h; l must outlive it):
 * outpost_redaction_hits_total{rule}, outpost_redaction_refusals_total
 * {reason}, outpost_redaction_seconds (histogram of the time spent per
 * body the rules applied to), outpost_redaction_rules_loaded and
 * outpost_redaction_last_reload_timestamp_seconds.  Rule labels are kept
 * across reloads (at most REDACT_METRIC_RULES names, then rule="_other").
 * Never a matched value.
 */
#define REDACT_METRIC_RULES 64
struct metrics;
void redact_live_metrics_add(struct redact_live *l, struct metrics *reg);

/* True when a body for host would pass through the rules (a rule targets
 * it, or the rules are invalid): such a response cannot be streamed. */
bool redact_live_covers(const struct redact_live *l, const char *host);

/* Whether request bodies are redacted too (REDACT_REQUESTS). */
bool redact_live_requests(const struct redact_live *l);

/*
 * Redact one body: a response (status > 0) given its header fields, or a
 * request body (status 0) given its Content-Type and Content-Encoding.
 * host is the request host without port.  An empty body is never
 * refused.  Returns REDACT_OK (res->changed: res->out replaces the body)
 * or the refusal, with res->detail saying why.  Call redact_result_free().
 */
enum redact_refusal redact_live_response(struct redact_live *l,
    const char *host, int status, const struct http_header *fields,
    size_t nfields, const uint8_t *body, size_t len, struct redact_result *res);
enum redact_refusal redact_live_request(struct redact_live *l, const char *host,
    const char *content_type, const char *content_encoding, const uint8_t *body,
    size_t len, struct redact_result *res);

#endif
