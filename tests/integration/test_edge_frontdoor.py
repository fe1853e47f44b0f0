"""The edge's front door under abuse: authentication on the head (before any
body byte), buffers sized per request and returned, stalled bodies, accept
under EMFILE.  Issue #10 items 2, 3 and 4."""
import concurrent.futures
import os
import resource
import socket
import time

import pytest

from conftest import wait_until
from edgelib import Edge, connector, dev_pki
from test_edge import upstream  # noqa: F401 (the fixture)
from tunnellib import rss_kib

MB = 1 << 20
PROXY = "/v1/connectors/alpha/proxy/http/{}/echo"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


@pytest.fixture
def edge(outpost_edge_bin, pki, tmp_path):
    e = Edge(outpost_edge_bin, str(tmp_path), pki)
    yield e
    e.stop()


def head(path, length, token=None, extra=""):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Length: {length}\r\n"
            f"{auth}{extra}\r\n").encode()


def read_response(s, limit=65536):
    """Bytes until the peer closes or the head and a JSON body are in."""
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
            break
    return data


def unauthenticated_post(port, size):
    """Send a head without a token, then as much of a size-byte body as the
    edge takes; returns (response bytes, body bytes the edge accepted)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head(PROXY.format("127.0.0.1:9"), size))
        s.settimeout(2)
        block = b"x" * (256 * 1024)
        try:
            while sent < size:
                sent += s.send(block[:size - sent])
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        s.settimeout(5)
        return read_response(s), sent


def test_unauthenticated_large_posts_are_refused_on_the_head(edge):
    """16 concurrent 31 MB POSTs without a token: each gets 401, the edge
    takes at most its linger drain of each body, and its RSS stays small."""
    pid = edge.proc.p.pid
    before = rss_kib(pid)
    peak = before
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        futs = [ex.submit(unauthenticated_post, edge.aport, 31 * MB) for _ in range(16)]
        while not all(f.done() for f in futs):
            peak = max(peak, rss_kib(pid))
            time.sleep(0.01)
        results = [f.result() for f in futs]
    for resp, sent in results:
        assert resp.startswith(b"HTTP/1.1 401 "), resp[:200]
        assert b"WWW-Authenticate: Bearer" in resp
        assert b"Connection: close" in resp
        assert sent < 31 * MB  # the edge stopped reading: never the whole body
    # Buffers follow what a request needs: not MAX_REQUEST_BODY_SIZE_MB per slot.
    assert peak - before < 8 * 1024, (before, peak)
    assert edge.request("GET", "/v1/connectors")[0] == 200


def test_no_100_continue_without_a_valid_token(edge):
    for token in (None, "wrong-token"):
        with socket.create_connection(("127.0.0.1", edge.aport), timeout=5) as s:
            s.sendall(head(PROXY.format("127.0.0.1:9"), 1000, token,
                           "Expect: 100-continue\r\n"))
            resp = read_response(s)
        assert resp.startswith(b"HTTP/1.1 401 "), resp
        assert b"100 Continue" not in resp
    # With the token the edge asks for the body, reads it, then routes it.
    with socket.create_connection(("127.0.0.1", edge.aport), timeout=5) as s:
        s.sendall(head("/v1/connectors/nobody/proxy/http/127.0.0.1:9/", 1000, edge.token,
                       "Expect: 100-continue\r\n"))
        assert s.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"y" * 1000)
        resp = read_response(s)
    assert resp.startswith(b"HTTP/1.1 404 ") and b"unknown_connector" in resp, resp


def test_authenticated_large_post_works_and_memory_returns(outpost_bin, edge, pki, tmp_path,
                                                           upstream):
    c = connector(outpost_bin, str(tmp_path), edge, pki, "alpha")
    try:
        edge.wait_tunnels("alpha", 1)
        pid = edge.proc.p.pid
        before = rss_kib(pid)
        blob = os.urandom(20 * MB)
        s, h, b = edge.request("POST", PROXY.format(upstream.hostport), body=blob, timeout=60)
        assert s == 200 and b == blob
        # The request's buffers went back when it ended (musl unmaps them).
        assert wait_until(lambda: rss_kib(pid) - before < 8 * 1024, 5), (before, rss_kib(pid))
    finally:
        c.stop()


def stalled_body(port, token):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(head("/v1/connectors/nobody/proxy/http/127.0.0.1:9/", 1000, token) + b"ab")
    return s


def test_unauthenticated_stalled_bodies_do_not_shut_out_a_client(outpost_edge_bin, pki,
                                                                 tmp_path):
    e = Edge(outpost_edge_bin, str(tmp_path), pki, EDGE_API_MAX_CONNECTIONS="4")
    socks = []
    try:
        socks = [stalled_body(e.aport, None) for _ in range(4)]
        # Refused on the head: none of them holds its slot waiting for a body.
        for k in socks:
            k.settimeout(5)
            assert read_response(k).startswith(b"HTTP/1.1 401 ")
        s, _, b = e.request("GET", "/v1/connectors", timeout=5)
        assert s == 200, b
    finally:
        for k in socks:
            k.close()
        e.stop()


def test_authenticated_stalled_bodies_end_at_the_body_deadline(outpost_edge_bin, pki,
                                                               tmp_path):
    """Trusted bodies are not evicted by strangers, but a body that stops
    making progress gets 408 at the body deadline (the head deadline, 10 s),
    not at the 60 s idle timeout."""
    e = Edge(outpost_edge_bin, str(tmp_path), pki, EDGE_API_MAX_CONNECTIONS="4")
    socks = []
    try:
        socks = [stalled_body(e.aport, e.token) for _ in range(4)]
        t0 = time.monotonic()
        for k in socks:
            assert read_response(k).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - t0 < 30
        assert e.request("GET", "/v1/connectors", timeout=5)[0] == 200
    finally:
        for k in socks:
            k.close()
        e.stop()


def cpu_seconds(pid):
    """utime + stime of the process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_tunnel_listener_pauses_on_emfile(outpost_edge_bin, pki, tmp_path):
    """ulimit -n 16 and 14 connections to the tunnel port: the edge runs out
    of descriptors.  It must pause accepting (not spin), log a bounded number
    of lines, and serve again once connections go."""
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    e = Edge(outpost_edge_bin, str(tmp_path), pki, preexec_fn=limit)
    socks = []
    try:
        pid = e.proc.p.pid
        lines0 = e.proc.text().count("\n")
        cpu0 = cpu_seconds(pid)
        socks = [socket.create_connection(("127.0.0.1", e.tport), timeout=5) for _ in range(14)]
        time.sleep(3)
        assert e.proc.alive()
        text = e.proc.text()
        assert "accept: " in text and "pausing" in text, text[-2000:]
        # The bug wrote ~850k lines at 68% CPU in 3 s.
        assert text.count("\n") - lines0 < 300, text[-2000:]
        assert cpu_seconds(pid) - cpu0 < 1.0
        for k in socks:
            k.close()
        socks = []
        assert wait_until(lambda: e.request("GET", "/v1/connectors", timeout=5)[0] == 200, 10)
    finally:
        for k in socks:
            k.close()
        e.stop()
