/*
 * identity_store.h — the connector's identity on disk, switched atomically.
 *
 * Layout under DATA_DIR (mode 0700 directories, 0600 files):
 *
 *   identity/current -> g<N>     symlink naming the live generation
 *   identity/g<N>/key.pem        private key (PKCS#8 PEM)
 *   identity/g<N>/chain.pem      certificate chain (PEM, leaf first)
 *   identity/g<N>/ca.pem         the issuing CA (PEM; may be empty)
 *   identity/g<N>/meta           "key=value" lines: source, name,
 *                                not_after, renew_at (Unix seconds)
 *
 * A save writes generation N+1 completely (every file and the directory
 * fsynced), then replaces `current` with one rename(2) of a fresh symlink
 * and fsyncs identity/.  Only then are other generations removed.  A crash
 * (kill -9, power loss) at any point therefore leaves `current` naming
 * either the old or the new generation, each complete; leftovers of an
 * interrupted save are removed by the next one.  A failed save (ENOSPC,
 * EIO, ...) removes what it wrote and leaves the old generation live.
 *
 * Everything here is blocking file I/O: call it at start, from a command,
 * or once per renewal (a few KiB and three fsyncs), never per request.
 * Errors are -errno with err filled with a message naming the file (never
 * its contents).  Not thread-safe; the caller owns all memory passed in
 * and out.
 */
#ifndef CONNECTOR_IDENTITY_STORE_H
#define CONNECTOR_IDENTITY_STORE_H

#include <stddef.h>
#include <stdint.h>

#define IDSTORE_FILE_MAX (256u << 10) /* largest file accepted on load */
#define IDSTORE_SOURCE_MAX 16
#define IDSTORE_NAME_MAX 128

/* The files of one generation; the PEM buffers are heap memory. */
struct idstore_files {
	char *key; /* secret: wiped by idstore_files_free() */
	size_t key_len;
	char *chain;
	size_t chain_len;
	char *ca;
	size_t ca_len;
	char source[IDSTORE_SOURCE_MAX]; /* enroll, pair, renew, import */
	char name[IDSTORE_NAME_MAX]; /* the connector name the edge gave */
	int64_t not_after; /* Unix seconds */
	int64_t renew_at; /* Unix seconds */
	unsigned generation; /* N of g<N>; set by load and save */
};

/*
 * Write f as a new generation under data_dir/identity and make it
 * current.  data_dir must exist.  0 (f->generation set), or -errno with
 * err filled; the previous generation is then still current.
 */
int idstore_save(
    const char *data_dir, struct idstore_files *f, char *err, size_t errlen);

/*
 * Read the current generation.  0; -ENOENT when there is none (no
 * identity/ or no `current`); another -errno (-EINVAL for a malformed
 * meta file, -EFBIG for a file over IDSTORE_FILE_MAX) with err filled.
 * On error *f holds nothing to free.
 */
int idstore_load(
    const char *data_dir, struct idstore_files *f, char *err, size_t errlen);

/*
 * Parse a meta file's text (n bytes) into f's source, name, not_after and
 * renew_at.  Unknown keys are ignored (newer versions may add some);
 * a missing or malformed known key is an error.  0 or -EINVAL with err.
 */
int idstore_meta_parse(
    struct idstore_files *f, const char *p, size_t n, char *err, size_t errlen);

/*
 * Read a whole file (at most IDSTORE_FILE_MAX bytes) into heap memory,
 * NUL-terminated (not counted in *len).  0 or -errno (-EFBIG when larger).
 */
int idstore_read(const char *path, char **out, size_t *len);

/* Wipe the key and free the buffers; f may be all zeros. */
void idstore_files_free(struct idstore_files *f);

#endif
