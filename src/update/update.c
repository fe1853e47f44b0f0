/*
 * update.c — open a bundle (docs/updates.md): the signature over the
 * manifest checked with BearSSL against the certificate's RSA key, then
 * the policy and the parts' hashes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl.h>

#include "lib/pem.h"
#include "lib/util.h"
#include "update/update_int.h"

#define COPY_CHUNK 65536
#define MIB (1024 * 1024)

/* pread n bytes at off: n, fewer at the end of the file, or -errno. */
static ssize_t
read_at(int fd, void *p, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r =
		    pread(fd, (char *)p + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Verify sig over the sha256 of msg with the certificate's RSA key. */
static int
verify(const char *pem, size_t pem_len, const uint8_t *msg, size_t msg_len,
    const uint8_t *sig, size_t sig_len, char *err, size_t errlen)
{
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	br_sha256_context h;
	uint8_t want[32], got[32], *der;
	size_t dlen;
	int r = -1;

	if (pem_cert(pem, pem_len, "certificate", &der, &dlen, err, errlen) < 0)
		return -1;
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, der, dlen);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || pk->key_type != BR_KEYTYPE_RSA) {
		util_fail(err, errlen, "certificate: not an RSA certificate");
		goto out;
	}
	br_sha256_init(&h);
	br_sha256_update(&h, msg, msg_len);
	br_sha256_out(&h, want);
	if (sig_len != (pk->key.rsa.nlen) ||
	    !br_rsa_pkcs1_vrfy_get_default()(sig, sig_len, BR_HASH_OID_SHA256,
		sizeof(got), &pk->key.rsa, got) ||
	    !util_ct_eq(want, got, sizeof(got))) {
		util_fail(err, errlen, "bad signature");
		goto out;
	}
	r = 0;
out:
	free(der);
	return r;
}

/* A big-endian u32 length at *off of p (n bytes), 1..max, then that many
 * bytes: their offset and length out, *off past them. */
static int
block(const uint8_t *p, size_t n, size_t *off, size_t max, size_t *boff,
    size_t *blen, const char *what, char *err, size_t errlen)
{
	uint32_t len;

	if (n - *off < 4)
		return util_fail(err, errlen, "truncated: no %s length", what);
	len = be32(p + *off);
	if (len == 0 || len > max)
		return util_fail(err, errlen, "%s: length %u not in 1..%zu",
		    what, (unsigned)len, max);
	if (n - *off - 4 < len)
		return util_fail(err, errlen, "truncated: in the %s", what);
	*boff = *off + 4;
	*blen = len;
	*off += 4 + len;
	return 0;
}

/* see update.h */
int
update_layout(const uint8_t *p, size_t n, struct update_layout *h, char *err,
    size_t errlen)
{
	size_t off = UPDATE_MAGIC_LEN;

	if (n < UPDATE_MAGIC_LEN ||
	    memcmp(p, UPDATE_MAGIC, UPDATE_MAGIC_LEN) != 0)
		return util_fail(err, errlen, "not an update bundle");
	if (block(p, n, &off, UPDATE_MANIFEST_MAX, &h->man_off, &h->man_len,
		"manifest", err, errlen) < 0 ||
	    block(p, n, &off, UPDATE_SIG_MAX, &h->sig_off, &h->sig_len,
		"signature", err, errlen) < 0)
		return -1;
	h->data_start = off;
	return 0;
}

/* see update.h */
int
update_open(int fd, const char *cert_pem, size_t cert_len,
    struct update_manifest *m, char *err, size_t errlen)
{
	uint8_t buf[UPDATE_HEAD_MAX];
	struct update_layout h;
	struct stat st;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return util_fail(err, errlen, "not a regular file");
	if ((n = read_at(fd, buf, sizeof(buf), 0)) < 0)
		return util_fail(err, errlen, "read: %s", strerror((int)-n));
	if (update_layout(buf, (size_t)n, &h, err, errlen) < 0 ||
	    verify(cert_pem, cert_len, buf + h.man_off, h.man_len,
		buf + h.sig_off, h.sig_len, err, errlen) < 0)
		return -1;
	if (update_manifest_parse((const char *)buf + h.man_off, h.man_len,
		h.data_start, (uint64_t)st.st_size, m, err, errlen) < 0) {
		memset(m, 0, sizeof(*m));
		return -1;
	}
	return 0;
}

/* see update.h */
int
update_check(const struct update_manifest *m, const char *running,
    const char *arch, bool allow_downgrade, char *err, size_t errlen)
{
	if (strcmp(m->arch, arch) != 0)
		return util_fail(
		    err, errlen, "for arch %s, this is %s", m->arch, arch);
	if (!update_version_valid(running))
		return util_fail(err, errlen,
		    "running version %s is not a dotted number", running);
	if (update_version_cmp(running, m->min_version) < 0)
		return util_fail(err, errlen,
		    "version %s applies to %s or newer, this is %s", m->version,
		    m->min_version, running);
	if (!allow_downgrade && update_version_cmp(m->version, running) <= 0)
		return util_fail(err, errlen,
		    "version %s is not newer than %s (UPDATE_ALLOW_DOWNGRADE)",
		    m->version, running);
	return 0;
}

/* see update.h */
const struct update_part *
update_part_find(const struct update_manifest *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nparts; i++)
		if (strcmp(m->part[i].name, name) == 0)
			return &m->part[i];
	return NULL;
}

/* see update.h */
int
update_part_fits(
    const struct update_part *p, uint64_t slot_bytes, char *err, size_t errlen)
{
	if (p->size <= slot_bytes)
		return 0;
	return util_fail(err, errlen,
	    "part %s: %llu MiB larger than the slot (%llu MiB)", p->name,
	    (unsigned long long)((p->size + MIB - 1) / MIB),
	    (unsigned long long)(slot_bytes / MIB));
}

/* Write all n bytes of p to fd: 0 or -errno. */
static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* see update.h */
int
update_part_copy(int fd, const struct update_part *p, int out,
    void (*progress)(void *, uint64_t), void *arg, char *err, size_t errlen)
{
	br_sha256_context h;
	uint8_t *buf, sum[32];
	uint64_t done = 0;
	int r = -1;

	if ((buf = malloc(COPY_CHUNK)) == NULL)
		return util_fail(
		    err, errlen, "part %s: out of memory", p->name);
	br_sha256_init(&h);
	while (done < p->size) {
		size_t want = (size_t)MIN((uint64_t)COPY_CHUNK, p->size - done);
		ssize_t got = read_at(fd, buf, want, p->off + done);
		int w;

		if (got < 0) {
			util_fail(err, errlen, "part %s: read: %s", p->name,
			    strerror((int)-got));
			goto out;
		}
		if ((size_t)got != want) {
			util_fail(err, errlen,
			    "part %s: short read at byte %llu", p->name,
			    (unsigned long long)(done + (size_t)got));
			goto out;
		}
		br_sha256_update(&h, buf, want);
		if (out >= 0 && (w = write_all(out, buf, want)) < 0) {
			util_fail(err, errlen, "part %s: write: %s", p->name,
			    strerror(-w));
			goto out;
		}
		done += want;
		if (progress != NULL)
			progress(arg, done);
	}
	br_sha256_out(&h, sum);
	if (!util_ct_eq(sum, p->sha256, sizeof(sum))) {
		util_fail(err, errlen, "part %s: sha256 mismatch", p->name);
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}
