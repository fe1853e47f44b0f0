/*
 * update_report.c — Updates/Report (one unary call at a time, on the
 * connection of a tunnel that opened or, on a change, on any routable
 * one; an edge answering UNIMPLEMENTED gets no more on that connection,
 * any other failure sends the report again after a backoff), the
 * "update" object of /status and the update metrics (update_ctl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector/manager.h"
#include "connector/update_ctl_int.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define REPORT_TXRING 4096 /* one UpdateStatus */
#define REPORT_MSG_MAX 256 /* a ReportAck is empty */
#define GRPC_UNIMPLEMENTED 12
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000

static const struct conn_call_ops report_ops;

static void
fill(const struct update_ctl *u, Outpost__V1__UpdateStatus *s)
{
	s->slot = (char *)u->slot;
	s->version = (char *)u->version;
	s->other_version = (char *)u->other_version;
	s->state = (char *)initctl_state_name(u->state);
	s->percent = u->percent;
	s->offered_version = u->have_offer ? (char *)u->off_version : "";
	s->reason = (char *)u->reason;
}

/* Open one Report call for the first slot that wants one. */
static void
kick(struct rx_loop *l, struct rx_defer *d)
{
	struct update_ctl *u = container_of(d, struct update_ctl, kick);
	Outpost__V1__UpdateStatus s = OUTPOST__V1__UPDATE_STATUS__INIT;
	struct tunnel_slot *t;
	unsigned i;

	(void)l;
	if (conn_call_busy(&u->report) || u->m->stopping)
		return;
	for (i = 0; i < u->m->nslots; i++) {
		if (!u->report_want[i])
			continue;
		u->report_want[i] = false;
		t = &u->m->slots[i];
		if (u->report_off[i] || t->conn.state != CONN_OPEN ||
		    conn_call_open(
			&t->conn, &u->report, UPDATE_REPORT_PATH, NULL, 0) < 0)
			continue;
		fill(u, &s);
		u->report_slot = i;
		if (conn_call_send(&u->report, &s.base))
			conn_call_end(&u->report);
		else
			conn_call_cancel(&u->report);
		return;
	}
}

/* see update_ctl_int.h */
void
upd_report_want(struct update_ctl *u, int slot)
{
	unsigned i;

	if (slot >= 0) {
		u->report_off[slot] = false; /* a new connection */
		u->report_want[slot] = true;
	} else {
		for (i = 0; i < u->m->nslots; i++)
			if (!u->report_off[i] &&
			    tunnel_slot_routable(&u->m->slots[i])) {
				u->report_want[i] = true;
				break;
			}
	}
	if (!rx_defer_queued(&u->kick))
		rx_defer(u->loop, &u->kick);
}

/* see update_ctl_int.h */
void
upd_report_stop(struct update_ctl *u)
{
	conn_call_cancel(&u->report);
	rx_defer_cancel(u->loop, &u->kick);
	rx_timer_stop(u->loop, &u->report_retry);
}

static const char *
on_message(struct conn_call *c, const uint8_t *p, size_t n)
{
	(void)c;
	(void)p;
	(void)n;
	return NULL; /* ReportAck: nothing in it */
}

static void
on_end(struct conn_call *c, int status, const char *reason, const char *detail)
{
	struct update_ctl *u = conn_call_arg(c);
	int64_t ms;

	if (u->m->stopping)
		return;
	if (status == 0) {
		backoff_reset(&u->report_backoff);
	} else if (status == GRPC_UNIMPLEMENTED) {
		log_info("tunnel %u: the edge does not take update reports",
		    u->m->slots[u->report_slot].index);
		u->report_off[u->report_slot] = true;
	} else {
		/* Say it again later (on h2c the edge knows a connection's
		 * name only once its Tunnel's metadata is in). */
		ms = backoff_next(&u->report_backoff, upd_rnd());
		log_debug("update: report not taken (%s: %s); again in "
			  "%lld ms",
		    reason != NULL ? reason : "stream", detail, (long long)ms);
		u->report_want[u->report_slot] = true;
		rx_timer_start(u->loop, &u->report_retry, ms);
		return;
	}
	if (!rx_defer_queued(&u->kick))
		rx_defer(u->loop, &u->kick);
}

static void
on_retry(struct rx_loop *l, struct rx_timer *t)
{
	struct update_ctl *u = container_of(t, struct update_ctl, report_retry);

	kick(l, &u->kick);
}

static const struct conn_call_ops report_ops = {
    .on_message = on_message,
    .on_end = on_end,
};

/* see update_ctl_int.h */
int
upd_report_init(struct update_ctl *u)
{
	rx_defer_init(&u->kick, kick);
	rx_timer_init(&u->report_retry, on_retry);
	backoff_init(&u->report_backoff, RETRY_BASE_MS, RETRY_CAP_MS);
	u->report_want = calloc(u->m->nslots, sizeof(bool));
	u->report_off = calloc(u->m->nslots, sizeof(bool));
	if (u->report_want == NULL || u->report_off == NULL)
		return -1;
	return conn_call_init(&u->report, &report_ops, u, CONN_MIN_WINDOW,
	    REPORT_TXRING, REPORT_MSG_MAX, 2);
}

/* --- /status and /metrics ------------------------------------------------- */

/* see update_ctl.h */
void
update_ctl_status_fn(struct buf *b, void *arg)
{
	const struct update_ctl *u = arg;

	buf_adds(b, ",\"update\":{\"slot\":");
	json_cstr(b, u->slot);
	buf_adds(b, ",\"version\":");
	json_cstr(b, u->version);
	buf_adds(b, ",\"other_version\":");
	json_cstr(b, u->other_version);
	buf_adds(b, ",\"state\":");
	json_cstr(b, initctl_state_name(u->state));
	buf_printf(b, ",\"percent\":%u,\"offered_version\":", u->percent);
	json_cstr(b, u->have_offer ? u->off_version : "");
	buf_adds(b, ",\"reason\":");
	json_cstr(b, u->reason);
	buf_adds(b, "}");
}

static const char *const fail_labels[UPD_FAIL__N] = {
    [UPD_FAIL_STREAM] = "reason=\"stream\"",
    [UPD_FAIL_PROTOCOL] = "reason=\"protocol\"",
    [UPD_FAIL_CLOSED] = "reason=\"closed\"",
    [UPD_FAIL_NOT_FOUND] = "reason=\"not_found\"",
    [UPD_FAIL_WRITE] = "reason=\"write\"",
    [UPD_FAIL_SHA256] = "reason=\"sha256\"",
    [UPD_FAIL_VERIFY] = "reason=\"verify\"",
    [UPD_FAIL_APPLY] = "reason=\"apply\"",
};

/* see update_ctl.h */
void
update_ctl_metrics_add(struct update_ctl *u, struct metrics *r)
{
	unsigned i;

	if (u == NULL)
		return;
	metrics_add_family(r, &u->f_state, "outpost_update_state",
	    "Appliance update state (1 for the current one).", METRIC_GAUGE,
	    NULL, NULL);
	for (i = 0; i < INITCTL__STATES; i++) {
		snprintf(u->state_label[i], sizeof(u->state_label[i]),
		    "state=\"%s\"", initctl_state_name(i));
		metric_family_add_series(
		    &u->f_state, &u->m_state[i], u->state_label[i]);
	}
	metrics_add_family(r, &u->f_bytes, "outpost_update_bytes_fetched_total",
	    "Bytes of update bundles received on Updates/Fetch calls.",
	    METRIC_COUNTER, NULL, NULL);
	metric_family_add_series(&u->f_bytes, &u->m_bytes, NULL);
	metrics_add_family(r, &u->f_fail, "outpost_update_fetch_failures_total",
	    "Update downloads that ended without a verified bundle, by reason.",
	    METRIC_COUNTER, NULL, NULL);
	for (i = 0; i < UPD_FAIL__N; i++)
		metric_family_add_series(
		    &u->f_fail, &u->m_fail[i], fail_labels[i]);
}
