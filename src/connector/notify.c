/* The sd_notify datagram protocol: see notify.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "connector/notify.h"
#include "lib/log.h"
#include "lib/util.h"

/* The longest STATUS= line: "not ready: " plus a reason. */
#define NOTIFY_MSG_MAX 256

static struct {
	int fd; /* -1 without NOTIFY_SOCKET */
	struct sockaddr_un sa;
	socklen_t salen;
	struct rx_timer watchdog;
	int64_t watchdog_ms;
	bool sent_ready;
	char last[NOTIFY_MSG_MAX]; /* the last STATUS= line sent */
} n = {.fd = -1};

static void
send_msg(const char *msg)
{
	if (n.fd < 0)
		return;
	if (sendto(n.fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		(struct sockaddr *)&n.sa, n.salen) < 0)
		log_debug("NOTIFY_SOCKET: %s", strerror(errno));
}

/* NOTIFY_SOCKET as an address: a path, or "@name" (abstract). */
static int
open_socket(const char *path, char *err, size_t errlen)
{
	size_t len = strlen(path);

	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof(n.sa.sun_path)) {
		snprintf(err, errlen,
		    "NOTIFY_SOCKET: not an absolute path or @name of at most "
		    "%zu bytes",
		    sizeof(n.sa.sun_path) - 1);
		return -1;
	}
	n.sa.sun_family = AF_UNIX;
	memcpy(n.sa.sun_path, path, len);
	if (path[0] == '@')
		n.sa.sun_path[0] = '\0';
	n.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/'));
	n.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n.fd < 0) {
		snprintf(
		    err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void
on_watchdog(struct rx_loop *l, struct rx_timer *t)
{
	send_msg("WATCHDOG=1");
	rx_timer_start(l, t, n.watchdog_ms);
}

/* WATCHDOG_USEC (and WATCHDOG_PID, when set, naming this process). */
static int
watchdog_interval(int64_t *ms, char *err, size_t errlen)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	*ms = 0;
	if (us == NULL ||
	    (pid != NULL && strtol(pid, NULL, 10) != (long)getpid()))
		return 0;
	errno = 0;
	v = strtoull(us, &end, 10);
	if (errno != 0 || end == us || *end != '\0' || v == 0 ||
	    v > 24ULL * 3600 * 1000000) {
		snprintf(err, errlen,
		    "WATCHDOG_USEC: not a positive number of microseconds "
		    "up to a day");
		return -1;
	}
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	*ms = (int64_t)(v / 2000) > 0 ? (int64_t)(v / 2000) : 1;
	return 0;
}

/* see notify.h */
int
notify_start(struct rx_loop *l, char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");

	if (path == NULL || *path == '\0')
		return 0;
	if (watchdog_interval(&n.watchdog_ms, err, errlen) < 0 ||
	    open_socket(path, err, errlen) < 0)
		return -1;
	if (n.watchdog_ms > 0) {
		rx_timer_init(&n.watchdog, on_watchdog);
		send_msg("WATCHDOG=1");
		rx_timer_start(l, &n.watchdog, n.watchdog_ms);
	}
	return 0;
}

/* see notify.h */
void
notify_readiness(bool ready, const char *reason, unsigned tunnels)
{
	char msg[NOTIFY_MSG_MAX + 16];
	char *status;

	if (n.fd < 0)
		return;
	status = msg +
	    snprintf(msg, 16, "%s", ready && !n.sent_ready ? "READY=1\n" : "");
	if (ready)
		snprintf(status, NOTIFY_MSG_MAX, "STATUS=ready: %u tunnel%s up",
		    tunnels, tunnels == 1 ? "" : "s");
	else
		snprintf(status, NOTIFY_MSG_MAX, "STATUS=not ready: %s",
		    reason != NULL ? reason : "unknown");
	if (strcmp(status, n.last) == 0)
		return;
	snprintf(n.last, sizeof(n.last), "%s", status);
	n.sent_ready = n.sent_ready || ready;
	send_msg(msg);
}

/* see notify.h */
void
notify_stopping(void)
{
	send_msg("STOPPING=1\nSTATUS=draining");
	snprintf(n.last, sizeof(n.last), "STATUS=draining");
}

/* see notify.h */
void
notify_stop(struct rx_loop *l)
{
	if (n.fd < 0)
		return;
	if (n.watchdog_ms > 0)
		rx_timer_stop(l, &n.watchdog);
	close(n.fd);
	n.fd = -1;
}
