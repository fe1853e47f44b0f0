/* Unit tests: the identity store (generations, one atomic switch). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connector/identity_store.h"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_idstore.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* An identity whose every file names tag. */
static void
make(struct idstore_files *f, const char *tag, char *key, char *chain, char *ca,
    size_t cap)
{
	snprintf(key, cap, "KEY %s\n", tag);
	snprintf(chain, cap, "CHAIN %s\n", tag);
	snprintf(ca, cap, "CA %s\n", tag);
	*f = (struct idstore_files){.key = key,
	    .key_len = strlen(key),
	    .chain = chain,
	    .chain_len = strlen(chain),
	    .ca = ca,
	    .ca_len = strlen(ca),
	    .not_after = 2000000000,
	    .renew_at = 1900000000};
	snprintf(f->source, sizeof(f->source), "enroll");
	snprintf(f->name, sizeof(f->name), "%s", tag);
}

static void
save(const char *dir, const char *tag)
{
	char key[64], chain[64], ca[64], err[256] = "";
	struct idstore_files f;

	make(&f, tag, key, chain, ca, sizeof(key));
	assert_int_equal(idstore_save(dir, &f, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void
expect(const char *dir, const char *tag, unsigned gen)
{
	char key[64], chain[64], ca[64], err[256] = "";
	struct idstore_files want, got;

	make(&want, tag, key, chain, ca, sizeof(key));
	assert_int_equal(idstore_load(dir, &got, err, sizeof(err)), 0);
	assert_string_equal(got.key, key);
	assert_string_equal(got.chain, chain);
	assert_string_equal(got.ca, ca);
	assert_string_equal(got.name, tag);
	assert_string_equal(got.source, "enroll");
	assert_int_equal(got.not_after, 2000000000);
	assert_int_equal(got.renew_at, 1900000000);
	assert_int_equal(got.generation, gen);
	idstore_files_free(&got);
}

static mode_t
mode_of(const char *dir, const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

static bool
exists(const char *dir, const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static void
load_empty_is_enoent(void **state)
{
	struct fixture *fx = *state;
	struct idstore_files f;
	char err[256] = "";

	assert_int_equal(idstore_load(fx->dir, &f, err, sizeof(err)), -ENOENT);
	assert_null(f.key);
}

static void
save_then_load(void **state)
{
	struct fixture *fx = *state;

	save(fx->dir, "alpha");
	expect(fx->dir, "alpha", 1);
	assert_int_equal(mode_of(fx->dir, "identity"), 0700);
	assert_int_equal(mode_of(fx->dir, "identity/g1"), 0700);
	assert_int_equal(mode_of(fx->dir, "identity/g1/key.pem"), 0600);
	assert_int_equal(mode_of(fx->dir, "identity/g1/chain.pem"), 0600);
	assert_int_equal(mode_of(fx->dir, "identity/g1/meta"), 0600);
}

static void
new_generation_replaces_old(void **state)
{
	struct fixture *fx = *state;

	save(fx->dir, "alpha");
	save(fx->dir, "beta");
	expect(fx->dir, "beta", 2);
	assert_false(exists(fx->dir, "identity/g1"));
	save(fx->dir, "gamma");
	expect(fx->dir, "gamma", 3);
	assert_false(exists(fx->dir, "identity/g2"));
	assert_false(exists(fx->dir, "identity/current.tmp"));
}

/* What a kill -9 in the middle of a save leaves: the old one is live. */
static void
interrupted_save_is_ignored_then_cleaned(void **state)
{
	struct fixture *fx = *state;
	char p[256];
	int fd;

	save(fx->dir, "alpha");
	snprintf(p, sizeof(p), "%s/identity/g2", fx->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/identity/g2/key.pem", fx->dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "KEY hal", 7), 7);
	close(fd);
	snprintf(p, sizeof(p), "%s/identity/current.tmp", fx->dir);
	assert_int_equal(symlink("g2", p), 0);
	expect(fx->dir, "alpha", 1);
	save(fx->dir, "beta");
	expect(fx->dir, "beta", 2);
	assert_false(exists(fx->dir, "identity/g1"));
	assert_false(exists(fx->dir, "identity/current.tmp"));
}

/* A save that cannot write leaves the old identity and says why. */
static void
failed_save_keeps_old(void **state)
{
	struct fixture *fx = *state;
	char key[64], chain[64], ca[64], err[256] = "", p[256];
	struct idstore_files f;
	int fd;

	save(fx->dir, "alpha");
	snprintf(p, sizeof(p), "%s/identity/g2", fx->dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600); /* a file, not a directory */
	assert_true(fd >= 0);
	close(fd);
	make(&f, "beta", key, chain, ca, sizeof(key));
	assert_int_equal(idstore_save(fx->dir, &f, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "mkdir g2"));
	assert_null(strstr(err, "KEY"));
	expect(fx->dir, "alpha", 1);
}

static void
missing_data_dir_is_reported(void **state)
{
	char key[64], chain[64], ca[64], err[256] = "";
	struct idstore_files f;

	make(&f, "alpha", key, chain, ca, sizeof(key));
	assert_int_equal(
	    idstore_save("/nonexistent/data", &f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/data"));
}

static void
broken_link_fails_load_and_is_replaced(void **state)
{
	struct fixture *fx = *state;
	struct idstore_files f;
	char err[256] = "", p[256];

	save(fx->dir, "alpha");
	snprintf(p, sizeof(p), "%s/identity/current", fx->dir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("../../etc", p), 0);
	assert_int_equal(idstore_load(fx->dir, &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "current"));
	save(fx->dir, "beta");
	expect(fx->dir, "beta", 1);
}

/*
 * A file of the current generation that is a symlink (to a key planted
 * elsewhere) is refused, not followed: the load fails naming the file and
 * the planted bytes are never handed out.  idstore_read() refuses one too.
 */
static void
symlinked_file_is_refused(void **state)
{
	struct fixture *fx = *state;
	struct idstore_files f;
	char err[256] = "", p[256], planted[256], *out = NULL;
	size_t n;
	FILE *fp;

	save(fx->dir, "alpha");
	snprintf(planted, sizeof(planted), "%s/planted", fx->dir);
	assert_non_null(fp = fopen(planted, "w"));
	fputs("KEY planted\n", fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/identity/g1/key.pem", fx->dir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(planted, p), 0);
	assert_int_equal(idstore_load(fx->dir, &f, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "key.pem"));
	assert_null(f.key);
	assert_int_equal(idstore_read(p, &out, &n), -ELOOP);
	assert_null(out);
	assert_int_equal(idstore_read(planted, &out, &n), 0);
	assert_string_equal(out, "KEY planted\n");
	free(out);
}

static void
meta_parse_rules(void **state)
{
	static const char *const bad[] = {
	    "source=enroll\nname=a\nnot_after=5\n",
	    "source=enroll\nname=a\nnot_after=5\nrenew_at=x\n",
	    "source=enroll\nname=a\nnot_after=-5\nrenew_at=4\n",
	    "source=enroll\nname=\nnot_after=5\nrenew_at=4\n",
	    "source=enroll\nname=a\x01\nnot_after=5\nrenew_at=4\n",
	    "source=enroll\nname=a\nname=b\nnot_after=5\nrenew_at=4\n",
	    "source=enroll\nname a\nnot_after=5\nrenew_at=4\n",
	    "source=enrollmentsourcetoolong\nname=a\nnot_after=5\nrenew_at=4\n",
	    "",
	};
	const char *ok = "future=1\nsource=pair\nname=a=b\nnot_after=5\n"
			 "renew_at=4";
	struct idstore_files f = {0};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(idstore_meta_parse(&f, bad[i], strlen(bad[i]),
				     err, sizeof(err)),
		    -EINVAL);
		assert_non_null(strstr(err, "meta"));
	}
	assert_int_equal(
	    idstore_meta_parse(&f, ok, strlen(ok), err, sizeof(err)), 0);
	assert_string_equal(f.source, "pair");
	assert_string_equal(f.name, "a=b");
	assert_int_equal(f.not_after, 5);
	assert_int_equal(f.renew_at, 4);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		load_empty_is_enoent, setup, teardown),
	    cmocka_unit_test_setup_teardown(save_then_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		new_generation_replaces_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		interrupted_save_is_ignored_then_cleaned, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		failed_save_keeps_old, setup, teardown),
	    cmocka_unit_test(missing_data_dir_is_reported),
	    cmocka_unit_test_setup_teardown(
		broken_link_fails_load_and_is_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		symlinked_file_is_refused, setup, teardown),
	    cmocka_unit_test(meta_parse_rules),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
