/*
 * session_int.h — between session.c (the table, opening, answering,
 * ending) and session_io.c (bytes between the target socket and the
 * Attach call).  Not for other modules.
 *
 * A session's life: DIALING (policy passed, the dial runs) → the Attach
 * call is opened and the result queued: ok → OPEN (bytes both ways), else
 * ENDING → ... → ENDING (the call is ended or reset; waiting for on_end)
 * → freed once the call is idle and the target socket closed.  A session
 * that cannot be answered (its connection went away while dialling) is
 * freed without a call.
 */
#ifndef CONNECTOR_SESSION_INT_H
#define CONNECTOR_SESSION_INT_H

#include "connector/session.h"
#include "connector/tunnel.h"
#include "net/dial.h"

#define SESSION_ID_MAX 64
#define SESSION_DATA_MAX 65536 /* the spec's largest data frame */
/* A SessionFrame's encoding around its bytes (tag, length), rounded up. */
#define SESSION_FRAME_SLACK 16
#define SESSION_PATH "/outpost.v1.Sessions/Attach"

/* How sessions end, for outpost_sessions_total{result} (in this order). */
enum session_result {
	SR_OK,
	SR_POLICY_DENIED,
	SR_DNS,
	SR_REFUSED,
	SR_UNREACHABLE,
	SR_TIMEOUT,
	SR_OVERLOADED,
	SR_DRAINING,
	SR_BAD_REQUEST,
	SR_INTERNAL,
	SR_RESET,
	SR_IDLE_TIMEOUT,
	SR_LIFETIME,
	SR_CANCELLED,
	SR_ENDED,
	SR_CLOSED,
	SR_PROTOCOL,
	SR__N
};

enum session_state { SS_DIALING, SS_OPEN, SS_ENDING };

struct session {
	struct session_table *tab;
	struct tunnel_slot *slot;
	unsigned gen; /* slot's connection generation at SessionOpen */
	unsigned index; /* in tab->s */
	bool full; /* data rings (a session), not a refusal's answer */
	enum session_state state;
	enum session_result result; /* how it ends (set once ending) */
	struct conn_call call;
	struct dial dial;
	struct rx_watch w; /* the target socket, while w.fd >= 0 */
	struct rx_timer timer; /* idle and lifetime */
	struct rx_defer reap; /* free outside callers (no socket to close) */
	bool reading; /* the target is read (room in the call's ring) */
	bool up_eof; /* the target sent FIN: half_close queued */
	bool down_eof; /* the edge sent half_close */
	bool wshut; /* shutdown(SHUT_WR) done on the target */
	bool trimmed; /* buffers given back since the last byte */
	uint8_t *pend; /* edge bytes the target did not take yet */
	size_t plen, poff;
	int64_t started, active, idle_ms;
	uint64_t to_target, from_target;
	uint16_t port;
	char id[SESSION_ID_MAX + 1];
	char host[DNS_NAME_MAX + 1];
};

struct session_table {
	struct manager *mgr;
	struct session_conf c;
	struct noproxy *direct; /* NO_PROXY */
	struct session **s; /* n used of max + SESSION_REFUSALS */
	unsigned n, nfull;
	uint8_t *scratch; /* one read from a target (SESSION_DATA_MAX) */
	struct metric_family f_open, f_total, f_bytes;
	struct metric m_open, m_total[SR__N], m_to, m_from;
	char labels[SR__N][32];
};

/* session.c */
const char *session_result_name(enum session_result r);
/* End the session with r: reset the call (cancel) or, when both
 * directions are done, end it; close the target at once.  Idempotent. */
void session_abort(struct session *s, enum session_result r);
/* Both directions closed: end the call; on_end frees the session. */
void session_finish(struct session *s);
/* Bytes moved: the idle clock restarts. */
void session_touch(struct session *s);
/* The call ended (on_end): reason as conn_call_ops.on_end's. */
void session_call_ended(struct session *s, const char *reason);
/* Free the session once its call is idle and its socket closed (the
 * socket's close callback calls this again).  */
void session_release(struct session *s);

/* session_io.c */
extern const struct conn_call_ops session_call_ops;
/* Start moving bytes: the target socket fd is the session's from now. */
void session_io_start(struct session *s, int fd);
/* Close the target socket (deferred; the session is freed afterwards). */
void session_io_close(struct session *s);

#endif
