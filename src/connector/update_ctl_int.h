/*
 * update_ctl_int.h — between the files of the update controller
 * (update_ctl.h): update_ctl.c (state, offers), update_fetch.c (the Fetch
 * call and the .part file), update_stage.c (verification, hand-over to
 * init), update_report.c (Report calls, /status, metrics).
 */
#ifndef CONNECTOR_UPDATE_CTL_INT_H
#define CONNECTOR_UPDATE_CTL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <bearssl.h>

#include "connector/backoff.h"
#include "connector/initctl_client.h"
#include "connector/tunnel_conn.h"
#include "connector/update_ctl.h"

#define UPDATE_FETCH_PATH "/outpost.v1.Updates/Fetch"
#define UPDATE_REPORT_PATH "/outpost.v1.Updates/Report"
#define UPDATE_CHUNK_MAX 65536 /* the contract's largest FetchChunk data */
#define UPDATE_POLL_MS 1000 /* init's STATUS while it verifies or writes */
#define UPDATE_VERSION_LEN 31 /* the contract's longest version */

/* Fetch failures counted by reason (outpost_update_fetch_failures_total). */
enum upd_fail {
	UPD_FAIL_STREAM, /* the call ended without the bundle */
	UPD_FAIL_PROTOCOL, /* a bad chunk */
	UPD_FAIL_CLOSED, /* the connection went away */
	UPD_FAIL_NOT_FOUND, /* the edge no longer offers it */
	UPD_FAIL_WRITE, /* the staged file */
	UPD_FAIL_SHA256, /* the whole file's hash */
	UPD_FAIL_VERIFY, /* signature, manifest or policy */
	UPD_FAIL_APPLY, /* init refused or did not answer */
	UPD_FAIL__N
};

struct update_ctl {
	struct manager *m;
	struct rx_loop *loop;
	int ctl; /* init's control channel */
	char dir[256]; /* DATA_DIR/update */
	char cert[256]; /* UPDATE_SIGNING_CERT */
	uint64_t max_bytes; /* UPDATE_MAX_BYTES */
	bool downgrade; /* UPDATE_ALLOW_DOWNGRADE */

	/* What /status and Report say. */
	enum initctl_state state;
	unsigned percent;
	char reason[INITCTL_REASON_MAX];
	char slot[INITCTL_SLOT_MAX];
	char version[INITCTL_VERSION_MAX];
	char other_version[INITCTL_VERSION_MAX];

	/* The offer worked on (or refused, or applied). */
	bool have_offer;
	char off_version[UPDATE_VERSION_LEN + 1];
	uint64_t off_size;
	uint8_t off_sha[32];

	/* The download: active while state is OFFERED or DOWNLOADING. */
	int fd; /* the .part file while a call writes to it, else -1 */
	uint64_t held; /* bytes of it written and hashed, in order */
	br_sha256_context hash; /* of those bytes */
	struct conn_call fetch;
	unsigned gen, call_gen; /* downloads started; the call's download */
	struct backoff backoff;
	struct rx_timer retry; /* the next Fetch call after a failure */
	struct rx_timer poll; /* init's STATUS */

	/* Reports: one call at a time; per slot, whether its connection
	 * wants one and whether its edge answered UNIMPLEMENTED.  A report
	 * not taken is sent again after report_retry (backoff). */
	struct conn_call report;
	unsigned report_slot;
	bool *report_want, *report_off;
	struct rx_defer kick;
	struct backoff report_backoff;
	struct rx_timer report_retry;

	struct metric_family f_state, f_bytes, f_fail;
	struct metric m_state[INITCTL__STATES], m_bytes, m_fail[UPD_FAIL__N];
	char state_label[INITCTL__STATES][24]; /* state="..." */
};

/* update_ctl.c */
uint32_t upd_rnd(void); /* a random word for backoff_next() */
/* The state changed (or its percent, reason): metrics, reports. */
void upd_changed(struct update_ctl *u);
/* Failed for reason (counted under why unless UPD_FAIL__N). */
void upd_fail(struct update_ctl *u, enum upd_fail why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The .part and .update names of the current offer. */
void upd_part_path(const struct update_ctl *u, char *out, size_t n);
void upd_staged_name(const struct update_ctl *u, char *out, size_t n);
/* Take init's state from a reply. */
void upd_adopt(struct update_ctl *u, const struct initctl_reply *r);

/* update_fetch.c */
int upd_fetch_init(struct update_ctl *u);
/* Start the Fetch call when the download waits for one and a tunnel is
 * routable. */
void upd_fetch_kick(struct update_ctl *u);
/* Abandon the download: the call is cancelled, the file closed (and
 * removed when unlink). */
void upd_fetch_stop(struct update_ctl *u, bool unlink_part);

/* update_stage.c: all bytes are there (u->fd open): verify, stage, APPLY. */
void upd_stage(struct update_ctl *u);
/* Remove DATA_DIR/update/outpost-* files other than keep ("" : all). */
void upd_stage_clean(struct update_ctl *u, const char *keep);
void upd_poll_fire(struct rx_loop *l, struct rx_timer *t);

/* update_report.c */
int upd_report_init(struct update_ctl *u);
void upd_report_want(struct update_ctl *u, int slot); /* -1: any routable */
void upd_report_stop(struct update_ctl *u);

#endif
