#!/usr/bin/env python3
"""Streamed-response pieces of bench/bench.sh (issue #20).

  stream.py serve PORT N MS
      an SSE upstream on 127.0.0.1:PORT: each GET answers chunked
      text/event-stream with N events "data: SEQ NS" MS ms apart, NS the
      CLOCK_MONOTONIC time (ns) of the write
  stream.py sse URL N [HEADER...]
      read N events from URL; prints "p50 P99" of the time from the
      upstream's write to this reader's read, in ms (same host, same clock)

Bounded: every socket has a timeout; the server stops with its process.
"""
import http.client
import socket
import sys
import threading
import time
import urllib.parse


def serve(port, n, ms):
    ls = socket.create_server(("127.0.0.1", port), backlog=64)

    def one(s):
        try:
            s.settimeout(30)
            req = b""
            while b"\r\n\r\n" not in req and len(req) < 65536:
                d = s.recv(4096)
                if not d:
                    return
                req += d
            # X-Accel-Buffering: what SSE servers send so that nginx
            # relays each event at once (path b passes it on, hop by hop).
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(n):
                time.sleep(ms / 1000)
                ev = b"data: %d %d\n\n" % (i, time.monotonic_ns())
                s.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            s.close()
    while True:
        s, _ = ls.accept()
        threading.Thread(target=one, args=(s,), daemon=True).start()


def open_url(url, headers):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = dict(x.split(": ", 1) for x in headers)
    c.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=h)
    r = c.getresponse()
    if r.status != 200:
        sys.exit(f"{url}: {r.status}")
    return c, r


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def sse(url, n, headers):
    c, r = open_url(url, headers)
    buf, lags = b"", []
    while len(lags) < n:
        d = r.read1(65536)
        if not d:
            break
        now = time.monotonic_ns()
        buf += d
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            lags.append((now - int(ev.split()[2])) / 1e6)
    c.close()
    if len(lags) < n:
        sys.exit(f"{url}: {len(lags)} of {n} events")
    print(f"{pct(lags, 0.5):.2f} {pct(lags, 0.99):.2f}")


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "serve":
        serve(int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        sse(rest[0], int(rest[1]), rest[2:])
