/* http_server_int.h — shared by the server's files (http_server*.c). */
#ifndef HTTP_HTTP_SERVER_INT_H
#define HTTP_HTTP_SERVER_INT_H

#include <sys/socket.h>

#include "http/http_server.h"
#include "http/http_server_reader.h"
#include "lib/buf.h"
#include "lib/list.h"
#include "net/net_listen.h"
#include "rx/rx.h"

/* Connection states; see http_server_conn.c. */
enum conn_state {
	CONN_FREE, /* slot unused */
	CONN_CLOSING, /* closed; the slot frees at the end of the iteration */
	CONN_READ, /* the reader is reading a head or an admitted body */
	CONN_ADMIT, /* a head is complete: the route's admit hook decides */
	CONN_HANDLER, /* the handler owes a response */
	CONN_WRITE, /* flushing a response */
	CONN_STREAM, /* a streamed answer: head sent, body still coming */
	CONN_LINGER, /* response sent, write side shut, draining input */
};

struct http_exchange {
	struct http_request req;
	const char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	const uint8_t *body;
	size_t body_len;
	bool head; /* HEAD: no body in the response */
	bool head_len_set; /* head_len replaces the body's length */
	int64_t head_len; /* HEAD's Content-Length; < 0: none */
	bool keep_alive; /* per the request's framing */
	http_abort_fn *on_abort;
	void *abort_arg;
	/* A streamed answer (http_server_stream.c). */
	bool chunked; /* each write is one chunk */
	bool bodyless; /* HEAD, 204, 304: writes are dropped */
	int64_t left; /* Content-Length still owed; < 0: none announced */
	http_drain_fn *on_drain;
	void *drain_arg;
};

struct http_conn {
	struct rx_watch w;
	struct rx_timer t;
	struct http_server *s;
	enum conn_state state;
	bool busy; /* inside http_conn_advance() */
	bool close; /* close once the response is out */
	bool trusted; /* a route's admit hook accepted a request */
	uint64_t tick; /* eviction order: when it became idle or started */
	struct http_reader rd;
	struct http_header *hdrs; /* the reader's, kept across uses */
	struct buf out; /* heap, sized per response; freed when sent */
	size_t out_off; /* bytes of out already written */
	size_t drained; /* bytes discarded while lingering */
	const struct http_route *route;
	struct http_exchange x;
	struct list_node free_link; /* on the server's free slots */
	struct sockaddr_storage peer;
};

struct http_server {
	struct rx_loop *l;
	struct http_server_conf conf;
	struct net_listener lst[2]; /* IPv4, IPv6 */
	int nl;
	struct http_conn *conns;
	size_t nslots;
	struct list_node free; /* struct http_conn slots: LIFO (prepend) */
	size_t live;
	size_t watchers; /* open watchers: the server is freed at 0 */
	uint64_t tick;
	bool closing;
	uint16_t port;
	struct http_server_stats st;
};

/* Take over an accepted fd in a free slot (http_server_conn.c). */
int http_conn_open(struct http_server *s, struct http_conn *c, int fd);

/* Close now (aborting a deferred exchange); the slot frees later. */
void http_conn_close(struct http_conn *c);

/* Drive the connection as far as its input and output allow. */
void http_conn_advance(struct http_conn *c);

/* Queue a response (http_server_respond.c); close: send Connection: close. */
int http_conn_put(struct http_conn *c, int status, const char *headers,
    const char *ctype, const void *body, size_t len);

/* A response the server makes itself (errors), then close. */
void http_conn_fail(struct http_conn *c, int status);

/* Routing (http_server_route.c), sans-I/O. */

/* The HTTP_M_* bit of a method, or 0 for one not in the table. */
unsigned http_method_bit(const char *m, size_t n);

/* Split x->req's target into path and query. */
void http_exchange_split(struct http_exchange *x);

/* Split the target, set x->head, find the route: 0 with *out set, or the
 * status to answer (404: no route, *out NULL; 405: *out is the route). */
int http_route_select(const struct http_server_conf *conf,
    struct http_exchange *x, const struct http_route **out);

/* The methods a route accepts (GET implies HEAD). */
unsigned http_route_allowed(const struct http_route *r);

/* Append "Allow: GET, HEAD\r\n" for the bits in allowed; false when it
 * did not fit. */
bool http_allow_header(struct buf *b, unsigned allowed);

/* Reserve room for n more bytes of output; false when out of memory. */
bool http_conn_out_reserve(struct http_conn *c, size_t n);

/* Bytes queued and not yet written. */
size_t http_conn_out_pending(const struct http_conn *c);

/* Put the head of a response (status line, Content-Type, Content-Length
 * when it has one, Connection, the caller's headers) into c->out. */
void http_conn_put_head(struct http_conn *c, int status, const char *headers,
    const char *ctype, size_t len);

/* A slot's close has finished (http_server.c). */
void http_server_slot_done(struct http_server *s, struct http_conn *c);

void http_server_count(struct http_server *s, int status);

#endif
