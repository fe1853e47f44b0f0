/*
 * cfg_redact.c — validating REDACTION_RULES_FILE (see cfg_int.h).
 */
#include "cfg/cfg_int.h"
#include "http/redact.h"

/* see cfg_int.h */
void
cfg_check_redaction(const struct cfg *c, struct cfg_errors *errs)
{
	const char *path = cfg_str(c, CFG_REDACTION_RULES_FILE);
	struct redact_errors rerrs;
	struct redact_rules *r;
	char w[300];
	unsigned i;

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
	if (r != NULL && redact_rules_count(r) > 0)
		cfg_err(errs, false,
		    "%s: REDACTION_RULES_FILE: %zu valid rules, but the "
		    "executor does not apply redaction yet; refusing to run "
		    "without it (outpost redact applies them)",
		    w, redact_rules_count(r));
	redact_rules_free(r);
}
