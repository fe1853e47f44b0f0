/*
 * edge_rwatch.c — closing the connections of revoked certificates, on
 * this replica's own revocation and on one made by another replica
 * sharing EDGE_DATA_DIR.
 *
 * Replicas share the revocation file, not their connections: every
 * EDGE_RWATCH_MS each replica stats the file (edge_revoked_refresh()) and,
 * when another replica replaced it, closes every connection whose
 * certificate is now revoked.  A timer, not inotify: the directory is a
 * ReadWriteMany volume (NFS and the like), where another node's write
 * raises no local event.  An unreadable file closes nothing (the tunnels
 * open were checked against the last good read; new handshakes are
 * refused meanwhile and /readyz says not ready, edge_health.c).
 */
#include <string.h>

#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "lib/log.h"

/* see edge_int.h */
unsigned
edge_revoked_close(struct edge *e, const char *name, const char *why)
{
	struct list_node *node, *tmp;
	struct edge_conn *c;
	const uint8_t *sn;
	unsigned n = 0;
	size_t len;

	if (e->conf->id == NULL)
		return 0;
	LIST_FOR_EACH_SAFE(node, tmp, &e->conns)
	{
		c = list_entry(node, struct edge_conn, link);
		if (c->closing || !c->tls || c->name[0] == '\0' ||
		    (name != NULL && strcmp(c->name, name) != 0))
			continue;
		len = 0;
		sn = tls_peer_serial(&c->tlsc, &len);
		if (!edge_is_revoked(e->conf->id, c->name, sn, len))
			continue;
		log_warn("edge: connector %s from %s: certificate %s", c->name,
		    c->addr, why);
		edge_conn_close(c, "revoked");
		n++;
	}
	return n;
}

static void
on_rwatch(struct rx_loop *l, struct rx_timer *tm)
{
	struct edge *e = container_of(tm, struct edge, rwatch);
	unsigned n;

	if (edge_revoked_refresh(e->conf->id) == 1 &&
	    (n = edge_revoked_close(e, NULL, "revoked by another replica")) > 0)
		log_warn(
		    "edge: revocations changed: %u connection(s) closed", n);
	rx_timer_start(l, tm, EDGE_RWATCH_MS);
}

/* see edge_int.h */
void
edge_rwatch_start(struct edge *e)
{
	rx_timer_init(&e->rwatch, on_rwatch);
	if (e->conf->id != NULL)
		rx_timer_start(e->l, &e->rwatch, EDGE_RWATCH_MS);
}

/* see edge_int.h */
void
edge_rwatch_stop(struct edge *e)
{
	rx_timer_stop(e->l, &e->rwatch);
}
