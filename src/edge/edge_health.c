/*
 * edge_health.c — the edge's probes, on the front door and without the
 * bearer token (Kubernetes probes carry no credentials); they answer
 * nothing but a status and a fixed reason:
 *
 *   GET /healthz  200 {"status":"healthy"}: the reactor answers.
 *   GET /readyz   200 {"status":"ready"}, or 503 {"status":"not ready",
 *                 "reason":...}: the edge is not draining (SIGTERM,
 *                 edge_drain()), the tunnel listener is open and, with
 *                 EDGE_DATA_DIR, the directory is usable (its lock
 *                 file opens read-write) and its revocation list reads
 *                 (one stat when unchanged; edge_revoke.c).
 *
 * On the front door, not a port of their own: a probe then also proves
 * the port the Service sends requests to, and no setting is added.
 */
#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "lib/buf.h"
#include "lib/json.h"

#define JSON_CT "application/json"
#define NO_STORE "Cache-Control: no-store\r\n"

static void
on_healthz(struct http_exchange *x, void *arg)
{
	static const char ok[] = "{\"status\":\"healthy\"}\n";

	(void)arg;
	http_respond(x, 200, NO_STORE, JSON_CT, ok, sizeof(ok) - 1);
}

/* Why e cannot serve now; NULL: it can. */
static const char *
not_ready(const struct edge *e)
{
	struct edge_id *id = e->conf->id;

	if (e->draining)
		return "draining";
	if (!e->lw_open || e->stopping)
		return "tunnel listener closed";
	if (id == NULL)
		return NULL;
	if (!edge_store_usable(id))
		return "EDGE_DATA_DIR not usable";
	if (edge_revoked_refresh(id) < 0)
		return "revocations unreadable";
	return NULL;
}

static void
on_readyz(struct http_exchange *x, void *arg)
{
	const char *why = not_ready(arg);
	char mem[128];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	if (why == NULL) {
		buf_adds(&b, "{\"status\":\"ready\"}\n");
	} else {
		buf_adds(&b, "{\"status\":\"not ready\",\"reason\":");
		json_cstr(&b, why);
		buf_adds(&b, "}\n");
	}
	http_respond(x, why == NULL ? 200 : 503, NO_STORE, JSON_CT, b.p, b.len);
}

/* see edge_int.h */
void
edge_health_routes(
    struct edge *e, struct http_route *live, struct http_route *ready)
{
	*live = (struct http_route){.path = "/healthz",
	    .methods = HTTP_M_GET | HTTP_M_HEAD,
	    .fn = on_healthz,
	    .arg = e};
	*ready = (struct http_route){.path = "/readyz",
	    .methods = HTTP_M_GET | HTTP_M_HEAD,
	    .fn = on_readyz,
	    .arg = e};
}
