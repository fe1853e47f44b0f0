/*
 * Unit tests: the lwIP backend of the socket shim (src/net/net_lwip.c),
 * through net.h alone, over lwIP's loopback netif (127.0.0.1 and ::1 inside
 * lwIP: no traffic reaches the kernel).  Built only in the NET=lwip
 * variant: `make lwip-test`.  Every wait is bounded (wait_for).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "net/net.h"
#include "wrapfd.h"

/* Poll fd for ev, at most 5 s; the revents seen. */
static short
wait_for(int fd, short ev)
{
	struct pollfd p = {.fd = fd, .events = ev};

	assert_int_equal(net_poll(&p, 1, 5000), 1);
	return p.revents;
}

static socklen_t
loopback(int family, struct sockaddr_storage *ss, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *v4 = (void *)ss;
		v4->sin_family = AF_INET;
		v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		v4->sin_port = htons(port);
		return sizeof(*v4);
	}
	struct sockaddr_in6 *v6 = (void *)ss;
	v6->sin6_family = AF_INET6;
	v6->sin6_addr = in6addr_loopback;
	v6->sin6_port = htons(port);
	return sizeof(*v6);
}

static unsigned
port_of(int fd)
{
	struct sockaddr_storage ss;

	assert_int_equal(net_local_addr(fd, &ss), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Connect a new socket to lfd's port; the connected fd. */
static int
connect_to(int family, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss, port_of(lfd));
	int fd = net_socket(family, SOCK_STREAM), r;

	assert_true(fd >= 0);
	r = net_connect(fd, (struct sockaddr *)&ss, len);
	assert_true(r == 0 || r == -EINPROGRESS);
	if (r == -EINPROGRESS) {
		assert_true(wait_for(fd, POLLOUT) & POLLOUT);
		assert_int_equal(net_connect_result(fd), 0);
	}
	return fd;
}

static int
accept_on(int lfd)
{
	struct sockaddr_storage peer;
	int fd;

	assert_true(wait_for(lfd, POLLIN) & POLLIN);
	fd = net_accept(lfd, &peer);
	assert_true(fd >= 0);
	assert_true(peer.ss_family == AF_INET || peer.ss_family == AF_INET6);
	return fd;
}

/* Read exactly n bytes from fd into p (bounded by wait_for). */
static void
read_all(int fd, char *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = net_read(fd, p + got, n - got);
		if (r == -EAGAIN) {
			wait_for(fd, POLLIN);
			continue;
		}
		assert_true(r > 0);
		got += (size_t)r;
	}
}

static void
round_trip(int family)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss, 0);
	int lfd = net_listen((struct sockaddr *)&ss, len, 8), c, s;
	char buf[16];

	assert_true(lfd >= 0);
	assert_true(port_of(lfd) != 0);
	assert_int_equal(net_accept(lfd, &ss), -EAGAIN);
	c = connect_to(family, lfd);
	s = accept_on(lfd);
	assert_int_equal(net_set_opt(c, NET_NODELAY, true), 0);
	assert_int_equal(net_set_opt(s, NET_KEEPALIVE, true), 0);
	assert_int_equal(net_read(s, buf, sizeof(buf)), -EAGAIN);

	assert_int_equal(net_write(c, "ping", 4), 4);
	read_all(s, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(net_write(s, "pong!", 5), 5);
	read_all(c, buf, 5);
	assert_memory_equal(buf, "pong!", 5);

	/* FIN from the client: the server reads end of stream. */
	assert_int_equal(net_shutdown_write(c), 0);
	assert_true(wait_for(s, POLLIN) & POLLIN);
	assert_int_equal(net_read(s, buf, sizeof(buf)), 0);

	assert_int_equal(net_close(c), 0);
	assert_int_equal(net_close(s), 0);
	assert_int_equal(net_close(lfd), 0);
	assert_int_equal(net_close(lfd), -EBADF);
}

static void
lwip_round_trip_v4(void **state)
{
	round_trip(AF_INET);
}

static void
lwip_round_trip_v6(void **state)
{
	round_trip(AF_INET6);
}

/* A connect to a port nobody listens on fails with ECONNREFUSED, either at
 * once or through net_connect_result after write readiness. */
static void
lwip_connect_refused(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int lfd = net_listen((struct sockaddr *)&ss, len, 1), fd, r;
	unsigned port;

	assert_true(lfd >= 0);
	port = port_of(lfd);
	assert_int_equal(net_close(lfd), 0);
	len = loopback(AF_INET, &ss, port);
	fd = net_socket(AF_INET, SOCK_STREAM);
	assert_true(fd >= 0);
	r = net_connect(fd, (struct sockaddr *)&ss, len);
	if (r == -EINPROGRESS) {
		wait_for(fd, POLLOUT);
		r = net_connect_result(fd);
	}
	assert_int_equal(r, -ECONNREFUSED);
	assert_int_equal(net_close(fd), 0);
}

/* A second listener on the same address is refused and leaves nothing. */
static void
lwip_listen_in_use(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int lfd = net_listen((struct sockaddr *)&ss, len, 1);

	assert_true(lfd >= 0);
	len = loopback(AF_INET, &ss, port_of(lfd));
	assert_int_equal(
	    net_listen((struct sockaddr *)&ss, len, 1), -EADDRINUSE);
	assert_int_equal(net_close(lfd), 0);
}

/* lwIP's threads start with every signal blocked, whenever the stack
 * starts: a signal blocked here stays pending for this thread's sigwait
 * instead of killing the process in the tcpip thread (default action). */
static void
lwip_threads_take_no_signal(void **state)
{
	struct timespec ts = {.tv_sec = 2};
	int fd = net_socket(AF_INET, SOCK_STREAM);
	sigset_t set;

	assert_true(fd >= 0);
	assert_int_equal(net_close(fd), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(sigtimedwait(&set, NULL, &ts), SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

/*
 * Move n bytes from c to s with both ends non-blocking, writing and
 * reading in turn (one thread; lwIP's buffers are smaller than n); at most
 * 200000 turns, each wait bounded.  Returns the bytes read.
 */
static size_t
pump(int c, int s, const char *out, char *in, size_t n)
{
	size_t sent = 0, got = 0;
	int turn;

	for (turn = 0; turn < 200000 && got < n; turn++) {
		ssize_t w = sent < n ? net_write(c, out + sent, n - sent) : 0;
		ssize_t r = net_read(s, in + got, n - got);

		if (w > 0)
			sent += (size_t)w;
		else
			assert_true(w == 0 || w == -EAGAIN);
		if (r > 0)
			got += (size_t)r;
		else if (r == -ECONNRESET || r == 0)
			break;
		else
			assert_int_equal(r, -EAGAIN);
		if (w <= 0 && r <= 0) {
			struct pollfd p[2] = {{.fd = s, .events = POLLIN},
			    {.fd = c, .events = sent < n ? POLLOUT : 0}};

			assert_true(net_poll(p, 2, 5000) > 0);
		}
	}
	return got;
}

/*
 * The fault injector under the lwIP shim: short reads and writes, EINTR
 * (retried inside net_read/net_write) and spurious EAGAIN lose or reorder
 * no byte, over many seeds; a reset after N bytes is -ECONNRESET after
 * exactly those bytes.
 */
static void
lwip_faults(void **state)
{
	static const struct wrapfd_plan noisy = {WRAPFD_SHORT_READ |
		WRAPFD_SHORT_WRITE | WRAPFD_EINTR | WRAPFD_EAGAIN,
	    60, -1};
	static const struct wrapfd_plan reset = {0, 0, 1000};
	static char out[64 * 1024], in[sizeof(out)];
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int lfd = net_listen((struct sockaddr *)&ss, len, 8), c, s;
	unsigned seed, faults;
	size_t i;

	assert_true(lfd >= 0);
	for (seed = 1; seed <= 16; seed++) {
		wrapfd_clear();
		wrapfd_seed(seed);
		for (i = 0; i < sizeof(out); i++)
			out[i] = (char)(i * 31 + seed);
		c = connect_to(AF_INET, lfd);
		s = accept_on(lfd);
		wrapfd_set(WRAPFD_ALL, &noisy);
		memset(in, 0, sizeof(in));
		assert_int_equal(pump(c, s, out, in, sizeof(out)), sizeof(out));
		assert_memory_equal(in, out, sizeof(out));
		faults = wrapfd_stats()->short_reads +
		    wrapfd_stats()->short_writes + wrapfd_stats()->eintr +
		    wrapfd_stats()->eagain;
		if (faults == 0)
			fail_msg("seed %u: no fault was injected", seed);
		wrapfd_clear();
		assert_int_equal(net_close(c), 0);
		assert_int_equal(net_close(s), 0);
	}
	c = connect_to(AF_INET, lfd);
	s = accept_on(lfd);
	wrapfd_set(s, &reset);
	assert_int_equal(pump(c, s, out, in, 4000), 1000);
	assert_memory_equal(in, out, 1000);
	assert_int_equal(net_read(s, in, 1), -ECONNRESET);
	assert_int_equal(wrapfd_stats()->resets, 2);
	wrapfd_clear();
	assert_int_equal(net_close(c), 0);
	assert_int_equal(net_close(s), 0);
	assert_int_equal(net_close(lfd), 0);
}

/* net_iface_check: the settings run would refuse, each named first. */
static void
lwip_iface_check(void **state)
{
	static const struct {
		struct net_iface_conf c;
		const char *err; /* NULL: accepted; else the message's start */
	} cases[] = {
	    {{"tap0", "10.0.0.2/24", "10.0.0.1"}, NULL},
	    {{"tap0", "10.0.0.2/24,fd00::2/64", NULL}, NULL},
	    {{"t", "192.168.1.9/30", "192.168.1.10"}, NULL},
	    {{NULL, "10.0.0.2/24", NULL}, "LWIP_TAP: not set"},
	    {{"", "10.0.0.2/24", NULL}, "LWIP_TAP: not an interface"},
	    {{"a/b", "10.0.0.2/24", NULL}, "LWIP_TAP: not an interface"},
	    {{"sixteen-chars-xx", "10.0.0.2/24", NULL}, "LWIP_TAP: not an"},
	    {{"tap0", NULL, NULL}, "LWIP_ADDRESS: not set"},
	    {{"tap0", "10.0.0.2", NULL}, "LWIP_ADDRESS: 10.0.0.2: not"},
	    {{"tap0", "10.0.0.2/", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.2/0", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.2/31", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.2/24x", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.256/24", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "fd00::2/64", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.2/24,fd00::2/48", NULL}, "LWIP_ADDRESS: fd00"},
	    {{"tap0", "10.0.0.2/24,10.0.0.3/64", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.2/24,", NULL}, "LWIP_ADDRESS:"},
	    {{"tap0", "10.0.0.2/24", "10.0.1.1"}, "LWIP_GATEWAY: 10.0.1.1"},
	    {{"tap0", "10.0.0.2/24", "10.0.0.2"}, "LWIP_GATEWAY:"},
	    {{"tap0", "10.0.0.2/24", "gw"}, "LWIP_GATEWAY: gw: not"},
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		int r = net_iface_check(&cases[i].c, err, sizeof(err));
		if (cases[i].err == NULL) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_int_equal(r, -1);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("case %zu: %s", i, err);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(lwip_round_trip_v4),
	    cmocka_unit_test(lwip_round_trip_v6),
	    cmocka_unit_test(lwip_connect_refused),
	    cmocka_unit_test(lwip_listen_in_use),
	    cmocka_unit_test(lwip_iface_check),
	    cmocka_unit_test(lwip_threads_take_no_signal),
	    cmocka_unit_test(lwip_faults),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
