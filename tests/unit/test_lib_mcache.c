/* Unit tests: lib/mcache (LIFO reuse by size, the entry and hot-byte
 * bounds, idle trim, drain) and rx/rx_mcache (its trim on a real loop).  Whether a buffer was given back is asked of
 * the kernel: mincore() fails with ENOMEM on an unmapped page. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/mcache.h"
#include "lib/util.h"
#include "rx/rx_mcache.h"

static size_t
pg(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static bool
mapped(void *p)
{
	unsigned char v;

	return mincore(p, pg(), &v) == 0 || errno != ENOMEM;
}

static void
mcache_reuses_newest_of_a_size(void **state)
{
	struct mcache_ent ent[4];
	struct mcache mc;
	size_t hot;
	uint8_t *a, *b, *c, *d;

	(void)state;
	mcache_init(&mc, ent, 4, 1u << 20);
	assert_int_equal(mcache_size(1), pg());
	a = mcache_get(&mc, 3 * pg() - 1, &hot);
	assert_non_null(a);
	assert_int_equal(hot, 0);
	b = mcache_get(&mc, 3 * pg(), &hot);
	assert_non_null(b);
	memset(a, 1, 3 * pg()); /* writable, whole length */
	memset(b, 2, pg());
	mcache_put(&mc, a, 3 * pg(), 3 * pg(), 0);
	mcache_put(&mc, b, 3 * pg(), 1, 1);
	assert_int_equal(mc.hot, 4 * pg()); /* 1 byte counts its page */
	/* A different size is not served from the cache. */
	c = mcache_get(&mc, pg(), &hot);
	assert_non_null(c);
	assert_ptr_not_equal(c, a);
	assert_ptr_not_equal(c, b);
	assert_int_equal(hot, 0);
	assert_ptr_equal(mcache_get(&mc, 3 * pg(), &hot), b); /* newest */
	assert_int_equal(hot, pg());
	assert_int_equal(b[0], 2); /* untouched: no madvise */
	assert_ptr_equal(mcache_get(&mc, 3 * pg(), &hot), a);
	assert_int_equal(hot, 3 * pg());
	assert_int_equal(mc.n, 0);
	assert_int_equal(mc.hot, 0);
	d = mcache_get(&mc, 3 * pg(), &hot);
	assert_non_null(d);
	assert_int_equal(mc.hits, 2);
	assert_int_equal(mc.misses, 4);
	assert_null(mcache_get(&mc, 0, &hot));
	mcache_put(&mc, NULL, pg(), 0, 0); /* nothing */
	munmap(a, 3 * pg());
	munmap(b, 3 * pg());
	munmap(c, pg());
	munmap(d, 3 * pg());
}

static void
mcache_entry_bound_gives_back_oldest(void **state)
{
	struct mcache_ent ent[2];
	struct mcache mc;
	size_t hot;
	void *p[3];
	int i;

	(void)state;
	mcache_init(&mc, ent, 2, 1u << 20);
	for (i = 0; i < 3; i++)
		p[i] = mcache_get(&mc, pg(), &hot);
	for (i = 0; i < 3; i++)
		mcache_put(&mc, p[i], pg(), 0, i);
	assert_int_equal(mc.n, 2);
	assert_false(mapped(p[0]));
	assert_true(mapped(p[1]));
	assert_true(mapped(p[2]));
	mcache_drain(&mc);
	assert_int_equal(mc.n, 0);
	assert_false(mapped(p[1]));
	assert_false(mapped(p[2]));
}

static void
mcache_hot_bound_gives_back_oldest(void **state)
{
	struct mcache_ent ent[8];
	struct mcache mc;
	size_t hot;
	void *p[4];
	int i;

	(void)state;
	mcache_init(&mc, ent, 8, 2 * pg());
	for (i = 0; i < 4; i++)
		p[i] = mcache_get(&mc, 4 * pg(), &hot);
	mcache_put(&mc, p[0], 4 * pg(), pg(), 0);
	mcache_put(&mc, p[1], 4 * pg(), pg(), 1);
	mcache_put(&mc, p[2], 4 * pg(), pg(), 2); /* p[0] goes */
	assert_false(mapped(p[0]));
	assert_int_equal(mc.n, 2);
	assert_int_equal(mc.hot, 2 * pg());
	/* Hotter than the whole bound: unmapped at once, the rest stays. */
	mcache_put(&mc, p[3], 4 * pg(), 3 * pg(), 3);
	assert_false(mapped(p[3]));
	assert_int_equal(mc.n, 2);
	/* Cold buffers cost no hot bytes. */
	p[0] = mcache_get(&mc, pg(), &hot);
	mcache_put(&mc, p[0], pg(), 0, 4);
	assert_int_equal(mc.n, 3);
	assert_int_equal(mc.hot, 2 * pg());
	mcache_drain(&mc);
}

static void
mcache_trim_gives_back_idle_ones(void **state)
{
	struct mcache_ent ent[4];
	struct mcache mc;
	size_t hot;
	void *a, *b;

	(void)state;
	mcache_init(&mc, ent, 4, 1u << 20);
	assert_int_equal(mcache_trim(&mc, 0, 1000), -1);
	a = mcache_get(&mc, pg(), &hot);
	b = mcache_get(&mc, pg(), &hot);
	mcache_put(&mc, a, pg(), pg(), 100);
	mcache_put(&mc, b, pg(), pg(), 600);
	assert_int_equal(mcache_trim(&mc, 1099, 1000), 1);
	assert_true(mapped(a));
	assert_int_equal(mcache_trim(&mc, 1100, 1000), 500);
	assert_false(mapped(a));
	assert_true(mapped(b));
	assert_int_equal(mc.hot, pg());
	/* Reuse takes an entry out of the trim's way. */
	assert_ptr_equal(mcache_get(&mc, pg(), &hot), b);
	assert_int_equal(mcache_trim(&mc, 5000, 1000), -1);
	assert_true(mapped(b));
	mcache_put(&mc, b, pg(), pg(), 5000);
	assert_int_equal(mcache_trim(&mc, 6000, 1000), -1);
	assert_false(mapped(b));
	assert_int_equal(mc.n, 0);
	assert_int_equal(mc.hot, 0);
}

static void
mcache_without_room_caches_nothing(void **state)
{
	struct mcache mc;
	size_t hot;
	void *a;

	(void)state;
	mcache_init(&mc, NULL, 0, 1u << 20);
	a = mcache_get(&mc, pg(), &hot);
	assert_non_null(a);
	mcache_put(&mc, a, pg(), 0, 0);
	assert_false(mapped(a));
	assert_int_equal(mc.n, 0);
}

/* Unbound, a put unmaps; bound, it keeps the buffer until the loop's
 * timer finds it idle; released, the rest is given back and the timer
 * stops. */
static void
rx_mcache_trims_on_its_loop(void **state)
{
	struct mcache_ent ent[4];
	struct rx_mcache m = {0};
	struct rx_loop l;
	size_t hot;
	int64_t t0;
	void *a, *b;

	(void)state;
	assert_int_equal(rx_init(&l, 4), 0);
	a = rx_mcache_get(&m, pg(), &hot);
	assert_non_null(a);
	rx_mcache_put(&m, a, pg(), pg());
	assert_false(mapped(a));
	rx_mcache_bind(&m, &l, ent, 4, 1u << 20, 50);
	a = rx_mcache_get(&m, pg(), &hot);
	b = rx_mcache_get(&m, 2 * pg(), &hot);
	rx_mcache_put(&m, a, pg(), pg());
	assert_true(mapped(a));
	assert_true(rx_timer_active(&m.trim));
	t0 = util_mono_ms();
	while (m.mc.n > 0 && util_mono_ms() - t0 < 2000)
		rx_run_once(&l, 20);
	assert_int_equal(m.mc.n, 0);
	assert_false(mapped(a));
	rx_mcache_put(&m, b, 2 * pg(), 2 * pg());
	assert_true(mapped(b));
	rx_mcache_release(&m, &l);
	assert_false(mapped(b));
	assert_false(rx_timer_active(&m.trim));
	assert_null(m.l);
	rx_free(&l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(mcache_reuses_newest_of_a_size),
	    cmocka_unit_test(mcache_entry_bound_gives_back_oldest),
	    cmocka_unit_test(mcache_hot_bound_gives_back_oldest),
	    cmocka_unit_test(mcache_trim_gives_back_idle_ones),
	    cmocka_unit_test(mcache_without_room_caches_nothing),
	    cmocka_unit_test(rx_mcache_trims_on_its_loop),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
