/*
 * update_int.h — the update module's private parts, for its unit tests and
 * fuzz target.
 */
#ifndef UPDATE_UPDATE_INT_H
#define UPDATE_UPDATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "update/update.h"

/* "OUTPUPD1", then a big-endian u32 manifest length (docs/updates.md). */
#define UPDATE_MAGIC "OUTPUPD1"
#define UPDATE_MAGIC_LEN 8

/*
 * Parse the manifest text s (n bytes, not NUL-terminated) into m.  Every
 * part must start at or after data_start (the end of the signature) and
 * end inside a file of file_size bytes, in order of offset, without
 * overlapping another; names unique.  0, or -1 with "manifest: ...".
 */
int update_manifest_parse(const char *s, size_t n, uint64_t data_start,
    uint64_t file_size, struct update_manifest *m, char *err, size_t errlen);

#endif
