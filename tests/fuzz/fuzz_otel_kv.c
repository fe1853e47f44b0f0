/*
 * Fuzz target: the OpenTelemetry key=value lists (cfg_otel_kv_parse,
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS).  Input: the
 * list (a NUL ends it early).  Invariants: the scratch buffer of
 * strlen + 2 bytes is enough (ASan); every key handed out is a non-empty
 * token without blanks and every length matches its string; a list the
 * parser accepts has one entry per ',' plus one; a list accepted as
 * headers, written as "Name: value" lines the way the exporter does,
 * parses back with the HTTP/1 request parser as exactly that many fields
 * (no header can be injected through a percent-encoded CR LF).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "cfg/cfg_int.h"
#include "http/http.h"
#include "lib/buf.h"

#define INPUT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t n;
	struct buf head;
};

static bool
entry(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct seen *s = arg;
	size_t i;

	if (klen == 0 || strlen(k) != klen || strlen(v) > vlen)
		abort();
	for (i = 0; i < klen; i++)
		if (k[i] == ' ' || k[i] == '\t' || k[i] == ',' || k[i] == '=')
			abort();
	s->n++;
	buf_printf(&s->head, "%.*s: %.*s\r\n", (int)klen, k, (int)vlen, v);
	return true;
}

static size_t
commas(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == ',';
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char mem[INPUT_MAX * 3 + 64];
	struct http_header h[64];
	struct http_request req = {.headers = h, .nheaders = 64};
	struct http_limits lim = HTTP_LIMITS_DEFAULT;
	struct seen s = {0};
	char *list, *scratch;
	int pos, r;

	if (size > INPUT_MAX)
		return 0;
	list = malloc(size + 1);
	memcpy(list, data, size);
	list[size] = '\0';
	scratch = malloc(strlen(list) + 2);
	buf_init(&s.head, mem, sizeof(mem));
	buf_adds(&s.head, "POST / HTTP/1.1\r\n");
	pos = cfg_otel_kv_parse(list, scratch, entry, &s);
	if (pos == 0 && s.n != commas(list) + 1)
		abort();
	if (pos != 0 && (size_t)pos != s.n + 1)
		abort();
	buf_adds(&s.head, "\r\n");
	if (pos == 0 && s.n <= 64 && !s.head.overflow &&
	    cfg_otel_kv_check(list, true) == 0) {
		lim.max_total = lim.max_header_bytes = sizeof(mem);
		lim.max_line = sizeof(mem);
		r = http_parse_request(
		    (const char *)s.head.p, s.head.len, &req, &lim);
		if (r != (int)s.head.len || req.nheaders != s.n)
			abort();
	}
	free(scratch);
	free(list);
	return 0;
}
