/*
 * edge_update.c — offers and what connectors report (see edge_update.h):
 * the /v1/updates routes, UpdateOffer and UpdateReboot on the tunnels
 * that advertised "update", the "update" member of a connector's JSON and
 * the metric outpost_edge_update_connectors{state}.
 *
 * Offers live in memory (a restarted edge offers nothing until the next
 * POST); their bundle files in EDGE_DATA_DIR/updates/<sha256>.update stay
 * until withdrawn.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge/edge_update_int.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/connector/v1/connector.pb-c.h"
#include "proto/outpost/v1/updates.pb-c.h"

#define JSON_CT "application/json"
#define UPDATES_PATH "/v1/updates"
#define REBOOT_PATH "/v1/updates/reboot"

/* see edge_update.h */
int
edge_update_head(const uint8_t *p, size_t n, uint64_t size,
    struct update_manifest *m, char *err, size_t errlen)
{
	struct update_layout h;

	if (update_layout(p, n, &h, err, errlen) < 0)
		return -1;
	return update_manifest_parse((const char *)p + h.man_off, h.man_len,
	    h.data_start, size, m, err, errlen);
}

/* see edge_int.h */
int
edge_update_init(struct edge *e)
{
	if ((e->upd = calloc(1, sizeof(*e->upd))) == NULL)
		return -ENOMEM;
	e->upd->e = e;
	return 0;
}

/* see edge_int.h */
void
edge_update_free(struct edge *e)
{
	if (e->upd == NULL)
		return;
	edge_update_upload_abort(e->upd);
	free(e->upd);
	e->upd = NULL;
}

/* see edge_update_int.h */
const struct edge_offer *
edge_update_offer_for(const struct edge_updates *u, const char *name)
{
	const struct edge_offer *all = NULL;
	size_t i;

	for (i = 0; i < EDGE_UPD_OFFERS; i++) {
		if (!u->offers[i].used)
			continue;
		if (u->offers[i].all)
			all = &u->offers[i];
		else if (strcmp(u->offers[i].name, name) == 0)
			return &u->offers[i];
	}
	return all;
}

/* Send m (an update message, no request id) on t: 0, or -1 if refused. */
static int
send_ctl(struct edge_tunnel *t, Connector__V1__ControllerMessage *m)
{
	m->request_id = (char *)"";
	if (edge_tunnel_send(t, grpc_out_pack(&m->base)) != 0)
		return -1;
	edge_conn_kick(t->c);
	return 0;
}

static void
send_offer(struct edge_tunnel *t, const struct edge_offer *o)
{
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Outpost__V1__UpdateOffer uo = OUTPOST__V1__UPDATE_OFFER__INIT;

	uo.version = (char *)o->b.version;
	uo.arch = (char *)o->b.arch;
	uo.size = o->b.size;
	uo.sha256.data = (uint8_t *)o->b.sha256;
	uo.sha256.len = sizeof(o->b.sha256);
	m.update_offer = &uo;
	if (send_ctl(t, &m) == 0)
		log_info("edge: connector %s: tunnel %s offered update %s",
		    t->owner->name, t->id, o->b.version);
}

/* see edge_int.h */
void
edge_update_tunnel_open(struct edge_tunnel *t)
{
	const struct edge_offer *o;

	if (t->owner == NULL || !edge_tunnel_has_cap(t, "update"))
		return;
	if ((o = edge_update_offer_for(t->c->e->upd, t->owner->name)) != NULL)
		send_offer(t, o);
}

/* Every tunnel of name (NULL: of all connectors) gets its offer again. */
static void
offer_changed(struct edge_updates *u, const char *name)
{
	struct list_node *n, *tn;
	struct edge_connector *k;

	LIST_FOR_EACH(n, &u->e->connectors)
	{
		k = list_entry(n, struct edge_connector, link);
		if (name != NULL && strcmp(k->name, name) != 0)
			continue;
		LIST_FOR_EACH(tn, &k->tunnels)
		edge_update_tunnel_open(
		    list_entry(tn, struct edge_tunnel, link));
	}
}

/* Whether another offer than o uses o's bundle file. */
static bool
file_shared(const struct edge_updates *u, const struct edge_offer *o)
{
	size_t i;

	for (i = 0; i < EDGE_UPD_OFFERS; i++)
		if (u->offers[i].used && &u->offers[i] != o &&
		    strcmp(u->offers[i].b.path, o->b.path) == 0)
			return true;
	return false;
}

static struct edge_offer *
target(struct edge_updates *u, const char *name)
{
	size_t i;

	for (i = 0; i < EDGE_UPD_OFFERS; i++)
		if (u->offers[i].used &&
		    (name == NULL ? u->offers[i].all
				  : !u->offers[i].all &&
				strcmp(u->offers[i].name, name) == 0))
			return &u->offers[i];
	return NULL;
}

/* Drop offer o, and its file unless another offer has it. */
static void
drop(struct edge_updates *u, struct edge_offer *o)
{
	if (!file_shared(u, o) && unlink(o->b.path) < 0 && errno != ENOENT)
		log_warn("edge: update %s: %s", o->b.path, strerror(errno));
	o->used = false;
}

/* see edge_update_int.h */
int
edge_update_offer_set(
    struct edge_updates *u, const char *name, const struct edge_bundle *b)
{
	struct edge_offer *o = target(u, name);
	size_t i;

	for (i = 0; o == NULL && i < EDGE_UPD_OFFERS; i++)
		if (!u->offers[i].used)
			o = &u->offers[i];
	if (o == NULL)
		return -ENOSPC;
	if (o->used && strcmp(o->b.path, b->path) != 0)
		drop(u, o);
	*o = (struct edge_offer){.used = true, .all = name == NULL, .b = *b};
	snprintf(o->name, sizeof(o->name), "%s", name != NULL ? name : "");
	o->since_ms = util_wall_ms();
	log_info("edge: update %s (%s, %" PRIu64 " bytes) offered to %s",
	    b->version, b->arch, b->size, name != NULL ? name : "all");
	offer_changed(u, name);
	return 0;
}

static void
json_offer(struct buf *b, const struct edge_offer *o)
{
	char hex[65];

	util_hex(o->b.sha256, sizeof(o->b.sha256), hex);
	buf_adds(b, "{\"connector\":");
	json_cstr(b, o->all ? "all" : o->name);
	buf_adds(b, ",\"version\":");
	json_cstr(b, o->b.version);
	buf_adds(b, ",\"arch\":");
	json_cstr(b, o->b.arch);
	buf_printf(b,
	    ",\"size\":%" PRIu64 ",\"sha256\":\"%s\",\"since\":", o->b.size,
	    hex);
	edge_json_time(b, o->since_ms);
	buf_adds(b, "}");
}

/* see edge_int.h */
void
edge_update_json_connector(struct buf *b, const struct edge_connector *k)
{
	const struct edge_ustatus *s = &k->ust;
	const struct {
		const char *key, *v;
	} f[] = {{"slot", s->slot}, {"version", s->version},
	    {"other_version", s->other_version},
	    {"offered_version", s->offered_version}, {"reason", s->reason}};
	size_t i;

	if (s->at_ms == 0) {
		buf_adds(b, "null");
		return;
	}
	buf_adds(b, "{\"state\":");
	json_cstr(b, s->state);
	buf_printf(b, ",\"percent\":%u", (unsigned)s->percent);
	for (i = 0; i < nitems(f); i++) {
		buf_printf(b, ",\"%s\":", f[i].key);
		json_cstr(b, f[i].v);
	}
	buf_adds(b, ",\"reported\":");
	edge_json_time(b, s->at_ms);
	buf_adds(b, ",\"reboot_requested\":");
	if (s->reboot_ms != 0)
		edge_json_time(b, s->reboot_ms);
	else
		buf_adds(b, "null");
	buf_adds(b, "}");
}

struct list_arg {
	const struct edge_updates *u;
	const char *only; /* one connector's, or NULL: all */
};

/* Whether offer o is listed for only (NULL: every offer is). */
static bool
listed(
    const struct edge_updates *u, const struct edge_offer *o, const char *only)
{
	if (!o->used)
		return false;
	if (only == NULL)
		return true;
	return o->all ? edge_update_offer_for(u, only) == o
		      : strcmp(o->name, only) == 0;
}

/* {"offers":[...],"connectors":[{"name","online","offer","update"}]} */
static void
fill_list(struct buf *b, const void *arg)
{
	const struct list_arg *la = arg;
	const struct edge_offer *o;
	const struct edge_connector *k;
	const struct list_node *n;
	const char *sep = "";
	size_t i;

	buf_adds(b, "{\"offers\":[");
	for (i = 0; i < EDGE_UPD_OFFERS; i++) {
		if (!listed(la->u, &la->u->offers[i], la->only))
			continue;
		buf_adds(b, sep);
		sep = ",";
		json_offer(b, &la->u->offers[i]);
	}
	buf_adds(b, "],\"connectors\":[");
	sep = "";
	LIST_FOR_EACH(n, &la->u->e->connectors)
	{
		k = list_entry(n, struct edge_connector, link);
		if (la->only != NULL && strcmp(k->name, la->only) != 0)
			continue;
		buf_adds(b, sep);
		sep = ",";
		buf_adds(b, "{\"name\":");
		json_cstr(b, k->name);
		buf_adds(b, ",\"online\":");
		buf_adds(b, edge_connector_online(k) ? "true" : "false");
		buf_adds(b, ",\"offer\":");
		if ((o = edge_update_offer_for(la->u, k->name)) != NULL)
			json_cstr(b, o->b.version);
		else
			buf_adds(b, "null");
		buf_adds(b, ",\"update\":");
		edge_update_json_connector(b, k);
		buf_adds(b, "}");
	}
	buf_adds(b, "]}\n");
}

/*
 * The query's target: connector=NAME or connector=all (*name NULL);
 * absent: *given false.  false when it is malformed.
 */
static bool
query_target(struct http_exchange *x, char *name, bool *given)
{
	const char *q, *v;
	size_t n, vn;

	http_exchange_query(x, &q, &n);
	*given = false;
	name[0] = '\0';
	if (n == 0)
		return true;
	if (n < 10 || memcmp(q, "connector=", 10) != 0)
		return false;
	v = q + 10;
	vn = n - 10;
	*given = true;
	if (vn == 3 && memcmp(v, "all", 3) == 0)
		return true;
	if (!edge_name_valid(v, vn) || vn >= EDGE_NAME_MAX)
		return false;
	memcpy(name, v, vn);
	name[vn] = '\0';
	return true;
}

static void
withdraw(struct edge_updates *u, struct http_exchange *x, const char *name)
{
	struct edge_offer *o = target(u, name[0] ? name : NULL);
	char body[160];
	struct buf b;

	if (o == NULL) {
		edge_api_json(x, 404, "no_offer", NULL, NULL);
		return;
	}
	log_info("edge: update %s to %s withdrawn", o->b.version,
	    name[0] ? name : "all");
	drop(u, o);
	/* A connector that falls back to the offer for all hears of it. */
	if (name[0] != '\0' && target(u, NULL) != NULL)
		offer_changed(u, name);
	buf_init(&b, body, sizeof(body));
	buf_adds(&b, "{\"withdrawn\":");
	json_cstr(&b, name[0] ? name : "all");
	buf_adds(&b, "}\n");
	http_respond(x, 200, NULL, JSON_CT, b.p, b.len);
}

/* POST: Content-Length only; the body is read by edge_update_up.c. */
static void
post(struct edge_updates *u, struct http_exchange *x, const char *name,
    bool given)
{
	const struct http_request *rq = http_exchange_request(x);
	const struct http_header *h;
	uint64_t len = 0;
	size_t i;

	if (!given) {
		edge_api_json(x, 400, "bad_request", NULL,
		    "POST /v1/updates?connector=NAME or ?connector=all");
		return;
	}
	h = http_header_find(rq->headers, rq->nheaders, "content-length");
	for (i = 0; h != NULL && i < h->value_len && i < 20; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			break;
		len = len * 10 + (uint64_t)(h->value[i] - '0');
	}
	if (h == NULL || i != h->value_len || i == 0 || i >= 20) {
		edge_api_json(x, 411, "length_required", NULL,
		    "the bundle needs a Content-Length (not chunked)");
		return;
	}
	if (len == 0 || len > u->e->conf->update_max_bytes) {
		edge_api_json(x, 413, "too_large", NULL,
		    "the bundle is empty or over EDGE_UPDATE_MAX_BYTES");
		return;
	}
	edge_update_upload(u, x, name[0] ? name : NULL, len);
}

/*
 * Ask k to reboot into the update it reported written, on its newest
 * tunnel that advertised "update": 0, or -1 when none took the message.
 */
static int
send_reboot(struct edge_connector *k, uint64_t req)
{
	Connector__V1__ControllerMessage m =
	    CONNECTOR__V1__CONTROLLER_MESSAGE__INIT;
	Outpost__V1__UpdateReboot r = OUTPOST__V1__UPDATE_REBOOT__INIT;
	struct edge_tunnel *t;
	struct list_node *n;

	r.version = k->ust.other_version;
	m.update_reboot = &r;
	LIST_FOR_EACH(n, &k->tunnels)
	{
		t = list_entry(n, struct edge_tunnel, link);
		if (!edge_tunnel_has_cap(t, "update") || send_ctl(t, &m) != 0)
			continue;
		k->ust.reboot_ms = util_wall_ms();
		k->ust.reboot_req = req;
		log_info(
		    "edge: connector %s: tunnel %s asked to reboot into %s",
		    k->name, t->id, k->ust.other_version);
		return 0;
	}
	return -1;
}

static bool
written(const struct edge_connector *k)
{
	return k->ust.at_ms != 0 && strcmp(k->ust.state, "written") == 0;
}

/* {"rebooting":[names asked by the last request]} */
static void
fill_rebooting(struct buf *b, const void *arg)
{
	const struct edge_updates *u = arg;
	const struct edge_connector *k;
	const struct list_node *n;
	const char *sep = "";

	buf_adds(b, "{\"rebooting\":[");
	LIST_FOR_EACH(n, &u->e->connectors)
	{
		k = list_entry(n, struct edge_connector, link);
		if (k->ust.reboot_req != u->reboots)
			continue;
		buf_adds(b, sep);
		sep = ",";
		json_cstr(b, k->name);
	}
	buf_adds(b, "]}\n");
}

/*
 * POST /v1/updates/reboot?connector=NAME|all, no body: the connector
 * named (all: each one) whose last report is `written` is asked to
 * reboot into that update (its UPDATE_REBOOT=manual).  One connector:
 * 404 unknown, 409 not written or no tunnel takes it.
 */
static void
reboot(struct edge_updates *u, struct http_exchange *x, const char *name,
    bool given)
{
	struct edge_connector *k;
	struct list_node *n;
	uint64_t req = ++u->reboots;
	char msg[160];

	if (!given || http_exchange_has_body(x)) {
		edge_api_json(x, 400, "bad_request", NULL,
		    "POST " REBOOT_PATH "?connector=NAME or ?connector=all, "
		    "without a body");
		return;
	}
	if (name[0] == '\0') {
		LIST_FOR_EACH(n, &u->e->connectors)
		{
			k = list_entry(n, struct edge_connector, link);
			if (written(k))
				(void)send_reboot(k, req);
		}
	} else if ((k = edge_registry_find(u->e, name, strlen(name))) == NULL) {
		edge_api_json(x, 404, "no_connector", NULL, NULL);
		return;
	} else if (!written(k) || send_reboot(k, req) < 0) {
		if (written(k))
			snprintf(msg, sizeof(msg),
			    "no tunnel of %s takes updates", k->name);
		else
			snprintf(msg, sizeof(msg),
			    "%s has no update written (state %s)", k->name,
			    k->ust.at_ms != 0 ? k->ust.state : "unknown");
		edge_api_json(x, 409, "not_written", NULL, msg);
		return;
	}
	edge_api_state(x, fill_rebooting, u);
}

/* see edge_int.h: /v1/updates and /v1/updates/reboot, behind the token. */
void
edge_update_api(struct http_exchange *x, void *arg)
{
	struct edge *e = arg;
	const struct http_request *rq = http_exchange_request(x);
	char name[EDGE_NAME_MAX];
	bool given,
	    post_m = rq->method_len == 4 && memcmp(rq->method, "POST", 4) == 0;
	const char *p;
	size_t pn;

	http_exchange_path(x, &p, &pn);
	if (!query_target(x, name, &given)) {
		edge_api_json(x, 400, "bad_request", NULL,
		    "query: connector=NAME or connector=all");
		return;
	}
	if (pn == strlen(REBOOT_PATH) && memcmp(p, REBOOT_PATH, pn) == 0) {
		if (post_m)
			reboot(e->upd, x, name, given);
		else
			edge_api_json(x, 405, "method_not_allowed", NULL,
			    "POST " REBOOT_PATH);
		return;
	}
	if (pn != strlen(UPDATES_PATH) || memcmp(p, UPDATES_PATH, pn) != 0) {
		edge_api_json(x, 404, "not_found", NULL, NULL);
		return;
	}
	if (post_m)
		post(e->upd, x, name, given);
	else if (rq->method_len == 6 && memcmp(rq->method, "DELETE", 6) == 0)
		withdraw(e->upd, x, name);
	else
		edge_api_state(x, fill_list,
		    &(struct list_arg){e->upd, name[0] ? name : NULL});
}

static void
collect(struct metric_family *f, void *arg)
{
	struct edge_updates *u = arg;
	unsigned count[INITCTL__STATES + 1] = {0};
	struct edge_connector *k;
	struct list_node *n;
	int i;

	(void)f;
	LIST_FOR_EACH(n, &u->e->connectors)
	{
		k = list_entry(n, struct edge_connector, link);
		if (k->ust.at_ms == 0)
			continue;
		i = initctl_state_find(k->ust.state);
		count[i < 0 ? INITCTL__STATES : i]++;
	}
	for (i = 0; i <= INITCTL__STATES; i++)
		metric_set(&u->m_conn[i], (double)count[i]);
}

/* see edge_int.h */
void
edge_update_metrics_add(struct edge *e, struct metrics *r)
{
	struct edge_updates *u = e->upd;
	size_t i;

	metrics_add_family(r, &u->f_conn, "outpost_edge_update_connectors",
	    "Connectors by the update state they last reported.", METRIC_GAUGE,
	    collect, u);
	for (i = 0; i <= INITCTL__STATES; i++) {
		snprintf(u->labels[i], sizeof(u->labels[i]), "state=\"%s\"",
		    i < INITCTL__STATES ? initctl_state_name(i) : "other");
		metric_family_add_series(
		    &u->f_conn, &u->m_conn[i], u->labels[i]);
	}
}
