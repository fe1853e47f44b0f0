/* The seccomp allow-lists (see sandbox.h). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sandbox.h"
#include "lib/util.h"

/*
 * The kernel's ABI (linux/filter.h, linux/seccomp.h, linux/audit.h), which
 * Debian's musl-tools does not ship for x86_64.
 */
struct sandbox_insn {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
struct sandbox_prog {
	unsigned short len;
	struct sandbox_insn *filter;
};
#define BPF_LD_W_ABS 0x20 /* BPF_LD | BPF_W | BPF_ABS */
#define BPF_JEQ_K 0x15 /* BPF_JMP | BPF_JEQ | BPF_K */
#define BPF_JGE_K 0x35 /* BPF_JMP | BPF_JGE | BPF_K */
#define BPF_JSET_K 0x45 /* BPF_JMP | BPF_JSET | BPF_K */
#define BPF_RET_K 0x06 /* BPF_RET | BPF_K */
#define SECCOMP_MODE_FILTER 2
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#define SECCOMP_RET_TRAP 0x00030000U
#define SECCOMP_RET_ERRNO 0x00050000U
#define SECCOMP_RET_ALLOW 0x7fff0000U
/* struct seccomp_data: nr, arch, instruction pointer, then six args. */
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG_LO(i) (16 + 8 * (i)) /* the low word: all three are LE */
#define CAP_SYS_TIME 25
#define CAP_VERSION_3 0x20080522U

#if defined(__x86_64__) && !defined(__ILP32__)
#define SANDBOX_ARCH 0xc000003eU /* AUDIT_ARCH_X86_64 */
#define SANDBOX_X32_BIT 0x40000000U
#elif defined(__aarch64__) && !defined(__AARCH64EB__)
#define SANDBOX_ARCH 0xc00000b7U /* AUDIT_ARCH_AARCH64 */
#elif defined(__arm__) && !defined(__ARMEB__)
#define SANDBOX_ARCH 0x40000028U /* AUDIT_ARCH_ARM */
#endif

/* Longest filter: header, two per call, the argument checks, the end. */
#define SANDBOX_MAX 256

/*
 * Both binaries: the reactor, sockets, TLS, the data directory, memory.
 * Each name is the call musl makes on some arch (absent ones compile out).
 */
static const long common_calls[] = {
    /* reactor: epoll_wait(3) is epoll_pwait(2) in musl, epoll_wait the
       fallback; signalfd and sockets are read with read */
    SYS_epoll_pwait,
#ifdef SYS_epoll_wait
    SYS_epoll_wait,
#endif
    SYS_epoll_ctl, /* interest changes, batched before each wait */
    SYS_read, SYS_write, /* sockets, signalfd, files, the log on stderr */
    SYS_readv, SYS_writev, /* musl's stdio (the log) */
    SYS_close, /* every connection ends */
    SYS_connect, /* tunnels, upstreams, DNS, SNTP, sd_notify */
    SYS_accept4, /* the health port, the edge's listeners */
    SYS_bind, /* c-ares binds its query sockets */
    SYS_getsockopt, /* SO_ERROR after a non-blocking connect */
    SYS_setsockopt, /* TCP_NODELAY, keep-alive */
    SYS_getsockname, SYS_getpeername, /* addresses for logs and PROXY */
    SYS_sendto, SYS_recvfrom, /* send(3)/recv(3), UDP (DNS, SNTP) */
    SYS_sendmsg, SYS_recvmsg, /* c-ares, sd_notify */
    SYS_shutdown, /* half-close of a drained stream */
#ifdef SYS_fcntl64
    SYS_fcntl64, /* O_NONBLOCK, FD_CLOEXEC (32-bit) */
#endif
    SYS_fcntl, /* O_NONBLOCK, FD_CLOEXEC */
/* files: identity store and edge data directory, trust anchors,
       resolv.conf re-reads; written atomically (temp, fsync, rename) */
#ifdef SYS_open
    SYS_open,
#endif
    SYS_openat,
#ifdef SYS_stat
    SYS_stat, SYS_lstat,
#endif
#ifdef SYS_fstat
    SYS_fstat,
#endif
#ifdef SYS_newfstatat
    SYS_newfstatat,
#endif
#ifdef SYS_fstat64
    SYS_fstat64, SYS_stat64, SYS_lstat64, SYS_fstatat64,
#endif
#ifdef SYS_statx
    SYS_statx, /* musl's stat on 32-bit time64 targets */
#endif
#ifdef SYS__llseek
    SYS__llseek, /* lseek on 32-bit */
#endif
    SYS_lseek, /* stdio and file reads */
    SYS_pread64, /* an update bundle's manifest (update/update.h) */
#ifdef SYS_poll
    SYS_poll,
#endif
    SYS_ppoll, /* init's control channel (connector/initctl_client.h) */
    SYS_fsync, SYS_fdatasync, /* identity files durable before rename */
#ifdef SYS_rename
    SYS_rename,
#endif
    SYS_renameat,
#ifdef SYS_renameat2
    SYS_renameat2, /* the atomic replace of an identity file */
#endif
#ifdef SYS_symlink
    SYS_symlink,
#endif
    SYS_symlinkat, /* the identity store's "current" link */
#ifdef SYS_readlink
    SYS_readlink,
#endif
    SYS_readlinkat, /* reading that link */
#ifdef SYS_mkdir
    SYS_mkdir,
#endif
    SYS_mkdirat, /* generation directories */
#ifdef SYS_unlink
    SYS_unlink,
#endif
    SYS_unlinkat, /* temporaries and old generations */
#ifdef SYS_getdents
    SYS_getdents, /* readdir(3) where musl uses the old call */
#endif
    SYS_getdents64, /* listing the data directory */
    SYS_dup, /* a second descriptor of it for fdopendir(3) */
#ifdef SYS_link
    SYS_link,
#endif
    SYS_linkat, /* a generation published without replacing */
    SYS_fchmod, /* identity files are 0600 */
    SYS_getrandom, /* BearSSL and c-ares seeds, tokens */
/* the loop's clock when the vDSO is absent; musl renames the 32-bit
       time calls of time64 targets *_time32 (its fallback) */
#ifdef SYS_clock_gettime
    SYS_clock_gettime,
#endif
#ifdef SYS_clock_gettime64
    SYS_clock_gettime64,
#endif
#ifdef SYS_clock_gettime32
    SYS_clock_gettime32,
#endif
#ifdef SYS_gettimeofday
    SYS_gettimeofday, /* c-ares */
#endif
#ifdef SYS_gettimeofday_time32
    SYS_gettimeofday_time32,
#endif
    SYS_getpid, /* log lines, c-ares */
    /* memory: musl's malloc */
    SYS_brk, SYS_munmap, SYS_mremap, SYS_madvise,
    SYS_rt_sigprocmask, /* musl around a few calls */
    SYS_rt_sigreturn,
#ifdef SYS_sigreturn
    SYS_sigreturn,
#endif
    SYS_exit_group, SYS_exit, /* the end */
};

static const uint32_t socket_families[] = {AF_UNIX, AF_INET, AF_INET6};
static const uint32_t ioctls[] = {FIONREAD, FIONBIO, TIOCGWINSZ};
static const long map_calls[] = {
#ifdef SYS_mmap2
    SYS_mmap2,
#endif
#ifdef SYS_mmap
    SYS_mmap,
#endif
    SYS_mprotect,
};

/* sntp_clock_step() sets the clock with clock_settime(2). */
static const long clock_calls[] = {
#ifdef SYS_clock_settime
    SYS_clock_settime,
#endif
#ifdef SYS_clock_settime64
    SYS_clock_settime64,
#endif
#ifdef SYS_clock_settime32
    SYS_clock_settime32,
#endif
};

/* The lwIP build's locks and semaphores (pthread mutexes, conditions). */
static const long thread_calls[] = {
#ifdef SYS_futex
    SYS_futex,
#endif
#ifdef SYS_futex_time64
    SYS_futex_time64,
#endif
};

struct filter {
	struct sandbox_insn f[SANDBOX_MAX];
	size_t n;
	bool full;
};

static void
emit(struct filter *b, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (b->n == SANDBOX_MAX) {
		b->full = true;
		return;
	}
	b->f[b->n++] = (struct sandbox_insn){code, jt, jf, k};
}

static void
allow(struct filter *b, long nr)
{
	emit(b, BPF_JEQ_K, (uint32_t)nr, 0, 1);
	emit(b, BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0);
}

/* nr with argument `arg` one of `v`, else the default action. */
static void
allow_arg_in(struct filter *b, long nr, int arg, const uint32_t *v, size_t n,
    uint32_t def)
{
	emit(b, BPF_JEQ_K, (uint32_t)nr, 0, (uint8_t)(2 * n + 2));
	emit(b, BPF_LD_W_ABS, OFF_ARG_LO(arg), 0, 0);
	for (size_t i = 0; i < n; i++)
		allow(b, v[i]);
	emit(b, BPF_RET_K, def, 0, 0);
}

/* nr with no bit of `mask` set in argument `arg` (PROT_EXEC). */
static void
allow_arg_clear(struct filter *b, long nr, int arg, uint32_t mask, uint32_t def)
{
	emit(b, BPF_JEQ_K, (uint32_t)nr, 0, 4);
	emit(b, BPF_LD_W_ABS, OFF_ARG_LO(arg), 0, 0);
	emit(b, BPF_JSET_K, mask, 1, 0);
	emit(b, BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0);
	emit(b, BPF_RET_K, def, 0, 0);
}

/* Whether CAP_SYS_TIME is in the effective set (capget(2)). */
static bool
have_cap_sys_time(void)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = {CAP_VERSION_3, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return (data[0].effective & (1U << CAP_SYS_TIME)) != 0;
}

static void
build(struct filter *b, enum sandbox_profile p, const struct sandbox_conf *conf,
    uint32_t def)
{
	emit(b, BPF_LD_W_ABS, OFF_ARCH, 0, 0);
	emit(b, BPF_JEQ_K, SANDBOX_ARCH, 1, 0);
	emit(b, BPF_RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	emit(b, BPF_LD_W_ABS, OFF_NR, 0, 0);
#ifdef SANDBOX_X32_BIT
	emit(b, BPF_JGE_K, SANDBOX_X32_BIT, 0, 1);
	emit(b, BPF_RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
#endif
	for (size_t i = 0; i < nitems(common_calls); i++)
		allow(b, common_calls[i]);
	for (size_t i = 0; i < nitems(map_calls); i++)
		allow_arg_clear(b, map_calls[i], 2, PROT_EXEC, def);
	allow_arg_in(
	    b, SYS_socket, 0, socket_families, nitems(socket_families), def);
	allow_arg_in(b, SYS_ioctl, 1, ioctls, nitems(ioctls), def);
	for (size_t i = 0; conf->threads && i < nitems(thread_calls); i++)
		allow(b, thread_calls[i]);
	if (p == SANDBOX_WORKER && conf->set_clock) {
		/* sntp_clock_step(); without the capability the kernel would
		   refuse it anyway: fail as it would, logged by the caller */
		uint32_t act = have_cap_sys_time() ? SECCOMP_RET_ALLOW
						   : SECCOMP_RET_ERRNO | EPERM;
		for (size_t i = 0; i < nitems(clock_calls); i++) {
			emit(b, BPF_JEQ_K, (uint32_t)clock_calls[i], 0, 1);
			emit(b, BPF_RET_K, act, 0, 0);
		}
	}
	emit(b, BPF_RET_K, def, 0, 0);
}

/*
 * SIGSYS under SECCOMP_RET_TRAP: name the call with write(2), exit 111
 * with exit_group(2) itself (no atexit, no interceptor on the way out).
 */
static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char msg[64] = "outpost: seccomp: forbidden system call ";
	size_t n = strlen(msg);
	char digits[12];
	size_t d = 0;
	unsigned v = (unsigned)si->si_syscall;

	(void)sig;
	(void)ctx;
	do
		digits[d++] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && d < sizeof(digits));
	while (d > 0)
		msg[n++] = digits[--d];
	msg[n++] = '\n';
	(void)!write(STDERR_FILENO, msg, n);
	syscall(SYS_exit_group, 111);
}

/* see sandbox.h */
int
sandbox_start(enum sandbox_profile p, const struct sandbox_conf *conf,
    char *err, size_t errlen)
{
	static struct filter b;
	struct sandbox_prog prog;
	struct sigaction sa;
	uint32_t def =
	    conf->debug ? SECCOMP_RET_TRAP : SECCOMP_RET_KILL_PROCESS;

	if (!conf->enabled) {
		log_warn("SECCOMP=false: running WITHOUT the system call "
			 "allow-list; for debugging only");
		return 0;
	}
#ifndef SANDBOX_ARCH
	snprintf(err, errlen, "seccomp: no allow-list for this architecture");
	return -ENOTSUP;
#else
	b.n = 0;
	build(&b, p, conf, def);
	if (b.full) {
		snprintf(
		    err, errlen, "seccomp: filter longer than %d", SANDBOX_MAX);
		return -E2BIG;
	}
	if (conf->debug) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigsys;
		sa.sa_flags = SA_SIGINFO;
		if (sigaction(SIGSYS, &sa, NULL) < 0) {
			snprintf(err, errlen, "seccomp: SIGSYS handler: %s",
			    strerror(errno));
			return -errno;
		}
	}
	prog = (struct sandbox_prog){(unsigned short)b.n, b.f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
		int e = errno;

		snprintf(err, errlen,
		    "seccomp: cannot install the filter: %s (SECCOMP=false "
		    "runs without it)",
		    strerror(e));
		return -e;
	}
	log_info("seccomp: allow-list installed (%zu instructions%s)", b.n,
	    conf->debug ? ", violations trapped and named" : "");
	return (int)b.n;
#endif
}
