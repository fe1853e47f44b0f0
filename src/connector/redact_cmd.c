/*
 * redact_cmd.c — `outpost redact` (see redact_cmd.h).
 */
#include "connector/redact_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/redact.h"
#include "lib/url.h"

#define BODY_MAX (256u * 1024 * 1024)

struct redact_opts {
	const char *rules, *url, *ctype, *cenc, *file;
	int status;
	bool check, binary_pass;
};

static int
usage(void)
{
	fprintf(stderr,
	    "usage: outpost redact --rules FILE [--check] "
	    "[--url URL] [--content-type T]\n"
	    "       [--content-encoding E] [--status N] "
	    "[--binary-pass] [FILE|-]\n");
	return 100;
}

static bool
parse_opts(int argc, char **argv, struct redact_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = strcmp(a, "--rules") == 0 ? &o->rules
		    : strcmp(a, "--url") == 0		      ? &o->url
		    : strcmp(a, "--content-type") == 0	      ? &o->ctype
		    : strcmp(a, "--content-encoding") == 0    ? &o->cenc
							      : NULL;

		if (slot != NULL && i + 1 < argc)
			*slot = argv[++i];
		else if (strcmp(a, "--status") == 0 && i + 1 < argc)
			o->status = atoi(argv[++i]);
		else if (strcmp(a, "--check") == 0)
			o->check = true;
		else if (strcmp(a, "--binary-pass") == 0)
			o->binary_pass = true;
		else if (slot == NULL && o->file == NULL &&
		    (a[0] != '-' || strcmp(a, "-") == 0))
			o->file = a;
		else
			return false;
	}
	return o->rules != NULL;
}

static int
read_body(const char *file, uint8_t **out, size_t *len)
{
	int fd = file == NULL || strcmp(file, "-") == 0
	    ? 0
	    : open(file, O_RDONLY | O_CLOEXEC);
	size_t cap = 65536, n = 0;
	uint8_t *b = malloc(cap);
	ssize_t got;

	if (fd < 0 || b == NULL) {
		free(b);
		return fd < 0 ? -errno : -ENOMEM;
	}
	while ((got = read(fd, b + n, cap - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 || (n += (size_t)got) > BODY_MAX)
			break;
		if (n == cap) {
			uint8_t *nb = realloc(b, cap * 2);

			if (nb == NULL)
				break;
			b = nb;
			cap *= 2;
		}
	}
	if (fd > 0)
		close(fd);
	if (got != 0) {
		free(b);
		return n > BODY_MAX ? -EFBIG : -EIO;
	}
	*out = b;
	*len = n;
	return 0;
}

static bool
write_all(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int
run(const struct redact_rules *r, const struct redact_opts *o)
{
	struct redact_input in = {.content_type = o->ctype,
	    .content_encoding = o->cenc,
	    .status = o->status,
	    .binary_pass = o->binary_pass,
	    .max_out = BODY_MAX,
	    .max_decoded = BODY_MAX};
	char host[URL_HOST_MAX + 1] = "";
	struct redact_result res;
	struct url u;
	const char *why;
	uint8_t *body = NULL;
	size_t len = 0, i;
	int rc;

	if (o->url != NULL) {
		if (!url_parse(o->url, strlen(o->url), &u, &why)) {
			fprintf(stderr, "outpost redact: --url: %s\n", why);
			return 100;
		}
		snprintf(host, sizeof(host), "%.*s", (int)u.hostlen, u.host);
	}
	in.host = host;
	rc = read_body(o->file, &body, &len);
	if (rc < 0) {
		fprintf(stderr, "outpost redact: %s: %s\n",
		    o->file ? o->file : "-", strerror(-rc));
		return 111;
	}
	if (redact_apply(r, &in, body, len, &res) != REDACT_OK) {
		fprintf(stderr, "refused: redaction_failed (%s): %s\n",
		    redact_refusal_name(res.refusal), res.detail);
		rc = 1;
	} else {
		rc = write_all(res.changed ? res.out : body,
			 res.changed ? res.out_len : len)
		    ? 0
		    : 111;
		for (i = 0; res.applied && i < redact_rules_count(r); i++)
			fprintf(stderr, "%s: %llu\n", redact_rule_name(r, i),
			    (unsigned long long)res.hits[i]);
		if (!res.applied)
			fprintf(stderr, "no rule applies to this host\n");
	}
	redact_result_free(&res);
	free(body);
	return rc;
}

/* see redact_cmd.h */
int
redact_main(int argc, char **argv)
{
	struct redact_opts o = {0};
	struct redact_errors errs;
	struct redact_rules *r;
	int rc;

	if (!parse_opts(argc, argv, &o))
		return usage();
	r = redact_rules_load(o.rules, NULL, &errs);
	if (r == NULL) {
		redact_errors_print(&errs, 2);
		return 100;
	}
	if (o.check) {
		fprintf(stderr, "%s: %zu rules, valid\n", o.rules,
		    redact_rules_count(r));
		rc = 0;
	} else {
		rc = run(r, &o);
	}
	redact_rules_free(r);
	return rc;
}
