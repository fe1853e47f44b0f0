/*
 * testpki.h — the unit tests' PKI: tests/integration/pki.sh (or the script
 * named by $OUTPOST_PKI_SH) run once per test group into a fresh temporary
 * directory, and its files read back.  Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_TESTPKI_H
#define TESTS_UNIT_TESTPKI_H

#include <stddef.h>

/* The directory holding the PKI ("" before testpki_setup()). */
extern char testpki_dir[256];

/*
 * cmocka group setup and teardown: create the directory and run the
 * script (0, or -1 when either fails); remove the directory again.
 */
int testpki_setup(void **state);
int testpki_teardown(void **state);

/*
 * The file name of the PKI (at most 1 MiB) as heap memory, NUL-terminated
 * (not counted in *len); the caller frees it.  Fails the test when the
 * file cannot be read.
 */
char *testpki_load(const char *name, size_t *len);

#endif
