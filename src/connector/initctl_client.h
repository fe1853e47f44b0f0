/*
 * initctl_client.h — the worker's end of init's control channel (#21):
 * the inherited SOCK_SEQPACKET fd named by OUTPOST_INIT_CTL
 * (lib/initctl.h), one request answered by one reply.
 *
 * Outside the appliance the variable is absent: initctl_client_fd() then
 * fails with the reason "not an appliance".  Blocking with a bounded wait: init
 * answers from its loop at once (it never blocks for long), so a call
 * waits at most INITCTL_CLIENT_TIMEOUT_MS.
 */
#ifndef CONNECTOR_INITCTL_CLIENT_H
#define CONNECTOR_INITCTL_CLIENT_H

#include <stddef.h>

#include "lib/initctl.h"

#define INITCTL_CLIENT_TIMEOUT_MS 2000

/* The reason given when OUTPOST_INIT_CTL is not set. */
#define INITCTL_NOT_APPLIANCE "not an appliance"

/*
 * The channel's fd from the environment: >= 0, or -1 with the reason in
 * err: INITCTL_NOT_APPLIANCE when unset, "OUTPOST_INIT_CTL: ..." when it
 * is not a number or names no seqpacket socket.  Sets FD_CLOEXEC on it:
 * what the worker runs never inherits init's channel.  The caller does not
 * own the fd (it lives as long as the process).
 */
int initctl_client_fd(char *err, size_t errlen);

/*
 * Send op (path for APPLY, else NULL) on fd (from initctl_client_fd) and
 * read the reply into r.  0 when a well-formed reply to this op arrived
 * (r->result then tells whether init took the request, r->reason why
 * not), -1 with the reason in err (send/receive failure, timeout, init
 * gone, malformed reply, path too long).
 */
int initctl_client_call(int fd, enum initctl_op op, const char *path,
    struct initctl_reply *r, char *err, size_t errlen);

/*
 * At the worker's start: log init's update state (slot, version, the
 * other slot's version, state, reason) or why there is none ("not an
 * appliance").
 */
void initctl_client_log_status(void);

#endif
