/*
 * notify.h — the service manager's readiness protocol (sd_notify(3)) in a
 * few lines, without libsystemd: one datagram of "KEY=VALUE\n" lines per
 * change, sent to the AF_UNIX datagram socket that NOTIFY_SOCKET names (a
 * path, or "@name" in the abstract namespace).
 *
 *   READY=1     once, when the first tunnel is up
 *   STATUS=...  whenever readiness, its reason or the tunnel count changes
 *   STOPPING=1  when a SIGTERM starts the drain
 *   WATCHDOG=1  every WATCHDOG_USEC/2 from a reactor timer, so a stuck loop
 *               is noticed (only when WATCHDOG_USEC is set and WATCHDOG_PID
 *               is unset or names this process)
 *
 * Without NOTIFY_SOCKET every call is a no-op.  Sends never block and
 * never fail the caller: a lost datagram is logged at debug level.  The
 * state is process-wide (one service manager per process); all calls are
 * made from the reactor thread, any callback included.
 */
#ifndef CONNECTOR_NOTIFY_H
#define CONNECTOR_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "rx/rx.h"

/*
 * Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and start the
 * watchdog timer on l when asked for.  0, or -1 with err naming the
 * variable whose value is unusable (too long a socket path, a watchdog
 * interval that is not a positive number of microseconds).
 */
int notify_start(struct rx_loop *l, char *err, size_t errlen);

/* Readiness changed (or was restated: repeats are not sent). */
void notify_readiness(bool ready, const char *reason, unsigned tunnels);

/* The drain began. */
void notify_stopping(void);

/* Stop the watchdog timer and close the socket (before the loop goes). */
void notify_stop(struct rx_loop *l);

#endif
