/*
 * Unit tests: net/stream on real sockets (socketpairs and loopback TCP)
 * and the real reactor.  Every loop is bounded in iterations and each wait
 * in time.  Run one case with: test_stream <name-pattern>.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/util.h"
#include "net/stream.h"
#include "rx/rx.h"

struct owner {
	struct stream st;
	uint8_t in[16], out[16];
	int events; /* on_event calls */
	int err; /* stream_error() as first seen */
	int closes;
};

static void
owner_event(struct stream *s)
{
	struct owner *o = container_of(s, struct owner, st);

	o->events++;
	if (o->err == 0)
		o->err = stream_error(s);
}

static void
owner_closed(struct stream *s)
{
	container_of(s, struct owner, st)->closes++;
}

/* A connected loopback TCP pair: *a non-blocking (for the stream), *b
 * blocking (the test's peer). */
static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t alen = sizeof(sa);
	int ls;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &alen), 0);
	assert_true((*b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(connect(*b, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true((*a = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0);
	close(ls);
}

static void
reset_peer(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/* The owner's input is full and it writes nothing (a request waiting for
 * its answer): the stream asks for no events.  A peer reset must still
 * reach the owner, once, and the loop must then sleep. */
static void
reset_while_input_full(void **state)
{
	static const char req[40] = "0123456789012345678901234567890123456789";
	struct owner o = {0};
	struct rx_loop l;
	int a, b, i;

	assert_int_equal(rx_init(&l, 1), 0);
	tcp_pair(&a, &b);
	stream_start(&o.st, &l, a, NULL, o.in, sizeof(o.in), o.out,
	    sizeof(o.out), owner_event, owner_closed);
	assert_int_equal(write(b, req, sizeof(req)), (ssize_t)sizeof(req));
	for (i = 0; i < 20 && o.st.in.len < sizeof(o.in); i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_equal(o.st.in.len, sizeof(o.in)); /* full, not consumed */
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(o.st.w.want, 0);
	o.events = 0;
	reset_peer(b);
	for (i = 0; i < 20 && o.err == 0; i++)
		assert_int_equal(rx_run_once(&l, 1000), 0);
	assert_int_not_equal(o.err, 0);
	assert_true(stream_dead(&o.st));
	/* Told once; afterwards the loop sleeps until its bound. */
	for (i = 0; i < 5; i++)
		assert_int_equal(rx_run_once(&l, 10), 0);
	assert_true(o.events <= 2);
	stream_close(&o.st);
	assert_int_equal(rx_run_once(&l, 0), 0);
	assert_int_equal(o.closes, 1);
	rx_free(&l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reset_while_input_full),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
