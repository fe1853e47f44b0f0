/*
 * http.h — sans-I/O HTTP/1.1 parsers: request head, response head, and a
 * chunked-body decoder.  Nothing here reads a socket or allocates.
 *
 * The head parsers follow picohttpparser's shape.  They are stateless and
 * zero-copy: the caller keeps the bytes received so far in one buffer and
 * calls again from the start of the message whenever more arrive.  Every
 * string handed back (method, target, reason, header names and values) is a
 * slice of that buffer and lives exactly as long as it.  Parsing never
 * reads past buf[len - 1], so a message that ends at the last mapped byte
 * is safe.
 *
 * Return values of http_parse_request() and http_parse_response():
 *   > 0                  the head is complete; that many bytes were used
 *   HTTP_PARTIAL         valid so far, need more bytes
 *   HTTP_ERROR           malformed (answer 400 / treat the peer as broken)
 *   HTTP_ERROR_LINE      request line longer than max_line (answer 414)
 *   HTTP_ERROR_TOO_LARGE too many headers, header bytes over max_header_bytes
 *                        or the head over max_total (answer 431)
 * Limits are checked on partial input too, so a peer that never finishes
 * its head is refused as soon as it crosses one.
 *
 * Syntax is strict (RFC 9112): CRLF line ends only, tokens for methods and
 * field names, no whitespace before the colon, no obs-fold, no control
 * bytes other than HTAB in values.  Values are trimmed of OWS.
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARTIAL (-1)
#define HTTP_ERROR (-2)
#define HTTP_ERROR_LINE (-3)
#define HTTP_ERROR_TOO_LARGE (-4)

struct http_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct http_limits {
	size_t max_line; /* request line or status line, without CRLF */
	size_t max_headers; /* header fields */
	size_t max_header_bytes; /* the header section, CRLFs included */
	size_t max_total; /* the whole head */
};

/* Sensible limits for a small server: 8 KiB line, 64 fields, 16 KiB. */
#define HTTP_LIMITS_DEFAULT \
	((struct http_limits){.max_line = 8192, \
	    .max_headers = 64, \
	    .max_header_bytes = 16384, \
	    .max_total = 16384})

/*
 * On input 'headers' points at caller storage for 'nheaders' fields
 * (which must be >= limits->max_headers, or the smaller of the two is the
 * limit); on success nheaders is the number found.
 */
struct http_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor_version; /* HTTP/1.x */
	struct http_header *headers;
	size_t nheaders;
};

struct http_response {
	int minor_version;
	int status; /* 100..999 */
	const char *reason;
	size_t reason_len;
	struct http_header *headers;
	size_t nheaders;
};

int http_parse_request(const char *buf, size_t len, struct http_request *req,
    const struct http_limits *lim);
int http_parse_response(const char *buf, size_t len, struct http_response *resp,
    const struct http_limits *lim);

/* The status a server answers a parse error with: 400, 414 or 431. */
int http_error_status(int parse_result);

/* Case-insensitive equality of a header name (or token) and a literal. */
bool http_token_eq(const char *p, size_t n, const char *lit);

/* The first header named 'name' (case-insensitive), or NULL. */
const struct http_header *http_header_find(
    const struct http_header *h, size_t n, const char *name);

/* How the body of a message is delimited (RFC 9112 section 6.3). */
enum http_body_kind {
	HTTP_BODY_NONE, /* no body */
	HTTP_BODY_LENGTH, /* Content-Length bytes */
	HTTP_BODY_CHUNKED, /* chunked transfer coding */
	HTTP_BODY_CLOSE, /* response read until the connection closes */
};

struct http_framing {
	enum http_body_kind kind;
	uint64_t length; /* for HTTP_BODY_LENGTH */
	bool keep_alive; /* per version and the Connection header */
};

/*
 * Framing of a request: a bad or duplicate-conflicting Content-Length, or
 * Content-Length together with Transfer-Encoding, or a Transfer-Encoding
 * other than a final "chunked", is an error (request smuggling).
 * Returns 0 or HTTP_ERROR.
 */
int http_request_framing(
    const struct http_request *req, struct http_framing *f);

/*
 * Framing of a response to a request with method 'method' (HEAD, and
 * statuses 1xx/204/304, have no body).  A bad or conflicting
 * Content-Length, or one together with Transfer-Encoding, is an error
 * (response splitting).  Returns 0 or HTTP_ERROR.
 */
int http_response_framing(const struct http_response *resp, const char *method,
    size_t method_len, struct http_framing *f);

/*
 * The chunked decoder: an incremental state machine over the body bytes as
 * they arrive, in pieces of any size.  Caller-allocated; no allocation.
 * Each http_chunked_feed() consumes a prefix of 'in' and hands back at most
 * one slice of decoded data (a pointer into 'in'), so the caller loops:
 *
 *	while (len > 0 && !http_chunked_done(&c)) {
 *		n = http_chunked_feed(&c, p, len, &data, &dlen);
 *		if (n < 0) error;
 *		use(data, dlen); p += n; len -= n;
 *	}
 *
 * Returns bytes consumed (0 only when len is 0 or the body is done), or
 * HTTP_ERROR (malformed) or HTTP_ERROR_TOO_LARGE (a chunk-size or trailer
 * line over max_line, trailers over max_line * 8, or data over max_body).
 * Errors are sticky until http_chunked_init().  Chunk extensions are
 * skipped; trailer fields are validated loosely and discarded.  Bytes after
 * the final CRLF are not consumed: they belong to the next message.
 */
struct http_chunked {
	int state;
	int error;
	uint64_t remaining; /* of the current chunk */
	uint64_t total; /* data bytes so far */
	uint64_t max_body; /* 0: unbounded */
	size_t line; /* bytes of the current size/trailer line */
	size_t trailer; /* bytes of trailers */
	size_t max_line;
	unsigned digits;
	bool ext; /* past the ';' of an extension */
};

void http_chunked_init(
    struct http_chunked *c, size_t max_line, uint64_t max_body);
long http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len,
    const uint8_t **data, size_t *data_len);
bool http_chunked_done(const struct http_chunked *c);

/* The reason phrase of a status this project sends ("Unknown" otherwise). */
const char *http_reason(int status);

#endif
