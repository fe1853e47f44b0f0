/*
 * edge_idapi.c — the front door's identity routes (the bearer token is
 * checked by the routes' admit hook, edge_api.c, before any body):
 *
 *   POST /v1/tokens {"name":N,"ttl":"1h"}     201 {"token","name","expires_at"}
 *   GET  /v1/pairings                         200 {"pairings":[...pending]}
 *   POST /v1/pairings/{code}/approve {"name"} 200 {"code","name","state"}
 *   POST /v1/pairings/{code}/deny             200 {"code","state"}
 *   POST /v1/connectors/{name}/revoke         200 {"name","revoked","closed"}
 *
 * Without EDGE_DATA_DIR they answer 409 enrollment_disabled.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "edge/edge_id.h"
#include "edge/edge_int.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define JSON_CT "application/json"
#define TTL_DEFAULT_S 3600
#define TTL_MAX_S (30 * 86400)
#define PAIRINGS_PREFIX "/v1/pairings"

static void
respond(struct http_exchange *x, int status, const struct buf *b)
{
	if (b->overflow)
		edge_api_json(x, 500, "internal", NULL, "answer too large");
	else
		http_respond(x, status, "Cache-Control: no-store\r\n", JSON_CT,
		    b->p, b->len);
}

static bool
method_is(struct http_exchange *x, const char *m)
{
	const struct http_request *rq = http_exchange_request(x);

	return rq->method_len == strlen(m) &&
	    memcmp(rq->method, m, rq->method_len) == 0;
}

/* Enrolment on: the identity state; else answered (409). */
static struct edge_id *
gate(struct edge *e, struct http_exchange *x)
{
	if (e->conf->id == NULL) {
		edge_api_json(x, 409, "enrollment_disabled", NULL,
		    "the edge has no EDGE_DATA_DIR");
		return NULL;
	}
	return e->conf->id;
}

/* A string field of the JSON body; false when answered (400). */
static bool
body_str(struct http_exchange *x, const char *key, char *out, size_t cap,
    bool required)
{
	const uint8_t *p;
	size_t n;
	int r;

	p = http_exchange_body(x, &n);
	r = n == 0 ? 0 : edge_jbody_str((const char *)p, n, key, out, cap);
	if (r < 0) {
		edge_api_json(x, 400, "bad_request", NULL,
		    "the body must be a JSON object of strings");
		return false;
	}
	if (r == 0 && required) {
		edge_api_json(x, 400, "bad_request", key, "missing");
		return false;
	}
	return true;
}

static bool
name_ok(struct http_exchange *x, const char *name)
{
	if (edge_name_valid(name, strlen(name)))
		return true;
	edge_api_json(x, 400, "bad_request", "name",
	    "1-63 characters of A-Z a-z 0-9 . _ -");
	return false;
}

/* see edge_int.h */
void
edge_idapi_tokens(struct http_exchange *x, void *arg)
{
	struct edge *e = arg;
	struct edge_id *id = gate(e, x);
	char name[EDGE_NAME_MAX], ttl[32], tok[EDGE_TOKEN_MAX], err[256];
	char mem[512];
	int64_t ms = TTL_DEFAULT_S * 1000, expires;
	struct buf b;

	if (id == NULL || !body_str(x, "name", name, sizeof(name), true) ||
	    !name_ok(x, name) || !body_str(x, "ttl", ttl, sizeof(ttl), false))
		return;
	if (ttl[0] != '\0' &&
	    (!cfg_duration_parse(ttl, &ms) || ms < 1000 ||
		ms > TTL_MAX_S * 1000LL)) {
		edge_api_json(x, 400, "bad_request", "ttl",
		    "a duration from 1s to 720h (e.g. 10m, 1h)");
		return;
	}
	if (edge_token_create(
		id, name, ms / 1000, tok, &expires, err, sizeof(err)) < 0) {
		log_error("edge: token for %s: %s", name, err);
		edge_api_json(x, 503, "store", NULL, err);
		return;
	}
	log_info("edge: enrolment token created for %s, expires %" PRId64, name,
	    expires);
	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"token\":");
	json_cstr(&b, tok);
	buf_adds(&b, ",\"name\":");
	json_cstr(&b, name);
	buf_adds(&b, ",\"expires_at\":");
	edge_json_time(&b, expires * 1000);
	buf_adds(&b, "}\n");
	respond(x, 201, &b);
	util_wipe(tok, sizeof(tok));
	util_wipe(mem, sizeof(mem));
}

static void
list_pairings(struct http_exchange *x, struct edge_id *id)
{
	char mem[EDGE_PAIRINGS_MAX * 256 + 64];
	const struct edge_pairing *p;
	bool first = true;
	struct buf b;
	size_t i;

	edge_pair_expire(id);
	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"pairings\":[");
	for (i = 0; i < EDGE_PAIRINGS_MAX; i++) {
		p = &id->pairs[i];
		if (!p->used || p->state != EDGE_P_PENDING)
			continue;
		buf_adds(&b, first ? "{\"code\":" : ",{\"code\":");
		first = false;
		json_cstr(&b, p->code);
		buf_adds(&b, ",\"hostname\":");
		json_cstr(&b, p->hostname);
		buf_adds(&b, ",\"address\":");
		json_cstr(&b, p->addr);
		buf_adds(&b, ",\"expires_at\":");
		edge_json_time(&b, p->expires * 1000);
		buf_adds(&b, "}");
	}
	buf_adds(&b, "]}\n");
	respond(x, 200, &b);
}

/* /v1/pairings/{code}/{approve|deny} */
static void
decide(struct http_exchange *x, struct edge_id *id, const char *path, size_t n)
{
	const char *code = path + strlen(PAIRINGS_PREFIX) + 1, *slash;
	char name[EDGE_NAME_MAX] = "", mem[256];
	struct edge_pairing *p;
	bool approve;
	struct buf b;

	slash = memchr(code, '/', (size_t)(path + n - code));
	if (slash == NULL ||
	    (strncmp(slash, "/approve", 8) != 0 &&
		strncmp(slash, "/deny", 5) != 0) ||
	    (size_t)(path + n - slash) != (slash[1] == 'a' ? 8u : 5u)) {
		edge_api_json(x, 404, "not_found", NULL, NULL);
		return;
	}
	approve = slash[1] == 'a';
	if (!method_is(x, "POST")) {
		edge_api_json(x, 405, "method_not_allowed", NULL, NULL);
		return;
	}
	if (approve &&
	    (!body_str(x, "name", name, sizeof(name), true) ||
		!name_ok(x, name)))
		return;
	if ((p = edge_pair_by_code(id, code, (size_t)(slash - code))) == NULL) {
		edge_api_json(x, 404, "unknown_pairing", NULL,
		    "no pending pairing with that code (expired?)");
		return;
	}
	p->state = approve ? EDGE_P_APPROVED : EDGE_P_DENIED;
	snprintf(p->name, sizeof(p->name), "%s", name);
	log_info("edge: pairing %s from %s %s%s%s", p->code, p->addr,
	    approve ? "approved as " : "denied", name, "");
	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"code\":");
	json_cstr(&b, p->code);
	if (approve) {
		buf_adds(&b, ",\"name\":");
		json_cstr(&b, name);
	}
	buf_adds(&b,
	    approve ? ",\"state\":\"approved\"}\n"
		    : ",\"state\":\"denied\"}\n");
	respond(x, 200, &b);
}

/* see edge_int.h */
void
edge_idapi_pairings(struct http_exchange *x, void *arg)
{
	struct edge *e = arg;
	struct edge_id *id = gate(e, x);
	size_t n, pl = strlen(PAIRINGS_PREFIX);
	const char *path;

	if (id == NULL)
		return;
	http_exchange_path(x, &path, &n);
	if (n == pl && method_is(x, "GET"))
		list_pairings(x, id);
	else if (n > pl + 1 && path[pl] == '/')
		decide(x, id, path, n);
	else
		edge_api_json(x, 404, "not_found", NULL, NULL);
}

/* see edge_int.h */
void
edge_idapi_revoke(
    struct edge *e, struct http_exchange *x, const struct edge_route *r)
{
	struct edge_id *id = gate(e, x);
	char name[EDGE_NAME_MAX], err[256], mem[256];
	struct buf b;
	unsigned closed;

	if (id == NULL)
		return;
	if (!method_is(x, "POST")) {
		edge_api_json(x, 405, "method_not_allowed", NULL, NULL);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)r->namelen, r->name);
	if (edge_revoke(id, name, err, sizeof(err)) < 0) {
		log_error("edge: revoke %s: %s", name, err);
		edge_api_json(x, 503, "store", NULL, err);
		return;
	}
	closed = edge_revoked_close(e, name, "revoked here");
	log_warn("edge: connector %s revoked: %u connection(s) closed", name,
	    closed);
	buf_init(&b, mem, sizeof(mem));
	buf_adds(&b, "{\"name\":");
	json_cstr(&b, name);
	buf_printf(&b, ",\"revoked\":true,\"closed\":%u}\n", closed);
	respond(x, 200, &b);
}
