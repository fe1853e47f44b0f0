/* http_server_int.h — shared by the server's files (http_server*.c). */
#ifndef HTTP_HTTP_SERVER_INT_H
#define HTTP_HTTP_SERVER_INT_H

#include <sys/socket.h>

#include "http/http_server.h"
#include "lib/buf.h"
#include "rx/rx.h"

/* Connection states; see http_server_conn.c. */
enum conn_state {
	CONN_FREE, /* slot unused */
	CONN_CLOSING, /* closed; the slot frees at the end of the iteration */
	CONN_HEAD, /* reading a request head */
	CONN_BODY, /* reading a Content-Length body */
	CONN_HANDLER, /* the handler owes a response */
	CONN_WRITE, /* flushing a response */
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
};

struct http_conn {
	struct rx_watch w;
	struct rx_timer t;
	struct http_server *s;
	enum conn_state state;
	bool busy; /* inside conn_advance() */
	bool started; /* bytes of the current request have arrived */
	bool close; /* close once the response is out */
	uint64_t tick; /* eviction order: when it became idle or started */
	struct buf in;
	struct buf out;
	size_t head_len;
	size_t body_need; /* body bytes: Content-Length, or decoded so far */
	size_t drained; /* bytes discarded while lingering */
	size_t parsed; /* head bytes seen by the last partial parse */
	bool chunked; /* the body is chunked: decoded in place */
	size_t raw; /* first undecoded byte of a chunked body */
	struct http_chunked dec;
	struct http_header *hdrs;
	uint8_t *mem; /* in, out and hdrs, kept across uses of the slot */
	struct http_exchange x;
	struct http_conn *next_free;
	struct sockaddr_storage peer;
};

struct http_listener {
	struct rx_watch w;
	struct http_server *s;
};

struct http_server {
	struct rx_loop *l;
	struct http_server_conf conf;
	struct http_listener lst[2];
	int nl;
	struct rx_timer pause; /* accept paused after EMFILE */
	struct http_conn *conns;
	size_t nslots;
	struct http_conn *free;
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

/* A slot's close has finished (http_server.c). */
void http_server_slot_done(struct http_server *s, struct http_conn *c);

void http_server_count(struct http_server *s, int status);

#endif
