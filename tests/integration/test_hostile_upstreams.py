"""Issue #17 item 4, hostile upstreams: a raw loopback upstream answers a
request for /h/<case> with a response built to confuse a parser (or to
smuggle a second response onto a kept-alive connection) and answers every
other request with its own 200.  Each case gives its typed reason; the
next request to the same upstream gets its own answer (no response
desynchronisation); the connector's memory stays bounded (/proc)."""
import re
import subprocess
import time

import pytest

from conftest import base_env
from controllerlib import Controller
from rawupstream import RawUpstream
from tunnellib import ask, body_of, connector_env, rss_kib, start_connector

EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"


def good(path):
    body = b"own answer to " + path
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def chunked(head=b""):
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + head + b"\r\n"


# name -> (bytes sent, expected reason or HTTP status, bytes after the response)
CASES = {
    "cl_te": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n" + EVIL, "bad_response"),
    "te_cl": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"
              b"4\r\nevil\r\n0\r\n\r\n", "bad_response"),
    "two_cl": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 45\r\n\r\n"
               b"hello" + EVIL, "bad_response"),
    "cl_list": (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 45\r\n\r\nhello" + EVIL,
                "bad_response"),
    "cl_sign": (b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello" + EVIL, "bad_response"),
    "chunk_overflow": (chunked() + b"1" + b"0" * 16 + b"\r\n", "too_large"),
    "chunk_huge": (chunked() + b"fffffffffffffff\r\n", "too_large"),
    "chunk_negative": (chunked() + b"-1\r\n", "bad_response"),
    "chunk_bad_crlf": (chunked() + b"4\r\nevilXX0\r\n\r\n", "bad_response"),
    "interim": (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 103 Early Hints\r\nLink: </evil>\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal", 200),
    "bare_cr": (b"HTTP/1.1 200 OK\r\nX-A: a\rX-Evil: 1\r\nContent-Length: 0\r\n\r\n",
                "bad_response"),
    "bare_lf": (b"HTTP/1.1 200 OK\r\nX-A: a\nX-Evil: 1\r\nContent-Length: 0\r\n\r\n",
                "bad_response"),
    "lf_only": (b"HTTP/1.1 200 OK\nContent-Length: 4\n\nevil", "bad_response"),
    "nul": (b"HTTP/1.1 200 OK\r\nX-A: a\0evil\r\nContent-Length: 0\r\n\r\n", "bad_response"),
    "obs_fold": (b"HTTP/1.1 200 OK\r\nX-A: a\r\n X-Evil: 1\r\nContent-Length: 0\r\n\r\n",
                 "bad_response"),
    "space_before_colon": (b"HTTP/1.1 200 OK\r\nContent-Length : 4\r\n\r\nevil",
                           "bad_response"),
    "head_over_limit": (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
                        "too_large"),
    "many_headers": (b"HTTP/1.1 200 OK\r\n" + b"X-N: 1\r\n" * 300 + b"\r\n", "too_large"),
    "close_over_limit": (b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * (3 << 20), "too_large"),
    "chunked_over_limit": (chunked() + b"100000\r\n" + b"x" * (1 << 20) + b"\r\n"
                           + b"100000\r\n" + b"x" * (1 << 20) + b"\r\n0\r\n\r\n", "too_large"),
}

# Cases that never end on their own: (head, then the rest in pieces of
# this size, one piece every so many seconds, at most 8 s).
DRIPS = {
    "chunked_never_ends": (chunked(), b"1\r\na\r\n" * 200, 6, 0.05),
    "drip_body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"a" * 100, 1, 1.0),
    "drip_head": (b"", b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 100, 1, 0.5),
}


def script(conn, up):
    """Per connection: /h/<case> gets the hostile bytes, anything else its
    own answer; bounded in count and time."""
    for _ in range(50):
        req = up.read_request(conn)
        if req is None:
            return
        path = re.match(rb"[A-Z]+ (\S+)", req).group(1)
        name = path[3:].decode() if path.startswith(b"/h/") else None
        if name in CASES:
            conn.sendall(CASES[name][0])
        elif name in DRIPS:
            head, rest, size, every = DRIPS[name]
            conn.sendall(head)
            for i in range(0, min(len(rest), int(8 / every) * size), size):
                time.sleep(every)
                conn.sendall(rest[i:i + size])
        else:
            conn.sendall(good(path))


@pytest.fixture(scope="module")
def world(outpost_bin):
    """One connector, one tunnel, one hostile upstream for every case."""
    with Controller() as ctl, RawUpstream(script) as up:
        env = connector_env(ctl, MAX_TUNNELS_ALLOWED=1, REQUEST_TIMEOUT="2s",
                            MAX_RESPONSE_BODY_SIZE_MB=1)
        p = subprocess.Popen([outpost_bin, "run"], env=base_env(**env),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield ctl, ctl.wait_tunnel()["tunnel"], up, p
        finally:
            p.terminate()
            p.wait(10)


def outcome(m):
    if "error_response" in m:
        return m["error_response"]["reason"]
    return m["http_response"]["http_status"]


def check_next_is_own(ctl, t, up, tag):
    """The next request to this upstream is answered by its own response."""
    path = f"/next-{tag}".encode()
    m = ask(ctl, t, "GET", up.url(path.decode()))
    assert outcome(m) == 200 and body_of(m) == b"own answer to " + path, m


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_response(world, name):
    ctl, t, up, p = world
    check_next_is_own(ctl, t, up, name + "-before")   # a pooled connection
    start = time.monotonic()
    m = ask(ctl, t, "GET", up.url("/h/" + name))
    assert outcome(m) == CASES[name][1], m
    assert time.monotonic() - start < 4
    if name == "interim":
        assert body_of(m) == b"real"
        assert "link" not in [h["key"].lower() for h in m["http_response"]["headers"]]
    check_next_is_own(ctl, t, up, name)
    check_next_is_own(ctl, t, up, name + "-again")
    assert rss_kib(p.pid) < 24 * 1024


@pytest.mark.parametrize("name", sorted(DRIPS))
def test_endless_or_slow_response_times_out(world, name):
    ctl, t, up, p = world
    start = time.monotonic()
    m = ask(ctl, t, "GET", up.url("/h/" + name))
    assert outcome(m) == "timeout", m
    assert 1.5 < time.monotonic() - start < 4
    check_next_is_own(ctl, t, up, name)
    assert rss_kib(p.pid) < 24 * 1024
