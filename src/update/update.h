/*
 * update.h — the signed update bundle (issue #21): read and verify its
 * manifest, decide whether it applies here, copy its parts out with their
 * hashes checked.  The format is in docs/updates.md.
 *
 * Everything here is blocking file I/O on a caller-owned fd (the setup
 * phase of a command, or init's writer child): nothing may call it from a
 * reactor callback.  No function keeps a pointer to its arguments; every
 * error is -1 with a reason in err (errlen bytes, truncated), never a
 * partial result the caller could mistake for a verified one.
 */
#ifndef UPDATE_UPDATE_H
#define UPDATE_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The arch a bundle must name to apply to this build. */
#if defined(__x86_64__)
#define UPDATE_ARCH "x86_64"
#elif defined(__aarch64__)
#define UPDATE_ARCH "aarch64"
#else
#error "update: unknown arch"
#endif

#define UPDATE_PARTS_MAX 8
#define UPDATE_MANIFEST_MAX 2048 /* bytes of manifest text */
#define UPDATE_SIG_MAX 1024 /* bytes of signature: RSA up to 8192 bits */

struct update_part {
	char name[16];
	uint64_t off, size;
	uint8_t sha256[32];
};

struct update_manifest {
	char version[32], arch[16], min_version[32];
	struct update_part part[UPDATE_PARTS_MAX];
	size_t nparts;
};

/*
 * Read and verify magic, manifest and signature from fd (a regular file,
 * read with pread from offset 0) against the RSA key of the first
 * CERTIFICATE in the PEM text cert_pem (cert_len bytes; the certificate
 * is the trust anchor itself: its validity dates and issuer are not
 * checked).  The manifest is parsed only once its signature verified;
 * every part must lie inside the file.  Fills m and returns 0, or -1 with
 * a reason in err: "truncated: ...", "not an update bundle",
 * "certificate: ...", "bad signature", "manifest: ...".
 */
int update_open(int fd, const char *cert_pem, size_t cert_len,
    struct update_manifest *m, char *err, size_t errlen);

/* Bytes of a bundle's framing at most: magic, both lengths, manifest and
 * signature (docs/updates.md). */
#define UPDATE_HEAD_MAX (8 + 4 + UPDATE_MANIFEST_MAX + 4 + UPDATE_SIG_MAX)

/* Where a bundle's manifest and signature lie (offsets from byte 0). */
struct update_layout {
	size_t man_off, man_len, sig_off, sig_len;
	uint64_t data_start; /* the first byte after the signature */
};

/*
 * The framing of a bundle from its first n bytes p (n may be more than
 * the head): magic, then the manifest's and the signature's lengths
 * within their limits and their bytes inside p.  Sans-I/O; nothing is
 * verified.  0, or -1 with "not an update bundle", "truncated: no
 * manifest length", "manifest: length N not in 1..2048", "truncated: in
 * the manifest" (the same for the signature).
 */
int update_layout(const uint8_t *p, size_t n, struct update_layout *h,
    char *err, size_t errlen);

/*
 * Parse the manifest text s (n bytes, not NUL-terminated) into m.  Every
 * part must start at or after data_start (the end of the signature) and
 * end inside a file of file_size bytes, in order of offset, without
 * overlapping another; names unique.  0, or -1 with "manifest: ...".
 * Unsigned text: for showing what a bundle says (the edge), never for
 * trusting it (update_open verifies first).
 */
int update_manifest_parse(const char *s, size_t n, uint64_t data_start,
    uint64_t file_size, struct update_manifest *m, char *err, size_t errlen);

/*
 * Policy: m->arch must equal arch; m->version must be newer than running
 * unless allow_downgrade; running must be at least m->min_version.
 * 0, or -1 with the reason ("for arch aarch64, this is x86_64",
 * "version 0.1.0 is not newer than 0.2.0 (UPDATE_ALLOW_DOWNGRADE)",
 * "version 0.3.0 applies to 0.2.0 or newer, this is 0.1.0").
 */
int update_check(const struct update_manifest *m, const char *running,
    const char *arch, bool allow_downgrade, char *err, size_t errlen);

/* The part named name, or NULL. */
const struct update_part *update_part_find(
    const struct update_manifest *m, const char *name);

/*
 * Whether part p fits a slot of slot_bytes: 0, or -1 with "part root:
 * 40 MiB larger than the slot (32 MiB)" (the part's size rounded up, the
 * slot's down).
 */
int update_part_fits(
    const struct update_part *p, uint64_t slot_bytes, char *err, size_t errlen);

/*
 * Copy part p from fd (pread at p->off) to out (written from its current
 * offset; -1: hash only), hashing as it goes, calling progress(arg,
 * done_bytes) after each chunk when progress is not NULL.  0 once all of
 * it was copied and its sha256 matches the manifest's; else -1 with
 * "part X: sha256 mismatch", "part X: short read at byte N" or
 * "part X: read|write: <strerror>".  On -1, out holds unverified bytes:
 * the caller must not use them.
 */
int update_part_copy(int fd, const struct update_part *p, int out,
    void (*progress)(void *, uint64_t), void *arg, char *err, size_t errlen);

/*
 * Versions are dotted numbers: 1 to 4 decimal components of 1 to 9
 * digits, without leading zeros ("0.10.2"); a missing component counts as
 * 0, so "1.2" equals "1.2.0".
 */
bool update_version_valid(const char *v);

/* <0, 0, >0 as a is older than, equal to, newer than b (both valid). */
int update_version_cmp(const char *a, const char *b);

#endif
