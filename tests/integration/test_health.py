"""The health port of `outpost run`, against the real static binary.

One behaviour per test: endpoints, keep-alive, HEAD, error statuses, the
header deadline against a slow client, a flood of malformed requests, the
connection cap, signals, `outpost probe`, exit codes, `outpost version`.
"""
import http.client
import json
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from prometheus_client.parser import text_string_to_metric_families

from conftest import base_env, free_port, port_answers, run, wait_until
from healthlib import slowloris


def get(port, path, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def raw(port, data, timeout=5):
    """Send bytes, read until the server closes; returns all bytes read."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.1 ") else None


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_healthz_200(worker):
    _, port = worker()
    st, hdrs, body = get(port, "/healthz")
    assert st == 200
    assert json.loads(body) == {"status": "healthy"}
    assert hdrs["Content-Type"] == "application/json"


def test_readyz_503_with_reason(worker):
    _, port = worker()
    st, hdrs, body = get(port, "/readyz")
    assert st == 503
    assert hdrs["Content-Type"] == "application/json"
    # No controller configured: health only, never ready.
    assert json.loads(body) == {"status": "not ready", "active_tunnels": 0,
                                "reason": "not_configured"}


def test_readyz_503_while_controller_unreachable(worker):
    _, port = worker(TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{free_port()}")
    st, _, body = get(port, "/readyz")
    assert st == 503
    r = json.loads(body)
    assert r["status"] == "not ready"
    assert isinstance(r["reason"], str) and r["reason"]


def test_metrics_parse_as_prometheus_text(worker):
    _, port = worker()
    get(port, "/healthz")
    st, hdrs, body = get(port, "/metrics")
    assert st == 200
    assert hdrs["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    info = fams["outpost_build_info"].samples[0]
    assert info.labels["version"] and info.labels["revision"]
    assert fams["outpost_uptime_seconds"].samples[0].value >= 0
    assert fams["process_resident_memory_bytes"].samples[0].value > 4096
    assert fams["process_open_fds"].samples[0].value >= 3
    resp = {s.labels["code"]: s.value
            for s in fams["outpost_health_http_responses"].samples}
    assert resp["200"] >= 1
    conns = {s.labels["event"]: s.value
             for s in fams["outpost_health_http_connections"].samples}
    assert conns["accepted"] >= 2
    assert fams["outpost_ready"].samples[0].value == 0


def test_status_json(worker):
    _, port = worker(ENV_NAME="lab-1")
    st, _, body = get(port, "/status")
    assert st == 200
    s = json.loads(body)
    assert s["status"] == "not_ready" and s["reason"] == "not_configured"
    assert s["env_name"] == "lab-1"
    assert s["tunnels"] == {"up": 0, "max": 0}
    assert s["version"]


def test_keep_alive_reuses_one_connection(worker):
    _, port = worker()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    socks = set()
    for _ in range(5):
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert r.status == 200
        r.read()
        socks.add(id(c.sock))
    c.close()
    assert len(socks) == 1
    # Pipelined: two requests in one segment get two answers in order.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    assert out.count(b"HTTP/1.1 ") == 2
    assert out.index(b"HTTP/1.1 200") < out.index(b"HTTP/1.1 404")


def test_head_has_length_and_no_body(worker):
    _, port = worker()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    head, rest = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: 20" in head
    # The next bytes are the GET's response, not a HEAD body.
    assert rest.startswith(b"HTTP/1.1 200")
    assert rest.endswith(b'{"status":"healthy"}')


def test_404_and_405(worker):
    _, port = worker()
    st, _, _ = get(port, "/nope")
    assert st == 404
    st, hdrs, _ = get(port, "/healthz", method="POST")
    assert st == 405
    assert hdrs["Allow"] == "GET, HEAD"
    st, _, _ = get(port, "/readyz", method="DELETE")
    assert st == 405


def test_400_for_malformed_and_connection_closed(worker):
    _, port = worker()
    for bad in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\n\r\n",  # no Host
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                b"Content-Length: 2\r\n\r\n"):
        out = raw(port, bad)
        assert status_of(out) == 400, (bad, out)
        assert b"Connection: close" in out


def test_431_and_414(worker):
    _, port = worker()
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert status_of(raw(port, big)) == 431
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-%d: y\r\n" % i for i in range(40)) + b"\r\n"
    assert status_of(raw(port, many)) == 431
    long_uri = b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert status_of(raw(port, long_uri)) == 414


def test_413_request_body_refused(worker):
    _, port = worker()
    out = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert status_of(out) == 413
    out = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert status_of(out) == 413
    # An empty chunked body is no body.
    out = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status_of(out) == 200


def test_slowloris_dropped_while_others_served(worker):
    _, port = worker(HEALTH_HEADER_TIMEOUT="1s")
    served, got, elapsed = slowloris("127.0.0.1", port, lambda: get(port, "/healthz")[0])
    assert served and served[0][0] == 200 and served[0][1] < 0.5
    assert status_of(got) == 408, got
    assert 0.8 < elapsed < 2.5


def test_idle_keepalive_closed_after_idle_timeout(worker):
    _, port = worker(HEALTH_IDLE_TIMEOUT="500ms")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert s.recv(4096) == b""
        assert 0.3 < time.monotonic() - t0 < 2


def test_malformed_flood_no_crash_no_fd_leak(worker):
    p, port = worker()
    get(port, "/healthz")
    # The server may not have seen that client's close yet: settle first.
    time.sleep(0.2)
    before = nfds(p.pid)
    bad = [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
           b"GET / HTTP/1.1\r\nA\x7f: b\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
           b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           b"GET / HTTP/1.1\r\nHost: x\r\n\rX", b"POST / HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: -1\r\n\r\n"]
    deadline = time.monotonic() + 120
    codes = {}
    for i in range(10000):
        assert time.monotonic() < deadline, f"only {i} requests in 120 s"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(bad[i % len(bad)])
            try:
                st = status_of(s.recv(256))
            except ConnectionResetError:
                st = "reset"
            codes[st] = codes.get(st, 0) + 1
    assert p.poll() is None
    assert set(codes) == {400}, codes
    assert get(port, "/healthz")[0] == 200
    assert wait_until(lambda: nfds(p.pid) <= before, 5), (before, nfds(p.pid))


def test_connection_cap_evicts_oldest_idle(worker):
    _, port = worker(HEALTH_MAX_CONNECTIONS="4")
    idle = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.append(s)
        time.sleep(0.05)  # a clear age order
    # Each new client evicts the oldest idle connection and is served; it
    # stays open (and becomes the newest idle one).
    clients = []
    for n in range(2):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert r.status == 200
        r.read()
        clients.append(c)
    time.sleep(0.1)

    def closed(s):
        s.setblocking(False)
        try:
            return s.recv(1) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True

    assert [closed(s) for s in idle] == [True, True, False, False]
    for s in idle:
        s.close()
    for c in clients:
        c.close()


def test_sigterm_exits_0_within_a_second(worker):
    p, port = worker()
    get(port, "/healthz")
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=1) == 0
    assert time.monotonic() - t0 < 1


def test_sigint_exits_0(worker):
    p, _ = worker()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=1) == 0


def test_default_command_is_run(outpost_bin, spawn, port):
    p = spawn([outpost_bin], env=base_env(HTTP_PORT=port))
    assert wait_until(lambda: p.poll() is None and get_ok(port), 5)


def get_ok(port):
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:
        return False


def test_probe_exits_1_while_not_ready(outpost_bin, worker):
    _, port = worker()
    r = run([outpost_bin, "probe"], env=base_env(HTTP_PORT=port))
    assert r.returncode == 1


def test_probe_exits_1_when_nothing_listens(outpost_bin):
    r = run([outpost_bin, "probe"], env=base_env(HTTP_PORT=free_port()))
    assert r.returncode == 1


def test_probe_exits_0_on_200(outpost_bin):
    class Ready(BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if self.path == "/readyz" else 404
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Ready)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        r = run([outpost_bin, "probe"],
                env=base_env(HTTP_PORT=srv.server_address[1]))
        assert r.returncode == 0, r
    finally:
        srv.shutdown()
        srv.server_close()


def test_bad_config_exits_100(outpost_bin):
    r = run([outpost_bin, "run"], env=base_env(MAX_TUNNELS_ALLOWED="-1",
                                                HTTP_PORT="0"))
    assert r.returncode == 100
    assert "MAX_TUNNELS_ALLOWED" in r.stderr and "HTTP_PORT" in r.stderr


def test_port_in_use_exits_111(outpost_bin, port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen()
        r = run([outpost_bin, "run"], env=base_env(HTTP_PORT=port))
    assert r.returncode == 111
    assert "health port" in r.stderr


def test_version_and_licenses(outpost_bin):
    r = run([outpost_bin, "version"])
    assert r.returncode == 0
    for dep in ("BearSSL", "nghttp2 1.", "c-ares 1.", "PCRE2 10.", "protobuf-c 1.", "zlib 1."):
        assert dep in r.stdout, r.stdout
    assert "bearssl 0.6" in r.stdout
    lic = run([outpost_bin, "version", "--licenses"])
    assert lic.returncode == 0
    for name in ("bearssl", "c-ares", "nghttp2", "pcre2", "protobuf-c", "zlib"):
        assert f"==== {name} ====" in lic.stdout
    assert "Copyright" in lic.stdout


def test_help_and_unknown_command(outpost_bin):
    assert run([outpost_bin, "help"]).returncode == 0
    r = run([outpost_bin, "frobnicate"])
    assert r.returncode == 100
    assert "unknown command" in r.stderr


def test_ipv6_listener(worker):
    _, port = worker()
    if not socket.has_ipv6:
        import pytest
        pytest.skip("no IPv6 here")
    try:
        s = socket.create_connection(("::1", port), timeout=5)
    except OSError as e:
        import pytest
        pytest.skip(f"no IPv6 loopback: {e}")
    with s:
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    # HTTP/1.0 without keep-alive: answered, then closed by the server.
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in out


def test_logs_are_json_lines_at_env_level(worker):
    p, port = worker(ENV_LEVEL="debug")
    get(port, "/nope")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=1) == 0
    lines = [json.loads(l) for l in p.stderr.read().decode().splitlines()]
    assert all({"ts", "level", "msg"} <= set(l) for l in lines), lines
    assert any(l["level"] == "debug" and "404" in l["msg"] for l in lines), lines
    assert any(l["level"] == "info" and "signal" in l["msg"] for l in lines)


def test_log_level_filters(worker):
    p, port = worker(ENV_LEVEL="warn")
    get(port, "/nope")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=1) == 0
    lines = [json.loads(l) for l in p.stderr.read().decode().splitlines()]
    assert all(l["level"] in ("warn", "error") for l in lines), lines


def test_connection_cap_evicts_slow_senders_when_none_idle(worker):
    _, port = worker(HEALTH_MAX_CONNECTIONS="2", HEALTH_HEADER_TIMEOUT="10s")
    slow = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        slow.append(s)
        time.sleep(0.05)
    t = time.monotonic()
    assert get(port, "/healthz")[0] == 200
    assert time.monotonic() - t < 0.5
    slow[0].settimeout(2)
    assert slow[0].recv(100) == b""  # the oldest slow sender was evicted
    slow[1].setblocking(False)
    try:
        assert slow[1].recv(100) != b""
    except BlockingIOError:
        pass  # still open, as it should be
    for s in slow:
        s.close()


def trickle(port, data):
    """Send one byte per segment, then read the answer until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            try:
                s.send(data[i:i + 1])
            except OSError:
                break  # the server answered early and closed
            if i % 64 == 0:
                time.sleep(0.001)
        s.settimeout(5)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_head_sent_a_byte_at_a_time(worker):
    _, port = worker()
    out = trickle(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nA: b\r\n"
                        b"Connection: close\r\n\r\n")
    assert status_of(out) == 200
    out = trickle(port, b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(out) == 414
    out = trickle(port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 9000 + b"\r\n\r\n")
    assert status_of(out) == 431


def test_sigterm_exits_0_within_a_second_while_dialling(worker):
    p, port = worker(TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{free_port()}")
    time.sleep(0.3)  # a dial or two has failed by now
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=1) == 0
    assert time.monotonic() - t0 < 1


def test_accept_pauses_on_emfile(outpost_bin, spawn, port):
    """The health port shares the edge's accept loop (net_listener): out of
    descriptors, it pauses instead of spinning, and serves again after."""
    import resource

    from test_edge_frontdoor import cpu_seconds

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))
    p = spawn([outpost_bin, "run"], env=base_env(HTTP_PORT=port), preexec_fn=limit)
    assert wait_until(lambda: p.poll() is not None or port_answers(port), 5)
    assert p.poll() is None
    cpu0 = cpu_seconds(p.pid)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(30)]
    time.sleep(2)
    assert cpu_seconds(p.pid) - cpu0 < 1.0
    for s in socks:
        s.close()
    assert wait_until(lambda: get_ok(port), 10)
    p.terminate()
    p.wait(timeout=10)
    text = p.stderr.read().decode()
    assert "http: accept: " in text and "pausing" in text, text[-2000:]
    assert text.count("\n") < 300, text[-2000:]
