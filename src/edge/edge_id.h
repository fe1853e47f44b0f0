/*
 * edge_id.h — private to src/edge/: the edge's identity authority.
 *
 *   struct edge_id       one per process (edge_conf.id), heap, loaded in
 *                        the setup phase from EDGE_DATA_DIR; NULL when
 *                        EDGE_DATA_DIR is unset (enrolment off).  Owns
 *                        the CA, the token store, the revocation store
 *                        and the pending pairings.
 *
 * Files under EDGE_DATA_DIR (mode 0600, each rewritten atomically with
 * pki_write_file_atomic; several edge replicas may share the directory:
 * each change is a re-read and rewrite under edge_store_lock(), and the
 * CA is generated under it once):
 *   ca.pem     the generated CA (certificate and PKCS#8 key), written
 *              once, when EDGE_CA_CERT_FILE / EDGE_CA_KEY_FILE are unset
 *   tokens     one line per unused token: sha256-hex expires-unix name
 *   revoked    one line per revoked name: name revoked-unix [serial-hex]...
 *              (the serials: certificates issued to that name since)
 *
 * Everything here runs on the edge's reactor thread; the stores write
 * their files synchronously (small files, rare events).  Functions that
 * fail fill err (never with a token or key) and return -1.
 */
#ifndef EDGE_EDGE_ID_H
#define EDGE_EDGE_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"
#include "edge/edge_route.h"
#include "lib/buf.h"
#include "tls/pki.h"

#define EDGE_ID_PATH_MAX 512
#define EDGE_TOKENS_MAX 1024
#define EDGE_TOKEN_PREFIX "opt_"
#define EDGE_TOKEN_RANDOM 24 /* bytes: 192 bits */
#define EDGE_TOKEN_MAX 64 /* longest token text, NUL included */
#define EDGE_REVOKED_MAX 1024
#define EDGE_REVOKED_SERIALS 8 /* certificates kept per revoked name */
#define EDGE_PAIRINGS_MAX 64 /* pending pairings in total */
#define EDGE_PAIRINGS_PER_ADDR 4 /* pending pairings per source address */
#define EDGE_PAIR_ID_MAX 40
#define EDGE_USER_CODE_MAX 10 /* "XXXX-XXXX" + NUL */
#define EDGE_ADDR_MAX 64

struct edge_token {
	uint8_t hash[32]; /* SHA-256 of the token text */
	int64_t expires; /* Unix seconds */
	char name[EDGE_NAME_MAX];
};

struct edge_revoked {
	char name[EDGE_NAME_MAX];
	int64_t at; /* Unix seconds */
	size_t nserials;
	uint8_t serial[EDGE_REVOKED_SERIALS][PKI_SERIAL_LEN + 1];
	uint8_t serial_len[EDGE_REVOKED_SERIALS];
};

enum edge_pair_state { EDGE_P_PENDING, EDGE_P_APPROVED, EDGE_P_DENIED };

struct edge_pairing {
	bool used;
	enum edge_pair_state state;
	char id[EDGE_PAIR_ID_MAX];
	char code[EDGE_USER_CODE_MAX];
	char name[EDGE_NAME_MAX]; /* set by approval */
	char addr[EDGE_ADDR_MAX]; /* source address (no port) */
	char hostname[EDGE_NAME_MAX];
	int64_t expires; /* Unix seconds */
	int64_t last_poll_ms; /* monotonic: Pair, then each poll */
	uint8_t *csr; /* heap DER, verified at Pair */
	size_t csr_len;
};

struct edge_id {
	char dir[EDGE_ID_PATH_MAX];
	char trust_domain[256];
	int64_t lifetime_s;
	int64_t pair_ttl_s;
	int64_t pair_interval_s;
	/* The CA: key, certificate (DER) and the certificate as PEM. */
	struct pki_key *ca_key;
	uint8_t *ca_der;
	size_t ca_der_len;
	uint8_t *ca_pem;
	size_t ca_pem_len;
	struct edge_token *tokens; /* EDGE_TOKENS_MAX slots */
	size_t ntokens;
	struct edge_revoked *revoked; /* EDGE_REVOKED_MAX slots */
	size_t nrevoked;
	int64_t revoked_version[3]; /* the file read: inode, size, mtime */
	bool revoked_stale; /* memory is not the file: read it again */
	struct edge_pairing pairs[EDGE_PAIRINGS_MAX];
};

/* A certificate just issued. */
struct edge_cert {
	uint8_t der[PKI_DER_MAX];
	size_t len;
	uint8_t serial[PKI_SERIAL_LEN];
	int64_t not_after;
};

/* edge_ca.c: load or generate the CA, issue leaf certificates. */
int edge_id_load(struct edge_id **out, const struct cfg *c, bool check,
    char *err, size_t errlen);
void edge_id_free(struct edge_id *id);
/*
 * Issue a client certificate for name to the key of the DER CSR (which
 * must parse and verify: bad_csr otherwise, *bad set).  0 or -1 with err.
 */
int edge_ca_issue(const struct edge_id *id, const uint8_t *csr, size_t len,
    const char *name, struct edge_cert *out, bool *bad, char *err,
    size_t errlen);
/* Parse and verify a CSR only (the Pair call checks it up front). */
int edge_ca_check_csr(const uint8_t *csr, size_t len, char *err, size_t errlen);

/* edge_conf.c: a whole small file (at most 1 MiB) into heap memory. */
int edge_file_read(const char *path, uint8_t **out, size_t *len);

/* edge_store.c: the line files under EDGE_DATA_DIR. */
/* A line without its newline; 0 to go on, -1: malformed. */
typedef int edge_line_fn(char *line, void *arg);
/* Each non-empty line of file (absent: none).  0, or -1 with err. */
int edge_store_lines(const struct edge_id *id, const char *file,
    edge_line_fn *fn, void *arg, char *err, size_t errlen);
/* Replace file with b's bytes atomically (0600).  0, or -1 with err. */
int edge_store_save(const struct edge_id *id, const char *file,
    const struct buf *b, char *err, size_t errlen);
/*
 * Take the data directory's lock (the file "lock", an exclusive
 * open-file-description fcntl lock): waits while another process (another
 * edge replica on the same volume) holds it.  Hold it over a re-read and
 * rewrite of a store, never across the reactor.  The descriptor, or -1
 * with err.
 */
int edge_store_lock(const struct edge_id *id, char *err, size_t errlen);
/*
 * The directory is usable: its lock file opens read-write (created when
 * absent), without taking the lock.  For /readyz.
 */
bool edge_store_usable(const struct edge_id *id);
/* Release what edge_store_lock() returned (harmless with -1). */
void edge_store_unlock(int fd);

/* edge_token.c */
int edge_tokens_load(struct edge_id *id, char *err, size_t errlen);
/*
 * A new token for name valid ttl_s seconds: the text into tok
 * (EDGE_TOKEN_MAX), the store rewritten.  0 or -1 with err.
 */
int edge_token_create(struct edge_id *id, const char *name, int64_t ttl_s,
    char *tok, int64_t *expires, char *err, size_t errlen);
/*
 * Claim an unused, unexpired token, atomically across the replicas sharing
 * EDGE_DATA_DIR (under edge_store_lock(), from the store on disk): it is
 * removed and the store written; *out is what it was (its name).  Returns
 * 0; -1 with why ("unknown or already used", "expired"); -2 with err (the
 * store could not be read or written: the token stays).  Of two replicas
 * claiming one token at once exactly one gets 0.
 */
int edge_token_claim(struct edge_id *id, const char *tok, size_t len,
    struct edge_token *out, const char **why, char *err, size_t errlen);
/* Put back a claimed token whose enrolment failed.  0 or -1 with err. */
int edge_token_unclaim(
    struct edge_id *id, const struct edge_token *t, char *err, size_t errlen);

/* edge_revoke.c */
int edge_revoked_load(struct edge_id *id, char *err, size_t errlen);
/* Revoke every certificate of name issued so far.  0 or -1 with err. */
int edge_revoke(struct edge_id *id, const char *name, char *err, size_t errlen);
/*
 * True when name's certificate with this serial is revoked (the file is
 * read again first when another replica replaced it; true for every
 * certificate while it cannot be read).
 */
bool edge_is_revoked(
    struct edge_id *id, const char *name, const uint8_t *serial, size_t len);
/*
 * Read the file again when another replica replaced it (one stat when it
 * did not): 0 unchanged, 1 read again, -1 unreadable (every certificate
 * is refused until a read succeeds; logged once per failure).
 */
int edge_revoked_refresh(struct edge_id *id);
/* A certificate was issued to name: keep it valid if name was revoked. */
int edge_revoked_issued(struct edge_id *id, const char *name,
    const uint8_t *serial, size_t len, char *err, size_t errlen);

/* edge_pair.c */
/* Forget pairings past their expiry. */
void edge_pair_expire(struct edge_id *id);
/*
 * A new pending pairing for a connector at addr (its CSR copied).  NULL
 * with why: "rate_limited" (too many in total or from addr), ...
 */
struct edge_pairing *edge_pair_create(struct edge_id *id, const char *addr,
    const char *hostname, const uint8_t *csr, size_t len, const char **why);
struct edge_pairing *edge_pair_by_id(struct edge_id *id, const char *pid);
/* A pending pairing by its user code (any case, dash optional). */
struct edge_pairing *edge_pair_by_code(
    struct edge_id *id, const char *code, size_t n);
void edge_pair_drop(struct edge_pairing *p);

/* edge_jbody.c: string fields of a flat JSON object ({"k":"v",...}). */
/*
 * Find key in the object body[0..n) and copy its string value into out
 * (cap bytes, NUL-terminated).  Returns 1 when found, 0 when absent, -1
 * when body is not a flat object of string values or the value does not
 * fit (or holds a NUL or a \u escape outside ASCII).  Fuzzed by
 * tests/fuzz/fuzz_edge_jbody.c.
 */
int edge_jbody_str(
    const char *body, size_t n, const char *key, char *out, size_t cap);

#endif
