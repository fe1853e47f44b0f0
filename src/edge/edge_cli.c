/*
 * edge_cli.c — the operator's identity commands.  They talk to the
 * running edge's front door (EDGE_API_LISTEN:EDGE_API_PORT, bearer token
 * from EDGE_API_TOKEN_FILE), never to the files under EDGE_DATA_DIR: the
 * edge owns its stores, and pairings and open tunnels live only in the
 * running process.
 *
 *   outpost-edge token create NAME [--ttl 1h]   prints the token
 *   outpost-edge pair list
 *   outpost-edge pair approve CODE --name NAME
 *   outpost-edge pair deny CODE
 *   outpost-edge revoke NAME
 *   outpost-edge update offer NAME|--all FILE   POST /v1/updates, streamed
 *   outpost-edge update status [NAME]
 *   outpost-edge update withdraw NAME|--all
 *   outpost-edge update reboot NAME|--all      into a written update
 *
 * One blocking request on loopback with a 10 s socket timeout (an
 * update's file is sent in 64 KiB writes, never held whole).  Exit 0
 * on a 2xx answer, 100 on another answer or bad usage (printed on
 * stderr), 111 when the edge cannot be reached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "edge/edge.h"
#include "edge/edge_id.h"
#include "http/http.h"
#include "lib/exit.h"
#include "lib/json.h"
#include "lib/util.h"

#define CLI_TIMEOUT_S 10
#define ANSWER_MAX (64u << 10)

struct answer {
	int status;
	char *body; /* NUL-terminated, inside mem */
	size_t len;
	char mem[ANSWER_MAX + 1];
};

static int
usage(void)
{
	fprintf(stderr,
	    "usage: outpost-edge token create NAME [--ttl 1h]\n"
	    "       outpost-edge pair list | pair approve CODE --name NAME | "
	    "pair deny CODE\n"
	    "       outpost-edge revoke NAME\n"
	    "       outpost-edge update offer NAME|--all FILE | update status "
	    "[NAME] | update withdraw NAME|--all | update reboot "
	    "NAME|--all\n");
	return EXIT_PERMANENT;
}

static int
dial(const struct edge_conf *ec)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(ec->api_port),
	    .sin_addr.s_addr = ec->api_addr};
	struct timeval tv = {.tv_sec = CLI_TIMEOUT_S};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Blocking I/O bounded by the socket timeouts (connect included). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Content-Length of a parsed head; -1 when absent or malformed. */
static long
content_length(const struct http_response *r)
{
	const struct http_header *h;
	char num[24];
	char *end;
	long v;

	h = http_header_find(r->headers, r->nheaders, "content-length");
	if (h == NULL || h->value_len == 0 || h->value_len >= sizeof(num))
		return -1;
	memcpy(num, h->value, h->value_len);
	num[h->value_len] = '\0';
	v = strtol(num, &end, 10);
	return *end == '\0' && v >= 0 ? v : -1;
}

/* Read until the head and Content-Length bytes of body are in. */
static int
read_answer(int fd, struct answer *a)
{
	struct http_header hs[32];
	struct http_response r = {.headers = hs};
	const struct http_limits lim = HTTP_LIMITS_DEFAULT;
	size_t have = 0;
	long head = 0, clen = -1;
	ssize_t n;

	for (;;) {
		if (have == ANSWER_MAX)
			return -EMSGSIZE;
		n = read(fd, a->mem + have, ANSWER_MAX - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		have += (size_t)n;
		if (head <= 0) {
			r.nheaders = nitems(hs);
			head = http_parse_response(a->mem, have, &r, &lim);
			if (head < 0 && head != HTTP_PARTIAL)
				return -EPROTO;
			if (head > 0)
				clen = content_length(&r);
		}
		if (head > 0 && clen >= 0 && have >= (size_t)head + clen)
			break;
		if (n == 0)
			return head > 0 && clen < 0 ? 0 : -ECONNRESET;
	}
	a->status = r.status;
	a->body = a->mem + head;
	a->len = (size_t)clen;
	a->body[a->len] = '\0';
	return 0;
}

/* Copy len bytes of file to fd in 64 KiB pieces.  0 or -errno. */
static int
send_file(int fd, int file, off_t len)
{
	char piece[64u << 10];
	ssize_t n;

	while (len > 0) {
		n = read(file, piece,
		    len < (off_t)sizeof(piece) ? (size_t)len : sizeof(piece));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (write(fd, piece, (size_t)n) != n)
			return errno != 0 ? -errno : -EIO;
		len -= n;
	}
	return 0;
}

/*
 * method path with body (JSON text, or NULL) or, with file >= 0, that
 * file's flen bytes (application/octet-stream).
 */
static int
request(const struct edge_conf *ec, const char *method, const char *path,
    const char *body, int file, off_t flen, struct answer *a)
{
	char head[1024];
	size_t blen = body != NULL ? strlen(body) : 0;
	int fd, rc, hl;

	hl = snprintf(head, sizeof(head),
	    "%s %s HTTP/1.1\r\nHost: outpost-edge\r\n"
	    "Authorization: Bearer %.*s\r\n"
	    "Content-Type: %s\r\nContent-Length: %lld\r\n"
	    "Connection: close\r\n\r\n",
	    method, path, (int)ec->token_len, (const char *)ec->token,
	    file >= 0 ? "application/octet-stream" : "application/json",
	    file >= 0 ? (long long)flen : (long long)blen);
	if (hl <= 0 || (size_t)hl >= sizeof(head))
		return -EINVAL;
	if ((fd = dial(ec)) < 0)
		return fd;
	rc = 0;
	if (write(fd, head, (size_t)hl) != hl ||
	    (blen > 0 && write(fd, body, blen) != (ssize_t)blen))
		rc = errno != 0 ? -errno : -EIO;
	util_wipe(head, sizeof(head));
	if (rc == 0 && file >= 0)
		rc = send_file(fd, file, flen);
	if (rc == 0)
		rc = read_answer(fd, a);
	close(fd);
	return rc;
}

static int call_file(const struct edge_conf *ec, const char *method,
    const char *path, const char *body, int file, off_t flen, bool print_token);

/* Send one request and report; the exit code. */
static int
call(const struct edge_conf *ec, const char *path, const char *body,
    bool print_token)
{
	return call_file(
	    ec, body != NULL ? "POST" : "GET", path, body, -1, 0, print_token);
}

static int
call_file(const struct edge_conf *ec, const char *method, const char *path,
    const char *body, int file, off_t flen, bool print_token)
{
	struct answer *a = malloc(sizeof(*a));
	char tok[EDGE_TOKEN_MAX];
	int rc;

	if (a == NULL)
		return EXIT_TEMPORARY;
	if ((rc = request(ec, method, path, body, file, flen, a)) < 0) {
		fprintf(stderr, "outpost-edge: front door %s: %s\n", path,
		    strerror(-rc));
		free(a);
		return EXIT_TEMPORARY;
	}
	rc = a->status / 100 == 2 ? EXIT_OK : EXIT_PERMANENT;
	if (rc != 0)
		fprintf(stderr, "outpost-edge: %d %s", a->status, a->body);
	else if (print_token &&
	    edge_jbody_str(a->body, a->len, "token", tok, sizeof(tok)) == 1)
		printf("%s\n", tok);
	else
		fputs(a->body, stdout);
	util_wipe(a, sizeof(*a));
	util_wipe(tok, sizeof(tok));
	free(a);
	return rc;
}

/* {"name":NAME[,"ttl":TTL]} with JSON quoting. */
static void
body_name(struct buf *b, const char *name, const char *ttl)
{
	buf_adds(b, "{\"name\":");
	json_cstr(b, name);
	if (ttl != NULL) {
		buf_adds(b, ",\"ttl\":");
		json_cstr(b, ttl);
	}
	buf_adds(b, "}");
	buf_add(b, "", 1);
}

/* The value of --flag in argv[from..), or NULL; *bad on a stray word. */
static const char *
option(int argc, char **argv, int from, const char *flag, bool *bad)
{
	const char *v = NULL;
	int i;

	for (i = from; i < argc; i++) {
		if (strcmp(argv[i], flag) == 0 && i + 1 < argc)
			v = argv[++i];
		else
			*bad = true;
	}
	return v;
}

static bool
path_word(const char *s)
{
	return s[0] != '\0' && strlen(s) < 128 &&
	    strspn(s,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789._-") == strlen(s);
}

/* base?connector=NAME, or all for --all; false: neither. */
static bool
update_target(char *q, size_t cap, const char *base, const char *arg)
{
	if (strcmp(arg, "--all") == 0) {
		snprintf(q, cap, "%s?connector=all", base);
		return true;
	}
	if (!path_word(arg) || strcmp(arg, "all") == 0)
		return false;
	snprintf(q, cap, "%s?connector=%s", base, arg);
	return true;
}

/* update offer|status|withdraw|reboot (argv[0] is "update"). */
static int
update_cmd(const struct edge_conf *ec, int argc, char **argv)
{
	char path[256];
	struct stat st;
	int file, rc;

	if (argc == 4 && strcmp(argv[1], "offer") == 0 &&
	    update_target(path, sizeof(path), "/v1/updates", argv[2])) {
		if ((file = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0 ||
		    fstat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "outpost-edge: %s: %s\n", argv[3],
			    file < 0 ? strerror(errno) : "not a regular file");
			if (file >= 0)
				close(file);
			return EXIT_PERMANENT;
		}
		rc = call_file(ec, "POST", path, NULL, file, st.st_size, false);
		close(file);
		return rc;
	}
	if ((argc == 2 || argc == 3) && strcmp(argv[1], "status") == 0) {
		if (argc == 2)
			return call(ec, "/v1/updates", NULL, false);
		if (!update_target(path, sizeof(path), "/v1/updates", argv[2]))
			return usage();
		return call(ec, path, NULL, false);
	}
	if (argc == 3 && strcmp(argv[1], "withdraw") == 0 &&
	    update_target(path, sizeof(path), "/v1/updates", argv[2]))
		return call_file(ec, "DELETE", path, NULL, -1, 0, false);
	if (argc == 3 && strcmp(argv[1], "reboot") == 0 &&
	    update_target(path, sizeof(path), "/v1/updates/reboot", argv[2]))
		return call_file(ec, "POST", path, NULL, -1, 0, false);
	return usage();
}

static int
cli_dispatch(const struct edge_conf *ec, int argc, char **argv)
{
	char path[256], mem[512];
	const char *v;
	bool bad = false;
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	if (argc >= 1 && strcmp(argv[0], "update") == 0)
		return update_cmd(ec, argc, argv);
	if (argc >= 3 && strcmp(argv[0], "token") == 0 &&
	    strcmp(argv[1], "create") == 0 && path_word(argv[2])) {
		v = option(argc, argv, 3, "--ttl", &bad);
		body_name(&b, argv[2], v);
		return bad ? usage() : call(ec, "/v1/tokens", mem, true);
	}
	if (argc == 2 && strcmp(argv[0], "pair") == 0 &&
	    strcmp(argv[1], "list") == 0)
		return call(ec, "/v1/pairings", NULL, false);
	if (argc >= 3 && strcmp(argv[0], "pair") == 0 && path_word(argv[2]) &&
	    (strcmp(argv[1], "approve") == 0 || strcmp(argv[1], "deny") == 0)) {
		snprintf(
		    path, sizeof(path), "/v1/pairings/%s/%s", argv[2], argv[1]);
		v = option(argc, argv, 3, "--name", &bad);
		if (bad || (argv[1][0] == 'a') != (v != NULL))
			return usage();
		if (v != NULL)
			body_name(&b, v, NULL);
		else
			buf_adds(&b, "{}");
		return call(ec, path, mem, false);
	}
	if (argc == 2 && strcmp(argv[0], "revoke") == 0 && path_word(argv[1])) {
		snprintf(
		    path, sizeof(path), "/v1/connectors/%s/revoke", argv[1]);
		return call(ec, path, "{}", false);
	}
	return usage();
}

/* see edge.h */
int
edge_cli_main(int argc, char **argv, char *const *envp)
{
	struct cfg_errors *errs = malloc(sizeof(*errs));
	struct edge_conf ec;
	char err[256];
	struct cfg *c;
	int rc;

	if (errs == NULL)
		return EXIT_TEMPORARY;
	c = cfg_load(envp, errs);
	if (c == NULL) {
		cfg_errors_print(errs, 2);
		free(errs);
		return EXIT_PERMANENT;
	}
	free(errs);
	rc = edge_conf_load_api(&ec, c, err, sizeof(err));
	cfg_free(c);
	if (rc < 0) {
		fprintf(stderr, "outpost-edge: %s\n", err);
		return EXIT_PERMANENT;
	}
	rc = cli_dispatch(&ec, argc, argv);
	edge_conf_free(&ec);
	return rc;
}
