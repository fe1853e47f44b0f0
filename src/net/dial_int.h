/* dial_int.h — declarations shared by the dialer's own files. */
#ifndef NET_DIAL_INT_H
#define NET_DIAL_INT_H

#include "net/dial.h"

/* Write the CONNECT request for d->host:d->port into d->pbuf/plen.
 * Returns 0 or -ENOSPC. */
int dial_proxy_request(struct dial *d);

/*
 * Parse the proxy's answer in d->pbuf[0..plen).  Returns the head's length
 * with *status set, HTTP_PARTIAL, or another negative HTTP_* error.
 */
int dial_proxy_answer(const struct dial *d, int *status);

#endif
