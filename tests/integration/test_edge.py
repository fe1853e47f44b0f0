"""outpost-edge end to end: front door → edge → mTLS tunnel → `outpost run`
→ a real HTTP upstream on loopback.  One behaviour per test."""
import concurrent.futures
import hashlib
import os
import signal
import threading
import time

import pytest

from conftest import wait_until
from edgelib import Edge, Upstream, connector, dev_pki

VERSION = open(os.path.join(os.path.dirname(__file__), "../../VERSION")).read().strip()

HB = 0.3  # HEARTBEAT_INTERVAL in seconds for these tests


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha", "beta")


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def setup(outpost_bin, outpost_edge_bin, pki, tmp_path, upstream):
    """edge + connectors by name; everything is stopped at teardown."""
    procs = []

    def start(*names, **edge_settings):
        edge = Edge(outpost_edge_bin, str(tmp_path), pki,
                    HEARTBEAT_INTERVAL=f"{int(HB * 1000)}ms", **edge_settings)
        procs.append(edge)
        conns = {}
        for n in names:
            conns[n] = connector(outpost_bin, str(tmp_path), edge, pki, n)
            procs.append(conns[n])
            edge.wait_tunnels(n, 2)
        return edge, conns

    yield start
    for p in reversed(procs):
        p.stop()


def served(edge, name):
    return {t["id"]: t["served"] for t in edge.state(name)["tunnels"]}


def test_two_connectors_two_tunnels_routing_by_name(setup, upstream):
    edge, conns = setup("alpha", "beta")
    st = edge.state()
    by_name = {c["name"]: c for c in st["connectors"]}
    assert set(by_name) == {"alpha", "beta"}
    for c in by_name.values():
        assert c["state"] == "online"
        assert len(c["tunnels"]) == 2
        assert all(t["transport"] == "mtls" and t["hostname"] for t in c["tunnels"])
        assert all(t["user_agent"] == "outpost/" + VERSION for t in c["tunnels"])
    s, _, b = edge.proxy("alpha", f"{upstream.hostport}/hello?x=1")
    assert s == 200 and b'"path": "/hello?x=1"' in b
    assert edge.state("alpha")["requests"] == 1
    assert edge.state("beta")["requests"] == 0
    # Routing is by name: with beta gone, alpha still answers and beta is 503.
    conns["beta"].stop(signal.SIGKILL)
    assert wait_until(lambda: edge.state("beta")["state"] == "offline", 5)
    assert edge.proxy("beta", f"{upstream.hostport}/")[0] == 503
    assert edge.proxy("alpha", f"{upstream.hostport}/")[0] == 200


def test_least_loaded_tunnel_is_chosen(setup, upstream):
    edge, _ = setup("alpha")
    slow = threading.Thread(target=edge.proxy, args=("alpha", f"{upstream.hostport}/slow/3000"))
    slow.start()
    try:
        busy = wait_until(lambda: [t["id"] for t in edge.state("alpha")["tunnels"]
                                   if t["in_flight"] == 1], 3, 0.02)
        assert busy, "the slow request never showed as in flight"
        before = served(edge, "alpha")
        for _ in range(6):
            assert edge.proxy("alpha", f"{upstream.hostport}/fast")[0] == 200
        after = served(edge, "alpha")
        assert after[busy[0]] == before[busy[0]], "a request went to the busy tunnel"
        assert sum(after.values()) - sum(before.values()) == 6
    finally:
        slow.join(5)


def test_heartbeat_loss_marks_offline_and_stops_routing(setup, upstream):
    edge, conns = setup("alpha")
    pid = conns["alpha"].p.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        assert wait_until(lambda: edge.state("alpha")["state"] == "offline", 10 * HB, 0.02)
        took = time.monotonic() - t0
        # Offline at 3 intervals after the last answer, which came before the loss.
        assert took <= 3 * HB + 0.3, took
        st = edge.state("alpha")
        assert all(t["state"] == "offline" for t in st["tunnels"]), st
        before = st["requests"]
        s, _, b = edge.proxy("alpha", f"{upstream.hostport}/")
        assert s == 503, b
        assert edge.state("alpha")["requests"] == before
    finally:
        os.kill(pid, signal.SIGCONT)
    # Answers resume: routable again.
    assert wait_until(lambda: edge.state("alpha")["state"] == "online", 5)
    assert edge.proxy("alpha", f"{upstream.hostport}/")[0] == 200


def test_connector_killed_gives_503(setup, upstream):
    edge, conns = setup("alpha")
    assert edge.proxy("alpha", f"{upstream.hostport}/")[0] == 200
    conns["alpha"].stop(signal.SIGKILL)
    assert wait_until(lambda: edge.state("alpha")["tunnels"] == [], 5)
    s, _, b = edge.proxy("alpha", f"{upstream.hostport}/")
    assert s == 503 and b'"no_tunnel"' in b
    assert edge.proxy("nobody", f"{upstream.hostport}/")[0] == 404


def test_drain_under_request_loop_has_zero_failures(setup, upstream):
    edge, _ = setup("alpha")
    ids = [t["id"] for t in edge.state("alpha")["tunnels"]]
    stop = threading.Event()
    results = []

    def loop():
        deadline = time.monotonic() + 15
        while not stop.is_set() and time.monotonic() < deadline:
            s, _, b = edge.proxy("alpha", f"{upstream.hostport}/slow/20")
            results.append((s, b))

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(loop) for _ in range(4)]
        time.sleep(0.5)
        s, _, b = edge.request("POST", f"/v1/connectors/alpha/tunnels/{ids[0]}/drain")
        assert s == 202, b
        # The drained tunnel goes away and a replacement arrives.
        assert wait_until(lambda: ids[0] not in [t["id"] for t in edge.state("alpha")["tunnels"]]
                          and len(edge.state("alpha")["tunnels"]) == 2, 10)
        time.sleep(0.5)
        stop.set()
        for f in futs:
            f.result(20)
    failed = [r for r in results if r[0] != 200]
    assert results and not failed, failed[:3]


def test_front_door_requires_the_token(setup, upstream):
    edge, _ = setup()
    for path in ("/v1/connectors", "/v1/connectors/alpha",
                 f"/v1/connectors/alpha/proxy/http/{upstream.hostport}/"):
        assert edge.request("GET", path, token=None)[0] == 401
        assert edge.request("GET", path, token="Bearer wrong")[0] == 401
        assert edge.request("GET", path, token=f"Bearer {edge.token}x")[0] == 401
        same_len = edge.token[:-1] + ("0" if edge.token[-1] != "0" else "1")
        assert edge.request("GET", path, token=f"Bearer {same_len}")[0] == 401
        assert edge.request("GET", path, token=f"Basic {edge.token}")[0] == 401
    s, h, _ = edge.request("GET", "/v1/connectors", token=None)
    assert ("WWW-Authenticate", 'Bearer realm="outpost-edge"') in h
    assert edge.request("GET", "/v1/connectors")[0] == 200


def test_repeated_set_cookie_survives_the_full_path(setup, upstream):
    edge, _ = setup("alpha")
    s, h, b = edge.proxy("alpha", f"{upstream.hostport}/cookies")
    assert s == 200 and b == b"cookies\n"
    cookies = [v for k, v in h if k.lower() == "set-cookie"]
    assert cookies == ["a=1; Path=/", "b=2; Path=/"]


def test_16mib_body_both_ways(setup, upstream):
    edge, _ = setup("alpha")
    body = os.urandom(16 << 20)
    s, h, b = edge.proxy("alpha", f"{upstream.hostport}/echo", method="POST", body=body,
                         headers={"Content-Type": "application/octet-stream"})
    assert s == 200, b[:300]
    assert len(b) == len(body) and hashlib.sha256(b).digest() == hashlib.sha256(body).digest()
    assert dict((k.lower(), v) for k, v in h)["x-body-sha256"] == hashlib.sha256(body).hexdigest()


def test_upstream_failure_is_502_with_typed_reason(setup, upstream):
    edge, _ = setup("alpha")
    from conftest import free_port
    s, _, b = edge.proxy("alpha", f"127.0.0.1:{free_port()}/")
    assert s == 502
    assert b'"error":"upstream_error"' in b and b'"reason":"refused"' in b, b


def test_h2c_loopback_with_the_real_connector(outpost_bin, outpost_edge_bin, tmp_path, upstream):
    """EDGE_H2C: an http:// controller URL; the connector is named by its hostname."""
    import socket
    from edgelib import Proc
    from conftest import base_env, free_port
    edge = Edge(outpost_edge_bin, str(tmp_path), None, HEARTBEAT_INTERVAL="1s")
    hport = free_port()
    conn = Proc([outpost_bin, "run"],
                base_env(TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{edge.tport}", HTTP_PORT=hport),
                str(tmp_path / "outpost.log"))
    try:
        assert wait_until(lambda: edge.state()["connectors"], 10)
        name = edge.state()["connectors"][0]["name"]
        assert name.split(".")[0] == socket.gethostname().split(".")[0]
        st = edge.wait_tunnels(name, 2)
        assert all(t["hostname"] == name for t in st["tunnels"])
        assert all(t["transport"] == "h2c" for t in st["tunnels"])
        s, _, b = edge.proxy(name, f"{upstream.hostport}/h2c")
        assert s == 200 and b'"path": "/h2c"' in b
    finally:
        conn.stop()
        edge.stop()


def test_connector_without_identity_is_refused(outpost_bin, outpost_edge_bin, pki, tmp_path):
    """The edge's own server certificate chains to the CA but names no connector."""
    from edgelib import Proc
    from conftest import base_env, free_port
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    conn = Proc([outpost_bin, "run"],
                base_env(TRAVERSAL_CONTROLLER_URL=edge.url, TLS_CERT_FILE=f"{pki}/edge.pem",
                         TLS_KEY_FILE=f"{pki}/edge.key", TLS_CA_FILE=f"{pki}/ca.pem",
                         HTTP_PORT=free_port()),
                str(tmp_path / "outpost.log"))
    try:
        assert wait_until(lambda: "refused: no identity" in edge.proc.text(), 10), edge.proc.text()
        assert edge.state()["connectors"] == []
        assert conn.alive()
    finally:
        conn.stop()
        edge.stop()
