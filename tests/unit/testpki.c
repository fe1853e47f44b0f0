/* The unit tests' PKI; see testpki.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testpki.h"
#include "lib/util.h"

#define TESTPKI_FILE_MAX (1u << 20)

char testpki_dir[256];

/* see testpki.h */
int
testpki_setup(void **state)
{
	const char *sh = getenv("OUTPOST_PKI_SH");
	char cmd[768];

	snprintf(
	    testpki_dir, sizeof(testpki_dir), "/tmp/outpost-testpki-XXXXXX");
	if (mkdtemp(testpki_dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s %s test >/dev/null",
	    sh ? sh : "tests/integration/pki.sh", testpki_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* see testpki.h */
int
testpki_teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", testpki_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* see testpki.h */
char *
testpki_load(const char *name, size_t *len)
{
	char path[512], *p;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", testpki_dir, name);
	if ((rc = util_read_file(path, TESTPKI_FILE_MAX, &p, len)) < 0)
		fail_msg("cannot read %s: %s", path, strerror(-rc));
	return p;
}
