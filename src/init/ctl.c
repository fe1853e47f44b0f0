/* init's control channel to the worker (issue #21).  See init_int.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/init_int.h"
#include "lib/log.h"

static void
reply_fill(const struct init *in, struct initctl_reply *r)
{
	const struct init_update *u = &in->update;

	r->state = u->state;
	r->percent = u->percent > 100 ? 100 : u->percent;
	snprintf(r->slot, sizeof(r->slot), "%s", u->slot);
	snprintf(r->version, sizeof(r->version), "%s", u->version);
	snprintf(
	    r->other_version, sizeof(r->other_version), "%s", u->other_version);
	snprintf(r->reason, sizeof(r->reason), "%s", u->reason);
}

static bool
update_busy(const struct init *in)
{
	return in->update.state == INITCTL_VERIFYING ||
	    in->update.state == INITCTL_WRITING;
}

static int
apply(struct init *in, const char *path, char *why, size_t n)
{
	if (!initctl_path_ok(path)) {
		snprintf(why, n, "path outside %s", INITCTL_STAGE_DIR);
		return EINVAL;
	}
	if (update_busy(in)) {
		snprintf(why, n, "an update is already being written");
		return EBUSY;
	}
	if (in->update.state == INITCTL_TRIAL) {
		snprintf(why, n,
		    "slot %s is on trial: the other slot is its fallback "
		    "until it is marked good",
		    in->update.slot);
		return EBUSY;
	}
	log_info("init: update requested: %s", path);
	init_update_start(in, path);
	return 0;
}

/* see init_int.h */
void
init_ctl_handle(
    struct init *in, const struct initctl_req *q, struct initctl_reply *r)
{
	char why[INITCTL_REASON_MAX] = "";

	memset(r, 0, sizeof(*r));
	r->op = q->op;
	switch (q->op) {
	case INITCTL_APPLY:
		r->result = apply(in, q->path, why, sizeof(why));
		break;
	case INITCTL_REBOOT:
		if (update_busy(in)) {
			r->result = EBUSY;
			snprintf(
			    why, sizeof(why), "an update is being written");
		} else {
			in->reboot = true;
			init_shutdown_begin(in, "reboot requested");
		}
		break;
	case INITCTL_STATUS:
		break;
	}
	reply_fill(in, r);
	if (r->result != 0) {
		log_warn(
		    "init: control request %d refused: %s", (int)q->op, why);
		snprintf(r->reason, sizeof(r->reason), "%s", why);
	}
}

static void
ctl_io(struct rx_loop *l, struct rx_watch *w, unsigned events)
{
	struct init *in = container_of(w, struct init, ctl);
	uint8_t buf[INITCTL_REQ_SIZE + 1], out[INITCTL_REPLY_SIZE];
	struct initctl_req q;
	struct initctl_reply r;
	ssize_t n;
	int i;

	(void)events;
	/* Bounded per wakeup; the fd stays readable for the rest. */
	for (i = 0; i < 16; i++) {
		n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return;
		if (initctl_req_decode(buf, (size_t)n, &q) < 0) {
			log_warn("init: control: malformed request (%zd bytes) "
				 "dropped",
			    n);
			continue;
		}
		init_ctl_handle(in, &q, &r);
		initctl_reply_encode(&r, out);
		if (send(w->fd, out, sizeof(out), MSG_DONTWAIT | MSG_NOSIGNAL) <
		    0)
			log_warn(
			    "init: control: reply lost: %s", strerror(errno));
	}
}

/* see init_int.h */
int
init_ctl_start(struct init *in)
{
	int sv[2];

	in->ctl_worker_fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	rx_watch_init(&in->ctl, sv[0], ctl_io, NULL);
	rx_watch_set(&in->loop, &in->ctl, RX_READ);
	in->ctl_worker_fd = sv[1];
	return 0;
}

/* see init_int.h */
void
init_ctl_child(const struct init *in)
{
	char num[16];

	if (in->ctl_worker_fd < 0 || fcntl(in->ctl_worker_fd, F_SETFD, 0) < 0)
		return;
	snprintf(num, sizeof(num), "%d", in->ctl_worker_fd);
	setenv(INITCTL_ENV, num, 1);
}
