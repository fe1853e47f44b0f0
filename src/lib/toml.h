/*
 * toml.h — a strict reader for the subset of TOML 1.0 that redaction rules
 * files use: key/value pairs, [tables] and [[arrays of tables]] (dotted
 * header names included), basic, literal and multi-line strings,
 * integers (decimal, 0x, 0o, 0b, '_' separators, 64-bit), booleans,
 * arrays (nested, mixed, multi-line, trailing comma) and comments.
 *
 * Everything else — floats, dates and times, inline tables, dotted keys
 * on the left of '=', integers outside int64 — is refused with an error
 * naming the file, line, column and what was expected.  What is accepted
 * means exactly what Python's tomllib makes of it (tests/integration/
 * test_toml.py compares the two on every file of tests/vectors/toml/).
 *
 * Bounds: a document of at most TOML_MAX_DOC bytes, arrays nested at most
 * TOML_MAX_DEPTH deep, header names of at most TOML_MAX_DEPTH parts.
 *
 * The tree is heap memory owned by the caller (toml_free()).  Pure code:
 * no I/O, no globals, safe to call from anywhere.
 */
#ifndef LIB_TOML_H
#define LIB_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOML_MAX_DOC (4u * 1024 * 1024)
#define TOML_MAX_DEPTH 32
#define TOML_ERR_LEN 256

enum toml_type { TOML_TABLE, TOML_ARRAY, TOML_STRING, TOML_INT, TOML_BOOL };

struct toml {
	enum toml_type type;
	unsigned line, col; /* where the value (or table header) starts */
	char *key; /* member of a table: its key (NUL-terminated); else NULL */
	size_t key_len;
	struct toml *next; /* next member / element of the parent */
	struct toml *kids, *last; /* TOML_TABLE members, TOML_ARRAY elements */
	size_t n; /* number of kids */
	char *s; /* TOML_STRING: the value, NUL-terminated (may hold NULs) */
	size_t len;
	int64_t i; /* TOML_INT */
	bool b; /* TOML_BOOL */
	unsigned flags; /* private to toml.c */
};

/*
 * Parse text[0..len) (need not be NUL-terminated).  name is used in error
 * messages ("rules.toml:3:7: expected '=' after a key").  Returns the root
 * table, or NULL with the first error in err (ENOMEM included).
 */
struct toml *toml_parse(
    const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Free a tree from toml_parse().  NULL is allowed. */
void toml_free(struct toml *t);

/* The member of table t named key, or NULL (also when t is not a table). */
const struct toml *toml_get(const struct toml *t, const char *key);

/* "table", "array", "string", "integer", "boolean". */
const char *toml_type_name(enum toml_type type);

#endif
