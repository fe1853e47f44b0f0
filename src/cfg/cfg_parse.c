/*
 * cfg_parse.c — the sans-I/O KEY=VALUE (dotenv) parser: bytes in, one
 * callback per line that assigns or fails.
 */
#include <stdio.h>
#include <string.h>

#include "cfg/cfg_int.h"
#include "lib/util.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
is_key_char(char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9');
}

static char *
skip_space(char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

static void
emit_error(cfg_entry_fn *fn, void *arg, unsigned line, const char *key,
    const char *error)
{
	struct cfg_entry e = {line, key, NULL, error};

	fn(arg, &e);
}

/* After a closing quote only blanks and a comment may follow. */
static const char *
check_tail(const char *s)
{
	s = skip_space((char *)s);
	if (*s != '\0' && *s != '#')
		return "unexpected text after the closing quote";
	return NULL;
}

static char
unescape(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case '\\':
	case '"':
	case '$':
	case '`':
		return c;
	default:
		return '\0';
	}
}

/* Unquote a "..." value in place; returns an error or NULL. */
static const char *
parse_double(char *s)
{
	char *r = s + 1, *w = s, c;

	for (;;) {
		c = *r++;
		if (c == '\0')
			return "unterminated double quote";
		if (c == '"')
			break;
		if (c == '\\') {
			if (*r == '\0')
				return "unterminated double quote";
			c = unescape(*r++);
			if (c == '\0')
				return "unknown escape in double quotes";
		}
		*w++ = c;
	}
	*w = '\0';
	return check_tail(r);
}

/* Unquote a '...' value in place (no escapes); returns an error or NULL. */
static const char *
parse_single(char *s)
{
	char *end = strchr(s + 1, '\'');
	size_t n;

	if (end == NULL)
		return "unterminated single quote";
	n = (size_t)(end - (s + 1));
	memmove(s, s + 1, n);
	s[n] = '\0';
	return check_tail(end + 1);
}

/*
 * An unquoted value ends at a '#' that starts it or follows a blank (a
 * comment) and loses trailing blanks.
 */
static void
parse_bare(char *s)
{
	char *p, *end;

	for (p = s; *p != '\0'; p++)
		if (*p == '#' && (p == s || is_space(p[-1])))
			break;
	end = p;
	while (end > s && is_space(end[-1]))
		end--;
	*end = '\0';
}

static const char *
parse_value(char *v)
{
	if (*v == '"')
		return parse_double(v);
	if (*v == '\'')
		return parse_single(v);
	parse_bare(v);
	return NULL;
}

/* see cfg_int.h */
void
cfg_line_parse(char *s, unsigned lineno, cfg_entry_fn *fn, void *arg)
{
	struct cfg_entry e = {lineno, NULL, NULL, NULL};
	char *key, *p;

	s = skip_space(s);
	if (*s == '\0' || *s == '#')
		return;
	if (strncmp(s, "export", 6) == 0 && is_space(s[6]))
		s = skip_space(s + 6);
	key = s;
	if (!is_key_start(*s)) {
		emit_error(fn, arg, lineno, NULL, "expected KEY=VALUE");
		return;
	}
	for (p = s; is_key_char(*p); p++)
		;
	s = skip_space(p);
	if (*s != '=') {
		*p = '\0';
		emit_error(fn, arg, lineno, key, "expected '=' after the key");
		return;
	}
	*p = '\0';
	e.key = key;
	e.value = skip_space(s + 1);
	e.error = parse_value((char *)e.value);
	if (e.error != NULL)
		e.value = NULL;
	fn(arg, &e);
}

/* see cfg_int.h */
void
cfg_parser_init(struct cfg_parser *p, cfg_entry_fn *fn, void *arg)
{
	p->fn = fn;
	p->arg = arg;
	p->lineno = 0;
	p->len = 0;
	p->overlong = false;
	p->has_nul = false;
	p->stopped = false;
}

/* Name the key of an over-long line from its start, if it has one. */
static void
report_overlong(struct cfg_parser *p)
{
	char *s = skip_space(p->line), *k;

	p->line[p->len] = '\0';
	if (strncmp(s, "export", 6) == 0 && is_space(s[6]))
		s = skip_space(s + 6);
	for (k = s; is_key_char(*k); k++)
		;
	*k = '\0';
	emit_error(p->fn, p->arg, p->lineno, is_key_start(*s) ? s : NULL,
	    "line too long (max " STR(CFG_LINE_MAX) " bytes)");
}

/* A complete line (without its newline) is in p->line[0..len). */
static void
end_line(struct cfg_parser *p)
{
	size_t skip;

	if (p->overlong) {
		/* Reported when the overflow happened. */
	} else if (p->has_nul) {
		emit_error(p->fn, p->arg, p->lineno, NULL, "NUL byte in line");
	} else {
		if (p->len > 0 && p->line[p->len - 1] == '\r')
			p->len--;
		p->line[p->len] = '\0';
		/* Editors on other systems may start the file with a BOM. */
		skip = 0;
		if (p->lineno == 1 && strncmp(p->line, "\xef\xbb\xbf", 3) == 0)
			skip = 3;
		cfg_line_parse(p->line + skip, p->lineno, p->fn, p->arg);
	}
	p->len = 0;
	p->overlong = false;
	p->has_nul = false;
}

static bool
start_line(struct cfg_parser *p)
{
	if (p->len > 0 || p->overlong || p->has_nul)
		return true;
	if (p->lineno == CFG_LINES_MAX) {
		p->stopped = true;
		emit_error(p->fn, p->arg, p->lineno + 1, NULL,
		    "too many lines (max " STR(CFG_LINES_MAX) ")");
		return false;
	}
	p->lineno++;
	return true;
}

/* see cfg_int.h */
void
cfg_parser_feed(struct cfg_parser *p, const void *data, size_t n)
{
	const char *s = data;
	size_t i;

	for (i = 0; i < n && !p->stopped; i++) {
		if (!start_line(p))
			break;
		if (s[i] == '\n') {
			end_line(p);
			continue;
		}
		if (p->overlong)
			continue;
		if (s[i] == '\0')
			p->has_nul = true;
		if (p->len == CFG_LINE_MAX) {
			report_overlong(p);
			p->overlong = true;
			continue;
		}
		p->line[p->len++] = s[i];
	}
}

/* see cfg_int.h */
void
cfg_parser_finish(struct cfg_parser *p)
{
	if (!p->stopped && (p->len > 0 || p->overlong || p->has_nul))
		end_line(p);
}

/* see cfg_int.h */
void
cfg_parser_wipe(struct cfg_parser *p)
{
	util_wipe(p->line, sizeof(p->line));
	p->len = 0;
}
