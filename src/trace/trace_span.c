/*
 * Spans and the recorder: the sampling decision at the start, attributes
 * copied into the span's own arena, and at the end a copy into a ring of
 * max_queue finished spans (allocated once) that is handed to the
 * exporter in batches of at most max_batch: schedule_delay_ms after the
 * first span queued, or as soon as a batch is full.  A full ring drops
 * its oldest span, counted.  Spans held by reference (trace_ref) take
 * their recording from a pool: allocated on first use, kept for reuse up
 * to TRACE_POOL_KEEP free ones.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/list.h"
#include "lib/util.h"
#include "rx/rx.h"
#include "trace/trace_int.h"

/* Free pooled spans kept for the next trace_ref (about 40 KiB); more are
 * given back to the allocator. */
#define TRACE_POOL_KEEP 32

/* A trace_ref's recording: on the recorder's free or used list. */
struct pool_span {
	struct list_node link;
	struct trace_span s;
};

struct trace_recorder {
	struct rx_loop *loop;
	struct trace_config c;
	trace_export_fn *fn;
	trace_drop_fn *drop;
	void *arg;
	struct trace_span *ring; /* max_queue finished spans */
	size_t head, count; /* the oldest, and how many */
	const struct trace_span **batch; /* max_batch pointers into ring */
	struct rx_timer delay; /* armed while spans wait */
	struct rx_defer full; /* a batch is full: export it now */
	struct trace_stats st;
	struct list_node pool_free, pool_used; /* pool_span.link */
	size_t nfree;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Hand the oldest spans, at most one batch, to the exporter. */
static void
export_batch(struct trace_recorder *r)
{
	size_t i, n = r->count < r->c.max_batch ? r->count : r->c.max_batch;

	for (i = 0; i < n; i++)
		r->batch[i] = &r->ring[(r->head + i) % r->c.max_queue];
	if (n > 0 && r->fn != NULL)
		r->fn(r->arg, r->batch, n);
	r->head = (r->head + n) % r->c.max_queue;
	r->count -= n;
	r->st.exported += n;
}

/* see trace.h */
void
trace_recorder_flush(struct trace_recorder *r)
{
	rx_timer_stop(r->loop, &r->delay);
	rx_defer_cancel(r->loop, &r->full);
	while (r->count > 0)
		export_batch(r);
}

static void
on_delay(struct rx_loop *l, struct rx_timer *t)
{
	trace_recorder_flush(container_of(t, struct trace_recorder, delay));
}

/* A full batch goes now; fewer spans after the delay; none: no timer. */
static void
schedule(struct trace_recorder *r)
{
	if (r->count >= r->c.max_batch)
		rx_defer(r->loop, &r->full);
	else if (r->count == 0)
		rx_timer_stop(r->loop, &r->delay);
	else if (!rx_timer_active(&r->delay) &&
	    rx_timer_start(r->loop, &r->delay, r->c.schedule_delay_ms) < 0)
		rx_defer(r->loop, &r->full); /* no timer left: export now */
}

static void
on_full(struct rx_loop *l, struct rx_defer *d)
{
	struct trace_recorder *r = container_of(d, struct trace_recorder, full);

	export_batch(r);
	schedule(r);
}

/* see trace.h */
int
trace_recorder_new(struct trace_recorder **out, struct rx_loop *l,
    const struct trace_config *c, trace_export_fn *fn, void *arg)
{
	struct trace_recorder *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	r->loop = l;
	r->c = *c;
	if (r->c.max_queue == 0)
		r->c.max_queue = 1;
	if (r->c.max_batch == 0 || r->c.max_batch > r->c.max_queue)
		r->c.max_batch = r->c.max_queue;
	r->fn = fn;
	r->arg = arg;
	r->ring = calloc(r->c.max_queue, sizeof(*r->ring));
	r->batch = calloc(r->c.max_batch, sizeof(*r->batch));
	if (r->ring == NULL || r->batch == NULL) {
		free(r->ring);
		free(r->batch);
		free(r);
		return -ENOMEM;
	}
	rx_timer_init(&r->delay, on_delay);
	rx_defer_init(&r->full, on_full);
	list_init(&r->pool_free);
	list_init(&r->pool_used);
	*out = r;
	return 0;
}

static void
pool_drain(struct list_node *h)
{
	while (!list_empty(h)) {
		struct pool_span *p =
		    list_entry(h->next, struct pool_span, link);

		list_remove(&p->link);
		free(p);
	}
}

/* see trace.h */
void
trace_recorder_free(struct trace_recorder *r)
{
	if (r == NULL)
		return;
	trace_recorder_flush(r);
	pool_drain(&r->pool_free);
	pool_drain(&r->pool_used); /* refs never ended: their owners go too */
	free(r->ring);
	free(r->batch);
	free(r);
}

/* see trace.h */
void
trace_recorder_set_export(struct trace_recorder *r, trace_export_fn *fn,
    trace_drop_fn *drop, void *arg)
{
	r->fn = fn;
	r->drop = drop;
	r->arg = arg;
}

/* see trace.h */
void
trace_recorder_stats(const struct trace_recorder *r, struct trace_stats *st)
{
	*st = r->st;
}

/* The recording part of a kept span's start. */
static void
span_begin(struct trace_span *s, const char *name, enum trace_kind kind,
    const struct trace_ctx *parent, const char *state, size_t state_len)
{
	s->name = name;
	s->kind = kind;
	s->status = TRACE_STATUS_UNSET;
	s->nattrs = 0;
	s->used = s->state_len = 0;
	if (parent != NULL) {
		memcpy(s->parent_id, parent->span_id, TRACE_SPAN_ID_LEN);
		if (state != NULL && state_len > 0 &&
		    state_len <= TRACE_STATE_MAX) {
			memcpy(s->arena, state, state_len);
			s->used = s->state_len = (uint16_t)state_len;
		}
	}
	s->start_ns = now_ns();
}

/*
 * A new span's context in ctx: its ids and the sampler's decision (the
 * flags; a dropped span is counted).  False when the kernel gave no ids.
 */
static bool
span_ctx(struct trace_recorder *r, struct trace_ctx *ctx,
    const struct trace_ctx *parent)
{
	if (parent != NULL)
		memcpy(ctx->trace_id, parent->trace_id, TRACE_ID_LEN);
	else if (trace_new_trace_id(ctx->trace_id) < 0)
		return false;
	if (trace_new_span_id(ctx->span_id) < 0)
		return false;
	ctx->flags = trace_sampled(&r->c.sampler, parent, ctx->trace_id)
	    ? TRACE_FLAG_SAMPLED
	    : 0;
	if (ctx->flags == 0)
		r->st.unsampled++;
	return true;
}

/* see trace.h */
bool
trace_span_start(struct trace_recorder *r, struct trace_span *s,
    const char *name, enum trace_kind kind, const struct trace_ctx *parent,
    const char *state, size_t state_len)
{
	s->active = s->recording = false;
	if (r == NULL)
		return false;
	s->has_parent = parent != NULL;
	if (!span_ctx(r, &s->ctx, parent))
		return false;
	s->active = true;
	s->recording = s->ctx.flags != 0;
	if (!s->recording)
		return false;
	span_begin(s, name, kind, parent, state, state_len);
	r->st.started++;
	return true;
}

/* A recording for a trace_ref: a free pooled span, or a new one. */
static struct trace_span *
pool_get(struct trace_recorder *r)
{
	struct pool_span *p;

	if (!list_empty(&r->pool_free)) {
		p = list_entry(r->pool_free.next, struct pool_span, link);
		list_remove(&p->link);
		r->nfree--;
	} else if ((p = malloc(sizeof(*p))) == NULL) {
		return NULL;
	}
	list_append(&r->pool_used, &p->link);
	return &p->s;
}

static void
pool_put(struct trace_recorder *r, struct trace_span *s)
{
	struct pool_span *p = container_of(s, struct pool_span, s);

	list_remove(&p->link);
	if (r->nfree >= TRACE_POOL_KEEP) {
		free(p);
		return;
	}
	list_prepend(&r->pool_free, &p->link); /* the warmest first */
	r->nfree++;
}

/* see trace.h */
bool
trace_ref_start(struct trace_recorder *r, struct trace_ref *s, const char *name,
    enum trace_kind kind, const struct trace_ctx *parent, const char *state,
    size_t state_len)
{
	struct trace_span *sp;

	s->active = s->open = false;
	s->span = NULL;
	if (r == NULL || !span_ctx(r, &s->ctx, parent))
		return false;
	s->active = true;
	if (s->ctx.flags == 0)
		return false;
	if (r->fn != NULL) {
		if ((sp = pool_get(r)) == NULL) {
			r->st.dropped++;
			if (r->drop != NULL)
				r->drop(r->arg, 1);
			return true;
		}
		sp->active = sp->recording = true;
		sp->ctx = s->ctx;
		sp->has_parent = parent != NULL;
		span_begin(sp, name, kind, parent, state, state_len);
		s->span = sp;
	}
	s->open = true;
	r->st.started++;
	return true;
}

/* see trace.h */
void
trace_ref_end(struct trace_recorder *r, struct trace_ref *s)
{
	if (r == NULL || !s->open)
		return;
	s->open = false;
	if (s->span == NULL) { /* no exporter: what the ring would do */
		r->st.ended++;
		r->st.exported++;
		return;
	}
	trace_span_end(r, s->span);
	pool_put(r, s->span);
	s->span = NULL;
}

static struct trace_attr *
attr_add(struct trace_span *s, const char *key)
{
	if (!s->recording || s->nattrs >= TRACE_ATTRS_MAX)
		return NULL;
	s->attrs[s->nattrs] = (struct trace_attr){.key = key};
	return &s->attrs[s->nattrs++];
}

/* see trace.h */
void
trace_span_attr_str(
    struct trace_span *s, const char *key, const char *v, size_t n)
{
	struct trace_attr *a = attr_add(s, key);

	if (a == NULL)
		return;
	n = strnlen(v, n); /* what OTLP's strings can say: up to a NUL */
	if (n > sizeof(s->arena) - s->used)
		n = sizeof(s->arena) - s->used;
	a->is_str = true;
	a->off = s->used;
	a->len = (uint16_t)n;
	memcpy(s->arena + s->used, v, n);
	s->used = (uint16_t)(s->used + n);
}

/* see trace.h */
void
trace_span_attr_int(struct trace_span *s, const char *key, int64_t v)
{
	struct trace_attr *a = attr_add(s, key);

	if (a != NULL)
		a->num = v;
}

/* see trace.h */
void
trace_span_set_status(struct trace_span *s, enum trace_status st)
{
	if (s->recording)
		s->status = st;
}

/* see trace.h */
void
trace_span_end(struct trace_recorder *r, struct trace_span *s)
{
	struct trace_span *slot;

	if (r == NULL || !s->recording)
		return;
	s->recording = false;
	s->end_ns = now_ns();
	if (r->count == r->c.max_queue) {
		r->head = (r->head + 1) % r->c.max_queue;
		r->count--;
		r->st.dropped++;
		if (r->drop != NULL)
			r->drop(r->arg, 1);
	}
	slot = &r->ring[(r->head + r->count) % r->c.max_queue];
	/* Only the used part of the arena. */
	memcpy(slot, s, offsetof(struct trace_span, arena) + s->used);
	slot->recording = true;
	r->count++;
	r->st.ended++;
	schedule(r);
}
