/*
 * The worker's readiness (issue #21): init owns the NOTIFY_SOCKET the
 * worker sends sd_notify datagrams to (src/connector/notify.c: READY=1,
 * STATUS=ready.../not ready..., STOPPING=1).  Only datagrams whose
 * SCM_CREDENTIALS name the worker's pid count.  See init_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"

#define RIGHTS_MAX 16 /* fds a datagram could carry; closed at once */

static bool
is(const char *line, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(line, word, len) == 0;
}

static bool
starts(const char *line, size_t len, const char *prefix)
{
	return len >= strlen(prefix) &&
	    memcmp(line, prefix, strlen(prefix)) == 0;
}

/* see init_int.h */
enum init_notify
init_notify_parse(const char *p, size_t n, char *status, size_t sn)
{
	enum init_notify r = INIT_NOTIFY_NONE;
	const char *line, *nl, *v;
	size_t len, i, k;

	while (n > 0) {
		line = p;
		nl = memchr(p, '\n', n);
		len = nl != NULL ? (size_t)(nl - p) : n;
		p += len + (nl != NULL);
		n -= len + (nl != NULL);
		if (is(line, len, "READY=1")) {
			r = INIT_NOTIFY_READY;
		} else if (is(line, len, "STOPPING=1")) {
			r = INIT_NOTIFY_NOT_READY;
		} else if (starts(line, len, "STATUS=")) {
			v = line + strlen("STATUS=");
			len -= strlen("STATUS=");
			if (starts(v, len, "not ready"))
				r = INIT_NOTIFY_NOT_READY;
			else if (starts(v, len, "ready"))
				r = INIT_NOTIFY_READY;
			for (i = k = 0; i < len && k + 1 < sn; i++)
				if (v[i] >= 0x20 && v[i] <= 0x7e)
					status[k++] = v[i];
			if (sn > 0)
				status[k] = '\0';
		}
	}
	return r;
}

/*
 * The sender's pid from SCM_CREDENTIALS (0 if none); passed fds closed.
 * The headers are walked by hand: musl's CMSG_NXTHDR() trips
 * -Wsign-compare under clang.
 */
static pid_t
sender(const struct msghdr *mh)
{
	const char *b = mh->msg_control;
	const struct cmsghdr *c;
	struct ucred cred;
	size_t off = 0, len, i;
	pid_t pid = 0;
	int fd;

	while (off + sizeof(*c) <= (size_t)mh->msg_controllen) {
		c = (const struct cmsghdr *)(const void *)(b + off);
		len = (size_t)c->cmsg_len;
		if (len < sizeof(*c) || len > (size_t)mh->msg_controllen - off)
			break;
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS &&
		    len >= (size_t)CMSG_LEN(sizeof(cred))) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			pid = cred.pid;
		} else if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS) {
			for (i = 0;
			     (size_t)CMSG_LEN((i + 1) * sizeof(int)) <= len;
			     i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				    sizeof(int));
				close(fd);
			}
		}
		off += (len + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1);
	}
	return pid;
}

static void
set_ready(struct init *in, bool ready, const char *status)
{
	if (ready == in->worker_ready)
		return;
	in->worker_ready = ready;
	log_info("init: worker %s%s%s", ready ? "ready" : "not ready",
	    status[0] ? ": " : "", status);
	init_assess_ready(in);
}

static void
notify_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct init *in = container_of(w, struct init, notify);
	char buf[INIT_NOTIFY_MAX], status[INITCTL_REASON_MAX];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred)) +
		    CMSG_SPACE(RIGHTS_MAX * sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh;
	enum init_notify v;
	ssize_t n;
	pid_t pid;
	int i;

	(void)l;
	(void)events;
	/* Bounded per wakeup; the fd stays readable for the rest. */
	for (i = 0; i < 16; i++) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		n = recvmsg(w->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return;
		pid = sender(&mh);
		if ((mh.msg_flags & MSG_TRUNC) != 0 || pid <= 0 ||
		    pid != in->worker)
			continue;
		status[0] = '\0';
		v = init_notify_parse(buf, (size_t)n, status, sizeof(status));
		if (v != INIT_NOTIFY_NONE)
			set_ready(in, v == INIT_NOTIFY_READY, status);
	}
}

/* see init_int.h */
int
init_ready_start(struct init *in, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, one = 1, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 ||
	    chown(path, INIT_WORKER_UID, INIT_WORKER_GID) < 0) {
		e = errno;
		close(fd);
		(void)unlink(path);
		return -e;
	}
	rx_watch_init(&in->notify, fd, notify_io, NULL);
	rx_watch_set(&in->loop, &in->notify, RX_READ);
	in->notify_ok = true;
	setenv("NOTIFY_SOCKET", path, 1);
	return 0;
}

/* see init_int.h */
void
init_ready_lost(struct init *in)
{
	set_ready(in, false, "");
}
