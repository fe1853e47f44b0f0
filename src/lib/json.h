/*
 * json.h — the JSON string writer.  Objects are composed by the caller
 * with buf_printf(); every string that did not come from a literal goes
 * through json_str() so that it is quoted and escaped.
 */
#ifndef LIB_JSON_H
#define LIB_JSON_H

#include <stddef.h>

#include "lib/buf.h"

/* Append s[0..n) as a quoted JSON string; control bytes become \u00XX. */
void json_str(struct buf *b, const char *s, size_t n);

/* Same for a NUL-terminated string; NULL is written as null. */
void json_cstr(struct buf *b, const char *s);

#endif
