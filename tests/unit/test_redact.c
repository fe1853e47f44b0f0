/* Unit tests: redaction rules and their application (http/redact.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "http/redact.h"
#include "http/redact_int.h"

static struct redact_rules *
rules(const char *text)
{
	struct redact_errors errs;
	struct redact_rules *r =
	    redact_rules_parse(text, strlen(text), "t.toml", &errs);

	if (r == NULL)
		fprintf(stderr, "%s\n", errs.msg[0]);
	assert_non_null(r);
	return r;
}

/* Apply r to s; returns the body (heap) or NULL when refused. */
static char *
apply(const struct redact_rules *r, const char *host, const char *ct,
    const char *s, size_t max_out, struct redact_result *res)
{
	struct redact_input in = {
	    .host = host, .content_type = ct, .max_out = max_out};
	char *out;

	if (redact_apply(r, &in, (const uint8_t *)s, strlen(s), res) !=
	    REDACT_OK)
		return NULL;
	out =
	    res->changed ? strndup((char *)res->out, res->out_len) : strdup(s);
	assert_non_null(out);
	return out;
}

static const char structured[] =
    "version = 1\n[[rules]]\nname = \"tok\"\n"
    "type = \"regex-structured-data\"\npattern = 'bearer [a-z]+'\n"
    "hosts = ['api\\.internal']\nredact_fields = [\"a|*|b\"]\n";

/* gzip bodies: every member decoded, the bound kept, truncation refused. */
static void
redact_gzip_members_bound_and_truncation(void **state)
{
	struct redact_rules *r =
	    rules("version = 1\n[[rules]]\nname = \"m\"\ntype = \"regex\"\n"
		  "pattern = 'a@b'\nreplacement = \"X\"\n");
	struct redact_input in = {.content_type = "text/plain",
	    .content_encoding = "GZIP",
	    .max_out = 1 << 20,
	    .max_decoded = 1 << 20};
	struct redact_result res;
	uint8_t *z1, *z2, two[256], *plain;
	size_t n1, n2, np;

	assert_int_equal(
	    redact_gzip((const uint8_t *)"1 a@b ", 6, 128, &z1, &n1),
	    REDACT_OK);
	assert_int_equal(
	    redact_gzip((const uint8_t *)"2 a@b", 5, 128, &z2, &n2), REDACT_OK);
	memcpy(two, z1, n1);
	memcpy(two + n1, z2, n2);
	assert_int_equal(redact_apply(r, &in, two, n1 + n2, &res), REDACT_OK);
	assert_true(res.changed);
	assert_int_equal(
	    redact_gunzip(res.out, res.out_len, 100, &plain, &np), REDACT_OK);
	assert_int_equal(np, 7);
	assert_memory_equal(plain, "1 X 2 X", 7);
	assert_int_equal(res.hits[0], 2);
	free(plain);
	redact_result_free(&res);
	/* The bound: 11 bytes decoded do not fit in 10. */
	in.max_decoded = 10;
	assert_int_not_equal(
	    redact_apply(r, &in, two, n1 + n2, &res), REDACT_OK);
	assert_int_equal(res.refusal, REDACT_TOO_LARGE);
	redact_result_free(&res);
	in.max_decoded = 1 << 20;
	assert_int_not_equal(
	    redact_apply(r, &in, two, n1 + n2 - 1, &res), REDACT_OK);
	assert_string_equal(redact_refusal_name(res.refusal), "malformed_gzip");
	redact_result_free(&res);
	free(z1);
	free(z2);
	redact_rules_free(r);
}

static void
redact_json_escapes_decoded_and_reencoded(void **state)
{
	struct redact_rules *r = rules(structured);
	struct redact_result res;
	char *out = apply(r, "API.Internal", "application/json",
	    "{\"a\": [{\"b\": \"x bearer\\u0020abc\\n\"}, {\"\\u0062\": "
	    "\"bearer q\"}], \"c\": \"bearer z\"}",
	    1 << 20, &res);

	assert_string_equal(out,
	    "{\"a\": [{\"b\": \"x [REDACTED]\\u000a\"}, "
	    "{\"\\u0062\": \"[REDACTED]\"}], \"c\": "
	    "\"bearer z\"}");
	assert_int_equal(res.hits[0], 2);
	free(out);
	redact_result_free(&res);
	redact_rules_free(r);
}

static void
redact_hosts_are_anchored(void **state)
{
	struct redact_rules *r = rules(structured);
	struct redact_result res;
	char *out = apply(r, "api.internal.evil", "application/json",
	    "{\"a\": [{\"b\": \"bearer abc\"}]}", 1 << 20, &res);

	assert_string_equal(out, "{\"a\": [{\"b\": \"bearer abc\"}]}");
	assert_false(res.applied);
	free(out);
	redact_result_free(&res);
	redact_rules_free(r);
}

static void
redact_output_bounded(void **state)
{
	struct redact_rules *r =
	    rules("version = 1\n[[rules]]\nname = \"x\"\ntype = \"regex\"\n"
		  "pattern = 'a'\nreplacement = \"0123456789\"\n");
	struct redact_result res;

	assert_null(apply(r, NULL, "text/plain", "aaaaaaaaaa", 50, &res));
	assert_int_equal(res.refusal, REDACT_TOO_LARGE);
	assert_string_equal(redact_refusal_name(res.refusal), "too_large");
	redact_result_free(&res);
	redact_rules_free(r);
}

static void
redact_every_error_counted(void **state)
{
	char text[8192] = "version = 1\n";
	struct redact_errors errs;
	int i;

	for (i = 0; i < 40; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "[[rules]]\nname = \"r%d\"\ntype = \"nope\"\n"
		    "pattern = 'x'\n",
		    i);
	assert_null(redact_rules_parse(text, strlen(text), "t", &errs));
	assert_int_equal(errs.n, REDACT_ERRORS_MAX);
	assert_int_equal(errs.n_errors, 40);
}

static void
redact_sha256_follows_content(void **state)
{
	char path[] = "/tmp/test_redact_XXXXXX";
	int fd = mkstemp(path);
	uint8_t a[32], b[32], c[32];
	struct redact_errors errs;
	struct redact_rules *r;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "version = 1\n", 12), 12);
	r = redact_rules_load(path, a, &errs);
	assert_non_null(r);
	redact_rules_free(r);
	assert_int_equal(redact_file_sha256(path, b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(write(fd, "x = 1\n", 6), 6);
	assert_null(redact_rules_load(path, c, &errs));
	assert_memory_not_equal(a, c, 32);
	close(fd);
	unlink(path);
	assert_true(redact_file_sha256(path, c) < 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(redact_json_escapes_decoded_and_reencoded),
	    cmocka_unit_test(redact_gzip_members_bound_and_truncation),
	    cmocka_unit_test(redact_hosts_are_anchored),
	    cmocka_unit_test(redact_output_bounded),
	    cmocka_unit_test(redact_every_error_counted),
	    cmocka_unit_test(redact_sha256_follows_content),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
