/*
 * unit.h — what every unit program shares (include it after <cmocka.h>):
 * `build/host/test_X [PATTERN]` runs only the tests whose names match
 * PATTERN (cmocka's test filter, '*' and '?' wildcards), e.g.
 * `build/host/test_dns 'dns_ref*'`; with no argument, every test.
 */
#ifndef TESTS_UNIT_UNIT_H
#define TESTS_UNIT_UNIT_H

#include <stdio.h>

/*
 * Apply the command line's filter.  0, or -1 after a usage line on stderr
 * for more than one argument (main then returns 2).
 */
static inline int
unit_filter(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: %s [test-name-pattern]\n", argv[0]);
		return -1;
	}
	if (argc == 2)
		cmocka_set_test_filter(argv[1]);
	return 0;
}

#endif
