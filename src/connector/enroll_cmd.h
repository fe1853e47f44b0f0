/*
 * enroll_cmd.h — `outpost enroll`: the identity choice of `outpost run`
 * (identity_ctl.h) done once: a valid identity in DATA_DIR or TLS_CERT_*
 * is kept (exit 0); else ENROLLMENT_TOKEN enrols, or PAIRING pairs (the
 * code is printed on stderr), and the identity is stored in DATA_DIR.
 *
 * Exit codes: 0 stored (or nothing to do); 100 permanent (bad settings,
 * invalid_token, bad_csr, a TLS verification failure such as unknown_ca,
 * nothing to enrol with); 111 temporary (the edge unreachable, a
 * timeout).  The reason is logged on stderr.
 */
#ifndef CONNECTOR_ENROLL_CMD_H
#define CONNECTOR_ENROLL_CMD_H

int enroll_main(int argc, char **argv, char *const *envp);

#endif
