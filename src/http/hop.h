/*
 * hop.h — hop-by-hop header filtering (RFC 9110 section 7.6.1), both
 * directions, for every hop that forwards HTTP: the edge's front door and the
 * connector's executor.  Dropped: connection, proxy-connection, keep-alive,
 * proxy-authenticate, proxy-authorization, te, trailer, transfer-encoding,
 * upgrade, and every header named by any token of any Connection header.
 *
 * Use: hop_init(), offer every header of the message to hop_note(), then ask
 * hop_drop() about each header before forwarding it.
 *
 * Ownership: struct hop_filter is caller-owned (no allocation) and borrows
 * the Connection values it is fed, which must outlive it.  Every token of a
 * recorded value is honoured (a value has no token limit).  At most
 * HOP_CONNECTION_MAX Connection header *lines* are recorded; a message with
 * more fails closed: hop_drop() then drops every header, so a nominated
 * header never passes (hop_overflow() tells a caller that wants to refuse
 * the message instead).  Names are compared case-insensitively; NULL is not
 * allowed for any argument (a value of length 0 may be any pointer).
 */
#ifndef HTTP_HOP_H
#define HTTP_HOP_H

#include <stdbool.h>
#include <stddef.h>

#define HOP_CONNECTION_MAX 8 /* Connection header lines, not tokens */

struct hop_filter {
	struct {
		const char *v;
		size_t n;
	} conn[HOP_CONNECTION_MAX]; /* private: the Connection values */
	size_t nconn;
	bool overflow; /* more Connection lines than conn[] holds */
};

void hop_init(struct hop_filter *f);

/* Offer every header once before asking: Connection values are recorded. */
void hop_note(struct hop_filter *f, const char *name, size_t nlen,
    const char *value, size_t vlen);

/* True when the header must not be forwarded. */
bool hop_drop(const struct hop_filter *f, const char *name, size_t nlen);

/* True when the message had more than HOP_CONNECTION_MAX Connection lines. */
bool hop_overflow(const struct hop_filter *f);

#endif
