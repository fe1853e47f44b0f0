/*
 * cfg_check.c — checks that span settings or touch the file system, run
 * once every source is in, and cfg_secret() which hands secrets out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg_int.h"
#include "lib/privdrop.h"
#include "lib/url.h"
#include "lib/util.h"

#define WHERE_MAX 300

static bool
is_set(const struct cfg *c, enum cfg_key k)
{
	return c->slot[k].set;
}

/* X_BASE64 and X_FILE both set: which one was meant is unknowable. */
static void
check_pairs(const struct cfg *c, struct cfg_errors *errs)
{
	char w1[WHERE_MAX], w2[WHERE_MAX];
	int k, f;

	for (k = 0; k < CFG__COUNT; k++) {
		if (cfg_defs[k].type != CFG_T_B64 || (f = cfg_pair(k)) < 0)
			continue;
		if (!is_set(c, k) || !is_set(c, f))
			continue;
		cfg_source_fmt(c, k, w1, sizeof(w1));
		cfg_source_fmt(c, f, w2, sizeof(w2));
		cfg_err(errs, false,
		    "%s: %s: conflicts with %s (%s); set only one", w1,
		    cfg_defs[k].name, cfg_defs[f].name, w2);
	}
}

/* The enrolment token from two places: which one was meant is unknowable. */
static void
check_token(const struct cfg *c, struct cfg_errors *errs)
{
	char w[WHERE_MAX];

	if (!is_set(c, CFG_ENROLLMENT_TOKEN) ||
	    !is_set(c, CFG_ENROLLMENT_TOKEN_FILE))
		return;
	cfg_source_fmt(c, CFG_ENROLLMENT_TOKEN, w, sizeof(w));
	cfg_err(errs, false,
	    "%s: ENROLLMENT_TOKEN: conflicts with ENROLLMENT_TOKEN_FILE; set "
	    "only one",
	    w);
}

/* A client certificate without its key (or the reverse) is useless. */
static void
check_identity(const struct cfg *c, struct cfg_errors *errs)
{
	bool cert =
	    is_set(c, CFG_TLS_CERT_BASE64) || is_set(c, CFG_TLS_CERT_FILE);
	bool key = is_set(c, CFG_TLS_KEY_BASE64) || is_set(c, CFG_TLS_KEY_FILE);
	enum cfg_key k;
	char w[WHERE_MAX];

	if (cert == key)
		return;
	if (cert)
		k = is_set(c, CFG_TLS_CERT_BASE64) ? CFG_TLS_CERT_BASE64
						   : CFG_TLS_CERT_FILE;
	else
		k = is_set(c, CFG_TLS_KEY_BASE64) ? CFG_TLS_KEY_BASE64
						  : CFG_TLS_KEY_FILE;
	cfg_source_fmt(c, k, w, sizeof(w));
	cfg_err(errs, false, "%s: %s: needs %s as well", w, cfg_defs[k].name,
	    cert ? "TLS_KEY_BASE64 or TLS_KEY_FILE"
		 : "TLS_CERT_BASE64 or TLS_CERT_FILE");
}

static void
check_backoff(const struct cfg *c, struct cfg_errors *errs)
{
	char w[WHERE_MAX];

	if (c->slot[CFG_MAX_BACKOFF_DELAY].num >=
	    c->slot[CFG_RECONNECT_INTERVAL].num)
		return;
	cfg_source_fmt(c, CFG_MAX_BACKOFF_DELAY, w, sizeof(w));
	cfg_err(errs, false,
	    "%s: MAX_BACKOFF_DELAY: %s is shorter than RECONNECT_INTERVAL (%s)",
	    w, c->slot[CFG_MAX_BACKOFF_DELAY].str,
	    c->slot[CFG_RECONNECT_INTERVAL].str);
}

static bool
is_loopback(const struct url *u)
{
	size_t i;

	if (u->ipv6)
		return u->hostlen == 3 && memcmp(u->host, "::1", 3) == 0;
	if ((u->hostlen == 9 || u->hostlen == 10) &&
	    strncasecmp(u->host, "localhost.", u->hostlen) == 0)
		return true;
	if (u->hostlen < 4 || memcmp(u->host, "127.", 4) != 0)
		return false;
	for (i = 4; i < u->hostlen; i++)
		if (u->host[i] != '.' && (u->host[i] < '0' || u->host[i] > '9'))
			return false;
	return true;
}

/* Plain-text (h2c) tunnels leave loopback only when asked for by name. */
static void
check_controller(const struct cfg *c, struct cfg_errors *errs)
{
	const char *s = c->slot[CFG_TRAVERSAL_CONTROLLER_URL].str, *why;
	char w[WHERE_MAX];
	struct url u;

	if (s == NULL) {
		/* Not worth a warning when the URL was refused as invalid. */
		if (errs->n_errors > 0)
			return;
		cfg_err(errs, true,
		    "TRAVERSAL_CONTROLLER_URL: not set; no tunnel will be opened");
		return;
	}
	if (!url_parse(s, strlen(s), &u, &why))
		return;
	cfg_source_fmt(c, CFG_TRAVERSAL_CONTROLLER_URL, w, sizeof(w));
	if (u.userinfo != NULL)
		cfg_err(errs, false,
		    "%s: TRAVERSAL_CONTROLLER_URL: credentials in the URL are "
		    "not allowed",
		    w);
	if (u.tls || is_loopback(&u) ||
	    c->slot[CFG_ALLOW_INSECURE_CONTROLLER].num)
		return;
	cfg_err(errs, false,
	    "%s: TRAVERSAL_CONTROLLER_URL: http:// (no TLS) is allowed only "
	    "for a loopback host unless ALLOW_INSECURE_CONTROLLER=true",
	    w);
}

/*
 * TRAVERSAL_CONNECTOR_ID becomes a request header: visible ASCII only
 * (no space, control or non-ASCII byte a peer could split or fold on).
 */
static void
check_connector_id(const struct cfg *c, struct cfg_errors *errs)
{
	const char *s = c->slot[CFG_TRAVERSAL_CONNECTOR_ID].str;
	char w[WHERE_MAX];
	size_t i, n;

	if (s == NULL)
		return;
	n = strlen(s);
	for (i = 0; i < n && s[i] > 0x20 && s[i] < 0x7f; i++)
		;
	if (i == n && n <= CFG_CONNECTOR_ID_MAX)
		return;
	cfg_source_fmt(c, CFG_TRAVERSAL_CONNECTOR_ID, w, sizeof(w));
	if (i < n)
		cfg_err(errs, false,
		    "%s: TRAVERSAL_CONNECTOR_ID: byte %zu is not visible ASCII "
		    "(a header value takes no space, control or non-ASCII "
		    "byte)",
		    w, i + 1);
	else
		cfg_err(errs, false,
		    "%s: TRAVERSAL_CONNECTOR_ID: longer than %d characters", w,
		    CFG_CONNECTOR_ID_MAX);
}

/* Open a secret file: regular, not empty, at most CFG_SECRET_MAX bytes. */
static int
secret_open(const char *path, size_t *size)
{
	struct stat st;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_size > CFG_SECRET_MAX) {
		close(fd);
		return !S_ISREG(st.st_mode) ? -EINVAL
		    : st.st_size == 0	    ? -ENODATA
					    : -EFBIG;
	}
	*size = (size_t)st.st_size;
	return fd;
}

static const char *
secret_strerror(int e)
{
	switch (e) {
	case -EINVAL:
		return "not a regular file";
	case -ENODATA:
		return "is empty";
	case -EFBIG:
		return "larger than 1 MiB";
	default:
		return strerror(-e);
	}
}

/* Secret files are checked now so that check-config catches them. */
static void
check_secret_files(const struct cfg *c, struct cfg_errors *errs)
{
	char w[WHERE_MAX];
	size_t size;
	int k, fd;

	for (k = 0; k < CFG__COUNT; k++) {
		if (!(cfg_defs[k].flags & CFG_F_SECRET_FILE) || !is_set(c, k))
			continue;
		fd = secret_open(c->slot[k].str, &size);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		cfg_source_fmt(c, k, w, sizeof(w));
		cfg_err(errs, false, "%s: %s: %s: %s", w, cfg_defs[k].name,
		    c->slot[k].str, secret_strerror(fd));
	}
}

/* OUTPOST_USER: what privdrop_start() would refuse (lib/privdrop.h). */
static void
check_user(const struct cfg *c, struct cfg_errors *errs)
{
	const char *u = c->slot[CFG_OUTPOST_USER].str;
	char w[WHERE_MAX];
	uid_t uid;
	gid_t gid;

	cfg_source_fmt(c, CFG_OUTPOST_USER, w, sizeof(w));
	if (privdrop_parse_user(u, &uid, &gid) < 0)
		cfg_err(errs, false,
		    "%s: OUTPOST_USER: \"%s\" is not a numeric uid:gid "
		    "(e.g. %s)",
		    w, u, PRIVDROP_DEFAULT_USER);
	else if ((uid == 0 || gid == 0) && !c->slot[CFG_ALLOW_ROOT].num)
		cfg_err(errs, false,
		    "%s: OUTPOST_USER: uid or gid 0 runs the loop as root; "
		    "that needs ALLOW_ROOT=true",
		    w);
}

/* see cfg_int.h */
void
cfg_check_all(const struct cfg *c, struct cfg_errors *errs)
{
	check_pairs(c, errs);
	check_token(c, errs);
	check_identity(c, errs);
	check_backoff(c, errs);
	check_controller(c, errs);
	check_connector_id(c, errs);
	check_secret_files(c, errs);
	check_user(c, errs);
	cfg_check_redaction(c, errs);
	cfg_check_otel(c, errs);
	cfg_check_start(c, errs);
}

/* see cfg_int.h */
int
cfg_secret_read(const char *path, uint8_t **out, size_t *len)
{
	char *p;
	int rc;

	/* Never part of a key: util_read_file() hands out all or nothing. */
	if ((rc = util_read_file(path, CFG_SECRET_MAX, &p, len)) < 0)
		return rc;
	if (*len == 0) {
		free(p);
		return -ENODATA;
	}
	*out = (uint8_t *)p;
	return 0;
}

/* see cfg.h */
int
cfg_secret(const struct cfg *c, enum cfg_key k, uint8_t **out, size_t *len)
{
	int f;

	*out = NULL;
	*len = 0;
	if ((unsigned)k >= CFG__COUNT || cfg_defs[k].type != CFG_T_B64)
		return -EINVAL;
	if (c->slot[k].str != NULL)
		return cfg_b64_bytes(c->slot[k].str, out, len);
	f = cfg_pair(k);
	if (f >= 0 && c->slot[f].str != NULL)
		return cfg_secret_read(c->slot[f].str, out, len);
	return -ENOENT;
}
