/* The worker's end of init's control channel.  See initctl_client.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connector/initctl_client.h"
#include "lib/log.h"

/* see initctl_client.h */
int
initctl_client_fd(char *err, size_t errlen)
{
	const char *v = getenv(INITCTL_ENV);
	int type = 0;
	socklen_t len = sizeof(type);
	char *end;
	long fd;

	if (v == NULL) {
		snprintf(err, errlen, "%s", INITCTL_NOT_APPLIANCE);
		return -1;
	}
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || fd < 0 || fd > 65535) {
		snprintf(err, errlen, "%s: not a file descriptor", INITCTL_ENV);
		return -1;
	}
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		snprintf(err, errlen, "%s: fd %ld is not init's control socket",
		    INITCTL_ENV, fd);
		return -1;
	}
	/* Nothing the worker starts may talk to init. */
	if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s: %s", INITCTL_ENV, strerror(errno));
		return -1;
	}
	return (int)fd;
}

/* One reply to op within the timeout; replies to earlier, timed-out
 * requests are skipped (bounded by the deadline). */
static int
recv_reply(int fd, enum initctl_op op, struct initctl_reply *r, char *err,
    size_t errlen)
{
	uint8_t buf[INITCTL_REPLY_SIZE + 1];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int i;
	ssize_t n;

	for (i = 0; i < 4; i++) {
		if (poll(&p, 1, INITCTL_CLIENT_TIMEOUT_MS) <= 0) {
			snprintf(err, errlen, "init did not answer");
			return -1;
		}
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0) {
			snprintf(
			    err, errlen, "init closed its control channel");
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(err, errlen, "control channel: %s",
			    strerror(errno));
			return -1;
		}
		if (initctl_reply_decode(buf, (size_t)n, r) < 0) {
			snprintf(err, errlen, "malformed reply from init");
			return -1;
		}
		if (r->op == op)
			return 0;
	}
	snprintf(err, errlen, "init did not answer");
	return -1;
}

/* see initctl_client.h */
int
initctl_client_call(int fd, enum initctl_op op, const char *path,
    struct initctl_reply *r, char *err, size_t errlen)
{
	struct initctl_req q = {.op = op};
	uint8_t out[INITCTL_REQ_SIZE];

	if (path != NULL) {
		if (strlen(path) >= sizeof(q.path)) {
			snprintf(err, errlen, "path too long");
			return -1;
		}
		memcpy(q.path, path, strlen(path) + 1);
	}
	initctl_req_encode(&q, out);
	if (send(fd, out, sizeof(out), MSG_NOSIGNAL) != (ssize_t)sizeof(out)) {
		snprintf(err, errlen, "control channel: %s", strerror(errno));
		return -1;
	}
	return recv_reply(fd, op, r, err, errlen);
}

/* see initctl_client.h */
void
initctl_client_log_status(void)
{
	struct initctl_reply r;
	char err[256];
	int fd = initctl_client_fd(err, sizeof(err));

	if (fd < 0 ||
	    initctl_client_call(
		fd, INITCTL_STATUS, NULL, &r, err, sizeof(err)) < 0) {
		log_info("update: %s", err);
		return;
	}
	log_info("update: slot %s version %s, other slot %s, state %s%s%s",
	    r.slot[0] != '\0' ? r.slot : "?", r.version,
	    r.other_version[0] != '\0' ? r.other_version : "empty",
	    initctl_state_name(r.state), r.reason[0] != '\0' ? ": " : "",
	    r.reason);
}
