/*
 * pb_check.h — what protobuf-c's unpacking cannot see: a string field's
 * bytes with a NUL in them.  protobuf-c hands strings back NUL-terminated
 * without a length, so "v\0\r\nX-Evil: 1" would silently become "v".  The
 * tunnel refuses such a request (bad_request) instead of truncating it.
 * And what it does not bound: the memory a message unpacks into.
 */
#ifndef CONNECTOR_PB_CHECK_H
#define CONNECTOR_PB_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Nesting followed before the check gives up (and fails). */
#define PB_CHECK_DEPTH 8

/*
 * true when no string field of message d encoded in p[0..n), at any depth
 * of the fields d knows, holds a NUL byte.  Unknown fields are skipped;
 * malformed wire bytes or nesting past PB_CHECK_DEPTH give false.  Reads
 * only p[0..n); no allocation.
 */
bool pb_strings_clean(
    const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n);

/*
 * protobuf-c's unpacking may allocate many times a message's size (an
 * empty repeated message field is 2 bytes on the wire, a 40-byte struct in
 * memory).  Unpack message d from p[0..n) allocating at most budget bytes
 * in all, each allocation counted rounded up to 8 as pb_unpacked_size
 * counts it (frees are not given back): the message, or NULL with *over true
 * when the budget (or memory) ran out, false when the bytes are malformed.
 * Free it with protobuf_c_message_free_unpacked(m, NULL).
 */
ProtobufCMessage *pb_unpack_bounded(const ProtobufCMessageDescriptor *d,
    const uint8_t *p, size_t n, size_t budget, bool *over);

/*
 * What protobuf-c's unpack of message d from p[0..n) allocates, each
 * allocation rounded up to 8 bytes (the alignment of protobuf-c's
 * structs on our targets), found by a walk of the wire bytes: exact but
 * for a singular message field sent twice outside a oneof with repeated
 * fields in both (protobuf-c merges them into a new array).
 * 0 when the bytes are malformed or nested past PB_CHECK_DEPTH; else
 * *clean (when not NULL) is pb_strings_clean's answer.  No allocation.
 */
size_t pb_unpacked_size(const ProtobufCMessageDescriptor *d, const uint8_t *p,
    size_t n, bool *clean);

/*
 * The same bounds, but every allocation comes from one block sized by
 * pb_unpacked_size (more blocks only when that was short) instead of one
 * malloc per string and sub-message (~5k instructions per tunnelled
 * request, bench/RESULTS.md #20): free it with pb_arena_free(m), never
 * with protobuf_c_message_free_unpacked.  *clean as pb_unpacked_size's
 * (NULL: not wanted), set when the message unpacked.
 */
ProtobufCMessage *pb_unpack_arena(const ProtobufCMessageDescriptor *d,
    const uint8_t *p, size_t n, size_t budget, bool *over, bool *clean);

/* Frees a message from pb_unpack_arena (NULL: nothing). */
void pb_arena_free(ProtobufCMessage *m);

#endif
