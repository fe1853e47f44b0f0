"""Streamed responses on the edge (spec/streaming.md, issue #20).

The edge asks a tunnel that advertises `stream` for streamed answers, takes
the connector's Responses/Deliver call on the same HTTP/2 connection, and
relays each part to the front-door client as it comes (chunked, or the
upstream's Content-Length).  Two connectors drive it: the @grpc/grpc-js
emulator (controller/edge_client.js --stream), which can also break the
protocol on purpose, and the real `outpost run`.
"""
import hashlib
import http.client
import json
import re
import socket
import time

import pytest

from conftest import wait_until
from edgelib import Edge, grpcjs_client
from tunnellib import rss_kib


@pytest.fixture
def procs():
    started = []
    yield started
    for p in reversed(started):
        p.stop()


def start_edge(outpost_edge_bin, tmp_path, procs, **kw):
    e = Edge(outpost_edge_bin, str(tmp_path), None, **kw)
    procs.append(e)
    return e


def js_connector(tmp_path, procs, edge, name="js", stream=True, tunnels=1):
    c = grpcjs_client(str(tmp_path), edge, name, tunnels=tunnels,
                      extra=("--stream",) if stream else ())
    procs.append(c)
    edge.wait_tunnels(name, tunnels)
    return c


def events(proc, kind):
    out = []
    for line in proc.text().splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == kind:
            out.append(ev)
    return out


def front(edge, path, method="GET", timeout=30):
    """An open front-door response (the caller reads and closes it)."""
    c = http.client.HTTPConnection("127.0.0.1", edge.aport, timeout=timeout)
    c.request(method, path, headers={"Authorization": f"Bearer {edge.token}"})
    return c, c.getresponse()


def pattern(off, n):
    return bytes((off + i) % 251 for i in range(n))


def pattern_sha(n):
    """sha256 of the i % 251 pattern the emulator streams (periodic: 251 bytes)."""
    period = bytes(range(251))
    block = period * (1 << 12)  # 1028096 bytes, a whole number of periods
    h = hashlib.sha256()
    while n >= len(block):
        h.update(block)
        n -= len(block)
    h.update(block[:n])
    return h.hexdigest()


def test_streaming_is_asked_only_of_tunnels_that_advertise_it(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    plain = js_connector(tmp_path, procs, edge, "plain", stream=False)
    js = js_connector(tmp_path, procs, edge, "js")
    s, _, b = edge.proxy("plain", "svc:80/size/70000")
    assert s == 200 and b == b"x" * 70000  # the buffered path, unchanged
    s, h, b = edge.proxy("js", "svc:80/bytes/70000")
    assert s == 200 and b == pattern(0, 70000)
    assert dict((k.lower(), v) for k, v in h)["content-length"] == "70000"
    asked = {c.log: [e["stream_response"] for e in events(c, "received")
                     if e["message"] == "http_request"] for c in (plain, js)}
    assert asked == {plain.log: [False], js.log: [True]}
    assert wait_until(lambda: [e["code"] for e in events(js, "deliver")] == [0], 5), js.text()


def test_sse_events_reach_the_client_as_they_are_sent(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    js_connector(tmp_path, procs, edge)
    c, r = front(edge, "/v1/connectors/js/proxy/http/svc:80/sse/20/50")
    try:
        assert r.status == 200
        assert r.getheader("Transfer-Encoding") == "chunked"
        assert r.getheader("Content-Type") == "text/event-stream"
        buf, lags = b"", []
        deadline = time.monotonic() + 20
        while len(lags) < 20 and time.monotonic() < deadline:
            d = r.read1(65536)
            if not d:
                break
            now = time.time() * 1000
            buf += d
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                _, i, sent = ev.decode().split()
                assert int(i) == len(lags)
                lags.append(now - int(sent))
        assert len(lags) == 20, lags
        # Buffered, the first event would wait for the last (~1 s); each
        # event arrives well within one interval of being written.
        assert max(lags) < 500, lags
        assert r.read() == b""  # then the last chunk: complete
    finally:
        c.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_streamed_download_is_byte_exact(outpost_edge_bin, tmp_path, procs, chunked):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    js_connector(tmp_path, procs, edge)
    n = (8 << 20) + 12345
    c, r = front(edge, f"/v1/connectors/js/proxy/http/svc:80/bytes/{n}"
                 + ("?chunked=1" if chunked else ""))
    try:
        assert r.status == 200
        if chunked:
            assert r.getheader("Transfer-Encoding") == "chunked"
        else:
            assert r.getheader("Content-Length") == str(n)
        h, got = hashlib.sha256(), 0
        while True:
            d = r.read(1 << 20)
            if not d:
                break
            h.update(d)
            got += len(d)
        assert got == n and h.hexdigest() == pattern_sha(n)
    finally:
        c.close()


def test_end_with_a_reason_cuts_the_body_and_the_tunnel_lives_on(outpost_edge_bin, tmp_path,
                                                                 procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    js = js_connector(tmp_path, procs, edge)
    c, r = front(edge, "/v1/connectors/js/proxy/http/svc:80/cut")
    try:
        assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
        with pytest.raises(http.client.IncompleteRead) as ei:
            r.read()
        assert ei.value.partial == b"partial"
    finally:
        c.close()
    assert wait_until(lambda: re.search(r"streamed response cut: reset: upstream reset",
                                        edge.proc.text()), 5), edge.proc.text()[-2000:]
    s, _, b = edge.proxy("js", "svc:80/bytes/10")
    assert s == 200 and b == pattern(0, 10)
    assert wait_until(lambda: [e["code"] for e in events(js, "deliver")] == [0, 0], 5), js.text()


def test_client_going_away_cancels_the_deliver_call(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    js = js_connector(tmp_path, procs, edge)
    c, r = front(edge, "/v1/connectors/js/proxy/http/svc:80/hang")
    assert r.status == 200
    assert r.read1(100) == b"waiting"
    c.close()
    r.close()
    assert wait_until(lambda: [e["code"] for e in events(js, "deliver")] == [1], 5), js.text()
    assert "client went away" in edge.proc.text()
    s, _, _ = edge.proxy("js", "svc:80/bytes/10")
    assert s == 200


@pytest.mark.parametrize("kind,code,client", [
    ("data_before_head", 3, "502"),
    ("second_head", 3, "cut"),
    ("too_large", 3, "cut"),
    ("no_end", 3, "cut"),
])
def test_a_broken_deliver_call_is_refused_with_a_typed_reason(outpost_edge_bin, tmp_path, procs,
                                                              kind, code, client):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    js = js_connector(tmp_path, procs, edge)
    reason = {"no_end": "incomplete", "too_large": "data_too_large"}.get(kind, kind)
    c, r = front(edge, f"/v1/connectors/js/proxy/http/svc:80/bad/{kind}")
    try:
        if client == "502":
            assert r.status == 502
            assert json.loads(r.read())["reason"] == reason
        else:
            assert r.status == 200
            with pytest.raises(http.client.IncompleteRead):
                r.read()
    finally:
        c.close()
    assert wait_until(lambda: events(js, "deliver"), 5), js.text()
    ev = events(js, "deliver")[0]
    assert (ev["code"], ev["details"]) == (code, reason)
    assert reason in edge.proc.text()
    assert edge.proc.alive()
    s, _, b = edge.proxy("js", "svc:80/bytes/10")
    assert s == 200 and b == pattern(0, 10)


def test_unknown_and_duplicate_deliver_calls_are_refused(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs, EDGE_REQUEST_TIMEOUT="1s")
    js = js_connector(tmp_path, procs, edge)
    s, _, b = edge.proxy("js", "svc:80/bad/unknown_id")
    assert s == 504, b  # its own answer never came
    s, _, b = edge.proxy("js", "svc:80/bad/duplicate")
    assert s == 200 and b == b"first"
    assert wait_until(lambda: len(events(js, "deliver")) == 3, 5), js.text()
    got = sorted((e["path"], e["code"], e["details"]) for e in events(js, "deliver"))
    assert got == [("/bad/duplicate", 0, ""),
                   ("/bad/duplicate", 6, "duplicate Deliver call"),
                   ("/bad/unknown_id", 5, "unknown request")]
    assert edge.proc.alive()


def timed_get(edge, path):
    t0 = time.monotonic()
    s, _, b = edge.proxy("js", path)
    assert s == 200
    return time.monotonic() - t0


def test_a_slow_client_pauses_only_its_own_response(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    js_connector(tmp_path, procs, edge)
    base = sorted(timed_get(edge, "svc:80/bytes/65536") for _ in range(10))
    # A client that reads nothing of a 256 MiB streamed answer.
    sk = socket.create_connection(("127.0.0.1", edge.aport), timeout=10)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sk.sendall(f"GET /v1/connectors/js/proxy/http/svc:80/bytes/{256 << 20} HTTP/1.1\r\n"
               f"Host: t\r\nAuthorization: Bearer {edge.token}\r\n\r\n".encode())
    try:
        assert sk.recv(12) == b"HTTP/1.1 200"
        time.sleep(1)  # the edge's buffers and the call's window fill up
        rss = rss_kib(edge.proc.p.pid)
        during = sorted(timed_get(edge, "svc:80/bytes/65536") for _ in range(10))
        assert during[5] < base[5] * 10 + 0.2, (base, during)
        assert rss < 16 << 10, rss
        # It still flows once the client reads.
        sk.settimeout(10)
        got = sum(len(sk.recv(1 << 20)) for _ in range(8))
        assert got > 0
    finally:
        sk.close()
