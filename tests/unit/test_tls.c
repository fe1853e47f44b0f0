/*
 * Unit tests: the tls module, a client engine against a server engine in
 * memory, with a PKI generated at test time by tests/integration/pki.sh
 * (openssl CLI).  Usage: test_tls [name-filter]
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "unit.h"
#include "testpki.h"
#include <sys/mman.h>
#include <unistd.h>

#include "tls/tls.h"
#include "tls/tls_int.h"

struct pem {
	char *p;
	size_t len;
};

static struct pem
load(const char *name)
{
	struct pem m;

	m.p = testpki_load(name, &m.len);
	return m;
}

static struct tls_client_config *
client_cfg(const char *ca, const char *cert, const char *key,
    const char *server_name, int64_t when)
{
	struct tls_client_opts o = {0};
	struct tls_client_config *cfg = NULL;
	struct pem a = load(ca), c = {0}, k = {0};
	char err[256];

	if (cert != NULL) {
		c = load(cert);
		k = load(key);
	}
	o.ca = a.p;
	o.ca_len = a.len;
	o.cert = c.p;
	o.cert_len = c.len;
	o.key = k.p;
	o.key_len = k.len;
	o.server_name = server_name;
	o.time = when;
	if (tls_client_config_new(&cfg, &o, err, sizeof(err)) != 0)
		fail_msg("client config: %s", err);
	free(a.p);
	free(c.p);
	free(k.p);
	return cfg;
}

static bool server_optional; /* next server_cfg: client cert optional */

static struct tls_server_config *
server_cfg(const char *cert, const char *key, const char *client_ca)
{
	struct tls_server_opts o = {.client_cert_optional = server_optional};
	struct tls_server_config *cfg = NULL;
	struct pem c = load(cert), k = load(key), a = load(client_ca);
	char err[256];

	o.cert = c.p;
	o.cert_len = c.len;
	o.key = k.p;
	o.key_len = k.len;
	o.client_ca = a.p;
	o.client_ca_len = a.len;
	if (tls_server_config_new(&cfg, &o, err, sizeof(err)) != 0)
		fail_msg("server config: %s", err);
	free(a.p);
	free(c.p);
	free(k.p);
	return cfg;
}

/* Move ciphertext from a to b; returns the bytes moved. */
static size_t
move(struct tls_conn *a, struct tls_conn *b)
{
	const uint8_t *p;
	uint8_t *q;
	size_t n, room;

	p = tls_send_take(a, &n);
	if (n == 0)
		return 0;
	q = tls_recv_buf(b, &room);
	if (room == 0)
		return 0;
	n = n < room ? n : room;
	memcpy(q, p, n);
	tls_recv_commit(b, n);
	tls_send_ack(a, n);
	return n;
}

static void
pump(struct tls_conn *c, struct tls_conn *s)
{
	int i;

	for (i = 0; i < 1000; i++)
		if (move(c, s) + move(s, c) == 0)
			return;
	fail_msg("pump did not settle");
}

struct run {
	struct tls_conn *c, *s;
	struct tls_client_config *cc;
	struct tls_server_config *sc;
};

/* Handshake host against a server with cert/key; returns both ends. */
static struct run
handshake(struct tls_client_config *cc, const char *srv, const char *host)
{
	char cert[64], key[64];
	struct run r;

	snprintf(cert, sizeof(cert), "%s.pem", srv);
	snprintf(key, sizeof(key), "%s.key", srv);
	r.cc = cc;
	r.sc = server_cfg(cert, key, "ca.pem");
	r.c = malloc(TLS_CONN_SIZE);
	r.s = malloc(TLS_CONN_SIZE);
	assert_int_equal(tls_client_start(r.c, cc, host), 0);
	assert_int_equal(tls_server_start(r.s, r.sc), 0);
	pump(r.c, r.s);
	return r;
}

static void
run_free(struct run *r)
{
	tls_wipe(r->c);
	tls_wipe(r->s);
	free(r->c);
	free(r->s);
	tls_client_config_free(r->cc);
	tls_server_config_free(r->sc);
}

/* Plaintext both ways once the handshake is done. */
static void
exchange(struct run *r)
{
	const uint8_t *p;
	uint8_t *q;
	size_t n;

	q = tls_app_buf(r->c, &n);
	assert_true(q != NULL && n >= 5);
	memcpy(q, "hello", 5);
	tls_app_commit(r->c, 5);
	pump(r->c, r->s);
	p = tls_app_take(r->s, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	tls_app_ack(r->s, n);
	q = tls_app_buf(r->s, &n);
	memcpy(q, "world!", 6);
	tls_app_commit(r->s, 6);
	pump(r->c, r->s);
	p = tls_app_take(r->c, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "world!", 6);
	tls_app_ack(r->c, n);
}

static void
ok_ec_client(void **state)
{
	struct run r = handshake(
	    client_cfg("ca.pem", "client-test.pem", "client-test.key", NULL, 0),
	    "server", "localhost");

	assert_true(tls_ready(r.c));
	assert_true(tls_ready(r.s));
	assert_int_equal(tls_want(r.c) & TLS_WANT_READ, TLS_WANT_READ);
	exchange(&r);
	assert_string_equal(
	    tls_peer_uri(r.s, 0), "spiffe://outpost.test/connector/test");
	assert_null(tls_peer_uri(r.s, 1));
	assert_string_equal(tls_peer_cn(r.s), "connector-test");
	/* close_notify both ways: closed, and no error. */
	tls_close(r.c);
	pump(r.c, r.s);
	assert_true(tls_closed(r.s));
	assert_false(tls_failed(r.s));
	assert_true(tls_closed(r.c));
	assert_false(tls_failed(r.c));
	run_free(&r);
}

/* Every supported client key form, and a chain with an intermediate. */
static void
ok_client_key_forms(void **state)
{
	static const char *const names[] = {
	    "client-test-rsa", "client-p384", "client-rsa8", "client-chain"};
	char cert[64], key[64];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(cert, sizeof(cert), "%s.pem", names[i]);
		snprintf(key, sizeof(key), "%s.key", names[i]);
		struct run r =
		    handshake(client_cfg("ca.pem", cert, key, NULL, 0),
			"server", "localhost");

		if (!tls_ready(r.c) || !tls_ready(r.s))
			fail_msg("%s: client %s server %s", names[i],
			    tls_error_reason(r.c), tls_error_reason(r.s));
		exchange(&r);
		assert_string_equal(tls_peer_cn(r.s), "connector-test");
		run_free(&r);
	}
}

/* The server sends an intermediate; the client trusts only the root. */
static void
ok_server_chain(void **state)
{
	struct run r = handshake(client_cfg("ca.pem", "client-chain.pem",
				     "client-chain.key", NULL, 0),
	    "server_chain", "localhost");

	if (!tls_ready(r.c) || !tls_ready(r.s))
		fail_msg("client %s server %s", tls_error_reason(r.c),
		    tls_error_reason(r.s));
	exchange(&r);
	run_free(&r);
}

static void
ok_rsa_server_and_ip_hosts(void **state)
{
	static const char *const hosts[] = {"127.0.0.1", "::1", "[::1]"};
	size_t i;
	struct run r = handshake(
	    client_cfg("ca.pem", "client-test.pem", "client-test.key", NULL, 0),
	    "server_rsa", "localhost");

	assert_true(tls_ready(r.c));
	exchange(&r);
	run_free(&r);
	for (i = 0; i < 3; i++) {
		r = handshake(client_cfg("ca.pem", "client-test.pem",
				  "client-test.key", NULL, 0),
		    "server", hosts[i]);
		if (!tls_ready(r.c))
			fail_msg("%s: %s", hosts[i], tls_error_reason(r.c));
		run_free(&r);
	}
}

/* Expect the client to fail with reason want (a typed error). */
static void
client_fails(struct tls_client_config *cc, const char *srv, const char *host,
    enum tls_reason want)
{
	struct run r = handshake(cc, srv, host);

	assert_false(tls_ready(r.c));
	assert_true(tls_failed(r.c));
	if (tls_reason(r.c) != want)
		fail_msg("%s/%s: got %s, want %s", srv, host,
		    tls_error_reason(r.c), tls_reason_name(want));
	assert_int_equal(tls_want(r.c), 0);
	run_free(&r);
}

static struct tls_client_config *
good_client(const char *server_name, int64_t when)
{
	return client_cfg(
	    "ca.pem", "client-test.pem", "client-test.key", server_name, when);
}

static void
err_hostname(void **state)
{
	client_fails(
	    good_client(NULL, 0), "server", "other.test", TLS_R_HOSTNAME);
	client_fails(
	    good_client(NULL, 0), "server", "127.0.0.2", TLS_R_HOSTNAME);
	client_fails(good_client(NULL, 0), "server_badname", "localhost",
	    TLS_R_HOSTNAME);
	/* The override is what gets checked (and sent as SNI). */
	client_fails(good_client("other.test", 0), "server", "localhost",
	    TLS_R_HOSTNAME);
	/* No name at all is refused before any byte is sent. */
	struct tls_client_config *cc = good_client(NULL, 0);
	struct tls_conn *c = malloc(TLS_CONN_SIZE);
	assert_int_equal(tls_client_start(c, cc, ""), -1);
	assert_int_equal(tls_reason(c), TLS_R_HOSTNAME);
	assert_int_equal(tls_want(c), 0);
	free(c);
	tls_client_config_free(cc);
	struct run r = handshake(
	    good_client("wrong.test", 0), "server_badname", "127.0.0.1");
	assert_true(tls_ready(r.c));
	run_free(&r);
}

static void
err_unknown_ca(void **state)
{
	client_fails(good_client(NULL, 0), "server_wrongca", "localhost",
	    TLS_R_UNKNOWN_CA);
	/* Trusting only the other root rejects our real server too. */
	client_fails(client_cfg("other_ca.pem", "client-test.pem",
			 "client-test.key", NULL, 0),
	    "server", "localhost", TLS_R_UNKNOWN_CA);
}

static void
err_expired(void **state)
{
	client_fails(
	    good_client(NULL, 0), "server_expired", "localhost", TLS_R_EXPIRED);
	/* A valid certificate checked 90 days from now has expired too. */
	client_fails(good_client(NULL, (int64_t)time(NULL) + 90 * 86400),
	    "server", "localhost", TLS_R_EXPIRED);
}

/* The server rejects a client certificate: typed on both sides. */
static void
server_rejects(const char *cert, const char *key, enum tls_reason srv_want)
{
	struct run r = handshake(
	    client_cfg("ca.pem", cert, key, NULL, 0), "server", "localhost");

	assert_false(tls_ready(r.s));
	if (tls_reason(r.s) != srv_want)
		fail_msg("%s: server got %s, want %s", cert,
		    tls_error_reason(r.s), tls_reason_name(srv_want));
	/* BearSSL sends no alert: the client sees the connection close. */
	assert_false(tls_ready(r.c));
	assert_false(tls_failed(r.c));
	tls_eof(r.c);
	assert_true(tls_failed(r.c));
	if (tls_reason(r.c) != TLS_R_HANDSHAKE_CLOSED)
		fail_msg("%s: client got %s", cert, tls_error_reason(r.c));
	run_free(&r);
}

static void
err_client_cert(void **state)
{
	server_rejects(
	    "client-wrongca.pem", "client-wrongca.key", TLS_R_UNKNOWN_CA);
	server_rejects(
	    "client-expired.pem", "client-expired.key", TLS_R_EXPIRED);
	server_rejects(NULL, NULL, TLS_R_NO_CLIENT_CERT);
}

/* Optional client certificates: none is fine, a bad one still fails. */
static void
ok_client_cert_optional(void **state)
{
	struct run r;
	size_t n;

	server_optional = true;
	r = handshake(
	    client_cfg("ca.pem", NULL, NULL, NULL, 0), "server", "localhost");
	assert_true(tls_ready(r.s) && tls_ready(r.c));
	assert_false(tls_peer_verified(r.s));
	assert_null(tls_peer_uri(r.s, 0));
	assert_null(tls_peer_serial(r.s, &n));
	exchange(&r);
	run_free(&r);
	r = handshake(good_client(NULL, 0), "server", "localhost");
	assert_true(tls_ready(r.s));
	assert_true(tls_peer_verified(r.s));
	assert_string_equal(
	    tls_peer_uri(r.s, 0), "spiffe://outpost.test/connector/test");
	assert_non_null(tls_peer_serial(r.s, &n));
	assert_true(n >= 1 && n <= 21);
	run_free(&r);
	server_rejects(
	    "client-wrongca.pem", "client-wrongca.key", TLS_R_UNKNOWN_CA);
	server_rejects(
	    "client-expired.pem", "client-expired.key", TLS_R_EXPIRED);
	server_optional = false;
}

static int checks_seen;
static char revoked_hex[80]; /* serial the check refuses (upper-case hex) */

/* The serial of a certificate file, as openssl prints it. */
static void
openssl_serial(const char *pem, char *hex, size_t cap)
{
	char cmd[600];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s/%s -noout -serial",
	    testpki_dir, pem);
	assert_non_null(f = popen(cmd, "r"));
	assert_non_null(fgets(cmd, sizeof(cmd), f));
	pclose(f);
	cmd[strcspn(cmd, "\n")] = '\0';
	assert_true(strncmp(cmd, "serial=", 7) == 0);
	snprintf(hex, cap, "%s", cmd + 7);
}

static void
hex_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t i;

	if (n > 1 && p[0] == 0) { /* DER's sign byte: openssl omits it */
		p++;
		n--;
	}
	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 3 <= cap; i++)
		snprintf(out + 2 * i, 3, "%02X", p[i]);
}

/* Refuse the certificate whose serial is revoked_hex. */
static bool
check_serial(const struct tls_conn *c, void *arg)
{
	const uint8_t *sn;
	char hex[80];
	size_t n;

	checks_seen++;
	assert_ptr_equal(arg, &checks_seen);
	assert_non_null(tls_peer_uri(c, 0));
	assert_non_null(sn = tls_peer_serial(c, &n));
	hex_of(sn, n, hex, sizeof(hex));
	return strcmp(hex, revoked_hex) != 0;
}

static struct run
handshake_checked(const char *cert, const char *key)
{
	struct run r;

	r.cc = client_cfg("ca.pem", cert, key, NULL, 0);
	r.sc = server_cfg("server.pem", "server.key", "ca.pem");
	tls_server_config_set_check(r.sc, check_serial, &checks_seen);
	r.c = malloc(TLS_CONN_SIZE);
	r.s = malloc(TLS_CONN_SIZE);
	assert_int_equal(tls_client_start(r.c, r.cc, "localhost"), 0);
	assert_int_equal(tls_server_start(r.s, r.sc), 0);
	pump(r.c, r.s);
	return r;
}

/* The peer check sees the verified certificate and may refuse it. */
static void
err_client_cert_revoked(void **state)
{
	struct run r;

	openssl_serial("client-test.pem", revoked_hex, sizeof(revoked_hex));
	checks_seen = 0;
	r = handshake_checked("client-test.pem", "client-test.key");
	assert_int_equal(checks_seen, 1);
	assert_false(tls_ready(r.s));
	assert_string_equal(tls_error_reason(r.s), "revoked");
	assert_false(tls_peer_verified(r.s));
	tls_eof(r.c);
	assert_int_equal(tls_reason(r.c), TLS_R_HANDSHAKE_CLOSED);
	run_free(&r);
	/* Another certificate of the same name passes the same check. */
	r = handshake_checked("client-test-rsa.pem", "client-test-rsa.key");
	assert_int_equal(checks_seen, 2);
	assert_true(tls_ready(r.s));
	assert_true(tls_peer_verified(r.s));
	run_free(&r);
}

/* A server that negotiates no ALPN protocol: the client refuses it. */
static void
err_no_alpn(void **state)
{
	struct run r;

	r.cc = good_client(NULL, 0);
	r.sc = server_cfg("server.pem", "server.key", "ca.pem");
	r.c = malloc(TLS_CONN_SIZE);
	r.s = malloc(TLS_CONN_SIZE);
	assert_int_equal(tls_client_start(r.c, r.cc, "localhost"), 0);
	assert_int_equal(tls_server_start(r.s, r.sc), 0);
	/* White box: strip the server's ALPN list and restart it. */
	br_ssl_engine_set_protocol_names(&r.s->u.s.eng, NULL, 0);
	br_ssl_server_reset(&r.s->u.s);
	pump(r.c, r.s);
	assert_false(tls_ready(r.c));
	assert_int_equal(tls_reason(r.c), TLS_R_NO_ALPN);
	assert_string_equal(tls_error_reason(r.c), "no_alpn");
	assert_null(tls_app_buf(r.c, &(size_t){0}));
	run_free(&r);

	/* And the server refuses a client that offers no ALPN at all. */
	r.cc = good_client(NULL, 0);
	r.sc = server_cfg("server.pem", "server.key", "ca.pem");
	r.c = malloc(TLS_CONN_SIZE);
	r.s = malloc(TLS_CONN_SIZE);
	assert_int_equal(tls_client_start(r.c, r.cc, "localhost"), 0);
	br_ssl_engine_set_protocol_names(&r.c->u.c.eng, NULL, 0);
	br_ssl_client_reset(&r.c->u.c, "localhost", 0);
	assert_int_equal(tls_server_start(r.s, r.sc), 0);
	pump(r.c, r.s);
	assert_false(tls_ready(r.s));
	assert_int_equal(tls_reason(r.s), TLS_R_NO_ALPN);
	run_free(&r);
}

static void
err_handshake_timeout(void **state)
{
	struct tls_client_config *cc = good_client(NULL, 0);
	struct tls_conn *c = malloc(TLS_CONN_SIZE);
	size_t n;

	assert_int_equal(tls_client_start(c, cc, "localhost"), 0);
	assert_true(tls_want(c) & TLS_WANT_WRITE); /* the ClientHello */
	tls_abort(c, TLS_R_HANDSHAKE_TIMEOUT);
	assert_string_equal(tls_error_reason(c), "handshake_timeout");
	assert_int_equal(tls_want(c), 0);
	assert_null(tls_send_take(c, &n));
	assert_int_equal(n, 0);
	free(c);
	tls_client_config_free(cc);
}

/* Loading must fail, and the message must mention want. */
static void
config_fails(const void *ca, const char *cert, const char *key,
    const char *bundle, const char *want)
{
	struct tls_client_opts o = {0};
	struct tls_client_config *cfg = NULL;
	struct pem c = {0}, k = {0};
	char err[256] = "";

	if (cert != NULL) {
		c = load(cert);
		k = load(key);
	}
	o.ca = ca;
	o.ca_len = ca ? strlen(ca) : 0;
	o.ca_bundle = bundle;
	o.cert = c.p;
	o.cert_len = c.len;
	o.key = k.p;
	o.key_len = k.len;
	assert_int_equal(tls_client_config_new(&cfg, &o, err, sizeof(err)), -1);
	assert_null(cfg);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	free(c.p);
	free(k.p);
}

static void
config_errors(void **state)
{
	struct pem ca = load("ca.pem");
	char *trunc = strndup(ca.p, ca.len / 2);

	config_fails("garbage", NULL, NULL, NULL, "TLS_CA");
	config_fails("-----BEGIN CERTIFICATE-----\nAAAA\n"
		     "-----END CERTIFICATE-----\n",
	    NULL, NULL, NULL, "TLS_CA: certificate 1 does not parse");
	config_fails(trunc, NULL, NULL, NULL, "TLS_CA");
	config_fails(ca.p, "client-test.pem", "rsa1024.key", NULL, "2048");
	config_fails(
	    ca.p, "client-test.pem", "server.key", NULL, "does not match");
	config_fails(ca.p, "client-test.pem", "client-test.pem", NULL,
	    "TLS_KEY: no private key found");
	config_fails(ca.p, "client-test.key", "client-test.key", NULL,
	    "TLS_CERT: no certificate found");
	config_fails(
	    NULL, NULL, NULL, "/nonexistent/bundle.crt", "system bundle");
	free(trunc);
	free(ca.p);
}

/*
 * The iPAddress SAN walk (tls_san.c): found in the real certificate, and
 * every truncation of it, ending at a guard page, is rejected cleanly.
 */
static void
san_ip_walk(void **state)
{
	static const uint8_t lo[4] = {127, 0, 0, 1}, lo2[4] = {127, 0, 0, 2};
	static const uint8_t v6[16] = {[15] = 1};
	long pg = sysconf(_SC_PAGESIZE);
	char cmd[700], want[80], hex[80];
	const uint8_t *sn;
	struct pem der;
	uint8_t *map;
	size_t n, sl;

	snprintf(cmd, sizeof(cmd),
	    "openssl x509 -in %s/server.pem -outform DER -out %s/server.der",
	    testpki_dir, testpki_dir);
	assert_int_equal(system(cmd), 0);
	der = load("server.der");
	assert_true(tls_san_has_ip((uint8_t *)der.p, der.len, lo, 4));
	assert_true(tls_san_has_ip((uint8_t *)der.p, der.len, v6, 16));
	assert_false(tls_san_has_ip((uint8_t *)der.p, der.len, lo2, 4));
	openssl_serial("server.pem", want, sizeof(want));
	sn = tls_cert_serial((uint8_t *)der.p, der.len, &sl);
	assert_non_null(sn);
	hex_of(sn, sl, hex, sizeof(hex));
	assert_string_equal(hex, want);
	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED && der.len < (size_t)pg);
	assert_int_equal(mprotect(map + pg, pg, PROT_NONE), 0);
	for (n = 0; n < der.len; n++) {
		memcpy(map + pg - n, der.p, n);
		assert_false(tls_san_has_ip(map + pg - n, n, lo, 4));
		sn = tls_cert_serial(map + pg - n, n, &sl);
		assert_true(sn == NULL || sn + sl <= map + pg);
	}
	munmap(map, 2 * pg);
	free(der.p);
}

/* One file holding the chain and the key serves as both inputs. */
static void
config_combined_file(void **state)
{
	struct tls_client_opts o = {0};
	struct tls_client_config *cfg = NULL;
	struct pem ca = load("ca.pem"), c = load("client-test.pem"),
		   k = load("client-test.key");
	char *both = malloc(c.len + k.len), err[256];

	memcpy(both, k.p, k.len);
	memcpy(both + k.len, c.p, c.len);
	o.ca = ca.p;
	o.ca_len = ca.len;
	o.cert = o.key = both;
	o.cert_len = o.key_len = c.len + k.len;
	if (tls_client_config_new(&cfg, &o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	tls_client_config_free(cfg);
	free(both);
	free(ca.p);
	free(c.p);
	free(k.p);
}

static void
config_system_bundle(void **state)
{
	struct tls_client_opts o = {0};
	struct tls_client_config *cfg = NULL;
	char err[256];
	FILE *f = fopen(TLS_SYSTEM_BUNDLE, "r");

	if (f == NULL)
		skip();
	fclose(f);
	assert_int_equal(tls_client_config_new(&cfg, &o, err, sizeof(err)), 0);
	assert_true(tls_client_config_anchors(cfg) > 50);
	tls_client_config_free(cfg);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ok_ec_client),
	    cmocka_unit_test(ok_client_key_forms),
	    cmocka_unit_test(ok_server_chain),
	    cmocka_unit_test(ok_rsa_server_and_ip_hosts),
	    cmocka_unit_test(err_hostname),
	    cmocka_unit_test(err_unknown_ca),
	    cmocka_unit_test(err_expired),
	    cmocka_unit_test(err_client_cert),
	    cmocka_unit_test(ok_client_cert_optional),
	    cmocka_unit_test(err_client_cert_revoked),
	    cmocka_unit_test(err_no_alpn),
	    cmocka_unit_test(err_handshake_timeout),
	    cmocka_unit_test(config_errors),
	    cmocka_unit_test(config_combined_file),
	    cmocka_unit_test(san_ip_walk),
	    cmocka_unit_test(config_system_bundle),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, testpki_setup, testpki_teardown);
}
