/*
 * cfg_int.h — module-private declarations of src/cfg/: the settings table
 * as data, the sans-I/O KEY=VALUE parser, and value conversion.
 * Unit tests and the fuzz target include it too.
 */
#ifndef CFG_CFG_INT_H
#define CFG_CFG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"

enum cfg_type {
	CFG_T_STR,
	CFG_T_URL,
	CFG_T_INT,
	CFG_T_PORT,
	CFG_T_SIZE,
	CFG_T_DUR,
	CFG_T_BOOL,
	CFG_T_LEVEL,
	CFG_T_PATH,
	CFG_T_B64,
	CFG_T_FRAC,
	CFG_T_PROXY, /* keep last: CFG_T_COUNT counts from it */
};
#define CFG_T_COUNT (CFG_T_PROXY + 1)

#define CFG_F_SECRET 0x1u
#define CFG_F_SECRET_FILE 0x2u
#define CFG_F_ENV_ONLY 0x4u

struct cfg_def {
	const char *name;
	enum cfg_type type;
	const char *def; /* NULL: unset by default */
	int64_t min, max; /* 0, 0: unbounded */
	unsigned flags;
	const char *alias;
	const char *doc;
};

/* Where a value came from, lowest precedence first. */
enum cfg_src {
	CFG_SRC_DEFAULT,
	CFG_SRC_FILE, /* OUTPOST_CONFIG */
	CFG_SRC_ENVFILE, /* ENV_FILE */
	CFG_SRC_ENV,
};

struct cfg_slot {
	char *str; /* heap copy of the value; NULL when unset */
	int64_t num; /* see cfg_int() */
	bool set; /* by a source, not the default */
	bool via_alias;
	enum cfg_src src;
	unsigned line; /* for file sources */
};

struct cfg {
	struct cfg_slot slot[CFG__COUNT];
	char *path[2]; /* the config file and ENV_FILE, for messages */
	struct netpolicy *session_allow, *egress_allow; /* see cfg_policy() */
};

/* "path:line", "environment" or "default", for messages. */
void cfg_source_fmt(const struct cfg *c, enum cfg_key k, char *out, size_t cap);

/* Append a message (dropped, but counted, when the list is full). */
void cfg_err(struct cfg_errors *e, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Cross-field checks after every source is in. */
void cfg_check_all(const struct cfg *c, struct cfg_errors *errs);

/*
 * Part of cfg_check_all(): every value `run` parses at start (proxy, DNS and
 * NTP servers, the controller's TLS client configuration), parsed by the
 * same functions run uses (cfg_start.c).
 */
void cfg_check_start(const struct cfg *c, struct cfg_errors *errs);

/*
 * Parse the target policies (SESSION_ALLOW, EGRESS_ALLOW) into c with net/netpolicy.h,
 * reporting a bad entry; run after cfg_check_all() on the same path, so
 * check-config and run refuse the same lists (cfg_start.c).
 */
void cfg_start_policies(struct cfg *c, struct cfg_errors *errs);

/*
 * REDACTION_RULES_FILE (cfg_redact.c): the rules are loaded with
 * http/redact.h and every error of the file is reported; REDACTION_BINARY
 * is refuse or pass.
 */
void cfg_check_redaction(const struct cfg *c, struct cfg_errors *errs);

/* cfg_otel.c: the OTEL_* settings' rules (protocol, sampler, key=value
 * lists, client certificate + key, batch within queue). */
void cfg_check_otel(const struct cfg *c, struct cfg_errors *errs);

/* 0 when s is a valid OTEL key=value list (W3C Baggage syntax), else the
 * 1-based position of the first bad entry; header: values must also stay
 * one line once decoded (OTEL_EXPORTER_OTLP_HEADERS). */
int cfg_otel_kv_check(const char *s, bool header);

/* The table, indexed by enum cfg_key. */
extern const struct cfg_def cfg_defs[CFG__COUNT];

/* Name of a type for messages and --markdown ("duration"). */
const char *cfg_type_name(enum cfg_type t);

/* Key of name (or alias; *via_alias says which), or -1. */
int cfg_lookup(const char *name, bool *via_alias);

/* The closest known key within a small edit distance, or NULL. */
const char *cfg_suggest(const char *name);

/* Levenshtein distance, capped at 255 for long strings. */
unsigned cfg_distance(const char *a, const char *b);

/* The X_FILE twin of an X_BASE64 key and vice versa, or -1. */
int cfg_pair(enum cfg_key k);

/*
 * Convert a non-empty value of type t into *num (see cfg_int() for units)
 * and check the bounds of d.  On failure writes a reason to why (which
 * never contains the value when d is secret) and returns false.
 */
bool cfg_value_parse(const struct cfg_def *d, const char *v, int64_t *num,
    char *why, size_t whylen);

/*
 * The bytes of a B64 value into heap memory the caller wipes and frees:
 * base64 decoded, or, when the value is PEM text ("-----BEGIN " after
 * leading white space), the text as it is.  0, -ENOMEM, -EINVAL (not
 * base64) or -ENODATA (decodes to nothing).
 */
int cfg_b64_bytes(const char *v, uint8_t **out, size_t *len);

/*
 * A secret file's whole contents (at most CFG_SECRET_MAX bytes) into heap
 * memory the caller wipes and frees; a short read is -EIO.  0 or -errno.
 */
int cfg_secret_read(const char *path, uint8_t **out, size_t *len);

/* A bound of d in table units as a user writes it ("100ms", "64"). */
void cfg_bound_fmt(const struct cfg_def *d, char *out, size_t cap, int64_t v);

/*
 * The KEY=VALUE parser, sans-I/O and incremental: feed any split of the
 * input, then finish.  One callback per assignment or per error, in line
 * order.  Syntax: blank lines and '#' comments; optional "export ";
 * KEY = VALUE with VALUE unquoted (trailing spaces and a " #" comment
 * dropped), 'single-quoted' (literal) or "double-quoted" (escapes \\ \"
 * \n \t \r \$ \`).  Bounded by CFG_LINE_MAX bytes per line and
 * CFG_LINES_MAX lines; NUL bytes are errors.
 */
#define CFG_LINE_MAX 32768
#define CFG_LINES_MAX 2000

struct cfg_entry {
	unsigned line; /* 1-based */
	const char *key; /* NULL when the error has no key */
	const char *value; /* NULL on error */
	const char *error; /* NULL for an assignment */
};

typedef void cfg_entry_fn(void *arg, const struct cfg_entry *e);

struct cfg_parser {
	cfg_entry_fn *fn;
	void *arg;
	unsigned lineno;
	size_t len;
	bool overlong; /* discarding the rest of an over-long line */
	bool has_nul;
	bool stopped; /* CFG_LINES_MAX exceeded: ignore the rest */
	char line[CFG_LINE_MAX + 1];
};

/* No allocation.  The parser may hold secrets: cfg_parser_wipe() it. */
void cfg_parser_init(struct cfg_parser *p, cfg_entry_fn *fn, void *arg);
void cfg_parser_feed(struct cfg_parser *p, const void *data, size_t n);
void cfg_parser_finish(struct cfg_parser *p);
void cfg_parser_wipe(struct cfg_parser *p);

/* Parse one line in place (no newline).  Exposed for tests. */
void cfg_line_parse(char *s, unsigned lineno, cfg_entry_fn *fn, void *arg);

#endif
