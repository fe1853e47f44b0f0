#include <string.h>

#include "lib/json.h"

/* see json.h */
void
json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i;

	buf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_add(b, "\\", 1);
			buf_add(b, &s[i], 1);
		} else if (c < 0x20 || c == 0x7f) {
			char esc[6] = {
			    '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			buf_add(b, esc, sizeof(esc));
		} else {
			buf_add(b, &s[i], 1);
		}
	}
	buf_add(b, "\"", 1);
}

/* see json.h */
void
json_cstr(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_adds(b, "null");
	else
		json_str(b, s, strlen(s));
}
