"""The tunnel checks over a tap device: the lwIP build of outpost (its own
TCP/IP stack on tap0) and the POSIX build (the kernel's stack) side by side
in one namespace, against outpost-edge, dnsmasq and nginx in another one
(lwipnet.py).  Every check runs against both builds ("site"); the helpers
are tests/integration's (edgelib, upstream, conftest), not copies.

Run by `make lwip-integration` (part of `make test`), as root: it creates
network namespaces and a tap device.
"""
import concurrent.futures
import hashlib
import http.client
import json
import os
import signal
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from conftest import base_env, run, wait_until  # noqa: E402
from edgelib import Edge, Proc, dev_pki  # noqa: E402
from healthlib import slowloris  # noqa: E402
from upstream import Nginx  # noqa: E402

import lwipnet  # noqa: E402
from lwipnet import EDGE_ADDR, LWIP_ADDR, LWIP_ADDR6, POSIX_ADDR, TAP  # noqa: E402

NAME = "lw"
EDGE_NAME = "edge.lwip.test"
UPSTREAM_NAME = "nginx.lwip.test"
HTTP_PORT = 8080
HB = 0.3  # the edge's HEARTBEAT_INTERVAL, seconds


def _bin(var):
    path = os.environ.get(var)
    if not path or not os.path.isfile(path):
        pytest.fail(f"{var} must name the binary under test (run `make lwip-integration`)")
    return path


if os.geteuid() != 0:
    pytest.fail("tests/lwip create network namespaces and a tap device: run as root",
                pytrace=False)


@pytest.fixture(scope="module")
def net():
    n = lwipnet.Net()
    yield n
    n.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), NAME)


@pytest.fixture(scope="module")
def dns(net, tmp_path_factory):
    d = lwipnet.Dnsmasq(str(tmp_path_factory.mktemp("dns")),
                        {EDGE_NAME: EDGE_ADDR, UPSTREAM_NAME: EDGE_ADDR})
    yield d
    d.close()


@pytest.fixture(scope="module")
def nginx(net, tmp_path_factory):
    with Nginx(tmp_path_factory.mktemp("nginx"), host=EDGE_ADDR) as n:
        n.hostport = f"{UPSTREAM_NAME}:{n.port}"
        yield n


def start_edge(tmp, pki, tport=None):
    """outpost-edge, its tunnel listener on EDGE_ADDR (port tport if given)."""
    extra = {"EDGE_LISTEN": f"{EDGE_ADDR}:{tport}"} if tport else {}
    e = Edge(_bin("OUTPOST_EDGE_BIN"), tmp, pki, listen=EDGE_ADDR,
             HEARTBEAT_INTERVAL=f"{int(HB * 1000)}ms", EDGE_API_MAX_CONNECTIONS=256, **extra)
    if tport:
        e.tport = tport
    return e


@pytest.fixture
def edge(net, dns, pki, tmp_path):
    e = start_edge(str(tmp_path), pki)
    yield e
    e.stop()


class Site:
    """One build of outpost in the connector namespace, on its address."""

    def __init__(self, kind, net, tmp, pki):
        self.kind, self.net, self.tmp, self.pki = kind, net, tmp, pki
        self.procs = []
        if kind == "lwip":
            self.binary = _bin("OUTPOST_LWIP_BIN")
            self.host = LWIP_ADDR
            self.env = dict(LWIP_TAP=TAP, LWIP_ADDRESS=f"{LWIP_ADDR}/24,{LWIP_ADDR6}/64",
                            LWIP_GATEWAY=EDGE_ADDR)
        else:
            self.binary = _bin("OUTPOST_BIN")
            self.host = POSIX_ADDR
            self.env = {}

    def health(self, path, timeout=2, host=None):
        """(status, parsed JSON or text) from the health port; (0, None) when
        it does not answer."""
        try:
            c = http.client.HTTPConnection(host or self.host, HTTP_PORT, timeout=timeout)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode()
            c.close()
        except OSError:
            return 0, None
        try:
            return r.status, json.loads(body)
        except ValueError:
            return r.status, body

    def start(self, edge, **settings):
        """`outpost run` for connector NAME, ready (/readyz 200) on return;
        with edge None, health only (/healthz 200)."""
        pki, env = self.pki, dict(HTTP_PORT=HTTP_PORT, **self.env)
        if edge is not None:
            env.update(TRAVERSAL_CONTROLLER_URL=f"https://{EDGE_NAME}:{edge.tport}",
                       TLS_SERVER_NAME="localhost", DNS_SERVERS=EDGE_ADDR,
                       TLS_CERT_FILE=f"{pki}/connector-{NAME}.pem",
                       TLS_KEY_FILE=f"{pki}/connector-{NAME}.key", TLS_CA_FILE=f"{pki}/ca.pem",
                       RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="1s")
        env.update(settings)
        p = Proc(self.net.in_c() + [self.binary, "run"], base_env(**env),
                 os.path.join(self.tmp, f"outpost-{self.kind}-{len(self.procs)}.log"))
        self.procs.append(p)
        path = "/readyz" if edge is not None else "/healthz"
        if (not wait_until(lambda: not p.alive() or self.health(path)[0] == 200, 20, 0.1)
                or not p.alive()):
            raise AssertionError(f"{self.kind} connector not ready:\n" + p.text()[-3000:])
        return p

    def stop(self):
        for p in reversed(self.procs):
            p.stop()


@pytest.fixture(params=["posix", "lwip"])
def site(request, net, pki, tmp_path):
    s = Site(request.param, net, str(tmp_path), pki)
    yield s
    s.stop()


# --- configuration: one validation path, fail closed ---------------------------

def test_posix_build_refuses_lwip_settings():
    for key, val in (("LWIP_TAP", TAP), ("LWIP_ADDRESS", "10.0.0.2/24"),
                     ("LWIP_GATEWAY", "10.0.0.1")):
        r = run([_bin("OUTPOST_BIN"), "check-config"], env=base_env(**{key: val}))
        assert r.returncode == 100, r
        assert f"{key}: applies to the lwIP build only" in r.stderr + r.stdout


@pytest.mark.parametrize("settings,msg", [
    ({}, "LWIP_TAP: not set"),
    ({"LWIP_TAP": TAP}, "LWIP_ADDRESS: not set"),
    ({"LWIP_TAP": TAP, "LWIP_ADDRESS": "10.0.0.2/33"}, "LWIP_ADDRESS: 10.0.0.2/33"),
    ({"LWIP_TAP": TAP, "LWIP_ADDRESS": "10.0.0.2/24", "LWIP_GATEWAY": "10.9.0.1"},
     "LWIP_GATEWAY: 10.9.0.1: not another address"),
])
def test_lwip_build_checks_its_settings(settings, msg):
    r = run([_bin("OUTPOST_LWIP_BIN"), "check-config"], env=base_env(**settings))
    assert r.returncode == 100, r
    assert msg in r.stderr + r.stdout


@pytest.mark.parametrize("tap,msg", [("nosuch0", "no such device"),
                                     ("br0", "cannot attach the tap device")])
def test_lwip_run_refuses_a_device_it_cannot_own(tap, msg, net):
    r = run(net.in_c() + [_bin("OUTPOST_LWIP_BIN"), "run"], env=base_env(
        LWIP_TAP=tap, LWIP_ADDRESS=f"{LWIP_ADDR}/24", HTTP_PORT=HTTP_PORT))
    assert r.returncode == 100, r
    assert f"LWIP_TAP: {tap}: {msg}" in r.stderr


# --- the tunnel checks, against both builds ------------------------------------

def test_mtls_tunnels_up_and_readyz(site, edge):
    site.start(edge, MAX_TUNNELS_ALLOWED=2)
    st = edge.wait_tunnels(NAME, 2)
    assert len([t for t in st["tunnels"] if t["state"] == "online"]) == 2
    status, body = site.health("/readyz")
    assert (status, body["status"], body["active_tunnels"]) == (200, "ready", 2)


def test_1mib_both_ways_byte_exact(site, edge, nginx):
    site.start(edge)
    blob = os.urandom(1 << 20)
    path = f"{nginx.hostport}/dav/blob-{site.kind}.bin"
    s, _, b = edge.proxy(NAME, path, method="PUT", body=blob)
    assert s in (201, 204), (s, b[:200])
    s, _, b = edge.proxy(NAME, path)
    assert s == 200 and hashlib.sha256(b).digest() == hashlib.sha256(blob).digest()
    s, _, b = edge.proxy(NAME, f"{nginx.hostport}/echo", method="POST", body=blob,
                         headers={"Content-Type": "application/octet-stream"})
    assert s == 200 and b == blob


def test_200_concurrent_requests(site, edge, nginx):
    for i in range(20):
        nginx.write(f"f{i}.txt", f"file {i}\n".encode() * (i + 1))
    site.start(edge, MAX_TUNNELS_ALLOWED=4, MAX_CONCURRENT_REQUESTS=64)
    edge.wait_tunnels(NAME, 4)
    start = threading.Barrier(200, timeout=30)
    # By address, as tests/integration/test_tunnel.py does: by name, each
    # dial is a DNS query of its own and the resolver holds at most
    # DNS_DEFAULT_QUERIES (64) at once, so the rest would be "overloaded".
    target = f"{EDGE_ADDR}:{nginx.port}"

    def one(n):
        start.wait()
        i = n % 20
        s, _, b = edge.proxy(NAME, f"{target}/f{i}.txt")
        return s, b == f"file {i}\n".encode() * (i + 1) or b[:300]

    with concurrent.futures.ThreadPoolExecutor(200) as ex:
        results = list(ex.map(one, range(200), timeout=90))
    bad = [(n, r) for n, r in enumerate(results) if r != (200, True)]
    assert not bad, bad[:5]


def test_start_close_make_before_break(site, edge, nginx):
    nginx.write("x.txt", b"x" * 1000)
    site.start(edge)
    ids = [t["id"] for t in edge.wait_tunnels(NAME, 2)["tunnels"]]
    stop = threading.Event()
    results = []

    def loop():
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            s, _, b = edge.proxy(NAME, f"{nginx.hostport}/x.txt")
            results.append((s, b == b"x" * 1000))

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(loop) for _ in range(4)]
        time.sleep(0.5)
        s, _, b = edge.request("POST", f"/v1/connectors/{NAME}/tunnels/{ids[0]}/drain")
        assert s == 202, b
        # The drained tunnel goes away only once its replacement is up.
        assert wait_until(lambda: ids[0] not in [t["id"] for t in edge.state(NAME)["tunnels"]]
                          and len(edge.state(NAME)["tunnels"]) == 2, 15)
        time.sleep(0.5)
        stop.set()
        for f in futs:
            f.result(30)
    failed = [r for r in results if r != (200, True)]
    assert results and not failed, failed[:3]
    assert site.health("/readyz")[0] == 200


def test_edge_killed_then_back(site, edge, pki, tmp_path):
    site.start(edge)
    edge.wait_tunnels(NAME, 2)
    tport = edge.tport
    edge.stop()
    assert wait_until(lambda: site.health("/readyz")[0] == 503, 10), site.health("/readyz")
    back = start_edge(str(tmp_path), pki, tport=tport)
    try:
        back.wait_tunnels(NAME, 2, timeout=20)
        assert wait_until(lambda: site.health("/readyz")[0] == 200, 10)
    finally:
        back.stop()


def test_health_port_holds_off_slowloris(site, edge):
    site.start(edge, HEALTH_HEADER_TIMEOUT="1s")
    served, got, elapsed = slowloris(site.host, HTTP_PORT, lambda: site.health("/healthz")[0])
    assert served and served[0][0] == 200 and served[0][1] < 1.0, served
    assert got.startswith(b"HTTP/1.1 408"), got
    assert 0.8 < elapsed < 2.5, elapsed


def test_sigterm_exits_0(site, edge):
    p = site.start(edge)
    edge.wait_tunnels(NAME, 2)
    p.p.send_signal(signal.SIGTERM)
    assert p.p.wait(10) == 0, p.text()[-2000:]


def test_lwip_health_port_answers_over_ipv6(net, pki, tmp_path):
    """lwIP's IPv6 address (LWIP_ADDRESS's second part) serves the health port."""
    s = Site("lwip", net, str(tmp_path), pki)
    try:
        s.start(None)
        assert s.health("/healthz", host=LWIP_ADDR6) == (200, {"status": "healthy"})
    finally:
        s.stop()
