/*
 * session_io.c — a session's bytes (session.h): the target socket on the
 * reactor ⇄ SessionFrames on the Attach call, with HTTP/2 flow control as
 * the only backpressure, and half-close both ways.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connector/manager.h"
#include "connector/session_int.h"
#include "lib/util.h"

#define READS_PER_EVENT 4 /* target reads per readiness event */
/* Read the target only when a read of at least this much fits. */
#define MIN_READ 1024

static void
watch(struct session *s)
{
	unsigned w = 0;

	if (s->w.fd < 0)
		return;
	if (s->reading && !s->up_eof)
		w |= RX_READ;
	if (s->plen > s->poff)
		w |= RX_WRITE;
	rx_watch_set(s->tab->mgr->loop, &s->w, w);
}

static bool
send_frame(struct session *s, const uint8_t *p, size_t n)
{
	Outpost__V1__SessionFrame f = OUTPOST__V1__SESSION_FRAME__INIT;

	if (p != NULL) {
		f.frame_case = OUTPOST__V1__SESSION_FRAME__FRAME_DATA;
		f.data.data = (uint8_t *)p;
		f.data.len = n;
	} else {
		f.frame_case = OUTPOST__V1__SESSION_FRAME__FRAME_HALF_CLOSE;
		f.half_close = true;
	}
	return conn_call_send(&s->call, &f.base);
}

/* Both directions closed: the session is done. */
static void
check_done(struct session *s)
{
	if (s->up_eof && s->wshut)
		session_finish(s);
}

/* The edge half-closed and every byte it sent is delivered: FIN. */
static void
check_shut(struct session *s)
{
	if (!s->down_eof || s->wshut || s->plen > s->poff)
		return;
	shutdown(s->w.fd, SHUT_WR);
	s->wshut = true;
	check_done(s);
}

/* The target's FIN: tell the edge, read no more. */
static void
target_eof(struct session *s)
{
	s->up_eof = true;
	if (!send_frame(s, NULL, 0)) {
		session_abort(s, SR_INTERNAL);
		return;
	}
	check_done(s);
}

/* Bytes from the target while the call's send ring has room for them. */
static void
read_target(struct session *s)
{
	struct session_table *t = s->tab;
	size_t room;
	ssize_t n;
	int i;

	for (i = 0; i < READS_PER_EVENT && s->state == SS_OPEN; i++) {
		room = conn_call_send_room(&s->call);
		if (room < MIN_READ + GRPC_PREFIX_LEN + SESSION_FRAME_SLACK) {
			s->reading = false; /* on_writable resumes */
			break;
		}
		room -= GRPC_PREFIX_LEN + SESSION_FRAME_SLACK;
		n = recv(s->w.fd, t->scratch,
		    room < SESSION_DATA_MAX ? room : SESSION_DATA_MAX,
		    MSG_DONTWAIT);
		if (n == 0) {
			target_eof(s);
			break;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				session_abort(s, SR_RESET);
			break;
		}
		if (!send_frame(s, t->scratch, (size_t)n)) {
			session_abort(s, SR_INTERNAL);
			break;
		}
		s->from_target += (uint64_t)n;
		metric_add(&t->m_from, (double)n);
		session_touch(s);
	}
	watch(s);
}

/* Write what the target did not take yet; resume the call once done. */
static void
flush_target(struct session *s)
{
	ssize_t k;

	while (s->plen > s->poff) {
		k = send(s->w.fd, s->pend + s->poff, s->plen - s->poff,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0) {
			if (errno != EAGAIN && errno != EINTR)
				session_abort(s, SR_RESET);
			return;
		}
		s->poff += (size_t)k;
	}
	free(s->pend); /* backpressure is the exception: no buffer idles */
	s->pend = NULL;
	s->plen = s->poff = 0;
	conn_call_resume(&s->call);
	check_shut(s);
}

static void
on_target(struct rx_loop *l, struct rx_watch *w, unsigned ev)
{
	struct session *s = container_of(w, struct session, w);

	(void)l;
	if (s->state != SS_OPEN)
		return;
	if (ev & RX_WRITE)
		flush_target(s);
	if ((ev & RX_READ) && s->state == SS_OPEN)
		read_target(s);
	else
		watch(s);
}

static void
on_target_closed(struct rx_loop *l, struct rx_watch *w)
{
	(void)l;
	session_release(container_of(w, struct session, w));
}

/* see session_int.h */
void
session_io_start(struct session *s, int fd)
{
	rx_watch_init(&s->w, fd, on_target, on_target_closed);
	s->reading = true;
	watch(s);
}

/* see session_int.h */
void
session_io_close(struct session *s)
{
	rx_watch_close(s->tab->mgr->loop, &s->w);
}

/* --- the Attach call ------------------------------------------------------- */

/* Edge bytes: to the target now, or held (the call paused) until it can. */
static const char *
to_target(struct session *s, const uint8_t *p, size_t n)
{
	struct session_table *t = s->tab;
	ssize_t k;

	if (s->down_eof)
		return "data after half_close";
	if (n == 0 || n > SESSION_DATA_MAX)
		return "bad data frame length";
	s->to_target += n;
	metric_add(&t->m_to, (double)n);
	session_touch(s);
	k = send(s->w.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (k < 0 && errno != EAGAIN && errno != EINTR) {
		session_abort(s, SR_RESET);
		return NULL;
	}
	if (k == (ssize_t)n)
		return NULL;
	k = k < 0 ? 0 : k;
	if (s->pend == NULL && (s->pend = malloc(SESSION_DATA_MAX)) == NULL) {
		session_abort(s, SR_INTERNAL);
		return NULL;
	}
	memcpy(s->pend, p + k, n - (size_t)k);
	s->plen = n - (size_t)k;
	s->poff = 0;
	conn_call_pause(&s->call);
	watch(s);
	return NULL;
}

static const char *
on_message(struct conn_call *c, const uint8_t *p, size_t n)
{
	struct session *s = conn_call_arg(c);
	Outpost__V1__SessionFrame *f;
	const char *why = NULL;

	f = outpost__v1__session_frame__unpack(NULL, n, p);
	if (f == NULL)
		return "undecodable SessionFrame";
	if (s->state != SS_OPEN) {
		/* A refused or ending session: what the edge still sends
		 * goes nowhere. */
	} else if (f->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_DATA) {
		why = to_target(s, f->data.data, f->data.len);
	} else if (f->frame_case ==
	    OUTPOST__V1__SESSION_FRAME__FRAME_HALF_CLOSE) {
		why = s->down_eof ? "half_close twice" : NULL;
		s->down_eof = true;
		check_shut(s);
	} else if (f->frame_case == OUTPOST__V1__SESSION_FRAME__FRAME_RESULT) {
		why = "a result from the edge";
	}
	outpost__v1__session_frame__free_unpacked(f, NULL);
	return why;
}

static void
on_end(struct conn_call *c, int status, const char *reason, const char *detail)
{
	(void)status;
	(void)detail;
	session_call_ended(conn_call_arg(c), reason);
}

static void
on_writable(struct conn_call *c)
{
	struct session *s = conn_call_arg(c);

	if (s->state != SS_OPEN || s->reading || s->up_eof)
		return;
	s->reading = true;
	watch(s);
}

const struct conn_call_ops session_call_ops = {
    .on_message = on_message,
    .on_end = on_end,
    .on_writable = on_writable,
};
