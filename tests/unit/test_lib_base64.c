/* Unit tests: lib/base64 (RFC 4648 vectors, every byte value, bounds). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/base64.h"
#include "lib/util.h"

static void
base64_vectors(void **state)
{
	/* RFC 4648 section 10. */
	static const char *const plain[] = {
	    "", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {
	    "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[64];
	ssize_t n;
	size_t i;

	for (i = 0; i < nitems(plain); i++) {
		n = base64_encode(out, sizeof(out), plain[i], strlen(plain[i]));
		assert_int_equal(n, strlen(enc[i]));
		assert_string_equal(out, enc[i]);
		n = base64_decode(out, sizeof(out), enc[i], strlen(enc[i]));
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(out, plain[i], (size_t)n);
	}
	assert_int_equal(
	    base64_decode(out, sizeof(out), "Zm9v\nYmFy\r\n", 11), 6);
	assert_int_equal(base64_decode(out, sizeof(out), "Zg", 2), 1);
	assert_int_equal(base64_decode(out, sizeof(out), "Z", 1), -EINVAL);
	assert_int_equal(base64_decode(out, sizeof(out), "Zh==", 4), -EINVAL);
	assert_int_equal(base64_decode(out, sizeof(out), "Zg=a", 4), -EINVAL);
	assert_int_equal(base64_decode(out, sizeof(out), "Zg===", 5), -EINVAL);
	assert_int_equal(base64_decode(out, sizeof(out), "Zg=", 3), -EINVAL);
	assert_int_equal(base64_decode(out, sizeof(out), "Zm9v!", 5), -EINVAL);
	assert_int_equal(base64_decode(out, sizeof(out), "Zm-v", 4), -EINVAL);
	assert_int_equal(base64_decode(out, 2, "Zm9v", 4), -ENOSPC);
	assert_int_equal(base64_encode(out, 4, "f", 1), -ENOSPC);
}

/* Every byte value, every length up to 256: the sizes are exact bounds. */
static void
base64_roundtrip_every_length(void **state)
{
	uint8_t in[256], back[BASE64_DECODED_MAX(BASE64_ENCODED_LEN(256))];
	char enc[BASE64_ENCODED_LEN(256) + 1];
	size_t n, i;
	ssize_t r;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(255 - i);
	for (n = 0; n <= sizeof(in); n++) {
		r = base64_encode(enc, BASE64_ENCODED_LEN(n) + 1, in, n);
		assert_int_equal(r, BASE64_ENCODED_LEN(n));
		assert_int_equal(strlen(enc), (size_t)r);
		assert_int_equal(
		    base64_encode(enc, BASE64_ENCODED_LEN(n), in, n), -ENOSPC);
		r = base64_encode(enc, sizeof(enc), in, n);
		r = base64_decode(
		    back, BASE64_DECODED_MAX((size_t)r), enc, (size_t)r);
		assert_int_equal(r, n);
		assert_memory_equal(back, in, n);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(base64_vectors),
	    cmocka_unit_test(base64_roundtrip_every_length),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
