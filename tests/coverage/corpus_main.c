/*
 * corpus_main.c — `make coverage`: runs a fuzz target's
 * LLVMFuzzerTestOneInput() once over every file named on the command line
 * or found in a directory named there (three levels deep: the toml corpus
 * has subdirectories, as libFuzzer reads them), without libFuzzer (the
 * coverage build has no sanitizer-coverage instrumentation for it to use).
 * Exit 0, or 1 when a file cannot be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util.h"

/* A corpus file larger than this is not an input of ours. */
#define CORPUS_FILE_MAX (4u << 20)
#define CORPUS_DEPTH 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	size_t len;
	char *p;

	if (util_read_file(path, CORPUS_FILE_MAX, &p, &len) < 0) {
		fprintf(stderr, "corpus: cannot read %s\n", path);
		return 1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)p, len);
	free(p);
	return 0;
}

static int
run_dir(const char *dir, int depth)
{
	char path[4096];
	struct dirent *e;
	DIR *d = depth > 0 ? opendir(dir) : NULL;
	int rc = 0;

	if (d == NULL)
		return run_file(dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc |= run_dir(path, depth - 1);
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++)
		rc |= run_dir(argv[i], CORPUS_DEPTH);
	return rc;
}
