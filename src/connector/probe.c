/*
 * `outpost probe`: the HEALTHCHECK of a shell-less image.  A one-shot
 * client through the socket shim, every step under one deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "cfg/cfg.h"
#include "connector/tool.h"
#include "connector/worker.h"
#include "http/http.h"
#include "lib/util.h"
#include "net/net.h"

/* Wait for 'events' on fd until the deadline: 0, or -ETIMEDOUT. */
static int
wait_for(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left;
	int r;

	for (;;) {
		left = deadline - util_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = net_poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && r != -EINTR)
			return r;
	}
}

static int
dial(uint16_t port, int64_t deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd, r;

	if ((fd = net_socket(AF_INET, SOCK_STREAM)) < 0)
		return fd;
	r = net_connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == -EINPROGRESS && (r = wait_for(fd, POLLOUT, deadline)) == 0)
		r = net_connect_result(fd);
	if (r < 0) {
		net_close(fd);
		return r;
	}
	return fd;
}

static int
send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	ssize_t w;
	int r;

	while (n > 0) {
		w = net_write(fd, p, n);
		if (w == -EAGAIN) {
			if ((r = wait_for(fd, POLLOUT, deadline)) < 0)
				return r;
			continue;
		}
		if (w < 0)
			return (int)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read until the response head parses: its status, or -errno. */
static int
read_status(int fd, int64_t deadline)
{
	char b[2048];
	struct http_header h[32];
	struct http_response resp = {.headers = h, .nheaders = nitems(h)};
	const struct http_limits lim = {.max_line = 512,
	    .max_headers = 32,
	    .max_header_bytes = sizeof(b),
	    .max_total = sizeof(b)};
	size_t len = 0;
	ssize_t n;
	int r;

	while (len < sizeof(b)) {
		n = net_read(fd, b + len, sizeof(b) - len);
		if (n == -EAGAIN) {
			if ((r = wait_for(fd, POLLIN, deadline)) < 0)
				return r;
			continue;
		}
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		len += (size_t)n;
		resp.nheaders = nitems(h);
		r = http_parse_response(b, len, &resp, &lim);
		if (r > 0)
			return resp.status;
		if (r != HTTP_PARTIAL)
			return -EPROTO;
	}
	return -EMSGSIZE;
}

static int
probe_port(uint16_t port)
{
	static const char req[] = "GET /readyz HTTP/1.1\r\n"
				  "Host: localhost\r\n"
				  "Connection: close\r\n\r\n";
	int64_t deadline = util_mono_ms() + PROBE_TIMEOUT_MS;
	int fd, r;

	if ((fd = dial(port, deadline)) < 0)
		return fd;
	r = send_all(fd, req, sizeof(req) - 1, deadline);
	if (r == 0)
		r = read_status(fd, deadline);
	net_close(fd);
	return r;
}

/* see worker.h */
int
probe_main(int argc, char **argv, char *const *envp)
{
	static struct tool t;
	int status;

	if (tool_start(&t, envp, 0) != 0)
		return 1; /* not ready: the configuration is invalid */
	status = probe_port((uint16_t)cfg_int(t.cfg, CFG_HTTP_PORT));
	tool_end(&t);
	return status == 200 ? 0 : 1;
}
