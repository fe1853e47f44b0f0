/*
 * `outpost fetch`: one request through the executor, printed as JSON
 * lines.  Setup-phase code: it may block on files and exit on errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "connector/exec.h"
#include "connector/fetch.h"
#include "connector/tool.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/exit.h"
#include "lib/json.h"
#include "lib/util.h"
#include "net/dns.h"

#define FETCH_MAX_HEADERS 64
#define FETCH_EXIT_FAIL 1

struct fetch {
	struct exec_job job;
	Connector__V1__HttpRequest req;
	Connector__V1__Header h[FETCH_MAX_HEADERS];
	Connector__V1__Header *hp[FETCH_MAX_HEADERS];
	uint8_t *body;
	int64_t t0;
	bool done;
	int rc;
};

static int
usage(const char *why)
{
	fprintf(stderr,
	    "outpost fetch: %s\n"
	    "usage: outpost fetch [-X METHOD] [-H 'Name: value']... "
	    "[-d DATA | -f FILE] URL\n",
	    why);
	return EXIT_PERMANENT;
}

/* Print one JSON line made of pre-escaped pieces. */
static void
print_buf(struct buf *b)
{
	buf_adds(b, "\n");
	fwrite(b->p, 1, b->len, stdout);
	buf_reset(b);
}

static void
print_header(const Connector__V1__Header *h)
{
	size_t cap = 6 * (strlen(h->key) + strlen(h->value)) + 64;
	struct buf b;
	char *mem = malloc(cap);

	if (mem == NULL)
		return;
	buf_init(&b, mem, cap);
	buf_adds(&b, "{\"header\":");
	json_cstr(&b, h->key);
	buf_adds(&b, ",\"value\":");
	json_cstr(&b, h->value);
	buf_adds(&b, "}");
	print_buf(&b);
	free(mem);
}

static void
print_body(const ProtobufCBinaryData *body)
{
	size_t cap = BASE64_ENCODED_LEN(body->len) + 1;
	char *enc = malloc(cap);

	if (enc == NULL || base64_encode(enc, cap, body->data, body->len) < 0) {
		free(enc);
		printf(
		    "{\"error\":\"overloaded\",\"detail\":\"out of memory\"}\n");
		return;
	}
	printf("{\"body_len\":%zu,\"body_base64\":\"%s\"}\n", body->len, enc);
	free(enc);
}

static void
fetch_done(struct exec_job *job, enum exec_reason r, const char *detail,
    const Connector__V1__HttpResponse *resp)
{
	struct fetch *f = container_of(job, struct fetch, job);
	char mem[512];
	struct buf b;
	size_t i;

	f->done = true;
	buf_init(&b, mem, sizeof(mem));
	if (resp == NULL) {
		f->rc = FETCH_EXIT_FAIL;
		buf_adds(&b, "{\"error\":");
		json_cstr(&b, exec_reason_name(r));
		buf_adds(&b, ",\"detail\":");
		json_cstr(&b, detail);
		buf_adds(&b, "}");
		print_buf(&b);
		return;
	}
	printf("{\"status\":%d,\"elapsed_ms\":%lld}\n", resp->http_status,
	    (long long)(util_mono_ms() - f->t0));
	for (i = 0; i < resp->n_headers; i++)
		print_header(resp->headers[i]);
	print_body(&resp->body);
}

/* "Name: value" into a Header (the argument string is modified). */
static bool
add_header(struct fetch *f, char *arg)
{
	char *colon = strchr(arg, ':'), *v;
	Connector__V1__Header *h;

	if (colon == NULL || f->req.n_headers == FETCH_MAX_HEADERS)
		return false;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	h = &f->h[f->req.n_headers];
	connector__v1__header__init(h);
	h->key = arg;
	h->value = v;
	f->hp[f->req.n_headers++] = h;
	return true;
}

/* Read a whole file (at most max bytes) as the request body. */
static bool
read_body(struct fetch *f, const char *path, size_t max)
{
	char *p;
	size_t len;

	if (util_read_file(path, max, &p, &len) < 0)
		return false;
	free(f->body);
	f->body = (uint8_t *)p;
	f->req.body.data = f->body;
	f->req.body.len = len;
	return true;
}

static int
parse_args(struct fetch *f, int argc, char **argv, size_t max_body)
{
	int ch;

	connector__v1__http_request__init(&f->req);
	f->req.method = "GET";
	f->req.headers = f->hp;
	optind = 1;
	while ((ch = getopt(argc, argv, "X:H:d:f:")) != -1) {
		if (ch == 'X')
			f->req.method = optarg;
		else if (ch == 'H' && !add_header(f, optarg))
			return usage("bad or too many -H headers");
		else if (ch == 'd') {
			f->req.body.data = (uint8_t *)optarg;
			f->req.body.len = strlen(optarg);
		} else if (ch == 'f' && !read_body(f, optarg, max_body))
			return usage("cannot read the -f file");
		else if (ch == '?')
			return usage("unknown option");
	}
	if (optind != argc - 1)
		return usage("exactly one URL expected");
	f->req.url = argv[optind];
	return 0;
}

static int
run(struct fetch *f, const struct cfg *cfg, struct rx_loop *loop)
{
	struct dns_config dc = {.servers = cfg_str(cfg, CFG_DNS_SERVERS)};
	struct dns_resolver *dns = NULL;
	struct exec_config ec;
	struct exec *e = NULL;
	uint8_t *ca = NULL;
	size_t calen = 0;
	char err[256] = "";
	int rc;

	rc = exec_config_from_cfg(&ec, cfg, &ca, &calen, err, sizeof(err));
	if (rc == 0)
		rc = dns_new(&dns, loop, &dc, err, sizeof(err));
	if (rc == 0)
		rc = exec_new(&e, loop, dns, &ec, err, sizeof(err));
	if (ca != NULL) {
		util_wipe(ca, calen);
		free(ca);
	}
	if (rc < 0) {
		fprintf(stderr, "outpost fetch: %s\n", err);
		dns_free(dns);
		return EXIT_PERMANENT;
	}
	f->t0 = util_mono_ms();
	exec_submit(e, &f->job, &f->req, fetch_done);
	while (!f->done && rx_run_once(loop, -1) == 0)
		;
	exec_free(e);
	dns_free(dns);
	rx_run_once(loop, 0);
	return f->done ? f->rc : FETCH_EXIT_FAIL;
}

/* see fetch.h */
int
fetch_main(int argc, char **argv, char *const *envp)
{
	static struct fetch f;
	static struct tool t;
	int rc;

	rc = tool_start(&t, envp, EXEC_TIMERS(1, EXEC_DEFAULT_POOL_TOTAL) + 8);
	if (rc != 0)
		return rc;
	rc = parse_args(&f, argc, argv,
	    (size_t)cfg_int(t.cfg, CFG_MAX_REQUEST_BODY_SIZE_MB));
	if (rc == 0)
		rc = run(&f, t.cfg, &t.loop);
	tool_end(&t);
	free(f.body);
	return rc;
}
