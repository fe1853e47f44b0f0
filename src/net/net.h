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

int net_socket(int family, int type);
int net_connect(int fd, const struct sockaddr *sa, socklen_t len);

/* After write readiness on a connecting socket: 0 or the -errno it failed with. */
int net_connect_result(int fd);

/* A listening TCP socket on sa (SO_REUSEADDR; IPV6_V6ONLY for AF_INET6). */
int net_listen(const struct sockaddr *sa, socklen_t len, int backlog);
int net_accept(int lfd, struct sockaddr_storage *peer);

ssize_t net_read(int fd, void *p, size_t n);
ssize_t net_write(int fd, const void *p, size_t n);
int net_shutdown_write(int fd);
int net_close(int fd);

enum net_opt { NET_NODELAY, NET_KEEPALIVE };
int net_set_opt(int fd, enum net_opt opt, bool on);

/* Local address of fd (for tests and logs). */
int net_local_addr(int fd, struct sockaddr_storage *ss);

/* Poll-style readiness, for backends without epoll. */
int net_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* "1.2.3.4:80" or "[::1]:80" into out (at least NET_ADDR_STRLEN bytes). */
#define NET_ADDR_STRLEN 64
void net_addr_str(const struct sockaddr *sa, char *out, size_t n);

#endif
