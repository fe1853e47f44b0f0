/*
 * net.h — the socket shim.  Every socket call in outpost goes through
 * here, so that one backend can be swapped for another (POSIX now; lwIP
 * for the embedded test build).  The interface is deliberately small.
 *
 * All sockets are non-blocking and close-on-exec from birth; writes never
 * raise SIGPIPE.  Returns: >= 0 on success, or -errno (-EAGAIN when the
 * operation would block, -EINPROGRESS from a connect in progress).
 * Descriptors belong to the shim's fd space: pass them only to net_*()
 * and to the reactor.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * Conventions for every call below (unless its comment says otherwise):
 *   - pointer arguments are never NULL; fd is a descriptor from this shim;
 *   - a negative return is -errno and nothing was done (for net_read and
 *     net_write: no byte moved); EINTR is retried inside, never returned
 *     (net_poll alone returns -EINTR).
 * Nothing here blocks; nothing here allocates.
 */

/* A new socket (SOCK_STREAM or SOCK_DGRAM of family).  The fd (>= 0), or
 * -errno (-EMFILE/-ENFILE: out of descriptors). */
int net_socket(int family, int type);

/* Start connecting fd to sa (len bytes).  0: connected at once (loopback,
 * UDP); -EINPROGRESS: wait for write readiness, then net_connect_result();
 * any other -errno: failed (-ECONNREFUSED, -ENETUNREACH, ...). */
int net_connect(int fd, const struct sockaddr *sa, socklen_t len);

/* After write readiness on a connecting socket: 0 connected, or the -errno
 * the connect failed with (the socket's pending error, cleared by this). */
int net_connect_result(int fd);

/* A listening TCP socket bound to sa (SO_REUSEADDR; IPV6_V6ONLY for
 * AF_INET6; port 0 picks one: read it with net_local_addr).  The fd, or
 * -errno (-EADDRINUSE, -EACCES, ...) with nothing left open. */
int net_listen(const struct sockaddr *sa, socklen_t len, int backlog);

/* Accept one connection on lfd; its peer address into *peer (not NULL).
 * The new fd (non-blocking, close-on-exec), -EAGAIN when none is waiting,
 * -EMFILE/-ENFILE when out of descriptors (the connection stays queued:
 * pause accepting), or another -errno. */
int net_accept(int lfd, struct sockaddr_storage *peer);

/* Read up to n bytes into p.  > 0: bytes read (possibly fewer than n);
 * 0: the peer closed its side (end of stream; for n == 0, nothing);
 * -EAGAIN: nothing to read now; other -errno: the connection failed
 * (-ECONNRESET, -ECONNREFUSED for UDP after an ICMP error, ...). */
ssize_t net_read(int fd, void *p, size_t n);

/* As net_read, into p and then, once p is full, into q (one call: a
 * scatter read, for reading ahead): bytes in both together. */
ssize_t net_read2(int fd, void *p, size_t n, void *q, size_t m);

/* Write up to n bytes of p.  >= 0: bytes accepted (possibly fewer than n:
 * write the rest after write readiness; 0 only for n == 0); -EAGAIN: no
 * room now; -EPIPE/-ECONNRESET or another -errno: the connection failed
 * (never a SIGPIPE). */
ssize_t net_write(int fd, const void *p, size_t n);

/* Send end-of-stream (TCP FIN) and keep reading.  0 or -errno. */
int net_shutdown_write(int fd);

/* Close fd (at once; the reactor's deferred close calls this).  0, or
 * -errno, after which fd is closed all the same: never retry. */
int net_close(int fd);

enum net_opt { NET_NODELAY, NET_KEEPALIVE };

/* Turn a socket option on or off.  0, -EINVAL for an unknown opt, or the
 * -errno of the backend. */
int net_set_opt(int fd, enum net_opt opt, bool on);

/* Local address of fd into *ss (for tests and logs).  0 or -errno. */
int net_local_addr(int fd, struct sockaddr_storage *ss);

/* Poll-style readiness, for backends without epoll: poll(2) over n entries
 * of fds (fds may be NULL when n is 0).  The number of entries with events
 * (0: the timeout passed; timeout_ms < 0 waits without one), or -errno. */
int net_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* "1.2.3.4:80" or "[::1]:80" into out[0..n), NUL-terminated and truncated
 * to fit (n >= NET_ADDR_STRLEN is always enough; n must be > 0); "?" for
 * another family.  Cannot fail. */
#define NET_ADDR_STRLEN 64
void net_addr_str(const struct sockaddr *sa, char *out, size_t n);

/* "addr/len" of family af (AF_INET or AF_INET6) in s[0..n), no NUL needed:
 * the address into addr (a struct in_addr or in6_addr) and the prefix
 * length (1..32, 1..128) into *len.  false when malformed (addr and *len
 * may have been written). */
bool net_cidr_parse(int af, const char *s, size_t n, void *addr, int *len);

/*
 * The backend's own network interface.  The POSIX backend runs on the
 * kernel's interfaces and has none: it refuses any field set.  The lwIP
 * backend (net_lwip_if.c) brings its stack's tap interface up from them.
 * Strings as the settings hold them; NULL when unset.
 */
struct net_iface_conf {
	const char *tap; /* LWIP_TAP: the tap device's name */
	const char *address; /* LWIP_ADDRESS: "a.b.c.d/len[,ipv6/64]" */
	const char *gateway; /* LWIP_GATEWAY: "a.b.c.d", on the address's net */
};

/* Check conf as net_iface_start() would, starting nothing (check-config
 * calls it).  0, or -1 with a message into err[0..errlen) that starts with
 * the setting's name ("LWIP_ADDRESS: ...").  Never fails on a NULL field
 * it does not need. */
int net_iface_check(
    const struct net_iface_conf *conf, char *err, size_t errlen);

/* Bring the interface up: once per process, before the first dial (the
 * backend's threads start with every signal blocked).  0, or -1 with err as above (the device cannot be attached,
 * a second call, ...).  Setup only: never from a reactor callback. */
int net_iface_start(
    const struct net_iface_conf *conf, char *err, size_t errlen);

/* Whether the backend runs threads of its own that the reactor's thread
 * synchronises with (lwIP: its tcpip and tap threads), which the seccomp
 * allow-list must then let it do.  Cannot fail. */
bool net_backend_threads(void);

#endif
