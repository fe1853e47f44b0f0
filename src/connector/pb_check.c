/* A walk of protobuf wire bytes guided by protobuf-c's descriptors, and
 * unpacking under a memory budget. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "connector/pb_check.h"

/* A varint at *p, before end; false when it runs off or past 64 bits. */
static bool
varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned shift;

	*v = 0;
	for (shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/* Skip a field that is not length-delimited; false when malformed. */
static bool
skip_fixed(const uint8_t **p, const uint8_t *end, unsigned wire)
{
	uint64_t v;
	size_t w = wire == 1 ? 8 : 4;

	if (wire == 0)
		return varint(p, end, &v);
	if (wire != 1 && wire != 5)
		return false; /* groups are not used by these protocols */
	if ((size_t)(end - *p) < w)
		return false;
	*p += w;
	return true;
}

static bool
walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
    unsigned depth)
{
	const uint8_t *end = p + n;
	const ProtobufCFieldDescriptor *f;
	uint64_t key, len;

	if (depth > PB_CHECK_DEPTH)
		return false;
	while (p < end) {
		if (!varint(&p, end, &key))
			return false;
		if ((key & 7) != 2) {
			if (!skip_fixed(&p, end, (unsigned)(key & 7)))
				return false;
			continue;
		}
		if (!varint(&p, end, &len) || len > (uint64_t)(end - p))
			return false;
		f = key >> 3 <= UINT32_MAX
		    ? protobuf_c_message_descriptor_get_field(
			  d, (unsigned)(key >> 3))
		    : NULL;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
		    memchr(p, 0, (size_t)len) != NULL)
			return false;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    !walk(f->descriptor, p, (size_t)len, depth + 1))
			return false;
		p += len;
	}
	return true;
}

/* see pb_check.h */
bool
pb_strings_clean(
    const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	return walk(d, p, n, 0);
}

struct unpack_budget {
	size_t left;
	bool over;
};

static void *
budget_alloc(void *arg, size_t size)
{
	struct unpack_budget *b = arg;
	void *p = size <= b->left ? malloc(size) : NULL;

	if (p == NULL) {
		b->over = true; /* over the budget, or out of memory */
		return NULL;
	}
	b->left -= size;
	return p;
}

static void
budget_free(void *arg, void *p)
{
	(void)arg;
	free(p); /* as protobuf_c_message_free_unpacked(m, NULL) does */
}

/* see pb_check.h */
ProtobufCMessage *
pb_unpack_bounded(const ProtobufCMessageDescriptor *d, const uint8_t *p,
    size_t n, size_t budget, bool *over)
{
	struct unpack_budget b = {.left = budget};
	ProtobufCAllocator a = {budget_alloc, budget_free, &b};
	ProtobufCMessage *m = protobuf_c_message_unpack(d, &a, n, p);

	*over = m == NULL && b.over;
	return m;
}

/* One block of an arena, chained to the one before it.  The first block
 * starts with a struct arena_head, then the message (protobuf-c allocates
 * the top message first), so pb_arena_free finds the chain just before
 * the message. */
struct arena_block {
	struct arena_block *prev;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_block *top;
	size_t left; /* of the budget */
	size_t grow;
	bool over;
};

static void *
arena_alloc(void *arg, size_t size)
{
	struct arena *a = arg;
	struct arena_block *b = a->top;
	size_t need =
	    (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	void *p;

	if (need < size || need > a->left) {
		a->over = true;
		return NULL;
	}
	if (b == NULL || b->size - b->used < need) {
		size_t bs = need > a->grow ? need : a->grow;

		b = malloc(sizeof *b + bs);
		if (b == NULL) {
			a->over = true;
			return NULL;
		}
		b->prev = a->top;
		b->used = 0;
		b->size = bs;
		a->top = b;
	}
	p = (unsigned char *)b->data + b->used;
	b->used += need;
	a->left -= need;
	return p;
}

static void
arena_nofree(void *arg, void *p)
{
	(void)arg;
	(void)p; /* all at once, in pb_arena_free */
}

static void
chain_free(struct arena_block *b)
{
	while (b != NULL) {
		struct arena_block *prev = b->prev;

		free(b);
		b = prev;
	}
}

/* In front of the message: the newest block of its arena. */
struct arena_head {
	struct arena_block *top;
	max_align_t msg[];
};

/* see pb_check.h */
ProtobufCMessage *
pb_unpack_arena(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
    size_t budget, bool *over)
{
	struct arena a = {.left = budget, .grow = n + 512 + d->sizeof_message};
	struct arena_head *h;
	ProtobufCAllocator al = {arena_alloc, arena_nofree, &a};
	ProtobufCMessage *m;

	h = arena_alloc(&a, sizeof *h);
	if (h == NULL) {
		*over = true;
		return NULL;
	}
	m = protobuf_c_message_unpack(d, &al, n, p);
	if (m == NULL) {
		*over = a.over;
		chain_free(a.top);
		return NULL;
	}
	/* the message follows the head in the first block (its size is in
	 * a.grow): anything else would be a protobuf-c that allocates in
	 * another order */
	if ((void *)m != (void *)h->msg) {
		chain_free(a.top);
		*over = false;
		return NULL;
	}
	h->top = a.top;
	*over = false;
	return m;
}

/* see pb_check.h */
void
pb_arena_free(ProtobufCMessage *m)
{
	struct arena_head *h;

	if (m == NULL)
		return;
	h = (struct arena_head *)((unsigned char *)m -
	    offsetof(struct arena_head, msg));
	chain_free(h->top);
}
