/*
 * http_server.h — a small HTTP/1.1 server on the reactor: the health port
 * and the edge's front door (one code path).  Connection I/O lives in
 * http_server_conn.c, routing in http_server_route.c, the sans-I/O
 * request reader in http_server_reader.c.
 *
 * It listens on one port on 0.0.0.0 and :: (two sockets; a host without
 * IPv6 gets the first only), serves keep-alive connections one request at
 * a time (pipelined requests wait in the input buffer; a peer that has
 * more than 32 answered in one go is cut off), answers HEAD from
 * the GET handler without a body, and produces 400/404/405/408/413/414/
 * 431/500/504 itself.  Everything is bounded by the configuration:
 *
 *   - max_conns live connections.  When a new one arrives at the cap, one
 *     is evicted, lowest rank first and the oldest among equals: one
 *     lingering after an error response; then, of connections no admit
 *     hook has accepted, one idle (between requests, nothing buffered),
 *     one sending its head (a slowloris), one sending a body; then, of
 *     trusted ones, one idle or sending its next head.  A trusted body, a
 *     request being handled and a response being written are never
 *     evicted; failing all that, the new connection is refused.
 *   - header_timeout_ms: from accept, or from the first byte of a later
 *     request, to the end of its head; then 408 and close.  It is not
 *     extended by progress, so trickling bytes does not help.
 *   - body_timeout_ms: a body must make progress (some bytes) this often,
 *     else 408 and close.
 *   - idle_timeout_ms: between requests on a keep-alive connection, and
 *     without write progress.
 *   - handler_timeout_ms (optional): a handler that has not answered by
 *     then gets its abort callback, and the client 504 and a close.
 *   - limits for the head (see http.h); request bodies up to max_body,
 *     by Content-Length or chunked (decoded in place, trailers dropped);
 *     larger ones get 413.
 *   - out_cap bytes per response (head and body).
 *
 * Handlers come from a route table.  Each head is routed (404, 405) and
 * passed to the route's admit hook, if any, before any byte of its body
 * is read or a 100 Continue is sent: authentication happens there.  A
 * handler gets a struct http_exchange and answers with http_respond()
 * either before it returns or later (asynchronously, e.g. after a tunnel
 * round-trip).  A deferred handler should register
 * http_exchange_on_abort(): if the connection goes away first (or the
 * handler deadline passes), the abort callback runs and the exchange is
 * invalid afterwards.  The request (its slices) and body stay valid
 * until http_respond() or the abort callback.
 *
 * Memory: http_server_start() allocates the connection table.  A
 * connection's input buffer grows with what its request needs (see
 * http_server_reader.h) and shrinks back when the request ends; its
 * output buffer is allocated per response (at most out_cap) and freed
 * once written; both are freed with the connection.  Needs
 * HTTP_SERVER_TIMERS(max_conns) timers in the loop's heap.
 * Single-threaded; every function may be called from reactor callbacks.
 */
#ifndef HTTP_HTTP_SERVER_H
#define HTTP_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "lib/buf.h"
#include "lib/metrics.h"
#include "rx/rx.h"

struct http_server;
struct http_exchange;

/* Timers a server uses: one per connection, one per listener. */
#define HTTP_SERVER_TIMERS(max_conns) ((max_conns) + 2)
struct sockaddr;

/* Methods a route accepts; GET implies HEAD. */
#define HTTP_M_GET 0x01u
#define HTTP_M_HEAD 0x02u
#define HTTP_M_POST 0x04u
#define HTTP_M_PUT 0x08u
#define HTTP_M_DELETE 0x10u
#define HTTP_M_PATCH 0x20u
#define HTTP_M_OPTIONS 0x40u

typedef void http_handler_fn(struct http_exchange *x, void *arg);
typedef void http_abort_fn(struct http_exchange *x, void *arg);

/*
 * Called with a complete head (request, path, query, peer; no body yet),
 * before any byte of the body is read and before a 100 Continue is sent.
 * Returns true to admit the request (its body is read, then the route's
 * handler runs; the connection counts as trusted for eviction); false
 * after answering it with http_respond() (e.g. 401), in which case the
 * body is never read and a connection whose request had one closes after
 * the answer.  False without an answer gets 403.  Synchronous: it may
 * not keep x.
 */
typedef bool http_admit_fn(struct http_exchange *x, void *arg);

struct http_route {
	const char *path; /* exact; a final '*' matches any suffix */
	unsigned methods; /* HTTP_M_* */
	http_handler_fn *fn;
	void *arg;
	http_admit_fn *admit; /* NULL: every request is admitted */
	/* The handler takes an admitted body itself: it runs on the head
	 * and reads the body after http_exchange_upgrade() (Content-Length
	 * up to max_raw_body; answering instead closes the connection). */
	bool raw_body;
};

struct http_server_conf {
	const char *addr4; /* "0.0.0.0"; NULL: no IPv4 socket */
	const char *addr6; /* "::"; NULL: no IPv6 socket */
	uint16_t port; /* 0: any (see http_server_port) */
	size_t max_conns;
	int64_t header_timeout_ms;
	int64_t idle_timeout_ms;
	int64_t handler_timeout_ms; /* 0: handlers have no deadline */
	int64_t body_timeout_ms; /* body progress; 0: header_timeout_ms */
	struct http_limits limits;
	size_t max_body;
	size_t max_raw_body; /* bodies of raw_body routes; 0: max_body */
	size_t out_cap;
	const struct http_route *routes; /* borrowed for the server's life */
	size_t nroutes;
};

/* Response codes counted one by one; anything else counts as "other". */
#define HTTP_STATS_CODES 17
extern const int http_stats_codes[HTTP_STATS_CODES]; /* 0 = other */

struct http_server_stats {
	uint64_t accepted;
	uint64_t evicted;
	uint64_t refused; /* at the cap with nothing to evict */
	uint64_t timeouts; /* header, body, idle or write deadline */
	uint64_t requests;
	uint64_t responses[HTTP_STATS_CODES];
	uint64_t open; /* live connections now */
};

/*
 * Listen and serve.  Returns the server, or NULL with *err set to
 * -errno (bind/listen failures such as -EADDRINUSE, or -ENOMEM, or
 * -EINVAL for a bad configuration).
 */
struct http_server *http_server_start(
    struct rx_loop *l, const struct http_server_conf *conf, int *err);

/*
 * Stop listening, close every connection (aborting deferred exchanges)
 * and free the server once the reactor has finished the closes.
 */
void http_server_close(struct http_server *s);

/* The bound port (useful with port 0). */
uint16_t http_server_port(const struct http_server *s);

const struct http_server_stats *http_server_stats(const struct http_server *s);

/* The request being handled; slices valid until the response. */
const struct http_request *http_exchange_request(const struct http_exchange *x);

/* The target's path (up to '?') and query (after '?'; may be empty). */
void http_exchange_path(
    const struct http_exchange *x, const char **path, size_t *len);
void http_exchange_query(
    const struct http_exchange *x, const char **q, size_t *len);

/* The request body (decoded if it was chunked; len 0 if none). */
const uint8_t *http_exchange_body(const struct http_exchange *x, size_t *len);

/* Whether the request's head announced a body (a Content-Length above 0,
 * or chunked), read or not: for routes that take none. */
bool http_exchange_has_body(const struct http_exchange *x);

/* The caller-supplied route argument is passed to the handler; this is
 * for abort callbacks and deferred code that only kept x. */
struct http_server *http_exchange_server(const struct http_exchange *x);

/* The client's address (for logs; "[::1]:5000" via net_addr_str). */
const struct sockaddr *http_exchange_peer(const struct http_exchange *x);

void http_exchange_on_abort(
    struct http_exchange *x, http_abort_fn *fn, void *arg);

/*
 * For a HEAD request: the Content-Length its answer announces, that is
 * what a GET would carry (a proxy passes on its upstream's); negative:
 * announce none.  Without this call HEAD announces the len given to
 * http_respond(), as for the GET handler's body.  Ignored for other
 * methods.  Call before http_respond().
 */
void http_exchange_head_length(struct http_exchange *x, int64_t len);

/*
 * Answer the request.  'headers' holds extra header lines, each ending in
 * CRLF ("Cache-Control: no-store\r\n"), or NULL; 'ctype' the Content-Type
 * or NULL.  Content-Length and Connection are added here; the body is
 * left out for HEAD, 1xx, 204 and 304.  Returns 0; -ENOSPC when the
 * response does not fit out_cap (a 500 is sent instead); -EALREADY when
 * this exchange was answered already.  After it returns, x is no longer
 * the caller's.
 */
int http_respond(struct http_exchange *x, int status, const char *headers,
    const char *ctype, const void *body, size_t len);

/*
 * Streamed answers (a relay: the edge's streamed responses).  Instead of
 * http_respond(), a handler may send the head with http_respond_stream()
 * and the body as it arrives with http_exchange_write(), then finish with
 * http_exchange_end().  length >= 0 is announced as Content-Length (the
 * body must then be exactly that long); negative: unknown, sent chunked
 * to an HTTP/1.1 client and close-delimited to an HTTP/1.0 one.  At most
 * HTTP_STREAM_BUF bytes are queued per connection: a writer asks
 * http_exchange_room() and, when that is too small, waits for the drain
 * callback, which runs each time queued bytes were written.  While
 * streaming, the connection closes when the client reads nothing for
 * idle_timeout_ms with output queued, or goes away: the abort callback
 * runs (as for a deferred handler) and x is invalid afterwards.
 *
 * http_respond_stream: 0; -EALREADY (answered already); -EINVAL (a
 * status below 200); -ENOMEM (the connection closed, no abort runs).
 */
#define HTTP_STREAM_BUF (192u << 10)
typedef void http_drain_fn(struct http_exchange *x, void *arg);

int http_respond_stream(struct http_exchange *x, int status,
    const char *headers, const char *ctype, int64_t length);

/* Body bytes http_exchange_write() takes now, framing included. */
size_t http_exchange_room(const struct http_exchange *x);

/*
 * Queue n body bytes (copied).  0; -EINVAL (not streaming); -ENOSPC (n
 * exceeds the room: nothing queued); -EMSGSIZE (more than the announced
 * Content-Length: nothing queued).  For HEAD, 204 and 304 the bytes are
 * dropped.
 */
int http_exchange_write(struct http_exchange *x, const void *p, size_t n);

void http_exchange_on_drain(
    struct http_exchange *x, http_drain_fn *fn, void *arg);

/*
 * The body is over.  complete: whole (chunked: the last chunk follows;
 * with a Content-Length, a shorter body counts as cut).  Not complete:
 * the body is cut, and the client must see it: what is queued is
 * written, then the connection closes without a last chunk (chunked) or
 * short of its Content-Length.  x is no longer the caller's afterwards;
 * no abort runs.  Ignored when x is not streaming.
 */
void http_exchange_end(struct http_exchange *x, bool complete);

/*
 * GET /metrics: render 'reg' into 'b' (the caller's storage, which must
 * outlive nothing: the response is copied) in the format the request's
 * Accept header asks for (metrics_negotiate) and answer 200 with it,
 * Cache-Control: no-store and Vary: Accept.  -EMSGSIZE, having answered
 * nothing, when the exposition does not fit b; else http_respond's result.
 */
int http_respond_metrics(
    struct http_exchange *x, struct metrics *reg, struct buf *b);

/*
 * Switch protocols (RFC 9110 15.2.2, e.g. the edge's "Upgrade:
 * outpost-tcp"): take the connection of a request being handled away
 * from the server, which forgets it without answering (the caller writes
 * its own 101) and frees its slot.  The bytes the client sent after the
 * request's head are copied into pre (*prelen of them, at most cap).
 * Only for a request without a body, or one of a raw_body route whose
 * body is unread (the caller reads it from the socket).  Returns the socket (non-blocking,
 * now the caller's), or -EINVAL (x is not being handled, or the request
 * had a body) or -EMSGSIZE (more than cap bytes follow): x is then still
 * the caller's to answer.  On success x is gone and no abort runs.
 */
int http_exchange_upgrade(
    struct http_exchange *x, void *pre, size_t cap, size_t *prelen);

#endif
