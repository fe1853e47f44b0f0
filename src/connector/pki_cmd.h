/*
 * pki_cmd.h — `outpost keygen` and `outpost csr`: make a private key and a
 * certification request without any other tool (tls/pki.h does the work).
 *
 *   outpost keygen [--type p256|p384|rsa2048|rsa3072|rsa4096] [--out FILE]
 *                  [--force]
 *   outpost csr --key FILE (--spiffe-id URI | --uri URI)... [--cn NAME]
 *               [--dns NAME]... [--out FILE]
 *
 * keygen writes a PKCS#8 PEM key (default P-256); csr a PEM "CERTIFICATE
 * REQUEST".  Without --out the PEM goes to stdout; with it the file is
 * written atomically with mode 0600, and keygen refuses to replace an
 * existing file unless --force.  Exit 0; 100 on bad usage or bad input
 * (unknown type, unusable key, invalid name); 111 on I/O errors.
 */
#ifndef CONNECTOR_PKI_CMD_H
#define CONNECTOR_PKI_CMD_H

int keygen_main(int argc, char **argv);
int csr_main(int argc, char **argv);

#endif
