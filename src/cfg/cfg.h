/*
 * cfg.h — outpost's configuration: one table (settings.def), three sources.
 *
 * Sources, lowest precedence first:
 *   1. the config file named by OUTPOST_CONFIG (environment only; default
 *      /config/outpost.conf, which may be missing; a named file may not);
 *   2. ENV_FILE (same KEY=VALUE syntax), named in the environment or the
 *      config file;
 *   3. the process environment (only known keys are read).
 * An empty value means "unset" at that level (the default applies).
 * Files are strict: an unknown key is an error (with a did-you-mean).
 * Secret settings (the *_BASE64 keys) are refused in the config file, and
 * their values never appear in any message or print-out.
 *
 * Lifetime: struct cfg is a heap object built once at startup by
 * cfg_load() and released with cfg_free(); strings returned by the
 * getters live as long as it.  Not thread-safe; not for hot paths (the
 * getters are cheap, but callers should copy what they need at start).
 */
#ifndef CFG_CFG_H
#define CFG_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;

enum cfg_key {
#define CFG_SETTING(name, type, def, min, max, flags, alias, doc) CFG_##name,
#include "cfg/settings.def"
#undef CFG_SETTING
	CFG__COUNT
};

/*
 * Messages collected while loading: every error is reported, not just
 * the first.  Caller-allocated (about 20 KiB: keep it off small stacks
 * if needed); cfg_load() initialises it.  A message names the source
 * ("path:line" or "environment") and the key, never a secret value.
 * Warnings (a misspelt environment variable, an alias shadowed by its
 * setting, no controller URL) do not make cfg_load() fail.
 */
#define CFG_ERRORS_MAX 64
#define CFG_ERROR_LEN 320

struct cfg_errors {
	unsigned n_errors; /* errors seen, including dropped ones */
	unsigned n_warnings; /* warnings seen, including dropped ones */
	unsigned n; /* messages stored in msg[] */
	struct cfg_msg {
		bool warning;
		char text[CFG_ERROR_LEN];
	} msg[CFG_ERRORS_MAX];
};

/*
 * Load and validate every source.  envp is the process environment
 * (NULL-terminated "KEY=VALUE" strings, not copied beyond the call).
 * Returns the configuration, or NULL when at least one error was found
 * (all of them are in errs; errno-style failures such as ENOMEM are
 * reported there too).  On success errs may still hold warnings, and
 * the log level is set from ENV_LEVEL (log_set_level).
 */
struct cfg *cfg_load(char *const *envp, struct cfg_errors *errs);

/*
 * Write each message as one line, "error: ..." or "warning: ...", then a
 * count of dropped messages if the list overflowed.  Returns nothing;
 * write errors are ignored.
 */
void cfg_errors_print(const struct cfg_errors *errs, int fd);

/* Log each message through log.h (errors at error, warnings at warn). */
void cfg_errors_log(const struct cfg_errors *errs);

/* Longest TRAVERSAL_CONNECTOR_ID (visible ASCII, checked by cfg_load()). */
#define CFG_CONNECTOR_ID_MAX 128

/* The value as given (or the default), NUL-terminated; NULL when unset. */
const char *cfg_str(const struct cfg *c, enum cfg_key k);

/*
 * Numeric value: INT and PORT as given, SIZE in bytes, DUR in
 * milliseconds, BOOL 0/1, LEVEL an enum log_level.  0 when unset or
 * not numeric.
 */
int64_t cfg_int(const struct cfg *c, enum cfg_key k);

/* BOOL settings; false when unset. */
bool cfg_bool(const struct cfg *c, enum cfg_key k);

/*
 * Parse a duration into milliseconds: Go's time.ParseDuration syntax
 * without a sign ("500ms", "1.5s", "0.5m", "1h30m"; units ns, us, µs, ms,
 * s, m, h) whose value is whole milliseconds, or a plain integer meaning
 * seconds.  False when it is not one.
 */
bool cfg_duration_parse(const char *s, int64_t *ms);

/* True when a source set the key (via its name or alias); false for defaults. */
bool cfg_is_set(const struct cfg *c, enum cfg_key k);

/*
 * Secret bytes for the pair X_BASE64 / X_FILE, named by its base64 key
 * (e.g. CFG_TLS_KEY_BASE64): the decoded base64 value, or the contents
 * of the file (read now, at most CFG_SECRET_MAX bytes).  On success *out
 * is heap memory the caller must util_wipe() and free().  Returns 0,
 * -ENOENT when neither is set, -EINVAL when k is not a base64 key, or
 * another -errno from reading the file.
 */
#define CFG_SECRET_MAX (1024 * 1024)
int cfg_secret(
    const struct cfg *c, enum cfg_key base64_key, uint8_t **out, size_t *len);

/*
 * The PEM inputs of one TLS identity, read from its settings: the one
 * identity loader of the connector (TLS_CERT/TLS_KEY/TLS_CA) and the edge
 * (EDGE_TLS_CERT_FILE/EDGE_TLS_KEY_FILE/EDGE_CLIENT_CA_FILE).  Heap
 * memory; cfg_pems_free() wipes the key and frees.
 */
struct cfg_pems {
	uint8_t *cert, *key, *ca; /* NULL when unset */
	size_t cert_len, key_len, ca_len;
};

/*
 * Read cert, key and ca (ca optional; CFG__COUNT: none), each an X_BASE64
 * key (value or its _FILE twin) or a PATH setting whose file is read.
 * Returns 0 (p->ca NULL when unset), -ENOENT when cert or key is unset
 * (nothing allocated), or another -errno with err naming the setting and
 * the error ("EDGE_TLS_KEY_FILE: /x: No such file or directory").
 */
int cfg_pems_load(const struct cfg *c, enum cfg_key cert, enum cfg_key key,
    enum cfg_key ca, struct cfg_pems *p, char *err, size_t errlen);
void cfg_pems_free(struct cfg_pems *p);

struct tls_client_opts;
struct tls_server_opts;

/*
 * The one copy of an identity's PEMs into TLS options: point them at p's
 * bytes (p keeps owning them; free it once the TLS configuration is
 * built).  Pass one of client and server, the other NULL.  A client gets
 * the certificate, key and CA (NULL: the system bundle); a server the
 * certificate and key (its client CA is the caller's to choose).
 */
void cfg_pems_tls_opts(const struct cfg_pems *p, struct tls_client_opts *client,
    struct tls_server_opts *server);

/*
 * The parsed target policy of a policy setting (net/netpolicy.h), owned by
 * c and valid as long as it: CFG_SESSION_ALLOW gives NULL when unset
 * (sessions are off); CFG_EGRESS_ALLOW gives netpolicy_any() when unset
 * (everything but metadata and link-local addresses).  NULL for any other
 * key.
 */
/*
 * The one reader of the OpenTelemetry key=value lists
 * (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS: W3C Baggage
 * syntax): entries split at ',', blanks trimmed around keys (RFC 9110
 * tokens) and values (printable ASCII, '%' only as %XX), each value
 * percent-decoded.  fn gets each entry as NUL-terminated key and value in
 * scratch (at least strlen(s) + 2 bytes; the caller wipes it when the
 * list is a secret); returning false makes that entry bad.  Returns 0, or
 * the 1-based position of the first bad entry (fn is not called past it).
 * fn NULL: syntax only.
 */
typedef bool cfg_kv_fn(
    void *arg, const char *key, size_t klen, const char *val, size_t vlen);
int cfg_otel_kv_parse(const char *s, char *scratch, cfg_kv_fn *fn, void *arg);

/*
 * The OTLP exporter's TLS: wanted when telemetry is on and an endpoint a
 * signal uses is https://; built from OTEL_EXPORTER_OTLP_CERTIFICATE (or
 * the system CAs), _CLIENT_CERTIFICATE and _CLIENT_KEY by otel_new() and,
 * the same way, by check-config (cfg_start.c).  0 with *out (the caller
 * frees it), or -1 with err naming the setting, never a key's bytes.
 */
struct tls_upstream_config;
bool cfg_otel_wants_tls(const struct cfg *c);
int cfg_otel_tls(const struct cfg *c, struct tls_upstream_config **out,
    char *err, size_t errlen);

struct netpolicy;
const struct netpolicy *cfg_policy(const struct cfg *c, enum cfg_key k);

/* LWIP_TAP, LWIP_ADDRESS and LWIP_GATEWAY into *ic (pointers into c, NULL
 * when unset), for net_iface_start(); cfg_load() checked them. */
struct net_iface_conf;
void cfg_iface_conf(const struct cfg *c, struct net_iface_conf *ic);

/* Wipe secret values and free.  NULL is allowed. */
void cfg_free(struct cfg *c);

/*
 * Overwrite, in place, the value of every secret setting (CFG_F_SECRET)
 * in the environment block envp (the one cfg_load() read; its strings are
 * the process's own, so /proc/PID/environ no longer shows them), and the
 * user:password@ of every URL and proxy setting (HTTPS_PROXY, ...).  Call
 * once cfg_load() has copied them; nothing may read them from envp after.
 */
void cfg_env_wipe_secrets(char *const *envp);

/* The key's name ("HTTP_PORT"); NULL when k is out of range. */
const char *cfg_key_name(enum cfg_key k);

/*
 * `outpost check-config [--print|--markdown]`: returns the process exit
 * code (0 valid, 100 invalid or bad usage).  Writes to stdout/stderr.
 */
int cfg_check_main(int argc, char **argv, char *const *envp);

#endif
