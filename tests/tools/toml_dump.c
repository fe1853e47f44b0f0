/*
 * toml_dump FILE — parse FILE with lib/toml and print the tree as JSON in
 * the tagged form of the toml-test suite ({"type":"integer","value":"1"}),
 * or the error on stderr with exit 1.  tests/integration/test_toml.py
 * compares it with Python's tomllib.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "lib/toml.h"

static void
put_str(const char *s, size_t n)
{
	size_t cap = n * 6 + 3;
	char *mem = malloc(cap);
	struct buf b;

	if (mem == NULL)
		exit(2);
	buf_init(&b, mem, cap);
	json_str(&b, s, n);
	fwrite(b.p, 1, b.len, stdout);
	free(mem);
}

static void
dump(const struct toml *t)
{
	const struct toml *k;

	switch (t->type) {
	case TOML_TABLE:
	case TOML_ARRAY:
		putchar(t->type == TOML_TABLE ? '{' : '[');
		for (k = t->kids; k != NULL; k = k->next) {
			if (t->type == TOML_TABLE) {
				put_str(k->key, k->key_len);
				putchar(':');
			}
			dump(k);
			if (k->next != NULL)
				putchar(',');
		}
		putchar(t->type == TOML_TABLE ? '}' : ']');
		break;
	case TOML_STRING:
		printf("{\"type\":\"string\",\"value\":");
		put_str(t->s, t->len);
		putchar('}');
		break;
	case TOML_INT:
		printf("{\"type\":\"integer\",\"value\":\"%lld\"}",
		    (long long)t->i);
		break;
	case TOML_BOOL:
		printf("{\"type\":\"bool\",\"value\":\"%s\"}",
		    t->b ? "true" : "false");
		break;
	}
}

int
main(int argc, char **argv)
{
	static char text[TOML_MAX_DOC + 1];
	char err[TOML_ERR_LEN];
	struct toml *t;
	FILE *f;
	size_t n;

	if (argc != 2 || (f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: toml_dump FILE\n");
		return 2;
	}
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	t = toml_parse(text, n, argv[1], err, sizeof(err));
	if (t == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	dump(t);
	putchar('\n');
	toml_free(t);
	return 0;
}
