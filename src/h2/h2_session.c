/*
 * h2_session.c — session lifetime, bytes in and out, events, timers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "h2/h2_int.h"

static bool
conf_valid(const struct h2_conf *c)
{
	return c->window >= 1 && c->window <= NGHTTP2_MAX_WINDOW_SIZE &&
	    c->conn_window >= c->window &&
	    c->conn_window <= NGHTTP2_MAX_WINDOW_SIZE &&
	    c->max_frame >= 16384u && c->max_frame <= 16777215u &&
	    c->max_streams >= 1 && c->ping_timeout_ms > 0 &&
	    c->ping_interval_ms >= 0;
}

/* Create the nghttp2 session: no automatic WINDOW_UPDATE (we consume). */
static int
session_create(struct h2_session *s)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_session *ng = NULL;
	int rv = -1;

	if (nghttp2_session_callbacks_new(&cbs) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto out;
	h2_cb_install(cbs);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_peer_max_concurrent_streams(
	    opt, s->conf.max_streams);
	if (s->role == H2_CLIENT)
		rv = nghttp2_session_client_new2(&ng, cbs, s, opt);
	else
		rv = nghttp2_session_server_new2(&ng, cbs, s, opt);
	s->ng = rv == 0 ? ng : NULL;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return rv == 0 ? 0 : -ENOMEM;
}

/* Queue our SETTINGS and open the connection window. */
static int
session_settings(struct h2_session *s)
{
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s->conf.window},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, s->conf.max_frame},
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->conf.max_streams},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	size_t n = s->role == H2_SERVER ? 3 : 4;

	if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, n) != 0)
		return -ENOMEM;
	if (nghttp2_session_set_local_window_size(
		s->ng, NGHTTP2_FLAG_NONE, 0, (int32_t)s->conf.conn_window) != 0)
		return -ENOMEM;
	return 0;
}

/* see h2.h */
int
h2_session_init(struct h2_session *s, enum h2_role role,
    const struct h2_conf *conf, h2_event_fn *on_event, h2_accept_fn *on_accept,
    void *arg, int64_t now)
{
	int rv;

	memset(s, 0, sizeof(*s));
	if (!conf_valid(conf) || on_event == NULL ||
	    (role == H2_SERVER && on_accept == NULL))
		return -EINVAL;
	s->role = role;
	s->conf = *conf;
	s->on_event = on_event;
	s->on_accept = on_accept;
	s->arg = arg;
	list_init(&s->events);
	list_init(&s->live);
	s->settings_deadline = now + conf->ping_timeout_ms;
	s->ping_due =
	    conf->ping_interval_ms > 0 ? now + conf->ping_interval_ms : 0;
	if ((rv = session_create(s)) != 0)
		return rv;
	if ((rv = session_settings(s)) != 0) {
		nghttp2_session_del(s->ng);
		s->ng = NULL;
	}
	return rv;
}

/* see h2.h */
void
h2_session_free(struct h2_session *s)
{
	struct list_node *n;
	struct h2_stream *st;

	if (s->ng == NULL)
		return;
	h2_data_drop(s); /* no copy of a frame that never goes out */
	while ((n = list_first(&s->live)) != NULL) {
		st = list_entry(n, struct h2_stream, live_link);
		if (st->err == H2_SERR_NONE && !st->rx_eof)
			st->err = H2_SERR_SESSION;
		h2_stream_mark_closed(st, NGHTTP2_CANCEL);
	}
	h2_session_dispatch(s);
	/* Pending output points into nghttp2's memory or a ring: drop it. */
	s->out = NULL;
	s->outlen = 0;
	h2_data_drop(s);
	nghttp2_session_del(s->ng);
	s->ng = NULL;
}

/* see h2_int.h */
void
h2_session_fail(struct h2_session *s, enum h2_error e, const char *detail)
{
	if (s->err != H2_ERR_NONE)
		return;
	s->err = e;
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", detail ? detail : "");
}

/* see h2.h */
int
h2_session_feed(struct h2_session *s, const void *p, size_t n)
{
	ssize_t rv;

	if (s->err != H2_ERR_NONE || s->ng == NULL)
		return -1;
	rv = nghttp2_session_mem_recv(s->ng, p, n);
	if (rv < 0)
		h2_session_fail(s,
		    rv == NGHTTP2_ERR_NOMEM ? H2_ERR_NOMEM : H2_ERR_PROTOCOL,
		    nghttp2_strerror((int)rv));
	h2_session_dispatch(s);
	return s->err == H2_ERR_NONE && s->ng != NULL ? 0 : -1;
}

/* see h2.h */
const uint8_t *
h2_session_take(struct h2_session *s, size_t *len)
{
	const uint8_t *p;
	ssize_t rv;

	if (s->data.broken) {
		*len = 0;
		return NULL;
	}
	if (s->outlen == 0 && s->data.active) {
		h2_data_step(s);
		h2_session_dispatch(s);
	}
	if (s->outlen == 0 && !s->data.active && s->ng != NULL) {
		rv = nghttp2_session_mem_send(s->ng, &p);
		if (rv < 0)
			h2_session_fail(
			    s, H2_ERR_NOMEM, nghttp2_strerror((int)rv));
		else if (rv > 0) {
			s->out = p;
			s->outlen = (size_t)rv;
		}
		h2_session_dispatch(s);
	}
	*len = s->outlen;
	return s->outlen > 0 ? s->out : NULL;
}

/* see h2.h */
void
h2_session_ack(struct h2_session *s, size_t n)
{
	if (n > s->outlen)
		n = s->outlen;
	s->out += n;
	s->outlen -= n;
}

/* see h2.h */
bool
h2_session_want_read(const struct h2_session *s)
{
	return s->ng != NULL && s->err == H2_ERR_NONE &&
	    nghttp2_session_want_read(s->ng);
}

/* see h2.h */
bool
h2_session_want_write(const struct h2_session *s)
{
	if (s->data.broken)
		return false;
	return s->outlen > 0 || s->data.active ||
	    (s->ng != NULL && nghttp2_session_want_write(s->ng));
}

/* see h2.h */
bool
h2_session_goaway(const struct h2_session *s, uint32_t *code)
{
	if (code != NULL)
		*code = s->goaway_code;
	return s->goaway_recv;
}

/* see h2.h */
enum h2_error
h2_session_error(const struct h2_session *s)
{
	return s->err;
}

/* see h2.h */
const char *
h2_session_error_detail(const struct h2_session *s)
{
	return s->errmsg;
}

/* see h2.h */
const char *
h2_error_name(enum h2_error e)
{
	switch (e) {
	case H2_ERR_NONE:
		return "none";
	case H2_ERR_NOMEM:
		return "nomem";
	case H2_ERR_PROTOCOL:
		return "protocol";
	case H2_ERR_PEER_GOAWAY:
		return "peer_goaway";
	case H2_ERR_PING_TIMEOUT:
		return "ping_timeout";
	case H2_ERR_SETTINGS_TIMEOUT:
		return "settings_timeout";
	}
	return "unknown";
}

/* see h2.h */
int
h2_session_shutdown(struct h2_session *s)
{
	int32_t last;

	if (s->ng == NULL)
		return -EINVAL;
	last = nghttp2_session_get_last_proc_stream_id(s->ng);
	if (nghttp2_submit_goaway(
		s->ng, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) != 0)
		return -ENOMEM;
	return 0;
}

/* see h2_int.h */
void
h2_stream_post(struct h2_stream *st, unsigned events)
{
	struct h2_session *s = st->sess;

	st->events |= events;
	if (!list_linked(&st->ev_link))
		list_append(&s->events, &st->ev_link);
}

/* see h2_int.h */
void
h2_session_dispatch(struct h2_session *s)
{
	struct list_node *n;
	struct h2_stream *st;
	unsigned ev;

	while ((n = list_first(&s->events)) != NULL) {
		st = list_entry(n, struct h2_stream, ev_link);
		list_remove(n);
		ev = st->events;
		st->events = 0;
		/* After H2_EV_CLOSE the stream may be freed: touch it no more. */
		s->on_event(st, ev, s->arg);
	}
}
