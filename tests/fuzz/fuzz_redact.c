/*
 * Fuzz target: http/redact applied to arbitrary bodies as JSON, as text
 * and as gzip-encoded text, under a fixed rule set.  Every outcome is either a refusal with a
 * reason or a body; a refusal never leaves output behind, and the hit
 * counts only grow when the body changed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_text[] =
    "version = 1\n"
    "[[rules]]\nname = \"tok\"\ntype = \"regex-structured-data\"\n"
    "pattern = '(?i)bearer\\s+[a-z0-9._-]+'\n"
    "redact_fields = [\"a|*|b\", \"c\"]\nskip_fields = [\"c|d\"]\n"
    "[[rules]]\nname = \"all\"\ntype = \"regex-structured-data\"\n"
    "pattern = '([0-9])([0-9]+)'\nreplacement = \"$2-$1\"\n"
    "[[rules]]\nname = \"mail\"\ntype = \"regex\"\npattern = '\\w+@\\w+'\n";

static void
one(const struct redact_rules *r, const char *ct, const char *ce,
    const uint8_t *d, size_t n)
{
	struct redact_input in = {.content_type = ct,
	    .content_encoding = ce,
	    .max_out = 1 << 20,
	    .max_decoded = 1 << 20};
	struct redact_result res;

	if (redact_apply(r, &in, d, n, &res) != REDACT_OK) {
		if (res.changed || res.out != NULL || res.detail[0] == '\0')
			abort();
	} else if (res.changed != (res.out != NULL) || !res.applied) {
		abort();
	}
	redact_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct redact_rules *r;
	struct redact_errors errs;

	if (r == NULL)
		r = redact_rules_parse(
		    rules_text, sizeof(rules_text) - 1, "fuzz", &errs);
	if (r == NULL)
		abort();
	one(r, "application/json", NULL, data, size);
	one(r, "text/plain", NULL, data, size);
	one(r, "text/plain", "gzip", data, size);
	return 0;
}
