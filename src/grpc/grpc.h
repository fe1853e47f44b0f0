/*
 * grpc.h — gRPC message framing and status trailers, sans-I/O.
 *
 * A gRPC message on an HTTP/2 stream is a 5-byte prefix (1 byte compressed
 * flag, 4 bytes big-endian length) and the message bytes.  The prefix and
 * the message may be split across DATA frames at any byte; struct
 * grpc_reader reassembles them incrementally.
 *
 * struct grpc_reader is caller-allocated and embedded; it holds no heap
 * memory.  The caller attaches a buffer whose size is the maximum message
 * size it accepts (derived from the body limits plus overhead).  A message
 * longer than that, or one with the compressed flag set (outpost never
 * negotiates compression), sets a sticky error that only grpc_reader_reset()
 * clears; the caller then closes the stream.  Nothing here logs or blocks;
 * every function may be called from any callback.  Only outgoing messages
 * (struct grpc_out, struct grpc_sendq) are heap memory.
 *
 * grpc/ sits on h2/ (the gRPC-over-HTTP/2 transport, see h2.h): a send
 * queue drains into an h2_stream.  h2/ never includes this header.
 */
#ifndef GRPC_GRPC_H
#define GRPC_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "h2/h2.h"
#include "lib/list.h"

#define GRPC_PREFIX_LEN 5

/* Status codes (grpc/doc/statuscodes.md). */
enum grpc_status {
	GRPC_STATUS_OK = 0,
	GRPC_STATUS_CANCELLED = 1,
	GRPC_STATUS_UNKNOWN = 2,
	GRPC_STATUS_INVALID_ARGUMENT = 3,
	GRPC_STATUS_DEADLINE_EXCEEDED = 4,
	GRPC_STATUS_NOT_FOUND = 5,
	GRPC_STATUS_ALREADY_EXISTS = 6,
	GRPC_STATUS_PERMISSION_DENIED = 7,
	GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
	GRPC_STATUS_FAILED_PRECONDITION = 9,
	GRPC_STATUS_ABORTED = 10,
	GRPC_STATUS_OUT_OF_RANGE = 11,
	GRPC_STATUS_UNIMPLEMENTED = 12,
	GRPC_STATUS_INTERNAL = 13,
	GRPC_STATUS_UNAVAILABLE = 14,
	GRPC_STATUS_DATA_LOSS = 15,
	GRPC_STATUS_UNAUTHENTICATED = 16,
};

/* Sticky reader errors. */
enum grpc_error {
	GRPC_ERR_NONE = 0,
	GRPC_ERR_COMPRESSED, /* compressed flag != 0 */
	GRPC_ERR_TOO_LARGE, /* length above the caller's maximum */
};

/* Results of grpc_reader_feed(). */
#define GRPC_PARTIAL 0 /* all input consumed, no complete message yet */
#define GRPC_MSG 1 /* one message complete */
#define GRPC_ERROR (-1) /* sticky error, see grpc_reader_error() */

struct grpc_reader {
	uint8_t *buf; /* caller memory for one message */
	size_t max; /* its size: the largest message accepted */
	uint8_t hdr[GRPC_PREFIX_LEN];
	size_t hlen; /* prefix bytes seen */
	size_t need; /* message length from the prefix */
	size_t have; /* message bytes copied into buf */
	enum grpc_error err;
};

/*
 * Attach buf (max bytes, owned by the caller and outliving the reader).
 * max may be 0 when only empty messages are acceptable.
 */
void grpc_reader_init(struct grpc_reader *r, void *buf, size_t max);

/* Forget any partial message and clear the error; keeps the buffer. */
void grpc_reader_reset(struct grpc_reader *r);

/*
 * Feed n bytes of the stream's DATA.  Sets *used to the bytes consumed.
 * Returns GRPC_MSG when a message completed: consumption stops right after
 * it and *msg / *len give its bytes, valid until the next feed or reset
 * (they point into the caller's buffer or into p itself, so the caller must
 * keep p alive while it uses *msg).  Call again with the rest of the input.
 * Returns GRPC_PARTIAL when all n bytes were consumed without completing a
 * message, GRPC_ERROR on a sticky error (then *used is meaningless).
 */
int grpc_reader_feed(struct grpc_reader *r, const void *p, size_t n,
    size_t *used, const uint8_t **msg, size_t *len);

/*
 * The input the next message needs, counted from p (n bytes there), for
 * a reader that holds nothing of it yet: GRPC_PREFIX_LEN while n is
 * shorter than the prefix, then the prefix and its body.  0 when the
 * reader already holds part of a message or the prefix is one that feed
 * refuses (feed then: it copies, or sets its error).  A caller whose
 * input can grow in place waits for this many bytes so that the feed is
 * zero-copy.
 */
size_t grpc_reader_span(
    const struct grpc_reader *r, const uint8_t *p, size_t n);

/* True when no partial message is pending: where a stream may end. */
bool grpc_reader_idle(const struct grpc_reader *r);

enum grpc_error grpc_reader_error(const struct grpc_reader *r);

/* "compressed", "too_large" or "none": for logs. */
const char *grpc_error_name(enum grpc_error e);

/*
 * Write the 5-byte prefix of an uncompressed message of len bytes into out.
 * Returns false (writing nothing) when len does not fit in 32 bits.
 */
bool grpc_prefix_write(uint8_t out[GRPC_PREFIX_LEN], size_t len);

/* Canonical name of a status code ("OK", "INTERNAL", ...) or "UNKNOWN". */
const char *grpc_status_name(int code);

/*
 * One outgoing message: the 5-byte prefix and the protobuf encoding, sent
 * in pieces (off counts what the stream took).  Heap memory owned by the
 * caller's queue (link: on no list until pushed), released with
 * grpc_out_free() (or free()).
 */
struct grpc_out {
	struct list_node link;
	size_t len, off;
	size_t cap; /* bytes of data */
	uint8_t data[];
};

/*
 * Encode m as one gRPC message, in the buffer of a message released
 * before when one is large enough; NULL when out of memory or over 4 GiB.
 */
struct grpc_out *grpc_out_pack(const ProtobufCMessage *m);

/*
 * Release o (NULL: nothing).  Up to GRPC_OUT_KEEP buffers of at most
 * GRPC_OUT_KEEP_MAX bytes are kept for the next grpc_out_pack(): a message
 * is packed and released per request, and musl's allocator returns a size
 * class's last group to the kernel when its only block is freed (an
 * mmap/munmap pair per request).  Single-threaded, like the reactor.
 */
void grpc_out_free(struct grpc_out *o);
#define GRPC_OUT_KEEP 4
#define GRPC_OUT_KEEP_MAX 16384

#define GRPC_ENVELOPE_MAX 256 /* largest envelope struct (sizeof_message) */

/*
 * The one message builder for envelopes: messages of type d whose field 1
 * is a string request id and whose other fields are a oneof of
 * sub-messages (connector.v1 ControllerMessage and ConnectorMessage).
 * Encodes an envelope with request id id (NULL: empty) and sub in the
 * oneof member numbered field, using protobuf-c's descriptors.  NULL when
 * d is not such an envelope, field names no oneof message member, or as
 * grpc_out_pack().
 */
struct grpc_out *grpc_out_envelope(const ProtobufCMessageDescriptor *d,
    const char *id, unsigned field, const ProtobufCMessage *sub);

/* Room for an envelope message built by grpc_envelope(). */
union grpc_envelope {
	ProtobufCMessage base;
	max_align_t align;
	uint8_t mem[GRPC_ENVELOPE_MAX];
};

/*
 * The envelope of grpc_out_envelope() built in u (not packed): NULL as
 * there, but for memory.  u refers to id and sub, which must outlive it.
 */
const ProtobufCMessage *grpc_envelope(union grpc_envelope *u,
    const ProtobufCMessageDescriptor *d, const char *id, unsigned field,
    const ProtobufCMessage *sub);

/*
 * A stream's queue of outgoing messages, drained into its send ring as
 * HTTP/2 flow control allows.  Caller-embedded; owns the queued messages.
 * max bounds the messages queued (0: the caller bounds them, e.g. by the
 * requests it lets in flight).
 */
struct grpc_sendq {
	struct list_node q; /* struct grpc_out: FIFO (append), oldest first */
	unsigned n, max;
};

void grpc_sendq_init(struct grpc_sendq *q, unsigned max);

/*
 * Append o (taking ownership).  false when o is NULL or the queue is full
 * (o is freed): the caller decides whether that ends the call.
 */
bool grpc_sendq_push(struct grpc_sendq *q, struct grpc_out *o);

/*
 * Send m as one gRPC message on st: packed straight into st's send ring
 * when nothing is queued before it and the ring has room for all of it
 * (protobuf-c's pack_to_buffer appends a bytes field from the caller's
 * memory, so a body is copied once, into the ring; a message of at most
 * 2 KiB is packed on the stack and copied in one piece, which costs fewer
 * instructions than its ~40 appends), else packed into a grpc_out and
 * queued (grpc_sendq_push).  m is not kept.  false as
 * grpc_sendq_push() (out of memory, over 4 GiB, the queue full).
 */
bool grpc_sendq_put(
    struct grpc_sendq *q, struct h2_stream *st, const ProtobufCMessage *m);

/*
 * Move queued bytes into st's send ring, oldest first.  Returns the bytes
 * moved (0: nothing queued, or the ring is full) or -EPIPE when the
 * stream's sending side is closed (the queue is kept).  *full, when not
 * NULL, tells whether bytes are left behind a full ring (wait for
 * H2_EV_WRITE and pump again).
 */
long grpc_sendq_pump(struct grpc_sendq *q, struct h2_stream *st, bool *full);

bool grpc_sendq_empty(const struct grpc_sendq *q);

/* Free every queued message; the queue stays usable. */
void grpc_sendq_clear(struct grpc_sendq *q);

#endif
