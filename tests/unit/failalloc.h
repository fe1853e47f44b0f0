/*
 * failalloc.h — ENOMEM injection for unit tests: a counting allocator.
 *
 * Every unit test program links failalloc.o, which interposes malloc(),
 * calloc() and realloc() (so also the allocations of nghttp2, protobuf-c
 * and the C library, which call them; not ASan's own interceptors, such
 * as strdup(), which allocate behind them): disarmed, each passes straight to the next definition (ASan's,
 * then the C library's).  Armed with n, the n-th allocation from then on
 * fails with ENOMEM, once; the others succeed.  A test sweeps n from 1
 * until an armed run made fewer than n allocations: then every allocation
 * of that path has failed once, each in a run of its own.
 *
 * Only where the C library's allocator can be looked up behind ours
 * (glibc, the host build); elsewhere (the static cross builds)
 * failalloc_supported() is false and arming does nothing.
 * Single-threaded.
 */
#ifndef TESTS_UNIT_FAILALLOC_H
#define TESTS_UNIT_FAILALLOC_H

#include <stdbool.h>

bool failalloc_supported(void);

/* Count allocations from 0; fail the n-th (n >= 1). */
void failalloc_arm(unsigned long n);

/* Stop failing (counting goes on); returns the allocations counted since
 * failalloc_arm(). */
unsigned long failalloc_disarm(void);

/* True once the armed failure happened. */
bool failalloc_fired(void);

/* While held, allocations neither count nor fail: for a test's own peer
 * code in the same process (its in-process server), which is not under
 * test. */
void failalloc_hold(bool on);

#endif
