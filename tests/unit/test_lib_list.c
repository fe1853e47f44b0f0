/* Unit tests: lib/list (append and prepend order, removal anywhere, safe
 * walk, linked state). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"
#include "lib/list.h"

struct item {
	int v;
	struct list_node node;
};

/* The values on h, front to back, into out; returns how many. */
static int
values(struct list_node *h, int *out)
{
	struct list_node *n;
	int k = 0;

	LIST_FOR_EACH(n, h)
	out[k++] = list_entry(n, struct item, node)->v;
	return k;
}

static void
list_order_and_removal(void **state)
{
	struct item it[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
	struct list_node h, *n, *tmp;
	int got[4], i;

	list_init(&h);
	assert_true(list_empty(&h));
	for (i = 0; i < 4; i++)
		list_append(&h, &it[i].node);
	assert_false(list_empty(&h));
	assert_int_equal(values(&h, got), 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(got[i], i);
	list_remove(&it[0].node); /* the first */
	list_remove(&it[2].node); /* one inside */
	list_remove(&it[2].node); /* again: a no-op */
	assert_int_equal(values(&h, got), 2);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 3);
	list_append(&h, &it[0].node); /* back, at the end */
	assert_int_equal(values(&h, got), 3);
	assert_int_equal(got[2], 0);
	LIST_FOR_EACH_SAFE(n, tmp, &h)
	list_remove(n);
	assert_true(list_empty(&h));
	assert_int_equal(values(&h, got), 0);
}

/* Prepending gives newest-first; mixed with append, each end is as said. */
static void
list_prepend_order(void **state)
{
	struct item it[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
	struct list_node h;
	int got[4], i;

	list_init(&h);
	assert_null(list_first(&h));
	for (i = 0; i < 3; i++)
		list_prepend(&h, &it[i].node);
	assert_int_equal(values(&h, got), 3);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[1], 1);
	assert_int_equal(got[2], 0);
	assert_ptr_equal(list_first(&h), &it[2].node);
	list_append(&h, &it[3].node);
	assert_int_equal(values(&h, got), 4);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[3], 3);
	list_remove(&it[2].node); /* the front: the next becomes first */
	assert_ptr_equal(list_first(&h), &it[1].node);
}

/* A node knows whether it is linked: init and remove both unlink. */
static void
list_linked_state(void **state)
{
	struct item a = {.v = 0};
	struct list_node h;

	list_init(&h);
	list_init(&a.node);
	assert_false(list_linked(&a.node));
	list_append(&h, &a.node);
	assert_true(list_linked(&a.node));
	list_remove(&a.node);
	assert_false(list_linked(&a.node));
	assert_true(list_empty(&h));
	list_prepend(&h, &a.node); /* a removed node can be linked again */
	assert_true(list_linked(&a.node));
	assert_ptr_equal(list_first(&h), &a.node);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(list_order_and_removal),
	    cmocka_unit_test(list_prepend_order),
	    cmocka_unit_test(list_linked_state),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
