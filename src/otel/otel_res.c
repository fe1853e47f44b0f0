/*
 * The resource every export names: service.name (OTEL_SERVICE_NAME,
 * default "outpost"), service.version, service.instance.id,
 * deployment.environment (ENV_NAME), host.name, then the entries of
 * OTEL_RESOURCE_ATTRIBUTES (which replace a detected value of the same
 * key; OTEL_SERVICE_NAME still wins for service.name, as the SDKs do).
 * Beyond OTEL_RES_MAX attributes the rest are counted in
 * dropped_attributes_count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "otel/otel_int.h"

/* see otel_int.h */
void
otel_attr_str(Opentelemetry__Proto__Common__V1__KeyValue *kv,
    Opentelemetry__Proto__Common__V1__AnyValue *av, const char *key,
    const char *val)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(av);
	kv->key = (char *)key;
	kv->value = av;
	av->value_case =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av->string_value = (char *)val;
}

struct res_fill {
	struct otel_resource *r;
	char *arena;
	size_t used, cap;
};

static char *
keep(struct res_fill *f, const char *s, size_t n)
{
	char *p = f->arena + f->used;

	if (f->used + n + 1 > f->cap)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	f->used += n + 1;
	return p;
}

/* Set key to val (replacing an earlier value), or count it dropped. */
static bool
put(struct res_fill *f, const char *key, size_t klen, const char *val,
    size_t vlen)
{
	struct otel_resource *r = f->r;
	char *k, *v;
	size_t i;

	for (i = 0; i < r->res.n_attributes; i++)
		if (strlen(r->kv[i].key) == klen &&
		    memcmp(r->kv[i].key, key, klen) == 0)
			break;
	if (i == OTEL_RES_MAX) {
		r->res.dropped_attributes_count++;
		return true;
	}
	k = i < r->res.n_attributes ? r->kv[i].key : keep(f, key, klen);
	v = keep(f, val, vlen);
	if (k == NULL || v == NULL)
		return false;
	otel_attr_str(&r->kv[i], &r->av[i], k, v);
	r->kvp[i] = &r->kv[i];
	if (i == r->res.n_attributes)
		r->res.n_attributes++;
	return true;
}

static bool
put_cfg(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	return put(arg, k, klen, v, vlen);
}

static bool
puts0(struct res_fill *f, const char *key, const char *val)
{
	return val == NULL || put(f, key, strlen(key), val, strlen(val));
}

/* A random UUID (version 4) when no stable id was given. */
static void
random_id(char out[37])
{
	uint8_t b[16] = {0};

	(void)!getrandom(b, sizeof(b), 0);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
	    "%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

static bool
fill(struct res_fill *f, const struct otel_conf *c)
{
	const char *attrs = cfg_str(c->cfg, CFG_OTEL_RESOURCE_ATTRIBUTES);
	const char *name = cfg_str(c->cfg, CFG_OTEL_SERVICE_NAME);
	char host[256] = "", id[37], *scratch;
	int pos;

	if (c->instance_id == NULL)
		random_id(id);
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	if (!puts0(f, "service.name", "outpost") ||
	    !puts0(f, "service.version", c->service_version) ||
	    !puts0(f, "service.instance.id",
		c->instance_id != NULL ? c->instance_id : id) ||
	    !puts0(
		f, "deployment.environment", cfg_str(c->cfg, CFG_ENV_NAME)) ||
	    !puts0(f, "host.name", host[0] != '\0' ? host : NULL))
		return false;
	if (attrs != NULL) {
		/* cfg_load() validated the list: a failure is the arena. */
		if ((scratch = malloc(strlen(attrs) + 2)) == NULL)
			return false;
		pos = cfg_otel_kv_parse(attrs, scratch, put_cfg, f);
		free(scratch);
		if (pos != 0)
			return false;
	}
	return puts0(f, "service.name", name);
}

/* see otel_int.h */
int
otel_resource_init(
    struct otel *o, const struct otel_conf *c, char *err, size_t errlen)
{
	const char *attrs = cfg_str(c->cfg, CFG_OTEL_RESOURCE_ATTRIBUTES);
	size_t alen = attrs != NULL ? strlen(attrs) + 2 : 0;
	struct res_fill f = {.r = &o->r, .cap = 2048 + 2 * alen};

	opentelemetry__proto__resource__v1__resource__init(&o->r.res);
	opentelemetry__proto__common__v1__instrumentation_scope__init(
	    &o->r.scope);
	o->r.res.attributes = o->r.kvp;
	o->r.scope.name = "outpost";
	o->r.scope.version = (char *)c->service_version;
	f.arena = o->r.strs = malloc(f.cap);
	if (f.arena == NULL || !fill(&f, c)) {
		snprintf(
		    err, errlen, "OTEL_RESOURCE_ATTRIBUTES: out of memory");
		return -1;
	}
	return 0;
}

/* see otel_int.h */
void
otel_resource_free(struct otel *o)
{
	free(o->r.strs);
	o->r.strs = NULL;
}
