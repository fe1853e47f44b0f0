/*
 * cfg_redact.c — validating REDACTION_RULES_FILE (see cfg_int.h).
 */
#include <string.h>

#include "cfg/cfg_int.h"
#include "http/redact.h"

/* REDACTION_BINARY: refuse or pass, nothing else. */
static void
check_binary(const struct cfg *c, struct cfg_errors *errs)
{
	const char *v = cfg_str(c, CFG_REDACTION_BINARY);
	char w[300];

	if (strcmp(v, "refuse") == 0 || strcmp(v, "pass") == 0)
		return;
	cfg_source_fmt(c, CFG_REDACTION_BINARY, w, sizeof(w));
	cfg_err(errs, false,
	    "%s: REDACTION_BINARY: expected refuse or pass, got \"%.40s\"", w,
	    v);
}

/* see cfg_int.h */
void
cfg_check_redaction(const struct cfg *c, struct cfg_errors *errs)
{
	const char *path = cfg_str(c, CFG_REDACTION_RULES_FILE);
	struct redact_errors rerrs;
	struct redact_rules *r;
	char w[300];
	unsigned i;

	check_binary(c, errs);
	if (path == NULL)
		return;
	cfg_source_fmt(c, CFG_REDACTION_RULES_FILE, w, sizeof(w));
	r = redact_rules_load(path, NULL, &rerrs);
	for (i = 0; r == NULL && i < rerrs.n; i++)
		cfg_err(errs, false, "%s: REDACTION_RULES_FILE: %s", w,
		    rerrs.msg[i]);
	if (r == NULL && rerrs.n_errors > rerrs.n)
		cfg_err(errs, false, "%s: REDACTION_RULES_FILE: %u more errors",
		    w, rerrs.n_errors - rerrs.n);
	redact_rules_free(r);
}
