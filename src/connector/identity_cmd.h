/*
 * identity_cmd.h — `outpost identity`: the identity store by hand.
 *
 *   outpost identity show
 *       Load DATA_DIR's identity, check that its key matches its
 *       certificate, print {"generation":N,"source":...,"name":...,
 *       "not_after":T,"renew_at":T,"expired":B}.  Exit 0; 1 when there is
 *       no identity; 100 when it is unusable or DATA_DIR is not set.
 *   outpost identity import --cert FILE --key FILE [--ca FILE] [--name N]
 *       Store a certificate obtained by hand (outpost keygen / outpost csr
 *       and a CA's answer) as a new generation, atomically.  Exit 0; 100
 *       for bad input; 111 when it cannot be written (the old identity
 *       stays, e.g. on a full disk).
 */
#ifndef CONNECTOR_IDENTITY_CMD_H
#define CONNECTOR_IDENTITY_CMD_H

int identity_main(int argc, char **argv, char *const *envp);

#endif
