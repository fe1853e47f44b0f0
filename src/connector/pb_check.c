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

/* What a walk finds: the bytes protobuf-c will allocate, and whether
 * every string is free of NUL bytes. */
struct walk {
	size_t bytes;
	bool clean;
};

/* protobuf-c's structs hold pointers, size_t, 32- and 64-bit integers and
 * doubles, never a long double (which is what makes max_align_t 16 bytes
 * on x86_64 and aarch64): their alignment is this union's, 8 on our
 * targets (4 where 64-bit integers align to 4, as on i386). */
union pb_align {
	void *p;
	size_t z;
	uint64_t u;
	double d;
};
#define PB_ALIGN _Alignof(union pb_align)

/* n rounded up to PB_ALIGN (n is at most a buffer's length: no wrap). */
static size_t
aligned(size_t n)
{
	return (n + PB_ALIGN - 1) & ~(PB_ALIGN - 1);
}

/* The same layout as protobuf-c.c's private struct ScannedMember, which
 * its unpack allocates in slabs of 32, 64, ... once a message has more
 * than 16 fields on the wire. */
struct scanned_member_mirror {
	uint32_t tag;
	uint8_t wire_type, length_prefix_len;
	const void *field;
	size_t len;
	const uint8_t *data;
};

/* The scanned-member slabs protobuf-c allocates for m fields. */
static size_t
slab_bytes(size_t m)
{
	size_t cap = 16, k, bytes = 0;

	/* past slab 22 protobuf-c gives up ("too many fields") */
	for (k = 1; m > cap && k <= 22; k++) {
		bytes +=
		    aligned(sizeof(struct scanned_member_mirror) << (k + 4));
		cap += (size_t)16 << k;
	}
	return bytes;
}

/* Elements of repeated scalar field f packed in p[0..n). */
static size_t
packed_count(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n)
{
	size_t i, c = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return n / 4;
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return n / 8;
	default: /* varints */
		for (i = 0; i < n; i++)
			c += (p[i] & 0x80) == 0;
		return c;
	}
}

/* The bytes a repeated field's element takes in its array, one array
 * element per occurrence (packed scalars: per element), each rounded up
 * (an upper bound for 4-byte elements; exact for the pointers and
 * ProtobufCBinaryData our protocols repeat). */
static size_t
element_bytes(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n,
    unsigned wire)
{
	size_t siz;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SINT64:
		siz = 8;
		break;
	default:
		siz = aligned(4);
		break;
	}
	return wire == 2 ? siz * packed_count(f, p, n) : siz;
}

static bool walk(const ProtobufCMessageDescriptor *d, const uint8_t *p,
    size_t n, unsigned depth, struct walk *w);

/* A length-delimited occurrence p[0..len) of known field f: the bytes
 * its unpacking allocates, and whether a string holds a NUL. */
static bool
walk_delimited(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t len,
    unsigned depth, struct walk *w)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (memchr(p, 0, len) != NULL)
			w->clean = false;
		w->bytes += aligned(len + 1);
		return true;
	case PROTOBUF_C_TYPE_BYTES:
		w->bytes += len > 0 ? aligned(len) : 0;
		return true;
	case PROTOBUF_C_TYPE_MESSAGE:
		return walk(f->descriptor, p, len, depth + 1, w);
	default:
		return true; /* packed scalars */
	}
}

/* Walks message d in p[0..n), adding to w->bytes what protobuf-c's unpack
 * allocates for it, each allocation rounded up to PB_ALIGN: the struct, a
 * copy of each string (with its NUL) and bytes field, each sub-message,
 * the arrays of repeated fields, unknown fields and their copies, and the
 * slabs of scanned fields.  Not counted (the arena then grows): the
 * arrays protobuf-c allocates when it merges a singular message field
 * sent twice outside a oneof, concatenating the two's repeated fields. */
static bool
walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
    unsigned depth, struct walk *w)
{
	const uint8_t *end = p + n, *at;
	const ProtobufCFieldDescriptor *f;
	uint64_t key, len;
	size_t fields = 0, unknown = 0, wire;

	if (depth > PB_CHECK_DEPTH)
		return false;
	w->bytes += aligned(d->sizeof_message);
	if ((d->n_fields + 7) / 8 > 16) /* protobuf-c's bitmap of them */
		w->bytes += aligned((d->n_fields + 7) / 8);
	while (p < end) {
		if (!varint(&p, end, &key))
			return false;
		f = key >> 3 <= UINT32_MAX
		    ? protobuf_c_message_descriptor_get_field(
			  d, (unsigned)(key >> 3))
		    : NULL;
		fields++;
		at = p;
		if ((key & 7) != 2) {
			if (!skip_fixed(&p, end, (unsigned)(key & 7)))
				return false;
			len = 0;
			wire = (size_t)(p - at);
		} else if (!varint(&p, end, &len) ||
		    len > (uint64_t)(end - p)) {
			return false;
		} else {
			wire = (size_t)(p - at) + (size_t)len;
		}
		if (f == NULL) { /* kept as an unknown field, prefix and all */
			unknown++;
			w->bytes += aligned(wire);
		} else {
			if (f->label == PROTOBUF_C_LABEL_REPEATED)
				w->bytes += element_bytes(
				    f, p, (size_t)len, (unsigned)(key & 7));
			if ((key & 7) == 2 &&
			    !walk_delimited(f, p, (size_t)len, depth, w))
				return false;
		}
		if ((key & 7) == 2)
			p += len;
	}
	if (unknown > 0)
		w->bytes +=
		    aligned(unknown * sizeof(ProtobufCMessageUnknownField));
	w->bytes += slab_bytes(fields);
	return true;
}

/* see pb_check.h */
size_t
pb_unpacked_size(const ProtobufCMessageDescriptor *d, const uint8_t *p,
    size_t n, bool *clean)
{
	struct walk w = {.bytes = 0, .clean = true};

	if (!walk(d, p, n, 0, &w))
		return 0;
	if (clean != NULL)
		*clean = w.clean;
	return w.bytes;
}

/* see pb_check.h */
bool
pb_strings_clean(
    const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	bool clean;

	return pb_unpacked_size(d, p, n, &clean) > 0 && clean;
}

struct unpack_budget {
	size_t left;
	bool over;
};

static void *
budget_alloc(void *arg, size_t size)
{
	struct unpack_budget *b = arg;
	size_t need = aligned(size); /* malloc takes at least that */
	void *p = need >= size && need <= b->left ? malloc(size) : NULL;

	if (p == NULL) {
		b->over = true; /* over the budget, or out of memory */
		return NULL;
	}
	b->left -= need;
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

/* One block of an arena.  The first block holds the message first
 * (protobuf-c allocates the top message first), so pb_arena_free finds
 * the chain just before the message. */
struct arena_block {
	struct arena_block *next;
	union pb_align data[];
};

/* An arena while protobuf-c unpacks into it. */
struct arena {
	struct arena_block *first, *top;
	size_t used, size; /* of top */
	size_t left; /* of the budget */
	bool over;
};

/* Later blocks, when the walk's size was short (a merged message). */
#define ARENA_GROW 512

static bool
arena_block(struct arena *a, size_t size)
{
	struct arena_block *b = malloc(sizeof *b + size);

	if (b == NULL)
		return false;
	b->next = NULL;
	if (a->top != NULL)
		a->top->next = b;
	else
		a->first = b;
	a->top = b;
	a->used = 0;
	a->size = size;
	return true;
}

static void *
arena_alloc(void *arg, size_t size)
{
	struct arena *a = arg;
	size_t need = aligned(size);
	void *p;

	if (need < size || need > a->left) {
		a->over = true;
		return NULL;
	}
	if (a->size - a->used < need &&
	    !arena_block(a, need > ARENA_GROW ? need : ARENA_GROW)) {
		a->over = true;
		return NULL;
	}
	p = (unsigned char *)a->top->data + a->used;
	a->used += need;
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
		struct arena_block *next = b->next;

		free(b);
		b = next;
	}
}

/* see pb_check.h */
ProtobufCMessage *
pb_unpack_arena(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
    size_t budget, bool *over, bool *clean)
{
	struct arena a = {.left = budget};
	ProtobufCAllocator al = {arena_alloc, arena_nofree, &a};
	ProtobufCMessage *m;
	size_t size = pb_unpacked_size(d, p, n, clean);

	*over = size > budget;
	if (size == 0 || *over)
		return NULL; /* malformed, or over the budget */
	if (!arena_block(&a, size)) {
		*over = true;
		return NULL;
	}
	m = protobuf_c_message_unpack(d, &al, n, p);
	/* the message starts the first block: anything else would be a
	 * protobuf-c that allocates in another order */
	if (m == NULL || (void *)m != (void *)a.first->data) {
		*over = m == NULL && a.over;
		chain_free(a.first);
		return NULL;
	}
	return m;
}

/* see pb_check.h */
void
pb_arena_free(ProtobufCMessage *m)
{
	if (m != NULL)
		chain_free((struct arena_block *)((unsigned char *)m -
		    offsetof(struct arena_block, data)));
}
