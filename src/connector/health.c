/* The health port's handlers and its public API. */
#include <errno.h>
#include <stdlib.h>

#include "connector/health.h"
#include "connector/health_int.h"
#include "connector/notify.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define JSON_TYPE "application/json"
#define NO_STORE "Cache-Control: no-store\r\n"

static void
reply_json(struct http_exchange *x, int status, const struct buf *b)
{
	http_respond(x, status, NO_STORE, JSON_TYPE, b->p, b->len);
}

static void
on_healthz(struct http_exchange *x, void *arg)
{
	static const char ok[] = "{\"status\":\"healthy\"}";

	http_respond(x, 200, NO_STORE, JSON_TYPE, ok, sizeof(ok) - 1);
}

static void
on_readyz(struct http_exchange *x, void *arg)
{
	struct health *h = arg;
	bool ready = h->ready && h->blocker == NULL;
	struct buf b;

	buf_init(&b, h->body, sizeof(h->body));
	buf_printf(&b, "{\"status\":\"%s\",\"active_tunnels\":%u",
	    ready ? "ready" : "not ready", h->tunnels_up);
	if (!ready) {
		buf_adds(&b, ",\"reason\":");
		json_cstr(&b, h->blocker != NULL ? h->blocker : h->reason);
	}
	if (h->degraded_fn != NULL)
		h->degraded_fn(&b, h->degraded_arg);
	buf_adds(&b, "}");
	reply_json(x, ready ? 200 : 503, &b);
}

static void
on_metrics(struct http_exchange *x, void *arg)
{
	struct health *h = arg;
	struct buf b;

	buf_init(&b, h->body, sizeof(h->body));
	if (http_respond_metrics(x, &h->reg, &b) == -EMSGSIZE)
		http_respond(
		    x, 500, NULL, "text/plain", "metrics overflow\n", 17);
}

static void
on_status(struct http_exchange *x, void *arg)
{
	struct health *h = arg;
	bool ready = h->ready && h->blocker == NULL;
	struct buf b;
	size_t i;

	buf_init(&b, h->body, sizeof(h->body));
	buf_adds(&b, "{\"status\":");
	json_cstr(&b, ready ? "ready" : "not_ready");
	buf_adds(&b, ",\"reason\":");
	json_cstr(&b,
	    ready		     ? NULL
		: h->blocker != NULL ? h->blocker
				     : h->reason);
	buf_adds(&b, ",\"version\":");
	json_cstr(&b, OUTPOST_VERSION);
	buf_adds(&b, ",\"revision\":");
	json_cstr(&b, OUTPOST_REVISION);
	buf_adds(&b, ",\"env_name\":");
	json_cstr(&b, h->conf.env_name);
	buf_printf(&b, ",\"uptime_seconds\":%lld",
	    (long long)((util_mono_ms() - h->started_ms) / 1000));
	buf_printf(&b, ",\"tunnels\":{\"up\":%u,\"max\":%u}", h->tunnels_up,
	    h->tunnels_max);
	for (i = 0; i < HEALTH_EXTRAS; i++)
		if (h->extra_fn[i] != NULL)
			h->extra_fn[i](&b, h->extra_arg[i]);
	if (h->status_fn != NULL) {
		buf_adds(&b, ",\"detail\":");
		h->status_fn(&b, h->status_arg);
	}
	buf_adds(&b, "}\n");
	reply_json(x, b.overflow ? 500 : 200, &b);
}

static void
init_routes(struct health *h)
{
	static const struct {
		const char *path;
		http_handler_fn *fn;
	} r[4] = {
	    {"/healthz", on_healthz},
	    {"/readyz", on_readyz},
	    {"/metrics", on_metrics},
	    {"/status", on_status},
	};
	size_t i;

	for (i = 0; i < nitems(r); i++)
		h->routes[i] = (struct http_route){.path = r[i].path,
		    .methods = HTTP_M_GET,
		    .fn = r[i].fn,
		    .arg = h};
}

/* see health.h */
struct health *
health_start(struct rx_loop *l, const struct health_conf *c, int *err)
{
	struct http_server_conf sc = {
	    .addr4 = c->addr4,
	    .addr6 = c->addr6,
	    .port = c->port,
	    .max_conns = c->max_conns,
	    .header_timeout_ms = c->header_timeout_ms,
	    .idle_timeout_ms = c->idle_timeout_ms,
	    .limits = {.max_line = 2048,
		.max_headers = 32,
		.max_header_bytes = 8192,
		.max_total = 8192},
	    .max_body = 0,
	    .out_cap = HEALTH_BODY_MAX + 1024,
	    .nroutes = 4,
	};
	struct health *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	h->l = l;
	h->conf = *c;
	h->started_ms = util_mono_ms();
	h->reason = "no_tunnel";
	init_routes(h);
	sc.routes = h->routes;
	health_metrics_init(h);
	h->srv = http_server_start(l, &sc, err);
	if (h->srv == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

/* see health.h */
void
health_close(struct health *h)
{
	http_server_close(h->srv);
	free(h);
}

/* see health.h */
void
health_set_ready(struct health *h, bool ready, const char *reason)
{
	h->ready = ready;
	if (reason != NULL)
		h->reason = reason;
	notify_readiness(ready && h->blocker == NULL,
	    h->blocker != NULL ? h->blocker : h->reason, h->tunnels_up);
}

/* see health.h */
void
health_set_degraded(struct health *h, health_status_fn *fn, void *arg)
{
	h->degraded_fn = fn;
	h->degraded_arg = arg;
}

/* see health.h */
void
health_set_blocker(struct health *h, const char *reason)
{
	h->blocker = reason;
	notify_readiness(h->ready && reason == NULL,
	    reason != NULL ? reason : h->reason, h->tunnels_up);
}

/* see health.h */
void
health_set_extra(struct health *h, health_status_fn *fn, void *arg)
{
	size_t i, free_i = HEALTH_EXTRAS;

	for (i = 0; i < HEALTH_EXTRAS; i++) {
		if (h->extra_fn[i] != NULL && h->extra_arg[i] == arg) {
			h->extra_fn[i] = fn; /* replaced, or removed */
			return;
		}
		if (h->extra_fn[i] == NULL && free_i == HEALTH_EXTRAS)
			free_i = i;
	}
	if (fn == NULL)
		return;
	if (free_i == HEALTH_EXTRAS) {
		log_error(
		    "health: more than %d /status writers", HEALTH_EXTRAS);
		return;
	}
	h->extra_fn[free_i] = fn;
	h->extra_arg[free_i] = arg;
}

/* see health.h */
void
health_set_status(struct health *h, health_status_fn *fn, void *arg)
{
	h->status_fn = fn;
	h->status_arg = arg;
}

/* see health.h */
void
health_set_tunnels(struct health *h, unsigned up, unsigned max)
{
	h->tunnels_up = up;
	h->tunnels_max = max;
}

/* see health.h */
struct metrics *
health_metrics(struct health *h)
{
	return &h->reg;
}

/* see health.h */
uint16_t
health_port(const struct health *h)
{
	return http_server_port(h->srv);
}
