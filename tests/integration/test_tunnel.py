"""The tunnel connector against the independent grpc-js controller and a
real nginx upstream: every behaviour of the connector.v1 tunnel."""
import os
import socket
import threading
import time

import pytest

from conftest import base_env, free_port, run, wait_until
from controllerlib import Controller, make_pki
from tunnellib import (answer, ask, body_of, connector_env, get, headers_of,
                       log_lines, readyz, rss_kib, send_async,
                       start_connector, wait_tunnels)
from test_sntp import Responder
from upstream import Nginx, Squid


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def nginx(tmp_path):
    with Nginx(tmp_path / "nginx") as n:
        yield n


@pytest.fixture
def h2c():
    with Controller() as c:
        yield c


@pytest.fixture
def mtls(pki):
    with Controller(tls=True, pki=pki) as c:
        yield c


@pytest.fixture
def connected(h2c, spawn, outpost_bin):
    """One connector with one tunnel to an h2c controller: (ctl, proc, tunnel)."""
    p = start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=1))
    t = h2c.wait_tunnel()
    return h2c, p, t["tunnel"]


def hello(ctl, tunnel):
    return ctl.wait(lambda e: e["event"] == "message" and e["tunnel"] == tunnel and
                    "health_check_response" in e["msg"], since=0)["msg"]


def test_mtls_tunnels_open_with_unsolicited_health(mtls, pki, spawn, outpost_bin):
    p = start_connector(spawn, outpost_bin, connector_env(mtls, pki, MAX_TUNNELS_ALLOWED=2))
    tunnels = wait_tunnels(mtls, 2)
    for t in tunnels:
        m = hello(mtls, t["tunnel"])
        assert m["health_check_response"]["status"] == "healthy"
        assert m["request_id"]
    opened = [e for e in mtls.events if e["event"] == "tunnel_open"]
    assert opened[0]["uris"] == ["spiffe://outpost.test/connector/test"]
    assert wait_until(lambda: readyz(p.health_port)[0] == 200, 5)
    st, body = readyz(p.health_port)
    assert (st, body["status"], body["active_tunnels"]) == (200, "ready", 2)
    probe = run([outpost_bin, "probe"], env=base_env(HTTP_PORT=p.health_port))
    assert probe.returncode == 0, probe


@pytest.mark.parametrize("client", ["test-rsa", "p384", "rsa8", "chain"])
def test_mtls_client_key_kinds(client, mtls, pki, spawn, outpost_bin):
    start_connector(spawn, outpost_bin, connector_env(mtls, pki, client=client,
                                                      MAX_TUNNELS_ALLOWED=1))
    t = mtls.wait_tunnel()
    assert t["uris"] == ["spiffe://outpost.test/connector/test"]


def test_tunnel_call_announces_capabilities(h2c, spawn, outpost_bin):
    """spec/enrollment.md: the Tunnel call carries outpost-capabilities."""
    start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=1))
    t = h2c.wait_tunnel()
    assert t["capabilities"] == ["enroll,renew,stream"]


def test_h2c_metadata_and_health(connected):
    ctl, p, t = connected
    hello(ctl, t)
    ctl.cmd(cmd="metadata", tunnel=t, request_id="md-1")
    md = ctl.wait_message(lambda m: m.get("request_id") == "md-1")["msg"]["metadata_response"]
    assert len(md["connection_uuid"]) == 36
    assert md["hostname"] == socket.gethostname()
    assert md["max_concurrent_requests"] == 10
    ctl.cmd(cmd="health", tunnel=t, request_id="hc-1")
    hc = ctl.wait_message(lambda m: m.get("request_id") == "hc-1")["msg"]["health_check_response"]
    assert hc["status"] == "healthy"


def test_get_and_put_1mib_byte_exact(connected, nginx):
    ctl, p, t = connected
    blob = os.urandom(1 << 20)
    m = ask(ctl, t, "PUT", nginx.url("/dav/blob.bin"), body=blob)
    assert m["http_response"]["http_status"] in (201, 204)
    m = ask(ctl, t, "GET", nginx.url("/dav/blob.bin"))
    assert m["http_response"]["http_status"] == 200
    assert body_of(m) == blob
    m = ask(ctl, t, "POST", nginx.url("/echo"), body=blob,
            headers=[("Content-Type", "application/octet-stream")])
    assert body_of(m) == blob


def test_repeated_set_cookie_kept_in_order(connected, nginx):
    ctl, p, t = connected
    m = ask(ctl, t, "GET", nginx.url("/cookies"))
    cookies = [v for k, v in headers_of(m) if k.lower() == "set-cookie"]
    assert cookies == ["a=1; Path=/", "b=2, c=3"]


def test_hop_by_hop_dropped_both_ways(connected, nginx):
    ctl, p, t = connected
    m = ask(ctl, t, "GET", nginx.url("/hop"), headers=[
        ("Connection", "X-Hop-Probe"), ("X-Hop-Probe", "secret"), ("X-Keep", "kept"),
        ("Keep-Alive", "timeout=1"), ("Proxy-Authorization", "Basic Zm9vOmJhcg==")])
    h = {k.lower(): v for k, v in headers_of(m)}
    assert h["x-seen-probe"] == "[]"
    assert h["x-seen-keep"] == "[kept]"
    assert "keep-alive" not in h and "connection" not in h
    assert "transfer-encoding" not in h


def test_error_statuses_are_responses(connected, nginx):
    ctl, p, t = connected
    assert ask(ctl, t, "GET", nginx.url("/nope"))["http_response"]["http_status"] == 404
    m = ask(ctl, t, "GET", nginx.url("/fail"))
    assert m["http_response"]["http_status"] == 500 and body_of(m) == b"boom\n"


def error_reason(m):
    er = m["error_response"]
    assert er["code"] == "UPSTREAM_ERROR"
    assert er["message"].startswith("[" + er["reason"] + "] ")
    return er["reason"]


def test_bad_method_and_url(connected):
    ctl, p, t = connected
    assert error_reason(ask(ctl, t, "TRACE", "http://127.0.0.1/")) == "bad_request"
    assert error_reason(ask(ctl, t, "get", "http://127.0.0.1/")) == "bad_request"
    assert error_reason(ask(ctl, t, "GET", "ftp://127.0.0.1/")) == "bad_request"
    assert error_reason(ask(ctl, t, "GET", "/relative")) == "bad_request"


def test_refused_and_dns_failures(h2c, spawn, outpost_bin):
    dead_dns = free_port()
    start_connector(spawn, outpost_bin, connector_env(
        h2c, MAX_TUNNELS_ALLOWED=1, DNS_SERVERS=f"127.0.0.1:{dead_dns}"))
    t = h2c.wait_tunnel()["tunnel"]
    assert error_reason(ask(h2c, t, "GET", f"http://127.0.0.1:{free_port()}/")) == "refused"
    assert error_reason(ask(h2c, t, "GET", "http://no-such-host.invalid/")) == "dns"


def test_upstream_hang_times_out(h2c, spawn, outpost_bin):
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    try:
        start_connector(spawn, outpost_bin, connector_env(
            h2c, MAX_TUNNELS_ALLOWED=1, REQUEST_TIMEOUT="1s"))
        t = h2c.wait_tunnel()["tunnel"]
        start = time.monotonic()
        m = ask(h2c, t, "GET", f"http://127.0.0.1:{hang.getsockname()[1]}/")
        assert error_reason(m) == "timeout"
        assert time.monotonic() - start < 5
    finally:
        hang.close()


def test_over_limit_response_is_too_large_and_rss_bounded(h2c, nginx, spawn, outpost_bin):
    nginx.write("big.bin", os.urandom(3 << 20))
    p = start_connector(spawn, outpost_bin, connector_env(
        h2c, MAX_TUNNELS_ALLOWED=1, MAX_RESPONSE_BODY_SIZE_MB=1))
    t = h2c.wait_tunnel()["tunnel"]
    for _ in range(5):
        assert error_reason(ask(h2c, t, "GET", nginx.url("/big.bin"))) == "too_large"
    assert rss_kib(p.pid) < 16 * 1024


def test_concurrency_limit_answers_overloaded(h2c, spawn, outpost_bin):
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    try:
        start_connector(spawn, outpost_bin, connector_env(
            h2c, MAX_TUNNELS_ALLOWED=1, MAX_CONCURRENT_REQUESTS=2, REQUEST_TIMEOUT="3s"))
        t = h2c.wait_tunnel()["tunnel"]
        url = f"http://127.0.0.1:{hang.getsockname()[1]}/"
        slow = [send_async(h2c, t, "GET", url) for _ in range(2)]
        time.sleep(0.3)
        assert error_reason(ask(h2c, t, "GET", url, timeout=5)) == "overloaded"
        assert [error_reason(answer(h2c, r)) for r in slow] == ["timeout", "timeout"]
    finally:
        hang.close()


def test_h2c_loopback_only_without_override(h2c, outpost_bin):
    from conftest import base_env, run
    r = run([outpost_bin, "run"], env=base_env(
        TRAVERSAL_CONTROLLER_URL="http://edge.example:80", HTTP_PORT=free_port()))
    assert r.returncode == 100
    assert "ALLOW_INSECURE_CONTROLLER" in r.stderr


def test_200_concurrent_requests_across_tunnels(h2c, nginx, spawn, outpost_bin):
    for i in range(20):
        nginx.write(f"f{i}.txt", f"file {i}\n".encode() * (i + 1))
    start_connector(spawn, outpost_bin, connector_env(
        h2c, MAX_TUNNELS_ALLOWED=4, MAX_CONCURRENT_REQUESTS=64))
    tunnels = [t["tunnel"] for t in wait_tunnels(h2c, 4)]
    rids = {}
    for n in range(200):
        i = n % 20
        rids[send_async(h2c, tunnels[n % 4], "GET", nginx.url(f"/f{i}.txt"))] = i
    for rid, i in rids.items():
        m = answer(h2c, rid, timeout=30)
        assert body_of(m) == f"file {i}\n".encode() * (i + 1)


def test_start_close_under_load_loses_nothing(h2c, nginx, spawn, outpost_bin):
    nginx.write("x.txt", b"x" * 1000)
    p = start_connector(spawn, outpost_bin, connector_env(
        h2c, MAX_TUNNELS_ALLOWED=1, MAX_CONCURRENT_REQUESTS=32))
    old = h2c.wait_tunnel()["tunnel"]
    inflight = [send_async(h2c, old, "GET", nginx.url("/x.txt")) for _ in range(20)]
    h2c.cmd(cmd="start_close", tunnel=old, request_id="sc-1")
    for rid in inflight:
        m = answer(h2c, rid)
        assert m["http_response"]["http_status"] == 200
    new = h2c.wait(lambda e: e["event"] == "tunnel_open" and e["tunnel"] != old,
                   since=0)
    closed = h2c.wait(lambda e: e["event"] == "tunnel_closed" and e["tunnel"] == old,
                      since=0)
    assert h2c.events.index(new) < h2c.events.index(closed)
    assert body_of(ask(h2c, new["tunnel"], "GET", nginx.url("/x.txt"))) == b"x" * 1000
    assert wait_until(lambda: readyz(p.health_port)[0] == 200, 5)


def test_edge_killed_then_back(spawn, outpost_bin):
    port = free_port()
    ctl = Controller(port=port)
    p = start_connector(spawn, outpost_bin, connector_env(ctl, MAX_TUNNELS_ALLOWED=2))
    try:
        wait_tunnels(ctl, 2)
        assert wait_until(lambda: readyz(p.health_port)[0] == 200, 5)
    finally:
        ctl.close()
    assert wait_until(lambda: readyz(p.health_port)[0] == 503, 5)
    with Controller(port=port) as back:
        wait_tunnels(back, 2, timeout=15)
        assert wait_until(lambda: readyz(p.health_port)[0] == 200, 5)


@pytest.mark.parametrize("server,reason", [
    ("server_wrongca", "unknown_ca"), ("server_expired", "expired"),
    ("server_badname", "hostname")])
def test_bad_server_certificate_never_connects(server, reason, pki, spawn, outpost_bin):
    with Controller(tls=True, pki=pki, server=server) as ctl:
        p = start_connector(spawn, outpost_bin, connector_env(ctl, pki, MAX_TUNNELS_ALLOWED=1))
        assert wait_until(lambda: readyz(p.health_port)[1] not in (None,) and
                          readyz(p.health_port)[1].get("reason") == reason, 10), \
            readyz(p.health_port)
        time.sleep(0.5)
        assert [e for e in ctl.events if e["event"] == "tunnel_open"] == []
        st, status = get(p.health_port, "/status")
        assert status["detail"]["slots"][0]["last_error"] == reason
        p.terminate()
        p.wait(5)
        assert any(reason in l.get("msg", "") for l in log_lines(p))


def test_outage_stays_within_dial_budget(spawn, outpost_bin):
    port = free_port()  # nothing listens: every dial is refused
    env = dict(HTTP_PORT=free_port(), TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{port}",
               MAX_TUNNELS_ALLOWED=4, RECONNECT_INTERVAL="100ms", MAX_BACKOFF_DELAY="200ms",
               DIAL_BUDGET=6)
    p = start_connector(spawn, outpost_bin, env)
    assert wait_until(lambda: readyz(p.health_port)[0] == 503, 5)
    outage = 8.0
    time.sleep(outage)
    assert p.poll() is None
    _, text = get(p.health_port, "/metrics")
    dials = sum(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("outpost_dials_total{"))
    # The bucket starts full (6) and refills 6 per minute.
    bound = 6 + 6 * (outage + 1) / 60
    assert 1 <= dials <= bound, (dials, bound)


def test_mtls_through_egress_proxy(mtls, pki, tmp_path, spawn, outpost_bin):
    with Squid(mtls.port) as sq:
        p = start_connector(spawn, outpost_bin, connector_env(
            mtls, pki, MAX_TUNNELS_ALLOWED=1,
            EGRESS_PROXY_URL=f"http://127.0.0.1:{sq.port}"))
        t = mtls.wait_tunnel(timeout=15)
        assert t["uris"] == ["spiffe://outpost.test/connector/test"]
        assert wait_until(lambda: readyz(p.health_port)[0] == 200, 5)
        p.terminate()
        assert p.wait(10) == 0
        # squid logs a CONNECT when the tunnel through it ends.
        assert wait_until(lambda: sq.connects(), 5), "squid logged no CONNECT"
        assert f"127.0.0.1:{mtls.port}" in sq.connects()[0]


def test_proxy_refusal_is_a_typed_error(h2c, tmp_path, spawn, outpost_bin):
    with Squid(free_port()) as sq:  # allows another port only
        p = start_connector(spawn, outpost_bin, connector_env(
            h2c, MAX_TUNNELS_ALLOWED=1, EGRESS_PROXY_URL=f"http://127.0.0.1:{sq.port}"))
        assert wait_until(lambda: (readyz(p.health_port)[1] or {}).get("reason") == "proxy",
                          10), readyz(p.health_port)
        assert [e for e in h2c.events if e["event"] == "tunnel_open"] == []


def test_sigterm_finishes_in_flight_then_exits_0(h2c, spawn, outpost_bin):
    slow = socket.socket()
    slow.bind(("127.0.0.1", 0))
    slow.listen(4)

    def answer_late():
        c, _ = slow.accept()
        c.recv(65536)
        time.sleep(1.0)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
        time.sleep(0.5)
        c.close()

    th = threading.Thread(target=answer_late, daemon=True)
    th.start()
    try:
        p = start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=1))
        t = h2c.wait_tunnel()["tunnel"]
        rid = send_async(h2c, t, "GET", f"http://127.0.0.1:{slow.getsockname()[1]}/")
        time.sleep(0.3)
        p.terminate()
        m = answer(h2c, rid, timeout=10)
        assert body_of(m) == b"late"
        assert p.wait(10) == 0
    finally:
        slow.close()


def test_clean_close_redials_at_once_but_repeats_back_off(h2c, spawn, outpost_bin):
    start_connector(spawn, outpost_bin, connector_env(
        h2c, MAX_TUNNELS_ALLOWED=1, RECONNECT_INTERVAL="3s", MAX_BACKOFF_DELAY="3s"))
    t = h2c.wait_tunnel()["tunnel"]
    gaps = []
    for _ in range(3):
        hello(h2c, t)
        h2c.cmd(cmd="close", tunnel=t)
        closed = time.monotonic()
        t = h2c.wait_tunnel(timeout=10)["tunnel"]
        gaps.append(time.monotonic() - closed)
    # A rebalance is re-dialled at once; the third close in a row right
    # after opening is treated as a failure and waits RECONNECT_INTERVAL.
    assert gaps[0] < 1.0 and gaps[1] < 1.0, gaps
    assert gaps[2] >= 2.5, gaps


@pytest.mark.parametrize("client", ["wrongca", "expired"])
def test_client_certificate_refused_by_the_edge(client, mtls, pki, spawn, outpost_bin):
    p = start_connector(spawn, outpost_bin, connector_env(
        mtls, pki, client=client, MAX_TUNNELS_ALLOWED=1))
    refused = ("peer_rejected", "handshake_closed")
    assert wait_until(lambda: (readyz(p.health_port)[1] or {}).get("reason") in refused,
                      10), readyz(p.health_port)
    assert [e for e in mtls.events if e["event"] == "tunnel_open"] == []


def test_time_is_synced_before_the_first_dial(h2c, spawn, outpost_bin):
    # skew 0: the offset is below the step threshold, so the host clock
    # is never touched even when the test runs as root.
    ntp = Responder(skew=0)
    try:
        start_connector(spawn, outpost_bin, connector_env(
            h2c, MAX_TUNNELS_ALLOWED=1, NTP_SERVERS=f"127.0.0.1:{ntp.port}"))
        h2c.wait_tunnel(timeout=10)
        assert ntp.asked >= 1
    finally:
        ntp.close()


def test_no_time_no_tunnel(h2c, spawn, outpost_bin):
    ntp = Responder(how="silent")
    try:
        p = start_connector(spawn, outpost_bin, connector_env(
            h2c, MAX_TUNNELS_ALLOWED=1, NTP_SERVERS=f"127.0.0.1:{ntp.port}"))
        assert wait_until(lambda: (readyz(p.health_port)[1] or {}).get("reason") ==
                          "time_sync", 5)
        time.sleep(3)
        assert ntp.asked >= 1
        assert [e for e in h2c.events if e["event"] == "tunnel_open"] == []
        assert readyz(p.health_port)[1]["reason"] == "time_sync"
    finally:
        ntp.close()


class SlowUpstream:
    """An HTTP/1.1 upstream answering each of up to n requests after delay s."""

    def __init__(self, n, delay):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(n)
        self.sock.settimeout(15)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.delay = delay
        self.thread = threading.Thread(target=self._serve, args=(n,), daemon=True)
        self.thread.start()

    def _answer(self, c):
        with c:
            c.recv(65536)
            time.sleep(self.delay)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlate")

    def _serve(self, n):
        for _ in range(n):
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(c,), daemon=True).start()

    def close(self):
        self.sock.close()


def test_start_close_with_a_silent_controller_ends_the_old_call_at_once(h2c, spawn, outpost_bin):
    """#10 item 1: grpc-js sends response headers lazily, with its first
    message, so a replacement the controller never wrote to must count once
    the edge acked a PING sent behind its HEADERS; the old call then ends
    as soon as its in-flight requests are done, not at DRAIN_TIMEOUT."""
    up = SlowUpstream(3, delay=1.0)
    try:
        start_connector(spawn, outpost_bin, connector_env(
            h2c, MAX_TUNNELS_ALLOWED=1, DRAIN_TIMEOUT="30s"))
        old = h2c.wait_tunnel()["tunnel"]
        hello(h2c, old)
        inflight = [send_async(h2c, old, "GET", up.url) for _ in range(3)]
        start = time.monotonic()
        h2c.cmd(cmd="start_close", tunnel=old, request_id="sc-1")
        answers = [h2c.wait(lambda e, rid=rid: e["event"] == "message" and
                            e["msg"].get("request_id") == rid, timeout=10, since=0)
                   for rid in inflight]
        closed = h2c.wait(lambda e: e["event"] == "tunnel_closed" and e["tunnel"] == old,
                          timeout=10, since=0)
        ended = time.monotonic() - start
        new = h2c.wait(lambda e: e["event"] == "tunnel_open" and e["tunnel"] != old,
                       since=0)
        assert [body_of(a["msg"]) for a in answers] == [b"late"] * 3
        assert ended < 5, f"old call ended {ended:.1f}s after START_CLOSE"
        assert closed["why"] == "ended"
        order = [h2c.events.index(e) for e in [new] + answers + [closed]]
        assert order[0] < order[-1] and max(order[1:-1]) < order[-1], order
        # The controller never wrote to the replacement: no headers reached it.
        sent = [e for e in h2c.events if e["event"] == "reply" and e.get("cmd") in
                ("send", "http", "health", "metadata") and e.get("tunnel") == new["tunnel"]]
        assert sent == []
    finally:
        up.close()
