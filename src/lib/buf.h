/*
 * buf.h — a byte buffer with a hard capacity.
 *
 * struct buf is caller-owned; buf_init() attaches caller memory (no
 * allocation).  Appends that would exceed the capacity append nothing and
 * return false, and set the sticky 'overflow' flag so a writer can append
 * many pieces and check once.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool overflow;
};

/* Attach mem[0..cap) (NULL allowed when cap is 0); empty, no overflow. */
void buf_init(struct buf *b, void *mem, size_t cap);

/* Empty the buffer and clear the overflow flag. */
void buf_reset(struct buf *b);

/* Append p[0..n) (p may be NULL when n is 0) or the string s (not NULL),
 * without a NUL.  True, or false with nothing appended and overflow set. */
bool buf_add(struct buf *b, const void *p, size_t n);
bool buf_adds(struct buf *b, const char *s);

/*
 * Append printf-formatted text.  The NUL rule: vsnprintf writes a NUL after
 * the text, so the text needs one byte of room more than its length (a text
 * that would end exactly at cap fails).  On success p[len] is that NUL: it
 * is not counted in len and the next append overwrites it, so the buffer is
 * a C string only until then (buf_add never writes a NUL).  On failure len
 * is unchanged and overflow set, but the bytes from p[len] to the end may
 * have been overwritten with a truncated, NUL-terminated text.
 */
bool buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Drop the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

/* Free space at the end and its size; commit n written bytes with buf_commit. */
uint8_t *buf_tail(struct buf *b, size_t *room);
void buf_commit(struct buf *b, size_t n);

#endif
