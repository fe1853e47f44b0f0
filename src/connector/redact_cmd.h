/*
 * redact_cmd.h — `outpost redact`: the dry run of the redaction rules, the
 * same code (http/redact.h) as the live path.
 */
#ifndef CONNECTOR_REDACT_CMD_H
#define CONNECTOR_REDACT_CMD_H

/*
 * outpost redact --rules FILE [--check] [--url URL] [--content-type T]
 *     [--content-encoding E] [--status N] [--binary-pass] [FILE|-]
 * Prints the redacted body on stdout and per-rule hit counts on stderr.
 * Returns 0, 1 when the body is refused (redaction_failed), 100 when the
 * rules are invalid or the usage is wrong.
 */
int redact_main(int argc, char **argv);

#endif
