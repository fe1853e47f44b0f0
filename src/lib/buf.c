#include <stdio.h>
#include <string.h>

#include "lib/buf.h"

/* see buf.h */
void
buf_init(struct buf *b, void *mem, size_t cap)
{
	b->p = mem;
	b->cap = cap;
	buf_reset(b);
}

/* see buf.h */
void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->overflow = false;
}

/* see buf.h */
bool
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		b->overflow = true;
		return false;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return true;
}

/* see buf.h */
bool
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* see buf.h */
bool
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	size_t room = b->cap - b->len;
	int n;

	n = vsnprintf((char *)b->p + b->len, room, fmt, ap);
	if (n < 0 || (size_t)n >= room) {
		b->overflow = true;
		return false;
	}
	b->len += (size_t)n;
	return true;
}

/* see buf.h */
bool
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	ok = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ok;
}

/* see buf.h */
void
buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* see buf.h */
uint8_t *
buf_tail(struct buf *b, size_t *room)
{
	*room = b->cap - b->len;
	return b->p + b->len;
}

/* see buf.h */
void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}
