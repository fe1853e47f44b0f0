/* dial_int.h — declarations shared by the dialer's own files. */
#ifndef NET_DIAL_INT_H
#define NET_DIAL_INT_H

#include "net/dial.h"

/* Write the CONNECT request for d->host:d->port into d->pbuf/plen.
 * Returns 0 or -ENOSPC. */
int dial_proxy_request(struct dial *d);

/* dial_proxy_answer(): more bytes are needed. */
#define DIAL_PROXY_PARTIAL (-1)
/* dial_proxy_answer(): not an HTTP/1 response head within the limits. */
#define DIAL_PROXY_MALFORMED (-2)

/*
 * Parse the proxy's answer in d->pbuf[0..plen) with the HTTP/1 parser (its
 * codes stay inside dial_proxy.c).  Returns the head's length (> 0) with
 * *status set, DIAL_PROXY_PARTIAL, or DIAL_PROXY_MALFORMED.
 */
int dial_proxy_answer(const struct dial *d, int *status);

#endif
