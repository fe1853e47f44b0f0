/* rx_int.h — declarations shared by the reactor's own files. */
#ifndef RX_RX_INT_H
#define RX_RX_INT_H

#include "rx/rx.h"

/* Milliseconds until the earliest timer, capped by max_wait_ms (-1: none). */
int rx_timer_wait_ms(const struct rx_loop *l, int max_wait_ms);

/* Fire every timer due at rx_now() that was armed before this call. */
void rx_timer_expire(struct rx_loop *l);

/* Whether deferred work is queued (the next wait must not sleep). */
bool rx_defer_pending(const struct rx_loop *l);

/* Run the deferred work queued before this call, in queueing order. */
void rx_defer_run(struct rx_loop *l);

#endif
