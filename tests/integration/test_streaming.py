"""Streamed responses (spec/streaming.md, issue #20): the connector side.

The peer is the independent @grpc/grpc-js controller: it asks for a
streamed response (HttpRequest.stream_response) on a tunnel that advertised
`stream` and serves outpost.v1.Responses/Deliver, recording every part and
what breaks the spec (head first and once, data 1..65536 bytes, end last
and once).  Upstreams are nginx (Content-Length) and raw sockets
(rawupstream.py: chunked, HTTP/1.0 close-delimited, resets, silence).
"""
import base64
import hashlib
import itertools
import os
import socket
import struct
import threading
import time

import pytest

from conftest import wait_until
from controllerlib import Controller
from rawupstream import RawUpstream
from tunnellib import body_of, connector_env, rss_kib, start_connector
from upstream import Nginx

_ids = itertools.count(1)


@pytest.fixture
def nginx(tmp_path):
    with Nginx(tmp_path / "nginx") as n:
        yield n


@pytest.fixture
def h2c():
    with Controller() as c:
        yield c


def connector(h2c, spawn, outpost_bin, **extra):
    proc = start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=1, **extra))
    return proc, h2c.wait_tunnel(timeout=15)


def caps(t):
    return ",".join(t["capabilities"]).split(",")


def ask_stream(h2c, t, url, method="GET"):
    rid = f"stream-{next(_ids)}"
    h2c.cmd(cmd="http", tunnel=t["tunnel"], request_id=rid, method=method, url=url,
            headers=[], body_b64="", stream=True)
    return rid


def deliver_end(h2c, rid, timeout=30):
    return h2c.wait(lambda e: e["event"] == "deliver_end" and e["request_id"] == rid,
                    timeout=timeout, since=0)


def tunnel_answer(h2c, rid, timeout=20):
    return h2c.wait(lambda e: e["event"] == "message" and e["msg"].get("request_id") == rid,
                    timeout=timeout, since=0)["msg"]


def head_fields(head):
    return {h["key"].lower(): h["value"] for h in head.get("headers", [])}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def serve_once(head, body_parts, pause=0.0, then=None):
    """A raw upstream script: read one request, write head and parts (with
    pause seconds between them), then call then(conn) or close."""
    def script(conn, up):
        if up.read_request(conn) is None:
            return
        conn.sendall(head)
        for p in body_parts:
            conn.sendall(p)
            if pause:
                time.sleep(pause)
        if then is not None:
            then(conn)
    return script


def chunked(parts):
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]


def test_capability_and_large_body_byte_exact(h2c, nginx, spawn, outpost_bin):
    """`stream` advertised; a 48 MiB Content-Length body arrives byte-exact in
    parts of at most 65536 bytes, head first, end{} last, no HttpResponse on
    the Tunnel call."""
    _, t = connector(h2c, spawn, outpost_bin)
    assert "stream" in caps(t)
    blob = os.urandom(48 << 20)
    nginx.write("big.bin", blob)
    rid = ask_stream(h2c, t, nginx.url("/big.bin"))
    opened = h2c.wait(lambda e: e["event"] == "deliver_open" and e["request_id"] == rid,
                      timeout=20, since=0)
    assert opened["headers"] == [rid]
    end = deliver_end(h2c, rid, timeout=90)
    assert end["why"] == "ended", end
    assert end["violations"] == [], end["violations"]
    assert end["end"] == {"error_reason": "", "detail": ""}
    assert end["head"]["http_status"] == 200
    assert not end["head"].get("body")
    assert head_fields(end["head"])["content-length"] == str(len(blob))
    assert end["bytes"] == len(blob) and end["sha256"] == sha(blob)
    assert 1 <= end["min_part"] and end["max_part"] <= 65536
    assert end["parts"] >= len(blob) // 65536
    assert not [e for e in h2c.messages() if e["msg"].get("request_id") == rid]


def test_chunked_upstream_parts_arrive_as_sent(h2c, spawn, outpost_bin):
    """A chunked upstream that writes an event every 100 ms: the parts reach
    the controller while the upstream is still writing (not at its end), and
    the decoded body is exact."""
    events = [b"data: event %d\n\n" % i for i in range(10)]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    with RawUpstream(serve_once(head, chunked(events), pause=0.1)) as up:
        _, t = connector(h2c, spawn, outpost_bin)
        rid = ask_stream(h2c, t, up.url("/events"))
        first = h2c.wait(lambda e: e["event"] == "deliver_data" and e["request_id"] == rid,
                         timeout=15, since=0)
        stat = h2c.cmd(cmd="deliver_stat", request_id=rid)
        assert first["bytes"] < sum(map(len, events)) and stat["end"] is None
        end = deliver_end(h2c, rid)
        body = base64.b64decode(h2c.cmd(cmd="deliver_read", request_id=rid)["data_b64"])
    assert end["violations"] == [] and end["end"]["error_reason"] == ""
    assert body == b"".join(events)
    assert "transfer-encoding" not in head_fields(end["head"])
    assert end["parts"] >= 5  # not gathered into one part at the end


def test_http10_close_delimited(h2c, spawn, outpost_bin):
    """An HTTP/1.0 answer without Content-Length ends at the close: End{} and
    every byte."""
    blob = os.urandom(700_000)
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
    parts = [blob[i:i + 50_000] for i in range(0, len(blob), 50_000)]
    with RawUpstream(serve_once(head, parts, pause=0.01)) as up:
        _, t = connector(h2c, spawn, outpost_bin)
        rid = ask_stream(h2c, t, up.url("/old"))
        end = deliver_end(h2c, rid)
        body = base64.b64decode(h2c.cmd(cmd="deliver_read", request_id=rid)["data_b64"])
    assert end["violations"] == [] and end["end"] == {"error_reason": "", "detail": ""}
    assert body == blob


def test_whole_answer_with_its_head_comes_buffered(h2c, spawn, outpost_bin):
    """A small answer whose body came in with its head (and one without a
    body) is one HttpResponse on the Tunnel call, no Deliver call, which a
    controller accepts for any request; the same body sent after its head
    streams."""
    body = b"hello, whole\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"

    def script(conn, up):
        while (rq := up.read_request(conn)) is not None:
            if b" /later " in rq:
                conn.sendall(head % len(body))
                time.sleep(0.2)
                conn.sendall(body)
            elif b" /empty " in rq:
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                conn.sendall(head % len(body) + body)
    with RawUpstream(script) as up:
        _, t = connector(h2c, spawn, outpost_bin)
        assert "stream" in caps(t)
        for path, status, want in (("/whole", 200, body), ("/empty", 204, b"")):
            rid = ask_stream(h2c, t, up.url(path))
            m = tunnel_answer(h2c, rid)
            assert m["http_response"]["http_status"] == status and body_of(m) == want, m
            assert not [e for e in h2c.events
                        if e["event"] == "deliver_open" and e["request_id"] == rid]
        rid = ask_stream(h2c, t, up.url("/later"))
        end = deliver_end(h2c, rid)
        got = base64.b64decode(h2c.cmd(cmd="deliver_read", request_id=rid)["data_b64"])
    assert end["violations"] == [] and end["end"]["error_reason"] == "" and got == body


def test_cancel_closes_upstream_connection(h2c, spawn, outpost_bin):
    """The controller cancelling the Deliver call (its client went away)
    closes the upstream connection at once: the raw upstream sees EOF."""
    saw_eof = threading.Event()

    def script(conn, up):
        if up.read_request(conn) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(b"5\r\nhello\r\n")
        conn.sock.settimeout(20)
        try:
            while conn.sock.recv(4096):
                pass
            saw_eof.set()
        except OSError:
            saw_eof.set()  # reset: closed as well

    with RawUpstream(script) as up:
        _, t = connector(h2c, spawn, outpost_bin)
        rid = ask_stream(h2c, t, up.url("/slow"))
        h2c.wait(lambda e: e["event"] == "deliver_data" and e["request_id"] == rid,
                 timeout=15, since=0)
        assert not saw_eof.is_set()
        t0 = time.monotonic()
        h2c.cmd(cmd="deliver_cancel", request_id=rid)
        assert saw_eof.wait(10), "the upstream connection stayed open after the cancel"
        assert time.monotonic() - t0 < 5
    # The tunnel lives on: another request is answered.
    blob = b"still here" * 10000  # longer than what comes with a head: streamed
    with RawUpstream(serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
                                [blob])) as up:
        rid = ask_stream(h2c, t, up.url("/next"))
        end = deliver_end(h2c, rid)
        assert end["bytes"] == len(blob) and end["end"]["error_reason"] == ""


def rst(conn):
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


def test_upstream_reset_mid_body_is_end_reset(h2c, spawn, outpost_bin):
    """An upstream reset after part of a Content-Length body: the parts so
    far, then End{error_reason: reset}."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
    with RawUpstream(serve_once(head, [b"x" * 300_000], pause=0.3, then=rst)) as up:
        _, t = connector(h2c, spawn, outpost_bin)
        rid = ask_stream(h2c, t, up.url("/cut"))
        end = deliver_end(h2c, rid)
    assert end["violations"] == [], end
    assert end["end"]["error_reason"] == "reset", end["end"]
    assert 0 < end["bytes"] <= 300_000


def test_failure_before_head_is_error_response(h2c, spawn, outpost_bin):
    """No head yet (nothing listens): ErrorResponse on the Tunnel call, no
    Deliver call."""
    _, t = connector(h2c, spawn, outpost_bin)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rid = ask_stream(h2c, t, f"http://127.0.0.1:{port}/")
    m = tunnel_answer(h2c, rid)
    assert m["error_response"]["reason"] == "refused"
    assert not [e for e in h2c.events if e["event"] == "deliver_open" and e["request_id"] == rid]


def test_streaming_off_is_buffered(h2c, nginx, spawn, outpost_bin):
    """STREAM_RESPONSES=false: no `stream` capability, and a controller that
    asks anyway gets one buffered HttpResponse on the Tunnel call."""
    _, t = connector(h2c, spawn, outpost_bin, STREAM_RESPONSES="false")
    assert "stream" not in caps(t)
    blob = os.urandom(3 << 20)
    nginx.write("big.bin", blob)
    rid = ask_stream(h2c, t, nginx.url("/big.bin"))
    m = tunnel_answer(h2c, rid)
    assert m["http_response"]["http_status"] == 200
    assert sha(body_of(m)) == sha(blob)
    assert not [e for e in h2c.events if e["event"] == "deliver_open"]


def test_idle_timeout_cuts_with_end_timeout(h2c, spawn, outpost_bin):
    """An upstream that goes silent mid-body: End{timeout} after
    STREAM_IDLE_TIMEOUT, though REQUEST_TIMEOUT is far away."""
    silent = threading.Event()

    def hold(conn):
        silent.wait(15)

    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    with RawUpstream(serve_once(head, [b"3\r\nabc\r\n"], then=hold)) as up:
        _, t = connector(h2c, spawn, outpost_bin, STREAM_IDLE_TIMEOUT="700ms",
                         REQUEST_TIMEOUT="60s")
        rid = ask_stream(h2c, t, up.url("/quiet"))
        h2c.wait(lambda e: e["event"] == "deliver_data" and e["request_id"] == rid,
                 timeout=15, since=0)
        t0 = time.monotonic()
        end = deliver_end(h2c, rid, timeout=10)
        took = time.monotonic() - t0
        silent.set()
    assert end["end"]["error_reason"] == "timeout", end
    assert end["bytes"] == 3 and end["violations"] == []
    assert 0.3 < took < 8


def test_size_limit_is_end_too_large(h2c, spawn, outpost_bin):
    """A chunked body over MAX_STREAMED_RESPONSE_SIZE_MB is cut with
    End{too_large} at the limit; a Content-Length over it is refused before
    the head (ErrorResponse too_large)."""
    mb = 1 << 20
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    big = chunked([b"y" * 60_000] * 40)  # 2.4 MB
    with RawUpstream(serve_once(head, big)) as up:
        _, t = connector(h2c, spawn, outpost_bin, MAX_STREAMED_RESPONSE_SIZE_MB="1")
        rid = ask_stream(h2c, t, up.url("/huge"))
        end = deliver_end(h2c, rid)
    assert end["end"]["error_reason"] == "too_large", end
    assert end["bytes"] <= mb and end["violations"] == []
    declared = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * mb)
    with RawUpstream(serve_once(declared, [b"z" * 1000])) as up:
        rid = ask_stream(h2c, t, up.url("/declared"))
        m = tunnel_answer(h2c, rid)
    assert m["error_response"]["reason"] == "too_large"


def test_rss_stays_small_while_streaming(h2c, spawn, outpost_bin):
    """256 MiB streamed from a chunked upstream: the connector's RSS, sampled
    during the transfer, stays far below the body (generous bound: 24 MiB)."""
    total, piece = 256 << 20, os.urandom(1 << 16)
    digest = hashlib.sha256()
    for _ in range(total // len(piece)):
        digest.update(piece)

    def script(conn, up):
        if up.read_request(conn) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        frame = b"%x\r\n%s\r\n" % (len(piece), piece)
        for _ in range(total // len(piece)):
            conn.sendall(frame)
        conn.sendall(b"0\r\n\r\n")

    with RawUpstream(script, timeout=120) as up:
        proc, t = connector(h2c, spawn, outpost_bin)
        base = rss_kib(proc.pid)
        rid = ask_stream(h2c, t, up.url("/download"))
        peak, deadline = 0, time.monotonic() + 180
        end = None
        while end is None and time.monotonic() < deadline:
            peak = max(peak, rss_kib(proc.pid))
            try:
                end = deliver_end(h2c, rid, timeout=0.2)
            except TimeoutError:
                pass
        assert end is not None, "the 256 MiB stream did not end in 180 s"
    assert end["end"]["error_reason"] == "", end
    assert end["bytes"] == total and end["sha256"] == digest.hexdigest()
    assert end["violations"] == []
    assert peak < 24 * 1024, f"connector RSS {peak} KiB (at start {base} KiB)"


def test_hosts_under_redaction_rules_stay_buffered(h2c, spawn, outpost_bin, tmp_path):
    """Redaction needs the whole body: a host a rule covers is answered with
    one redacted HttpResponse on the Tunnel call although streaming was
    asked; a host no rule covers still streams (a body longer than what
    comes with the head: a whole small answer is sent buffered anyway)."""
    rules = tmp_path / "rules.toml"
    rules.write_text("version = 1\n[[rules]]\nname = \"pin\"\ntype = \"regex\"\n"
                     "pattern = 'pin=\\d+'\nreplacement = \"pin=X\"\nhosts = ['localhost']\n")
    pad = b"." * 100000
    body = b"user pin=1234 ok\n" + pad
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)

    def script(conn, up):
        while up.read_request(conn) is not None:
            conn.sendall(head + body)

    with RawUpstream(script) as up:
        _, t = connector(h2c, spawn, outpost_bin, REDACTION_RULES_FILE=str(rules))
        assert "stream" in caps(t)
        rid = ask_stream(h2c, t, f"http://localhost:{up.port}/covered")
        m = tunnel_answer(h2c, rid)
        assert body_of(m) == b"user pin=X ok\n" + pad
        assert ("X-Traversal-Redacted", "true") in [
            (h["key"], h["value"]) for h in m["http_response"]["headers"]]
        assert not [e for e in h2c.events if e["event"] == "deliver_open" and e["request_id"] == rid]
        rid = ask_stream(h2c, t, up.url("/not-covered"))
        end = deliver_end(h2c, rid)
        body_read = base64.b64decode(h2c.cmd(cmd="deliver_read", request_id=rid)["data_b64"])
    assert end["end"]["error_reason"] == "" and body_read == body


def test_paused_reader_stops_the_upstream_not_the_tunnel(h2c, nginx, spawn, outpost_bin):
    """HTTP/2 flow control is the only backpressure: while the controller
    stops reading one Deliver call, the upstream is read no further than the
    buffers on the way (far below the body), other requests on the same
    tunnel are answered, and once it reads again the body completes exact."""
    total, piece = 96 << 20, os.urandom(1 << 16)
    digest = hashlib.sha256()
    for _ in range(total // len(piece)):
        digest.update(piece)
    sent = [0]

    def script(conn, up):
        if up.read_request(conn) is None:
            return
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        conn.sock.settimeout(60)
        for _ in range(total // len(piece)):
            conn.sendall(piece)
            sent[0] += len(piece)

    nginx.write("small.txt", b"small answer")
    with RawUpstream(script, timeout=60) as up:
        _, t = connector(h2c, spawn, outpost_bin)
        rid = ask_stream(h2c, t, up.url("/big"))
        h2c.wait(lambda e: e["event"] == "deliver_open" and e["request_id"] == rid,
                 timeout=15, since=0)
        h2c.cmd(cmd="deliver_pause", request_id=rid)
        # The upstream's progress stops once the buffers on the way fill.
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and time.monotonic() - stable_since < 1.5:
            if sent[0] != last:
                last, stable_since = sent[0], time.monotonic()
            time.sleep(0.1)
        assert sent[0] < 24 << 20, f"the upstream sent {sent[0]} bytes to a paused reader"
        # The tunnel is not stalled by the paused call.
        other = f"plain-{next(_ids)}"
        h2c.cmd(cmd="http", tunnel=t["tunnel"], request_id=other, method="GET",
                url=nginx.url("/small.txt"), headers=[], body_b64="")
        assert body_of(tunnel_answer(h2c, other, timeout=10)) == b"small answer"
        h2c.cmd(cmd="deliver_resume", request_id=rid)
        end = deliver_end(h2c, rid, timeout=120)
    assert end["end"]["error_reason"] == "", end
    assert end["bytes"] == total and end["sha256"] == digest.hexdigest()
    assert end["violations"] == []
