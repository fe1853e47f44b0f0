/*
 * Fuzz target: the NO_PROXY parser and matcher (net/noproxy.h).  Input:
 * the list, then optionally a NUL byte and a host to check.  Invariants:
 * a parse succeeds (with a matcher) or fails with -EINVAL and a message
 * that begins "entry " or "more than" (or -ENOMEM), never both; matching
 * never reads out of bounds; localhost and loopback addresses always go
 * direct; after a successful parse of a list holding a "*" entry every
 * host goes direct.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/noproxy.h"

#define INPUT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A "*" entry: a comma-separated piece that is only "*" and blanks. */
static bool
has_star(const char *list)
{
	const char *s = list;

	while (*s != '\0') {
		size_t len = strcspn(s, ","), lead = strspn(s, " \t");
		size_t n = lead < len ? len - lead : 0;

		while (n > 0 &&
		    (s[lead + n - 1] == ' ' || s[lead + n - 1] == '\t'))
			n--;
		if (n == 1 && s[lead] == '*')
			return true;
		s += len + (s[len] == ',');
	}
	return false;
}

static void
check(const struct noproxy *np, const char *list, const char *host)
{
	static const uint16_t ports[] = {1, 80, 443, 3128, 65535};
	static const char *const loop[] = {
	    "localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]"};
	size_t i;

	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		bool direct = noproxy_bypass(np, host, ports[i]);

		if (!direct && has_star(list))
			abort();
		if (!noproxy_bypass(np, loop[i], ports[i]))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[INPUT_MAX + 2];
	char err[NOPROXY_ERR_MAX];
	struct noproxy *np = NULL;
	const char *host;
	int r;

	if (size > INPUT_MAX)
		return 0;
	memcpy(in, data, size);
	in[size] = in[size + 1] = '\0';
	/* The list ends at the first NUL; the host follows it. */
	host = in + strlen(in) + 1;
	if (host > in + size)
		host = "api.corp.example";
	err[0] = '\0';
	r = noproxy_parse(&np, in, err, sizeof(err));
	if (r == 0) {
		if (np == NULL)
			abort();
		check(np, in, host);
		noproxy_free(np);
		return 0;
	}
	if (np != NULL || (r != -EINVAL && r != -ENOMEM) ||
	    (r == -EINVAL && strncmp(err, "entry ", 6) != 0 &&
		strncmp(err, "more than", 9) != 0))
		abort();
	return 0;
}
