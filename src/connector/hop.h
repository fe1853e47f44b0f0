/*
 * hop.h — hop-by-hop header filtering, both directions (spec: connection,
 * proxy-connection, keep-alive, proxy-authenticate, proxy-authorization,
 * te, trailer, transfer-encoding, upgrade, and every header named in a
 * Connection header).
 *
 * struct hop_filter is caller-owned and borrows the Connection values it is
 * fed: they must outlive the filter.  Names are compared case-insensitively.
 */
#ifndef CONNECTOR_HOP_H
#define CONNECTOR_HOP_H

#include <stdbool.h>
#include <stddef.h>

#define HOP_CONNECTION_MAX 8

struct hop_filter {
	struct {
		const char *v;
		size_t n;
	} conn[HOP_CONNECTION_MAX];
	size_t nconn;
};

void hop_init(struct hop_filter *f);

/* Offer every header once before asking: Connection values are recorded. */
void hop_note(struct hop_filter *f, const char *name, size_t nlen,
    const char *value, size_t vlen);

/* True when the header must not be forwarded. */
bool hop_drop(const struct hop_filter *f, const char *name, size_t nlen);

#endif
