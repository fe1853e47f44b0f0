/*
 * h2.h — HTTP/2 sessions and gRPC streams over nghttp2, sans-I/O.
 *
 * The module is the gRPC-over-HTTP/2 transport, named for what it carries:
 * HTTP/2 framing plus gRPC's HTTP/2 mapping (request headers, :status 200
 * and content-type checks, grpc-status / grpc-message trailers, whose
 * values h2_grpc.c encodes and parses).  It stops at the stream's bytes:
 * gRPC message framing, send queues and everything protobuf live in grpc/,
 * which builds on this header.  h2/ includes nothing from grpc/ (that would
 * be a cycle).
 *
 * A struct h2_session wraps an nghttp2 session in memory mode: the caller
 * feeds it the bytes read from the peer (h2_session_feed) and takes the bytes
 * to write (h2_session_take / h2_session_ack).  Nothing here touches a
 * socket or a clock: time comes in through h2_session_run_timers().  The same code
 * serves both roles: H2_CLIENT (the connector dialling the edge) and
 * H2_SERVER (the edge accepting tunnels).
 *
 * Streams carry one gRPC call each.  struct h2_stream is caller-allocated
 * (usually embedded in the tunnel) together with two byte rings whose memory
 * the caller provides: a send ring (bytes queued by h2_stream_send, drained
 * into DATA frames as the peer's flow-control window allows) and a receive
 * ring that must hold at least the stream window (struct h2_conf .window).
 * A client stream with a larger receive ring gets a window of the ring's
 * size (a WINDOW_UPDATE once its HEADERS are out), so one session can
 * give its calls windows of different sizes.
 * Flow control is tied to consumption: the window is reopened only for
 * bytes the application acknowledged with h2_stream_ack, so the memory held
 * per stream never exceeds the rings.
 *
 * Events reach the application through one h2_event_fn per session, called
 * after nghttp2 returns from h2_session_feed, h2_session_take or
 * h2_session_run_timers (never from inside nghttp2).  An event callback may call
 * any h2_stream_* function and h2_stream_open, but not h2_session_feed,
 * take or run_timers.  It may call h2_session_free() (whose H2_EV_CLOSE events
 * then arrive re-entrantly): the session is dead afterwards and every later
 * call on it or its streams is a harmless no-op (feed and run_timers return -1,
 * take returns nothing).  Bytes still in a stream's receive ring when
 * H2_EV_CLOSE arrives may be taken in that callback.  After it returns the
 * session never touches that stream again: the callback may free or reuse
 * it.  h2_session_free() delivers H2_EV_CLOSE for every stream still live.
 *
 * Errors: the session keeps a sticky error (h2_session_error); after one the
 * caller should flush what h2_session_take still gives (e.g. a GOAWAY) and
 * close the connection.  Each stream keeps its own sticky error
 * (h2_stream_error), which never affects other streams.
 */
#ifndef H2_H2_H
#define H2_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/list.h"

#define H2_PATH_MAX 96 /* longest :path a server stream records */
#define H2_AGENT_MAX 64 /* longest user-agent a server stream records */
/* Longest x-traversal-connector-id a server stream records, with NUL. */
#define H2_CONNECTOR_ID_MAX 129
#define H2_MESSAGE_MAX 256 /* longest grpc-message kept (encoded form) */
#define H2_AUTHORITY_MAX 256 /* longest :authority a client sends */
#define H2_CAPS_MAX 128 /* longest outpost-capabilities a server records */
#define H2_SESSION_ID_MAX 65 /* longest outpost-session-id + 1 */
#define H2_REQUEST_ID_MAX 65 /* longest outpost-request-id + 1 */

/* Stream events (a bit set). */
#define H2_EV_HEADERS 0x1u /* client: response headers; server: request */
#define H2_EV_READ 0x2u /* bytes to take, or end of stream reached */
#define H2_EV_WRITE 0x4u /* the send ring has room again */
#define H2_EV_CLOSE 0x8u /* the stream is closed (last event) */

/* The content type of a gRPC call. */
#define H2_GRPC_CONTENT_TYPE "application/grpc"

enum h2_role { H2_CLIENT, H2_SERVER };

enum h2_error {
	H2_ERR_NONE = 0,
	H2_ERR_NOMEM, /* nghttp2 could not allocate */
	H2_ERR_PROTOCOL, /* the peer broke HTTP/2; we sent GOAWAY */
	H2_ERR_PEER_GOAWAY, /* the peer sent GOAWAY with an error code */
	H2_ERR_PING_TIMEOUT, /* a keepalive PING was not acknowledged */
	H2_ERR_SETTINGS_TIMEOUT, /* our SETTINGS were not acknowledged */
};

enum h2_stream_error {
	H2_SERR_NONE = 0,
	H2_SERR_RESET, /* RST_STREAM with an error, sent or received */
	H2_SERR_HTTP_STATUS, /* client: :status was not 200 */
	H2_SERR_CONTENT_TYPE, /* content-type is not application/grpc */
	H2_SERR_METHOD, /* server: :method was not POST */
	H2_SERR_FLOW, /* the peer overran the receive ring */
	H2_SERR_NO_STATUS, /* client: the stream ended without grpc-status */
	H2_SERR_GRPC_STATUS, /* client: grpc-status was not OK */
	H2_SERR_SESSION, /* the session closed under the stream */
};

struct h2_conf {
	uint32_t window; /* SETTINGS_INITIAL_WINDOW_SIZE, >= 1 */
	uint32_t conn_window; /* connection receive window, >= window */
	uint32_t max_frame; /* SETTINGS_MAX_FRAME_SIZE, 16384..16777215 */
	uint32_t max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
	int64_t ping_interval_ms; /* send a PING this often; 0: never */
	int64_t ping_timeout_ms; /* PING and SETTINGS ack deadline, > 0 */
};

struct h2_ring {
	uint8_t *p;
	size_t cap, head, len;
	size_t touched; /* highest offset written since init: pages used */
};

struct h2_session;
struct h2_stream;

/*
 * A DATA frame handed out without a copy (nghttp2's NO_COPY data source):
 * its 9-byte header, then its payload straight from the stream's send
 * ring, which keeps those bytes until the whole frame was written.  If the
 * stream closes first (its ring may be freed), the rest of the payload is
 * copied to own (heap) memory.  Private to h2/.
 */
struct h2_data_out {
	bool active; /* a frame is going out */
	bool body; /* its header is written; out points at the payload */
	bool broken; /* its rest could not be kept: nothing more goes out */
	struct h2_stream *st; /* its stream; NULL once copied to own */
	size_t len; /* payload bytes */
	uint8_t hd[9];
	uint8_t *own;
};

/* Stream event callback; see the rules above. */
typedef void h2_event_fn(struct h2_stream *st, unsigned events, void *arg);

/*
 * Server only: a client opened a stream.  Return caller memory initialised
 * with h2_stream_init() to accept it, or NULL to refuse it (REFUSED_STREAM).
 * Called from inside nghttp2: it must not call any h2_* function but
 * h2_stream_init.
 */
typedef struct h2_stream *h2_accept_fn(struct h2_session *s, void *arg);

struct h2_stream {
	/* Private: use the functions below. */
	struct h2_session *sess;
	int32_t id;
	struct h2_ring rx, tx;
	uint64_t tx_sent; /* bytes handed to nghttp2 from tx */
	unsigned events;
	bool deferred; /* the data source is waiting for bytes */
	bool responded; /* server: response headers submitted */
	bool tx_end; /* no more bytes will be queued */
	bool tx_done; /* END_STREAM or trailers handed to nghttp2 */
	bool rx_eof; /* the peer ended its side */
	bool closed;
	bool headers_ok; /* validated request or response headers */
	int http_status; /* client: :status, 0 until seen */
	int grpc_status; /* client: received; server: to send; -1 none */
	int tx_status; /* client: grpc-status trailers to end with; -1 none */
	int rx_status; /* server: grpc-status in the client's trailers; -1 */
	const char *tx_msg; /* client: their grpc-message (static text) */
	uint32_t reset_code; /* RST_STREAM / close error code */
	enum h2_stream_error err;
	struct list_node ev_link; /* on the session's events: FIFO (append) */
	struct list_node live_link; /* on the session's live: newest first */
	char path[H2_PATH_MAX];
	char agent[H2_AGENT_MAX]; /* server: the client's user-agent */
	char caps[H2_CAPS_MAX]; /* server: outpost-capabilities */
	char session_id[H2_SESSION_ID_MAX]; /* server: outpost-session-id */
	char request_id[H2_REQUEST_ID_MAX]; /* server: outpost-request-id */
	char connector_id[H2_CONNECTOR_ID_MAX]; /* server: the client's */
	char message[H2_MESSAGE_MAX]; /* grpc-message, percent-encoded */
	/* Server request header checks. */
	bool method_ok, ctype_ok;
};

struct h2_session {
	/* Private: use the functions below. */
	void *ng; /* nghttp2_session * */
	enum h2_role role;
	struct h2_conf conf;
	h2_event_fn *on_event;
	h2_accept_fn *on_accept;
	void *arg;
	enum h2_error err;
	const uint8_t *out; /* pending output: nghttp2's or a DATA frame's */
	size_t outlen;
	struct h2_data_out data; /* the DATA frame going out, if any */
	struct list_node events; /* streams with events, oldest first */
	struct list_node live; /* attached, not yet closed; newest first */
	int64_t settings_deadline; /* 0 once acknowledged */
	int64_t ping_due; /* when to send the next PING */
	int64_t ping_deadline; /* ack due; 0 when none outstanding */
	uint64_t ping_seq;
	uint64_t pings_acked;
	bool goaway_recv;
	uint32_t goaway_code;
	uint32_t goaway_last_id;
	char errmsg[96];
};

/*
 * Start a session.  Queues the connection preface (client) and our
 * SETTINGS; now is the monotonic time in ms.  on_accept is required for
 * H2_SERVER and ignored for H2_CLIENT.  Returns 0, or -ENOMEM / -EINVAL
 * (invalid conf); on error nothing needs freeing.
 */
int h2_session_init(struct h2_session *s, enum h2_role role,
    const struct h2_conf *conf, h2_event_fn *on_event, h2_accept_fn *on_accept,
    void *arg, int64_t now);

/* Close every live stream (H2_EV_CLOSE) and release nghttp2's memory. */
void h2_session_free(struct h2_session *s);

/*
 * Process n bytes from the peer.  Returns 0, or -1 with the sticky session
 * error set.  All bytes are consumed unless an error occurs.
 */
int h2_session_feed(struct h2_session *s, const void *p, size_t n);

/*
 * Bytes to send to the peer, or NULL with *len = 0 when there are none.
 * They stay valid, and are returned again, until h2_session_ack() says how
 * many were written; calling h2_session_feed() in between is allowed.
 */
const uint8_t *h2_session_take(struct h2_session *s, size_t *len);

/* n (<= the last take's length) bytes were written. */
void h2_session_ack(struct h2_session *s, size_t n);

/*
 * Advance timers to now: send keepalive PINGs, check their ack deadline and
 * the SETTINGS ack deadline.  Returns 0 or -1 (sticky error).
 */
int h2_session_run_timers(struct h2_session *s, int64_t now);

/*
 * Send a PING now; it supersedes an outstanding one (only the newest
 * PING's ack counts, and its ack deadline applies).  A client uses the ack
 * to learn that the peer has processed everything sent before it, e.g.
 * that a stream it opened exists: once h2_session_pings_acked() grew past
 * its value at this call.  0 or -1.
 */
int h2_session_ping(struct h2_session *s, int64_t now);

/* Acks of the newest PING received so far. */
uint64_t h2_session_pings_acked(const struct h2_session *s);

/* The next time h2_session_run_timers() must run, or INT64_MAX. */
int64_t h2_session_deadline(const struct h2_session *s);

/* True while the session still wants to read (resp. has output). */
bool h2_session_want_read(const struct h2_session *s);
bool h2_session_want_write(const struct h2_session *s);

/*
 * Graceful shutdown: no new streams; existing ones finish.  A server sends
 * GOAWAY with the last stream id it accepted; a client sends GOAWAY too.
 */
int h2_session_shutdown(struct h2_session *s);

/* True once the peer sent GOAWAY; *code gets its error code when non-NULL. */
bool h2_session_goaway(const struct h2_session *s, uint32_t *code);

enum h2_error h2_session_error(const struct h2_session *s);

/* "protocol", "ping_timeout", ...: for logs and status. */
const char *h2_error_name(enum h2_error e);

/* A short human-readable detail of the sticky error ("" when none). */
const char *h2_session_error_detail(const struct h2_session *s);

/*
 * Attach ring memory to a stream before h2_stream_open or when accepting
 * (this also sets up the stream's list links: a stream not passed through
 * here must not be used).  rxcap must be >= the session's conf.window;
 * txcap >= 1.  The memory must outlive the stream (until H2_EV_CLOSE).
 */
void h2_stream_init(
    struct h2_stream *st, void *rxmem, size_t rxcap, void *txmem, size_t txcap);

/* A request header beyond the gRPC ones (name lower case). */
struct h2_header {
	const char *name, *value;
};

#define H2_EXTRA_HEADERS_MAX 8

/*
 * Client: open a gRPC call: POST path (e.g. "/connector.v1.ConnectorService/
 * Tunnel") with content-type application/grpc and te: trailers, plus nextra
 * headers from extra (NULL when nextra is 0; copied by nghttp2 before this
 * returns; sent as never-indexed literals).  scheme is "https" or "http", authority the host[:port].
 * Returns 0, -EINVAL (bad argument, more than H2_EXTRA_HEADERS_MAX extra
 * headers, rx ring smaller than the window, or a server session), -EAGAIN
 * (the peer sent GOAWAY or the stream limit is reached) or -ENOMEM.
 */
int h2_stream_open(struct h2_session *s, struct h2_stream *st,
    const char *scheme, const char *authority, const char *path,
    const struct h2_header *extra, size_t nextra);

/* Server: the :path of an accepted stream (valid from H2_EV_HEADERS). */
const char *h2_stream_path(const struct h2_stream *st);

/* Server: its user-agent ("" when absent; truncated to H2_AGENT_MAX - 1). */
const char *h2_stream_user_agent(const struct h2_stream *st);

/* Server: its x-traversal-connector-id ("" when absent; truncated to
 * H2_CONNECTOR_ID_MAX - 1). */
const char *h2_stream_connector_id(const struct h2_stream *st);

/*
 * Server: the outpost-capabilities and outpost-session-id request headers
 * ("" when absent or too long for H2_CAPS_MAX / H2_SESSION_ID_MAX; see
 * spec/enrollment.md and spec/sessions.md).
 */
const char *h2_stream_capabilities(const struct h2_stream *st);
const char *h2_stream_session_id(const struct h2_stream *st);

/* Server: the outpost-request-id request header of a Deliver call ("" when
 * absent or longer than H2_REQUEST_ID_MAX - 1; spec/streaming.md). */
const char *h2_stream_request_id(const struct h2_stream *st);

/*
 * Server: answer an accepted stream with :status 200 and content-type
 * application/grpc, so that messages can follow.  Returns 0 or -errno.
 */
int h2_stream_respond(struct h2_stream *st);

/*
 * Queue up to n bytes for sending.  Returns how many were queued (0 when
 * the ring is full: wait for H2_EV_WRITE) or -EPIPE when the stream's
 * sending side is closed.
 */
long h2_stream_send(struct h2_stream *st, const void *p, size_t n);

/* Free bytes in the send ring. */
size_t h2_stream_send_room(const struct h2_stream *st);

/* Bytes of the stream's body that left the send ring so far (the peer's
 * flow-control window let them out). */
uint64_t h2_stream_sent(const struct h2_stream *st);

/* Bytes from the start of each ring that were ever written since
 * h2_stream_init() (a ring restarts at offset 0 whenever it empties, so
 * this is its high-water mark): what of the caller's ring memory may be
 * resident.  rx or tx may be NULL. */
void h2_stream_touched(const struct h2_stream *st, size_t *rx, size_t *tx);

/*
 * Client: END_STREAM after the queued bytes.  With h2_stream_end_trailers()
 * the END_STREAM is carried by grpc-status / grpc-message (msg NULL or a
 * static text) trailers instead: a gRPC client normally just ends, but a
 * session ends its Attach call with status 14 "reset" when the target
 * reset it (spec/sessions.md).  Return 0 or -errno.
 */
int h2_stream_end(struct h2_stream *st);
int h2_stream_end_trailers(struct h2_stream *st, int status, const char *msg);

/*
 * Server: end the call with grpc-status / grpc-message (msg may be NULL)
 * trailers after the queued bytes; without a prior h2_stream_respond() the
 * answer is a trailers-only response.  Returns 0 or -errno.
 */
int h2_stream_end_status(struct h2_stream *st, int status, const char *msg);

/* Abort the stream with RST_STREAM (error code, e.g. 8 CANCEL). */
void h2_stream_cancel(struct h2_stream *st, uint32_t code);

/*
 * Received bytes: a pointer to the contiguous readable bytes and their
 * count (0: none yet, or the end when h2_stream_eof()).  They stay valid
 * until h2_stream_ack().
 */
const uint8_t *h2_stream_take(struct h2_stream *st, size_t *len);

/*
 * How far the run h2_stream_take() shows can still grow in place: the
 * receive ring's room right after it; 0 when its bytes wrap (the rest is
 * at the ring's start) or when no more will come (the peer ended the
 * stream, or it closed).  A reader that wants n more contiguous bytes may
 * wait for them when this is at least n and the stream window admits
 * them (the peer can send only the window less the bytes not acked).
 */
size_t h2_stream_take_room(const struct h2_stream *st);

/* n taken bytes are consumed: frees ring space and reopens the window. */
void h2_stream_ack(struct h2_stream *st, size_t n);

/* True when the peer ended the stream and every byte was taken. */
bool h2_stream_eof(const struct h2_stream *st);

bool h2_stream_closed(const struct h2_stream *st);

enum h2_stream_error h2_stream_error(const struct h2_stream *st);

/* "reset", "http_status", ...: for logs. */
const char *h2_stream_error_name(enum h2_stream_error e);

/*
 * Client: the grpc-status received, or -1 when none (yet).  When buf is not
 * NULL the decoded grpc-message is written there (cap >= 1, NUL-terminated).
 * Server: the grpc-status of the client's trailers (gRPC clients send none;
 * a session's Attach call does on a target reset), -1 when none; buf gets
 * "" (the client's grpc-message is not kept).
 */
int h2_stream_grpc_status(const struct h2_stream *st, char *buf, size_t cap);

/* The HTTP/2 error code the stream was reset or closed with (0: none). */
uint32_t h2_stream_reset_code(const struct h2_stream *st);

/* --- gRPC header values (h2_grpc.c) ------------------------------------- */

/*
 * Percent-encode msg into out (cap bytes) as a grpc-message value: bytes
 * outside 0x20..0x7e and '%' become "%XX".  The result is NUL-terminated and
 * truncated on a whole-character boundary when it does not fit; returns its
 * length.  cap must be >= 1.
 */
size_t h2_grpc_message_encode(char *out, size_t cap, const char *msg);

/*
 * Decode a grpc-message value of n bytes into out (cap >= 1, NUL-terminated,
 * truncated to fit).  Malformed "%" sequences are kept literally, as the gRPC
 * spec asks.  Returns the decoded length.
 */
size_t h2_grpc_message_decode(char *out, size_t cap, const void *in, size_t n);

/*
 * Parse a grpc-status (or :status) value: ASCII decimal, no sign.  Returns
 * the code (values above 16 are returned as they are), or -1 when it is not
 * a non-negative decimal number below 1000.
 */
int h2_grpc_status_parse(const void *v, size_t n);

/*
 * True when a content-type value names gRPC: exactly "application/grpc", or
 * followed by '+' (a subtype, e.g. "+proto") or ';' (parameters).
 */
bool h2_grpc_content_type_ok(const void *v, size_t n);

#endif
