/*
 * edge_json.c — the registry as JSON for the front door.  Every string
 * that came from a peer (names, uuids, hostnames, addresses) goes through
 * json_cstr(); numbers are printed by buf_printf.
 */
#include <inttypes.h>
#include <time.h>

#include "edge/edge_int.h"
#include "lib/json.h"

/* see edge_int.h */
void
edge_json_time(struct buf *b, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&s, &tm) == NULL) {
		buf_adds(b, "null");
		return;
	}
	buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ms % 1000));
}

static void
json_tunnel(struct buf *b, const struct edge_tunnel *t)
{
	buf_adds(b, "{\"id\":");
	json_cstr(b, t->id);
	buf_adds(b, ",\"state\":");
	json_cstr(b, edge_tunnel_state_name(t));
	buf_adds(b, ",\"address\":");
	json_cstr(b, t->c->addr);
	buf_adds(b, ",\"hostname\":");
	json_cstr(b, t->hostname);
	buf_adds(b, ",\"user_agent\":");
	json_cstr(b, h2_stream_user_agent(&t->hs));
	buf_adds(b, ",\"connector_id\":");
	json_cstr(b, h2_stream_connector_id(&t->hs));
	buf_adds(b, ",\"connected_since\":");
	edge_json_time(b, t->since_ms);
	buf_adds(b, ",\"last_heartbeat\":");
	edge_json_time(b, t->last_hb_ms);
	buf_printf(b,
	    ",\"in_flight\":%u,\"served\":%" PRIu64
	    ",\"max_concurrent_requests\":%d,\"missed_heartbeats\":%u"
	    ",\"transport\":\"%s\"",
	    t->in_flight, t->served, (int)t->max_concurrent, t->missed,
	    t->c->tls ? "mtls" : "h2c");
	edge_session_json(b, t);
	buf_adds(b, "}");
}

/* see edge_int.h */
void
edge_json_connector(struct buf *b, const struct edge_connector *k)
{
	const struct list_node *n;
	unsigned in_flight = 0;

	LIST_FOR_EACH(n, &k->tunnels)
	in_flight += list_entry(n, struct edge_tunnel, link)->in_flight;
	buf_adds(b, "{\"name\":");
	json_cstr(b, k->name);
	buf_adds(b, ",\"state\":");
	json_cstr(b, edge_connector_online(k) ? "online" : "offline");
	buf_printf(b, ",\"in_flight\":%u,\"requests\":%" PRIu64, in_flight,
	    k->requests);
	buf_adds(b, ",\"first_seen\":");
	edge_json_time(b, k->first_seen_ms);
	buf_adds(b, ",\"certificate_not_after\":");
	edge_json_time(b, k->cert_not_after * 1000);
	buf_adds(b, ",\"update\":");
	edge_update_json_connector(b, k);
	buf_adds(b, ",\"tunnels\":[");
	LIST_FOR_EACH(n, &k->tunnels)
	{
		json_tunnel(b, list_entry(n, struct edge_tunnel, link));
		if (n->next != &k->tunnels)
			buf_adds(b, ",");
	}
	buf_adds(b, "]}");
}

/* see edge_int.h */
void
edge_json_list(struct buf *b, const struct edge *e)
{
	const struct list_node *n;

	buf_adds(b, "{\"connectors\":[");
	LIST_FOR_EACH(n, &e->connectors)
	{
		edge_json_connector(
		    b, list_entry(n, struct edge_connector, link));
		if (n->next != &e->connectors)
			buf_adds(b, ",");
	}
	buf_adds(b, "]}\n");
}
