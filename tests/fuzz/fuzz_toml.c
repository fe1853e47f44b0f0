/*
 * Fuzz target: lib/toml.  Any input is either refused with a message
 * naming the file, or parsed into a tree whose strings and keys are
 * NUL-terminated at their length and whose counts match their lists.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct toml *t)
{
	const struct toml *k;
	size_t n = 0;

	if (t->key != NULL && t->key[t->key_len] != '\0')
		abort();
	if (t->type == TOML_STRING && (t->s == NULL || t->s[t->len] != '\0'))
		abort();
	for (k = t->kids; k != NULL; k = k->next) {
		if ((t->type == TOML_TABLE) != (k->key != NULL))
			abort();
		walk(k);
		n++;
	}
	if (n != t->n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[TOML_ERR_LEN];
	struct toml *t =
	    toml_parse((const char *)data, size, "f", err, sizeof(err));

	if (t == NULL) {
		if (strncmp(err, "f:", 2) != 0)
			abort();
		return 0;
	}
	walk(t);
	toml_free(t);
	return 0;
}
