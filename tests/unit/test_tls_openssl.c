/*
 * Unit tests: the tls module's client against a real, independent peer —
 * `openssl s_server` on loopback — so that ALPN, client authentication and
 * the typed reasons for the alerts OpenSSL sends are checked against
 * another implementation than BearSSL itself.  The PKI comes from
 * tests/integration/pki.sh.  Usage: test_tls_openssl [name-filter]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "testpki.h"
#include "tls/tls.h"

struct server {
	pid_t pid;
	int port;
};

static int
group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	return testpki_setup(state);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* One-connection `openssl s_server` echoing lines reversed (-rev). */
static struct server
server_start(const char *extra)
{
	struct server s = {0, free_port()};
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	    "exec openssl s_server -quiet -naccept 1 -tls1_2 -rev "
	    "-accept 127.0.0.1:%d -cert %s/server.pem -key %s/server.key "
	    "-CAfile %s/ca.pem %s </dev/null >/dev/null 2>&1",
	    s.port, testpki_dir, testpki_dir, testpki_dir, extra);
	s.pid = fork();
	assert_true(s.pid >= 0);
	if (s.pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return s;
}

static void
server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
}

/* Connect, retrying while the server starts (at most 5 s). */
static int
dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int64_t deadline = now_ms() + 5000;
	int fd;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (now_ms() < deadline) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		usleep(20000);
	}
	fail_msg("openssl s_server did not start on port %d", port);
	return -1;
}

/* Move bytes between the socket and the engine until done() or 5 s. */
static void
run(int fd, struct tls_conn *c, bool (*done)(struct tls_conn *))
{
	int64_t deadline = now_ms() + 5000;
	struct pollfd pfd = {.fd = fd};
	const uint8_t *p;
	uint8_t *q;
	size_t n;
	ssize_t k;
	unsigned want;

	while (!done(c) && now_ms() < deadline) {
		if ((want = tls_want(c)) == 0)
			return;
		if ((p = tls_send_take(c, &n)) != NULL && n > 0) {
			k = send(fd, p, n, MSG_NOSIGNAL);
			if (k > 0)
				tls_send_ack(c, (size_t)k);
			continue;
		}
		pfd.events = (want & TLS_WANT_READ) ? POLLIN : 0;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		q = tls_recv_buf(c, &n);
		if (q == NULL || n == 0)
			continue;
		k = recv(fd, q, n, 0);
		if (k <= 0) {
			tls_eof(c);
			return;
		}
		tls_recv_commit(c, (size_t)k);
	}
}

static bool
is_ready(struct tls_conn *c)
{
	return tls_ready(c) || tls_failed(c);
}

static bool
has_line(struct tls_conn *c)
{
	size_t n = 0;
	const uint8_t *p = tls_app_take(c, &n);

	return tls_failed(c) || (p != NULL && memchr(p, '\n', n) != NULL);
}

static struct tls_client_config *
client_cfg(const char *name)
{
	struct tls_client_opts o = {0};
	struct tls_client_config *cfg = NULL;
	char ca[300], cert[300], key[300], err[256], *pem[3];
	size_t len[3], i;
	const char *paths[3] = {ca, cert, key};
	FILE *f;

	snprintf(ca, sizeof(ca), "%s/ca.pem", testpki_dir);
	snprintf(
	    cert, sizeof(cert), "%s/%s.pem", testpki_dir, name ? name : "");
	snprintf(key, sizeof(key), "%s/%s.key", testpki_dir, name ? name : "");
	for (i = 0; i < 3; i++) {
		pem[i] = NULL;
		len[i] = 0;
		if (i > 0 && name == NULL)
			continue;
		f = fopen(paths[i], "rb");
		assert_non_null(f);
		pem[i] = malloc(65536);
		len[i] = fread(pem[i], 1, 65536, f);
		fclose(f);
	}
	o.ca = pem[0];
	o.ca_len = len[0];
	o.cert = pem[1];
	o.cert_len = len[1];
	o.key = pem[2];
	o.key_len = len[2];
	if (tls_client_config_new(&cfg, &o, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	for (i = 0; i < 3; i++)
		free(pem[i]);
	return cfg;
}

/* Handshake with a server started with extra; returns the reason. */
static enum tls_reason
attempt(const char *extra, const char *client, bool echo)
{
	struct tls_client_config *cfg = client_cfg(client);
	struct tls_conn *c = malloc(TLS_CONN_SIZE);
	struct server s = server_start(extra);
	enum tls_reason r;
	const uint8_t *p;
	uint8_t *q;
	size_t n;
	int fd = dial(s.port);

	assert_int_equal(tls_client_start(c, cfg, "localhost"), 0);
	run(fd, c, is_ready);
	if (echo && tls_ready(c)) {
		q = tls_app_buf(c, &n);
		assert_true(q != NULL && n >= 6);
		memcpy(q, "hello\n", 6);
		tls_app_commit(c, 6);
		run(fd, c, has_line);
		p = tls_app_take(c, &n);
		assert_true(p != NULL && n >= 6);
		assert_memory_equal(p, "olleh\n", 6);
	}
	r = tls_reason(c);
	close(fd);
	server_stop(&s);
	tls_wipe(c);
	free(c);
	tls_client_config_free(cfg);
	return r;
}

static void
openssl_ok_with_client_cert(void **state)
{
	assert_int_equal(attempt("-Verify 1 -verify_return_error -alpn h2",
			     "client-test", true),
	    TLS_R_NONE);
	assert_int_equal(attempt("-Verify 1 -verify_return_error -alpn h2",
			     "client-test-rsa", true),
	    TLS_R_NONE);
}

static void
openssl_without_alpn(void **state)
{
	enum tls_reason r = attempt("-Verify 1", "client-test", false);

	if (r != TLS_R_NO_ALPN)
		fail_msg("got %s", tls_reason_name(r));
}

static void
openssl_rejects_client_cert(void **state)
{
	enum tls_reason r;

	/* OpenSSL sends a fatal unknown_ca alert: the peer refused us. */
	r = attempt(
	    "-Verify 1 -verify_return_error -alpn h2", "client-wrongca", false);
	if (r != TLS_R_PEER_REJECTED)
		fail_msg("wrong CA: got %s", tls_reason_name(r));
	r = attempt(
	    "-Verify 1 -verify_return_error -alpn h2", "client-expired", false);
	if (r != TLS_R_PEER_REJECTED)
		fail_msg("expired: got %s", tls_reason_name(r));
	/* No certificate at all: a handshake_failure alert in TLS 1.2. */
	r = attempt("-Verify 1 -verify_return_error -alpn h2", NULL, false);
	if (r != TLS_R_PEER_REJECTED && r != TLS_R_HANDSHAKE)
		fail_msg("no cert: got %s", tls_reason_name(r));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(openssl_ok_with_client_cert),
	    cmocka_unit_test(openssl_without_alpn),
	    cmocka_unit_test(openssl_rejects_client_cert),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, group_setup, testpki_teardown);
}
