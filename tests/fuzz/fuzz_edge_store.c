/*
 * libFuzzer target: the edge's line stores (edge_store.c with the token
 * and revocation line parsers of edge_token.c / edge_revoke.c).  The
 * input becomes both files of a scratch EDGE_DATA_DIR, which is then
 * loaded; anything may be refused, nothing may crash or leak, and what
 * loads stays within the stores' bounds.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edge/edge_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put(const char *dir, const char *file, const uint8_t *p, size_t n)
{
	char path[EDGE_ID_PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		abort();
	if (n > 0 && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64];
	struct edge_id *id = calloc(1, sizeof(*id));
	char err[256];

	if (id == NULL)
		return 0;
	if (dir[0] == '\0') {
		snprintf(
		    dir, sizeof(dir), "/tmp/fuzz-edge-store-%d", (int)getpid());
		mkdir(dir, 0700);
	}
	snprintf(id->dir, sizeof(id->dir), "%s", dir);
	put(dir, "tokens", data, size);
	put(dir, "revoked", data, size);
	if (edge_tokens_load(id, err, sizeof(err)) == 0 &&
	    id->ntokens > EDGE_TOKENS_MAX)
		abort();
	if (edge_revoked_load(id, err, sizeof(err)) == 0 &&
	    id->nrevoked > EDGE_REVOKED_MAX)
		abort();
	edge_id_free(id);
	return 0;
}
