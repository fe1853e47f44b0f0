/*
 * update_ctl.h — the connector's side of appliance update delivery (#21,
 * docs/protocol-extensions.md "Appliance updates"): the offer on the
 * Tunnel call, the Updates/Fetch client with resume, the staged file, its
 * verification, the hand-over to init (APPLY on init's control channel,
 * connector/initctl_client.h), Updates/Report, and the "update" object of
 * /status with its metrics.
 *
 * Only under outpost's init (OUTPOST_INIT_CTL set and naming its socket):
 * otherwise update_ctl_new() returns NULL, the tunnels do not advertise
 * "update", and every hook here is a no-op on NULL.  One fetch at a time
 * per connector: the manager owns the one update_ctl, whatever tunnel the
 * offer came on, and the Fetch call runs on any routable tunnel (after a
 * dropped call or tunnel, on another one after the backoff).
 *
 * Blocking I/O on the reactor, each step bounded: a received chunk is
 * written where it belongs (at most 64 KiB, one write(2)); the hand-over
 * reads the bundle's manifest and signature (a few KiB), renames, and asks
 * init (initctl_client_call(), at most INITCTL_CLIENT_TIMEOUT_MS, init
 * answers from its loop at once); init's state is then polled once a
 * second while it verifies or writes.  The whole file's sha256 is computed
 * as the chunks arrive, never in one pass.  The receive window of the
 * Fetch call is two chunks: a connector writing slowly slows the edge.
 *
 * All functions run on the reactor thread.
 */
#ifndef CONNECTOR_UPDATE_CTL_H
#define CONNECTOR_UPDATE_CTL_H

#include "lib/buf.h"
#include "lib/metrics.h"
#include "proto/outpost/v1/updates.pb-c.h"

struct cfg;
struct manager;
struct tunnel_slot;
struct update_ctl;

/*
 * After manager_init(): NULL outside the appliance (logged at info) or out
 * of memory (logged); else the controller, init's state read once.
 */
struct update_ctl *update_ctl_new(struct manager *m, const struct cfg *c);

/* Release it; its calls must be idle (the manager's connections closed). */
void update_ctl_free(struct update_ctl *u);

/* outpost_update_state{state}, outpost_update_bytes_fetched_total and
 * outpost_update_fetch_failures_total{reason}. */
void update_ctl_metrics_add(struct update_ctl *u, struct metrics *r);

/* ',"update":{slot, version, other_version, state, percent,
 * offered_version, reason}' for /status (a health_status_fn). */
void update_ctl_status_fn(struct buf *b, void *arg);

/* ControllerMessage.update_offer arrived on t. */
void update_ctl_offer(struct update_ctl *u, struct tunnel_slot *t,
    const Outpost__V1__UpdateOffer *o);

/*
 * ControllerMessage.update_reboot arrived on t: when init has written
 * exactly that version (state written), ask init to reboot now; else
 * refuse, the reason in the next report (the state is unchanged).
 */
void update_ctl_reboot(struct update_ctl *u, struct tunnel_slot *t,
    const Outpost__V1__UpdateReboot *r);

/* t's Tunnel call was opened: report the state on its connection. */
void update_ctl_tunnel_opened(struct update_ctl *u, struct tunnel_slot *t);

/* A slot changed (routable, closed, stopping): a waiting fetch may start;
 * once the manager stops, the calls end. */
void update_ctl_poke(struct update_ctl *u);

#endif
