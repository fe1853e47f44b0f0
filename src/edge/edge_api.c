/*
 * edge_api.c — the front door: bearer-token check, the API routes, JSON
 * answers.  The proxy route continues in edge_proxy.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge_int.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define JSON_CT "application/json"
#define STATE_MAX (1u << 20)
#define ALL_METHODS \
	(HTTP_M_GET | HTTP_M_HEAD | HTTP_M_POST | HTTP_M_PUT | HTTP_M_DELETE | \
	    HTTP_M_PATCH | HTTP_M_OPTIONS)

/* see edge_int.h */
void
edge_api_json(struct http_exchange *x, int status, const char *error,
    const char *reason, const char *message)
{
	char mem[2048];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"error\":");
	json_cstr(&b, error);
	if (reason != NULL) {
		buf_adds(&b, ",\"reason\":");
		json_cstr(&b, reason);
	}
	if (message != NULL) {
		buf_adds(&b, ",\"message\":");
		json_cstr(&b, message);
	}
	buf_adds(&b, "}\n");
	if (b.overflow) {
		buf_reset(&b);
		buf_printf(&b, "{\"error\":\"%s\"}\n", "internal");
	}
	http_respond(x, status,
	    status == 401
		? "WWW-Authenticate: Bearer realm=\"outpost-edge\"\r\n"
		: NULL,
	    JSON_CT, b.p, b.len);
}

/* Constant time in the token's length and contents. */
static bool
token_ok(struct edge *e, struct http_exchange *x)
{
	const struct http_request *rq = http_exchange_request(x);
	const struct http_header *h;
	const char *v;
	size_t n;

	h = http_header_find(rq->headers, rq->nheaders, "authorization");
	if (h == NULL || h->value_len < 7 ||
	    !http_token_eq(h->value, 6, "bearer") || h->value[6] != ' ')
		return false;
	v = h->value + 7;
	n = h->value_len - 7;
	if (n != e->conf->token_len) {
		util_ct_eq(e->conf->token, e->conf->token, e->conf->token_len);
		return false;
	}
	return util_ct_eq(v, e->conf->token, n);
}

/*
 * Every front-door route's admit hook: the bearer token is checked on the
 * head, so a client without it gets 401 before a byte of its body is read
 * (and no 100 Continue); the server then closes a connection whose body
 * was never read.
 */
static bool
authorized(struct http_exchange *x, void *arg)
{
	if (token_ok(arg, x))
		return true;
	edge_api_json(x, 401, "unauthorized", NULL, NULL);
	return false;
}

static bool
method_is(struct http_exchange *x, const char *m)
{
	const struct http_request *rq = http_exchange_request(x);

	return rq->method_len == strlen(m) &&
	    memcmp(rq->method, m, rq->method_len) == 0;
}

/* see edge_int.h */
void
edge_api_state(struct http_exchange *x,
    void (*fill)(struct buf *, const void *), const void *arg)
{
	struct buf b;
	void *mem;

	if ((mem = malloc(STATE_MAX)) == NULL) {
		edge_api_json(x, 500, "internal", NULL, "out of memory");
		return;
	}
	buf_init(&b, mem, STATE_MAX);
	fill(&b, arg);
	if (b.overflow)
		edge_api_json(x, 500, "internal", NULL, "state too large");
	else
		http_respond(
		    x, 200, "Cache-Control: no-store\r\n", JSON_CT, b.p, b.len);
	free(mem);
}

static void
fill_connector(struct buf *b, const void *k)
{
	edge_json_connector(b, k);
	buf_adds(b, "\n");
}

static void
fill_list(struct buf *b, const void *e)
{
	edge_json_list(b, e);
}

static void
respond_state(struct http_exchange *x, const struct edge *e,
    const struct edge_connector *k)
{
	if (k != NULL)
		edge_api_state(x, fill_connector, k);
	else
		edge_api_state(x, fill_list, e);
}

static void
on_list(struct http_exchange *x, void *arg)
{
	respond_state(x, arg, NULL);
}

static struct edge_tunnel *
find_tunnel(struct edge_connector *k, const char *id, size_t n)
{
	struct list_node *node;
	struct edge_tunnel *t;

	LIST_FOR_EACH(node, &k->tunnels)
	{
		t = list_entry(node, struct edge_tunnel, link);
		if (strlen(t->id) == n && memcmp(t->id, id, n) == 0)
			return t;
	}
	return NULL;
}

static void
drain(struct http_exchange *x, struct edge_connector *k,
    const struct edge_route *r)
{
	struct edge_tunnel *t = find_tunnel(k, r->tunnel, r->tunnellen);
	char body[160];
	struct buf b;

	if (!method_is(x, "POST")) {
		edge_api_json(x, 405, "method_not_allowed", NULL, NULL);
		return;
	}
	if (t == NULL) {
		edge_api_json(x, 404, "unknown_tunnel", NULL, NULL);
		return;
	}
	if (edge_tunnel_start_close(t) < 0) {
		edge_api_json(x, 409, "tunnel_closing", NULL, NULL);
		return;
	}
	buf_init(&b, body, sizeof(body));
	buf_adds(&b, "{\"draining\":");
	json_cstr(&b, t->id);
	buf_adds(&b, "}\n");
	http_respond(x, 202, NULL, JSON_CT, b.p, b.len);
}

static void
on_any(struct http_exchange *x, void *arg)
{
	struct edge *e = arg;
	struct edge_connector *k;
	struct edge_route r;
	const char *path;
	size_t len;

	http_exchange_path(x, &path, &len);
	if (edge_route_parse(path, len, &r) == EDGE_R_NONE) {
		edge_api_json(x, 404, "not_found", NULL, NULL);
		return;
	}
	if (r.kind == EDGE_R_REVOKE) {
		edge_idapi_revoke(e, x, &r);
		return;
	}
	if ((k = edge_registry_find(e, r.name, r.namelen)) == NULL) {
		edge_api_json(x, 404, "unknown_connector", NULL, NULL);
		return;
	}
	switch (r.kind) {
	case EDGE_R_CONNECTOR:
		if (!method_is(x, "GET") && !method_is(x, "HEAD"))
			edge_api_json(x, 405, "method_not_allowed", NULL, NULL);
		else
			respond_state(x, e, k);
		break;
	case EDGE_R_DRAIN:
		drain(x, k, &r);
		break;
	case EDGE_R_PROXY:
		edge_proxy_start(e, x, &r);
		break;
	case EDGE_R_CONNECT:
		edge_session_start(e, x, &r);
		break;
	default:
		edge_api_json(x, 404, "not_found", NULL, NULL);
		break;
	}
}

/* GET /metrics: the edge's registry, in the format the Accept asks for. */
static void
on_metrics(struct http_exchange *x, void *arg)
{
	struct edge *e = arg;
	struct buf b;

	buf_init(&b, e->scratch, EDGE_SCRATCH);
	if (http_respond_metrics(x, &e->metrics, &b) == -EMSGSIZE)
		edge_api_json(x, 500, "internal", NULL, "metrics too large");
}

/* see edge_int.h */
int
edge_api_start(struct edge *e)
{
	const struct edge_conf *ec = e->conf;
	struct http_server_conf hc = {0};
	struct in_addr a = {.s_addr = ec->api_addr};
	char addr[INET_ADDRSTRLEN];
	int err = 0;

	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	metrics_init(&e->metrics);
	edge_session_metrics_add(e, &e->metrics);
	edge_update_metrics_add(e, &e->metrics);
	/* Every route is behind the token (admit = authorized) but the
	 * probes (edge_health.c). */
	e->routes[0] = (struct http_route){.path = "/v1/connectors",
	    .methods = HTTP_M_GET | HTTP_M_HEAD,
	    .fn = on_list,
	    .arg = e,
	    .admit = authorized};
	e->routes[1] = (struct http_route){.path = "/v1/connectors/*",
	    .methods = ALL_METHODS,
	    .fn = on_any,
	    .arg = e,
	    .admit = authorized};
	/* Identity routes (edge_idapi.c). */
	e->routes[2] = (struct http_route){.path = "/v1/tokens",
	    .methods = HTTP_M_POST,
	    .fn = edge_idapi_tokens,
	    .arg = e,
	    .admit = authorized};
	e->routes[3] = (struct http_route){.path = "/v1/pairings*",
	    .methods = HTTP_M_GET | HTTP_M_POST,
	    .fn = edge_idapi_pairings,
	    .arg = e,
	    .admit = authorized};
	e->routes[4] = (struct http_route){.path = "/metrics",
	    .methods = HTTP_M_GET | HTTP_M_HEAD,
	    .fn = on_metrics,
	    .arg = e,
	    .admit = authorized};
	e->routes[5] = (struct http_route){.path = "/v1/updates*",
	    .methods = HTTP_M_GET | HTTP_M_HEAD | HTTP_M_POST | HTTP_M_DELETE,
	    .fn = edge_update_api,
	    .arg = e,
	    .admit = authorized,
	    .raw_body = true};
	edge_health_routes(e, &e->routes[6], &e->routes[7]);
	hc.addr4 = addr;
	hc.port = ec->api_port;
	hc.max_conns = ec->api_max_conns;
	hc.header_timeout_ms = 10000;
	hc.idle_timeout_ms = 60000;
	/* A body must make progress within the head's deadline. */
	hc.body_timeout_ms = hc.header_timeout_ms;
	hc.limits = HTTP_LIMITS_DEFAULT;
	hc.max_body = ec->max_request_body;
	hc.max_raw_body = (size_t)ec->update_max_bytes; /* /v1/updates */
	hc.out_cap = ec->max_response_body + 2 * 16384;
	hc.routes = e->routes;
	hc.nroutes = nitems(e->routes);
	if ((e->api = http_server_start(e->l, &hc, &err)) == NULL)
		return err < 0 ? err : -EINVAL;
	return 0;
}

/* see edge.h */
uint16_t
edge_api_port(const struct edge *e)
{
	return e->api != NULL ? http_server_port(e->api) : 0;
}
