/*
 * h2_ping.c — keepalive PING with an ack deadline, SETTINGS ack deadline.
 */
#include <stdint.h>
#include <string.h>

#include "h2/h2_int.h"

/* Send a PING whose payload is the sequence number. */
static void
ping_send(struct h2_session *s, int64_t now)
{
	uint8_t opaque[8];

	s->ping_seq++;
	memcpy(opaque, &s->ping_seq, sizeof(opaque));
	if (nghttp2_submit_ping(s->ng, NGHTTP2_FLAG_NONE, opaque) != 0) {
		h2_session_fail(s, H2_ERR_NOMEM, "submit ping");
		return;
	}
	s->ping_deadline = now + s->conf.ping_timeout_ms;
	s->ping_due = now + s->conf.ping_interval_ms;
}

/* see h2.h */
int
h2_session_run_timers(struct h2_session *s, int64_t now)
{
	if (s->err != H2_ERR_NONE || s->ng == NULL)
		return -1;
	if (s->settings_deadline != 0 && now >= s->settings_deadline)
		h2_session_fail(s, H2_ERR_SETTINGS_TIMEOUT,
		    "no SETTINGS ack within the deadline");
	else if (s->ping_deadline != 0 && now >= s->ping_deadline)
		h2_session_fail(
		    s, H2_ERR_PING_TIMEOUT, "no PING ack within the deadline");
	else if (s->ping_deadline == 0 && s->ping_due != 0 &&
	    now >= s->ping_due)
		ping_send(s, now);
	h2_session_dispatch(s);
	return s->err == H2_ERR_NONE ? 0 : -1;
}

/* see h2.h */
int
h2_session_ping(struct h2_session *s, int64_t now)
{
	if (s->err != H2_ERR_NONE || s->ng == NULL)
		return -1;
	ping_send(s, now);
	return s->err == H2_ERR_NONE ? 0 : -1;
}

/* see h2.h */
uint64_t
h2_session_pings_acked(const struct h2_session *s)
{
	return s->pings_acked;
}

/* see h2.h */
int64_t
h2_session_deadline(const struct h2_session *s)
{
	int64_t d = INT64_MAX;

	if (s->err != H2_ERR_NONE || s->ng == NULL)
		return INT64_MAX;
	if (s->settings_deadline != 0)
		d = s->settings_deadline;
	if (s->ping_deadline != 0 && s->ping_deadline < d)
		d = s->ping_deadline;
	if (s->ping_deadline == 0 && s->ping_due != 0 && s->ping_due < d)
		d = s->ping_due;
	return d;
}

/* see h2_int.h */
void
h2_session_ping_acked(struct h2_session *s, const uint8_t *opaque)
{
	if (memcmp(opaque, &s->ping_seq, sizeof(s->ping_seq)) == 0) {
		s->ping_deadline = 0;
		s->pings_acked++;
	}
}
