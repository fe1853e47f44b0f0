/*
 * list.h — the one intrusive list of outpost: circular, doubly linked, with a
 * sentinel head (the Linux kernel's and libuv's QUEUE shape).  musl ships no
 * <sys/queue.h>, so this is the list every module uses instead of its own
 * next pointers.
 *
 * A struct list_node is embedded in the element; the element is recovered
 * with container_of().  Nothing allocates; every operation is O(1) except
 * the walk.  A head must be list_init()ed before use; a node is linked into
 * at most one list at a time.  NULL is never a valid argument.
 *
 * Order is the caller's, stated at each insertion: list_append() links at
 * the back (a FIFO: walks see the oldest first), list_prepend() at the
 * front (walks see the newest first).  The walk is always front to back.
 * A node that was list_init()ed, or list_remove()d, is on no list
 * (list_linked() says which), so removal is idempotent.
 */
#ifndef LIB_LIST_H
#define LIB_LIST_H

#include <stdbool.h>

#include "lib/util.h"

struct list_node {
	struct list_node *prev, *next;
};

/* An empty list (a head), or a node that is on no list. */
static inline void
list_init(struct list_node *h)
{
	h->prev = h->next = h;
}

static inline bool
list_empty(const struct list_node *h)
{
	return h->next == h;
}

/* Link n between the adjacent nodes prev and next (private). */
static inline void
list_link_between(
    struct list_node *prev, struct list_node *next, struct list_node *n)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* Link n at the end of list h (n must be on no list). */
static inline void
list_append(struct list_node *h, struct list_node *n)
{
	list_link_between(h->prev, h, n);
}

/* Link n at the front of list h (n must be on no list). */
static inline void
list_prepend(struct list_node *h, struct list_node *n)
{
	list_link_between(h, h->next, n);
}

/* True when node n is on a list (false after list_init or list_remove). */
static inline bool
list_linked(const struct list_node *n)
{
	return n->next != n;
}

/* The first node of list h, or NULL when h is empty. */
static inline struct list_node *
list_first(const struct list_node *h)
{
	return list_empty(h) ? NULL : h->next;
}

/* Unlink n from its list; n is then on no list (unlinking again is a no-op). */
static inline void
list_remove(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* The element of type T holding the node n in member m. */
#define list_entry(n, T, m) container_of(n, T, m)

/* Walk list h front to back; the body must not unlink n (see _SAFE). */
#define LIST_FOR_EACH(n, h) for ((n) = (h)->next; (n) != (h); (n) = (n)->next)

/* Walk list h while the body may unlink (or free) n; tmp holds the next. */
#define LIST_FOR_EACH_SAFE(n, tmp, h) \
	for ((n) = (h)->next, (tmp) = (n)->next; (n) != (h); \
	     (n) = (tmp), (tmp) = (n)->next)

#endif
