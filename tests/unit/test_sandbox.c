/*
 * Unit tests: the seccomp allow-lists (lib/sandbox).  Each case forks; the
 * child installs a filter and makes calls; the parent reads how it ended.
 * Under qemu-user (cross ARCH) PR_SET_SECCOMP is refused: the child says so
 * (exit 77) and the case is skipped there, never on a native x86_64 run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "lib/sandbox.h"

#define SKIP_EXIT 77

/*
 * The child ends with exit_group(2) itself: ASan's _exit(2) interceptor
 * (host build) calls sigaltstack(2), which is not on the list (musl never
 * calls it; the shipped binary has no ASan).
 */
static _Noreturn void
child_exit(int code)
{
	syscall(SYS_exit_group, code);
	for (;;)
		;
}

enum what { ALLOWED, PTRACE, EXECVE, PACKET, EXEC_MAP, CLOCK, CLOCK_NOCAP };

/* The allowed calls a worker makes: each must work under the filter. */
static int
allowed_calls(void)
{
	int fd;
	unsigned char r[8];
	struct timespec ts;
	char b;
	void *p;

	if ((fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) < 0 ||
	    read(fd, &b, 1) != 1 || close(fd) < 0)
		return 1;
	if ((fd = socket(AF_INET6, SOCK_DGRAM, 0)) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || close(fd) < 0)
		return 2;
	if (getrandom(r, sizeof(r), 0) != sizeof(r) ||
	    clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 3;
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, 65536) < 0)
		return 4;
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return fd < 0 || write(fd, "x", 1) != 1 || close(fd) < 0 ? 5 : 0;
}

static int
make_call(enum what w)
{
	char *argv[] = {"/bin/true", NULL};
	struct timespec ts = {0, 0};

	switch (w) {
	case ALLOWED:
		return allowed_calls();
	case PTRACE:
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case EXECVE:
		execve(argv[0], argv, argv + 1);
		break;
	case PACKET:
		socket(AF_PACKET, SOCK_RAW, 0);
		break;
	case EXEC_MAP:
		mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case CLOCK:
	case CLOCK_NOCAP:
		/* CLOCK_MONOTONIC cannot be set: EINVAL means the call reached
		   the kernel, EPERM that the filter answered */
		if (clock_settime(CLOCK_MONOTONIC, &ts) == 0)
			return 9;
		return errno == EINVAL ? 0 : errno == EPERM ? 1 : 9;
	}
	return 10; /* survived a forbidden call */
}

/* Empty the effective, permitted and inheritable capability sets. */
static int
drop_caps(void)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522, 0};
	uint32_t data[6] = {0};

	return (int)syscall(SYS_capset, &hdr, data);
}

/* The wait status of a child that installs `p` and makes call `w`. */
static int
in_child(enum sandbox_profile p, const struct sandbox_conf *c, enum what w)
{
	char err[256];
	pid_t pid;
	int st, r;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (w == CLOCK_NOCAP && drop_caps() < 0)
			child_exit(21);
		r = sandbox_start(p, c, err, sizeof(err));
		if (r == -EINVAL)
			child_exit(SKIP_EXIT);
		child_exit(r <= 0 ? 20 : make_call(w));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_EXIT) {
#ifdef __x86_64__
		fail_msg("PR_SET_SECCOMP refused on a native run");
#else
		skip();
#endif
	}
	return st;
}

static void
assert_sigsys(int st)
{
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void
assert_exit(int st, int code)
{
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), code);
}

static const struct sandbox_conf kill_conf = {.enabled = true};

static void
allowed_calls_work(void **state)
{
	int st;

	(void)state;
	st = in_child(SANDBOX_WORKER, &kill_conf, ALLOWED);
	assert_exit(st, 0);
	st = in_child(SANDBOX_EDGE, &kill_conf, ALLOWED);
	assert_exit(st, 0);
}

static void
forbidden_calls_kill(void **state)
{
	static const enum what bad[] = {PTRACE, EXECVE, PACKET, EXEC_MAP};
	int st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = in_child(SANDBOX_WORKER, &kill_conf, bad[i]);
		assert_sigsys(st);
		st = in_child(SANDBOX_EDGE, &kill_conf, bad[i]);
		assert_sigsys(st);
	}
}

static void
debug_traps_exit_111(void **state)
{
	struct sandbox_conf c = {.enabled = true, .debug = true};
	int st;

	(void)state;
	st = in_child(SANDBOX_WORKER, &c, PTRACE);
	assert_exit(st, 111);
}

static void
clock_only_with_ntp(void **state)
{
	struct sandbox_conf c = {.enabled = true, .set_clock = true};
	int st;

	(void)state;
	/* with CAP_SYS_TIME (root here) the call reaches the kernel */
	if (geteuid() == 0) {
		st = in_child(SANDBOX_WORKER, &c, CLOCK);
		assert_exit(st, 0);
	}
	/* without it the filter fails it EPERM, as the kernel would */
	st = in_child(SANDBOX_WORKER, &c, CLOCK_NOCAP);
	assert_exit(st, 1);
	/* without NTP_SERVERS it is not on the list at all */
	st = in_child(SANDBOX_WORKER, &kill_conf, CLOCK);
	assert_sigsys(st);
	/* nor ever on the edge's */
	st = in_child(SANDBOX_EDGE, &c, CLOCK);
	assert_sigsys(st);
}

static void
disabled_installs_nothing(void **state)
{
	struct sandbox_conf c = {.enabled = false};
	char err[64];
	int st;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_exit(
		    sandbox_start(SANDBOX_WORKER, &c, err, sizeof(err)) != 0 ||
		    prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exit(st, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(allowed_calls_work),
	    cmocka_unit_test(forbidden_calls_kill),
	    cmocka_unit_test(debug_traps_exit_111),
	    cmocka_unit_test(clock_only_with_ntp),
	    cmocka_unit_test(disabled_installs_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
