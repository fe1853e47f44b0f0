"""Scale-out (#19): one connector keeps tunnels to every outpost-edge replica.

Three real outpost-edge replicas listen on 127.0.0.1, 127.0.0.2 and
127.0.0.3 (same tunnel port) behind one test name that a small DNS server
in this file answers (DNS_SERVERS; its record set can change).  The edge's
certificate is for "localhost": TLS_SERVER_NAME=localhost makes every dial,
whatever the address, verify that one name.
"""
import datetime
import http.client
import json
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest

from conftest import free_port, run, base_env, wait_until
from edgelib import Edge, Proc, Upstream, connector, dev_pki

NAME = "edges.scaleout.test"
ADDRS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
INTERVAL = 2.0  # TUNNEL_DISCOVERY_INTERVAL for these tests, seconds


class Dns:
    """A UDP DNS responder on 127.0.0.1: A records for NAME from self.addrs
    (TTL 0), an empty NOERROR answer for its other types, NXDOMAIN for other
    names.  Counts the queries for NAME."""

    def __init__(self, addrs):
        self.addrs = list(addrs)
        self.queries = 0
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self._stop = False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _answer(self, q):
        (qid, _flags, qd) = struct.unpack(">HHH", q[:6])
        if qd != 1:
            return None
        i, labels = 12, []
        while i < len(q) and q[i] != 0 and len(labels) < 64:
            labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace").lower())
            i += 1 + q[i]
        qtype, _ = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels)
        if name != NAME:
            return struct.pack(">HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question
        self.queries += 1
        rrs = b""
        addrs = list(self.addrs) if qtype == 1 else []
        for a in addrs:
            rrs += struct.pack(">HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(a)
        return struct.pack(">HHHHHH", qid, 0x8180, 1, len(addrs), 0, 0) + question + rrs

    def _serve(self):
        while not self._stop:
            try:
                q, peer = self.s.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                a = self._answer(q)
            except (struct.error, IndexError):
                a = None
            if a:
                self.s.sendto(a, peer)

    def stop(self):
        self._stop = True
        self.t.join(timeout=2)
        self.s.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


class Replicas:
    """Three outpost-edge replicas on ADDRS, one tunnel port."""

    def __init__(self, binary, tmp, pki):
        self.binary, self.tmp, self.pki = binary, tmp, pki
        self.tport = free_port()
        self.edges = [None] * len(ADDRS)
        for i in range(len(ADDRS)):
            self.start(i)

    def start(self, i):
        d = os.path.join(self.tmp, f"edge{i}")
        os.makedirs(d, exist_ok=True)
        self.edges[i] = Edge(self.binary, d, self.pki, EDGE_LISTEN=f"{ADDRS[i]}:{self.tport}",
                             HEARTBEAT_INTERVAL="300ms")

    def stop(self):
        for e in self.edges:
            if e is not None:
                e.stop()

    def online(self, i, name="alpha"):
        try:
            st = self.edges[i].state(name)
        except (AssertionError, OSError):
            return 0
        return len([t for t in st["tunnels"] if t["state"] == "online"])


@pytest.fixture
def replicas(outpost_edge_bin, tmp_path, pki):
    r = Replicas(outpost_edge_bin, str(tmp_path), pki)
    yield r
    r.stop()


@pytest.fixture
def dns():
    d = Dns(ADDRS)
    yield d
    d.stop()


@pytest.fixture
def procs():
    ps = []
    yield ps
    for p in reversed(ps):
        p.stop()


def get(port, path, timeout=2):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def status(conn):
    s, b = get(conn.health_port, "/status")
    assert s == 200, b
    return json.loads(b)["detail"]


def by_address(conn):
    return {a["address"]: a for a in status(conn)["edge_addresses"]}


def discovering(outpost_bin, tmp, replicas, dns, pki, **settings):
    env = dict(TRAVERSAL_CONTROLLER_URL=f"https://{NAME}:{replicas.tport}",
               TLS_SERVER_NAME="localhost", DNS_SERVERS=f"127.0.0.1:{dns.port}",
               TUNNEL_DISCOVERY_INTERVAL=f"{int(INTERVAL * 1000)}ms")
    env.update(settings)
    return connector(outpost_bin, tmp, replicas.edges[0], pki, "alpha", **env)


def all_online(replicas, n=2, which=range(len(ADDRS))):
    return all(replicas.online(i) >= n for i in which)


def test_tunnels_on_every_replica_failover_and_return(outpost_bin, tmp_path, replicas, dns,
                                                      pki, upstream, procs):
    conn = discovering(outpost_bin, str(tmp_path), replicas, dns, pki)
    procs.append(conn)
    assert wait_until(lambda: all_online(replicas), 10), conn.text()[-3000:]
    addrs = by_address(conn)
    assert sorted(addrs) == [f"{a}:{replicas.tport}" for a in ADDRS]
    assert all(a["state"] == "up" and a["tunnels"] == 2 for a in addrs.values()), addrs
    for e in replicas.edges:  # every front door serves the connector
        s, _, b = e.proxy("alpha", f"{upstream.hostport}/hello")
        assert s == 200 and b'"path": "/hello"' in b
    s, b = get(conn.health_port, "/metrics")
    for a in ADDRS:
        assert f'outpost_edge_address_tunnels{{address="{a}:{replicas.tport}"}} 2' \
            in b.decode(), b.decode()

    # Replica 0 killed: requests through the other two never fail, /readyz
    # stays 200 and reports the address degraded.
    failures, ok, ready = [], [0], []
    stop = threading.Event()

    def loop():
        k = 0
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            e = replicas.edges[1 + k % 2]
            k += 1
            s, _, b = e.proxy("alpha", f"{upstream.hostport}/x")
            if s == 200:
                ok[0] += 1
            else:
                failures.append((s, b[:200]))
    t = threading.Thread(target=loop)
    t.start()
    try:
        time.sleep(0.5)
        replicas.edges[0].proc.stop(signal.SIGKILL)
        gone = f"{ADDRS[0]}:{replicas.tport}"
        end = time.monotonic() + 3
        while time.monotonic() < end:
            s, b = get(conn.health_port, "/readyz")
            ready.append((s, json.loads(b)))
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(timeout=35)
    assert failures == [] and ok[0] > 10, (failures[:5], ok)
    assert all(s == 200 for s, _ in ready), ready
    assert ready[-1][1]["degraded"] == [gone], ready[-1]
    assert by_address(conn)[gone]["state"] == "degraded"

    # Back: its tunnels return within one discovery interval.
    replicas.start(0)
    t0 = time.monotonic()
    assert wait_until(lambda: replicas.online(0) >= 2, 10), conn.text()[-3000:]
    back = time.monotonic() - t0
    assert back <= INTERVAL, back
    s, _, _ = replicas.edges[0].proxy("alpha", f"{upstream.hostport}/again")
    assert s == 200
    assert wait_until(lambda: get(conn.health_port, "/readyz") ==
                      (200, b'{"status":"ready","active_tunnels":6}'), 2)


def test_record_set_shrinks_address_drained_make_before_break(outpost_bin, tmp_path, replicas,
                                                              dns, pki, upstream, procs):
    conn = discovering(outpost_bin, str(tmp_path), replicas, dns, pki)
    procs.append(conn)
    assert wait_until(lambda: all_online(replicas), 10), conn.text()[-3000:]
    # A slow request in flight on replica 2 when its address leaves DNS.
    result = {}

    def slow():
        result["r"] = replicas.edges[2].proxy("alpha", f"{upstream.hostport}/slow/1500")
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    dns.addrs = ADDRS[:2]
    gone = f"{ADDRS[2]}:{replicas.tport}"
    assert wait_until(lambda: by_address(conn).get(gone, {}).get("state") != "up",
                      INTERVAL + 2), status(conn)
    t.join(timeout=10)
    assert result["r"][0] == 200, result  # in flight when draining began: finished
    assert wait_until(lambda: replicas.online(2) == 0, 5), replicas.edges[2].state("alpha")
    assert wait_until(lambda: gone not in by_address(conn), 5), status(conn)
    assert "gone from DNS, draining" in conn.text()
    # The other two were never touched and keep serving.
    assert all_online(replicas, which=(0, 1))
    assert get(conn.health_port, "/readyz")[0] == 200
    for i in (0, 1):
        assert replicas.edges[i].proxy("alpha", f"{upstream.hostport}/x")[0] == 200
    # The address comes back to DNS: its tunnels too, within one interval.
    dns.addrs = list(ADDRS)
    assert wait_until(lambda: replicas.online(2) >= 2, INTERVAL + 2), conn.text()[-3000:]


def test_connect_to_dials_the_listed_addresses_with_the_url_name(outpost_bin, tmp_path,
                                                                 replicas, pki, upstream,
                                                                 procs):
    listed = ",".join(f"{a}:{replicas.tport}" for a in ADDRS)
    # The URL's name is only for TLS: nothing resolves it (no DNS server).
    conn = connector(outpost_bin, str(tmp_path), replicas.edges[0], pki, "alpha",
                     TRAVERSAL_CONTROLLER_URL="https://localhost:1",
                     TRAVERSAL_CONTROLLER_CONNECT_TO=listed)
    procs.append(conn)
    assert wait_until(lambda: all_online(replicas), 10), conn.text()[-3000:]
    for e in replicas.edges:
        assert e.proxy("alpha", f"{upstream.hostport}/ct")[0] == 200
    assert sorted(by_address(conn)) == sorted(listed.split(","))


def test_connect_to_wrong_name_is_refused_by_tls(outpost_bin, tmp_path, replicas, pki):
    """Every listed address is verified against the URL's name."""
    env = dict(TRAVERSAL_CONTROLLER_URL="https://not-the-edge.test:1",
               TRAVERSAL_CONTROLLER_CONNECT_TO=f"127.0.0.1:{replicas.tport}",
               TLS_CERT_FILE=f"{pki}/connector-alpha.pem",
               TLS_KEY_FILE=f"{pki}/connector-alpha.key", TLS_CA_FILE=f"{pki}/ca.pem",
               HTTP_PORT=free_port(), RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="1s")
    p = Proc([outpost_bin, "run"], base_env(**env), os.path.join(str(tmp_path), "wrong.log"))
    try:
        assert wait_until(lambda: "failed: hostname" in p.text(), 10), p.text()
        assert replicas.online(0) == 0
        s, b = get(env["HTTP_PORT"], "/status")
        addrs = json.loads(b)["detail"]["edge_addresses"]
        assert addrs == [{"address": f"127.0.0.1:{replicas.tport}", "state": "degraded",
                          "tunnels": 0, "first_slot": 0}], addrs
        # One address: /readyz keeps the anchor's body.
        assert get(env["HTTP_PORT"], "/readyz") == (
            503, b'{"status":"not ready","active_tunnels":0,"reason":"hostname"}')
    finally:
        p.stop()


@pytest.mark.parametrize("value, why", [
    ("127.0.0.1", "missing port"),
    ("127.0.0.1:80/x", "not host:port"),
    ("u:p@127.0.0.1:80", "credentials"),
    ("127.0.0.1:80,,127.0.0.2:80", "missing host"),
])
def test_connect_to_bad_value_refused_by_check_config(outpost_bin, value, why):
    r = run([outpost_bin, "check-config"], env=base_env(
        TRAVERSAL_CONTROLLER_URL="https://localhost:1", TLS_CERT_BASE64="x",
        TRAVERSAL_CONTROLLER_CONNECT_TO=value))
    assert r.returncode == 100, r
    assert "TRAVERSAL_CONTROLLER_CONNECT_TO" in r.stdout + r.stderr and why in r.stdout + r.stderr


def test_connect_to_more_than_max_edge_addresses_refused(outpost_bin):
    r = run([outpost_bin, "check-config"], env=base_env(
        TRAVERSAL_CONTROLLER_URL="https://localhost:1", MAX_EDGE_ADDRESSES="2",
        TRAVERSAL_CONTROLLER_CONNECT_TO="127.0.0.1:1,127.0.0.2:1,127.0.0.3:1"))
    assert r.returncode == 100, r
    assert "more addresses than MAX_EDGE_ADDRESSES" in r.stdout + r.stderr


# --- edge replicas sharing EDGE_DATA_DIR -------------------------------------

def shared_edges(binary, tmp, procs, pki, n=2):
    """n edges started at once on one EDGE_DATA_DIR (the CA made by one)."""
    from test_enroll_edge import start_edge
    data = os.path.join(tmp, "shared-data")
    edges = [None] * n

    def start(i):
        d = os.path.join(tmp, f"shared{i}")
        os.makedirs(d, exist_ok=True)
        edges[i] = start_edge(binary, d, procs, pki, data=data,
                              EDGE_TLS_CERT_FILE=f"{pki}/edge.pem",
                              EDGE_TLS_KEY_FILE=f"{pki}/edge.key")
    ts = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=30)
    assert all(edges), "an edge did not start"
    return edges


def test_shared_data_dir_one_token_one_winner(outpost_edge_bin, tmp_path, pki, procs):
    from test_enroll_edge import PERMISSION_DENIED, Client, csr, token
    tmp = str(tmp_path)
    a, b = shared_edges(outpost_edge_bin, tmp, procs, pki)
    ca = []
    clients = [Client(tmp, e, procs, name=f"enroll-{i}") for i, e in enumerate((a, b))]
    der, _ = csr(tmp, "race")
    for rnd in range(8):
        tok = token((a, b)[rnd % 2], f"race{rnd}")
        results = [None, None]

        def go(i):
            results[i] = clients[i].call("Enroll", {"token": tok, "csr": der})
        ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=20)
        won = [r for r in results if r and r["ok"]]
        lost = [r for r in results if r and not r["ok"]]
        assert len(won) == 1 and len(lost) == 1, (rnd, results)
        assert lost[0]["code"] == PERMISSION_DENIED and \
            lost[0]["details"].startswith("invalid_token"), lost
        assert won[0]["response"]["connector_name"] == f"race{rnd}"
        ca.append(won[0]["response"]["ca_certificate"])
    # One CA for both replicas, though they started together.
    assert len(set(ca)) == 1
    # Tokens made on either replica are all kept: none overwrites the other's.
    t1, t2 = token(a, "keep1"), token(b, "keep2")
    assert clients[1].call("Enroll", {"token": t1, "csr": der})["ok"]
    assert clients[0].call("Enroll", {"token": t2, "csr": der})["ok"]


def test_shared_data_dir_revocation_seen_by_the_other_replica(outpost_edge_bin, tmp_path, pki,
                                                              procs):
    from test_enroll_edge import UNAVAILABLE, Client, csr, enroll
    tmp = str(tmp_path)
    a, b = shared_edges(outpost_edge_bin, tmp, procs, pki)
    cert, key, _, _ = enroll(tmp, a, procs, "rev")
    der, _ = csr(tmp, "rev-renew")
    c = Client(tmp, b, procs, cert=cert, key=key, name="renew-b")
    assert c.call("Renew", {"csr": der})["ok"]  # B trusts what A issued
    c.stop()
    s, _, body = a.request("POST", "/v1/connectors/rev/revoke", body="{}")
    assert s == 200, body
    c = Client(tmp, b, procs, cert=cert, key=key, name="renew-b2")
    r = c.call("Renew", {"csr": der})
    assert not r["ok"] and r["code"] == UNAVAILABLE, r
    assert "refused at the handshake: revoked" in b.proc.text()


def test_shared_data_dir_revocation_closes_the_other_replicas_tunnels(
        outpost_bin, outpost_edge_bin, tmp_path, pki, procs):
    """A name revoked on replica A: A closes its tunnels at once, B within
    its revocation poll (1 s) plus slack, and B refuses the reconnects."""
    from test_enroll_edge import enroll
    tmp = str(tmp_path)
    a, b = shared_edges(outpost_edge_bin, tmp, procs, pki)
    cert, key, _, _ = enroll(tmp, a, procs, "rev2")
    env = dict(TRAVERSAL_CONTROLLER_URL="https://localhost:1",
               TRAVERSAL_CONTROLLER_CONNECT_TO=f"127.0.0.1:{a.tport},127.0.0.1:{b.tport}",
               TLS_CERT_FILE=cert, TLS_KEY_FILE=key, TLS_CA_FILE=f"{pki}/ca.pem",
               HTTP_PORT=free_port(), RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="1s")
    p = Proc([outpost_bin, "run"], base_env(**env), os.path.join(tmp, "rev2.log"))
    procs.append(p)
    a.wait_tunnels("rev2", 2)
    b.wait_tunnels("rev2", 2)

    def tunnels(e):
        return e.state("rev2")["tunnels"]
    s, _, body = a.request("POST", "/v1/connectors/rev2/revoke", body="{}")
    t0 = time.monotonic()
    assert s == 200 and json.loads(body)["closed"] >= 1, body
    assert wait_until(lambda: not tunnels(b), 5, 0.05), b.proc.text()[-3000:]
    took = time.monotonic() - t0
    assert took < 2.5, took  # the 1 s poll, a close, the log read
    assert "certificate revoked by another replica" in b.proc.text()
    assert "revocations changed: " in b.proc.text()
    time.sleep(1.5)  # the connector redials (200 ms backoff): refused by both
    assert tunnels(a) == [] and tunnels(b) == []
    assert "refused at the handshake: revoked" in b.proc.text()


def test_edge_health_endpoints_without_token(outpost_edge_bin, tmp_path, pki, procs):
    """/healthz and /readyz answer without the token, and say nothing else;
    /readyz follows EDGE_DATA_DIR and its revocation list."""
    from test_enroll_edge import start_edge
    tmp = str(tmp_path)
    e = start_edge(outpost_edge_bin, tmp, procs, pki, EDGE_TLS_CERT_FILE=f"{pki}/edge.pem",
                   EDGE_TLS_KEY_FILE=f"{pki}/edge.key")

    def probe(path, method="GET"):
        s, h, b = e.request(method, path, token=False)
        assert dict(h).get("Cache-Control") == "no-store" or s in (401, 405), (s, h)
        return s, b

    assert probe("/healthz") == (200, b'{"status":"healthy"}\n')
    assert probe("/readyz") == (200, b'{"status":"ready"}\n')
    assert probe("/readyz", "HEAD")[0] == 200
    assert probe("/healthz", "POST")[0] == 405
    for path in ("/metrics", "/v1/connectors", "/v1/pairings"):  # the rest: token
        assert probe(path)[0] == 401, path
    # The revocation list unreadable: not ready (and every certificate refused).
    rev = os.path.join(e.data, "revoked")
    with open(rev, "w") as f:
        f.write("not a valid line\n")
    assert probe("/readyz") == (503, b'{"status":"not ready","reason":"revocations unreadable"}\n')
    assert probe("/healthz")[0] == 200  # alive all the same
    os.unlink(rev)
    assert probe("/readyz")[0] == 200
    # The data directory gone (a volume unmounted): not ready until it is back.
    os.rename(e.data, e.data + ".away")
    assert probe("/readyz") == (503, b'{"status":"not ready","reason":"EDGE_DATA_DIR not usable"}\n')
    os.rename(e.data + ".away", e.data)
    assert probe("/readyz")[0] == 200


def test_edge_readyz_without_data_dir(outpost_edge_bin, tmp_path):
    e = Edge(outpost_edge_bin, str(tmp_path))  # h2c, enrolment off
    try:
        s, _, b = e.request("GET", "/readyz", token=False)
        assert (s, b) == (200, b'{"status":"ready"}\n')
    finally:
        e.stop()


def dials_total(conn):
    """The connector's outpost_dials_total, all results."""
    s, b = get(conn.health_port, "/metrics")
    assert s == 200, b
    return sum(float(v) for v in re.findall(
        r'^outpost_dials_total\{result="[a-z0-9_]+"\} ([0-9.e+]+)$', b.decode(), re.M))


def accepts_since(text, t0):
    """Tunnel connections an edge accepted (its debug log) at wall time >= t0."""
    n = 0
    for line in text.splitlines():
        if '"edge: connection from ' not in line:
            continue
        ts = json.loads(line)["ts"]
        if datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp() >= t0:
            n += 1
    return n


def test_dial_budget_honoured_while_replicas_flap(outpost_bin, tmp_path, replicas, dns, pki,
                                                   procs):
    """One minute of SIGKILL/restart over the 3 replicas (one down at a time,
    1.5 s each way).  The reconnect backoff alone (200 ms .. 1 s per slot)
    would redial the dead replica's slots several times a second; the
    DIAL_BUDGET token bucket (BUDGET dials per minute, a burst of BUDGET)
    caps them: over any span of t seconds the connector dials at most
    BUDGET + BUDGET*t/60 times (+ SLACK for a dial whose result lands just
    inside the span).  Counted from the connector's outpost_dials_total,
    sampled every second; the edges' accept logs are a lower bound of it."""
    BUDGET, SPAN, SLACK = 20, 60.0, 2
    conn = discovering(outpost_bin, str(tmp_path), replicas, dns, pki,
                       DIAL_BUDGET=str(BUDGET))
    procs.append(conn)
    assert wait_until(lambda: all_online(replicas), 15), conn.text()[-3000:]
    accepted = 0
    t0_wall, t0 = time.time(), time.monotonic()
    samples = [(0.0, dials_total(conn))]
    k, next_sample = 0, 1.0
    while time.monotonic() - t0 < SPAN and k < 40:
        i = k % len(ADDRS)
        k += 1
        replicas.edges[i].proc.stop(signal.SIGKILL)
        accepted += accepts_since(replicas.edges[i].proc.text(), t0_wall)
        for phase in ("down", "up"):
            if phase == "up":
                replicas.start(i)
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                now = time.monotonic() - t0
                if now >= next_sample:
                    samples.append((now, dials_total(conn)))
                    next_sample += 1.0
                time.sleep(0.05)
    samples.append((time.monotonic() - t0, dials_total(conn)))
    accepted += sum(accepts_since(e.proc.text(), t0_wall) for e in replicas.edges)
    dials = samples[-1][1] - samples[0][1]
    worst = max(((t2 - t1, d2 - d1) for t1, d1 in samples for t2, d2 in samples if t2 > t1),
                key=lambda s: s[1] - (BUDGET + BUDGET * s[0] / 60))
    assert worst[1] <= BUDGET + BUDGET * worst[0] / 60 + SLACK, (worst, samples)
    # The budget was what bound them: the flapping asked for more than it
    # allows, so the whole refill was used (at least its steady rate).
    assert dials >= BUDGET * samples[-1][0] / 60, (dials, samples)
    assert accepted <= dials + SLACK, (accepted, dials)
    print(f"flap: {k} kill/restart cycles in {samples[-1][0]:.0f} s, {dials:.0f} dials "
          f"({dials * 60 / samples[-1][0]:.1f}/min, budget {BUDGET}/min + burst {BUDGET}), "
          f"{accepted} accepted by the edges")
    # Once the flapping stops, every replica gets its tunnels back (within the
    # budget's refill: at most 6 dials at BUDGET per minute).
    assert wait_until(lambda: all_online(replicas), 6 * 60 / BUDGET + 10), conn.text()[-3000:]


def test_connect_to_enrols_and_serves_on_every_listed_replica(outpost_bin, outpost_edge_bin,
                                                              tmp_path, pki, procs):
    """Token enrolment with TRAVERSAL_CONTROLLER_CONNECT_TO (the URL's name
    only for TLS, nothing listens there): the enrolment dials the first
    listed replica; the certificate, issued by the shared CA, then opens
    tunnels on both replicas."""
    from test_enroll_edge import token
    tmp = str(tmp_path)
    a, b = shared_edges(outpost_edge_bin, tmp, procs, pki)
    data = os.path.join(tmp, "conn-data")
    os.mkdir(data)
    env = dict(TRAVERSAL_CONTROLLER_URL="https://localhost:1",
               TRAVERSAL_CONTROLLER_CONNECT_TO=f"127.0.0.1:{a.tport},127.0.0.1:{b.tport}",
               TLS_CA_FILE=f"{pki}/ca.pem", DATA_DIR=data, ENROLLMENT_TOKEN=token(b, "ct1"),
               HTTP_PORT=free_port(), RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="1s")
    p = Proc([outpost_bin, "run"], base_env(**env), os.path.join(tmp, "ct1.log"))
    procs.append(p)
    a.wait_tunnels("ct1", 2)
    b.wait_tunnels("ct1", 2)
    assert "dial localhost:1" not in p.text()


def closes(conn):
    """outpost_tunnel_closes_total by reason."""
    s, b = get(conn.health_port, "/metrics")
    assert s == 200
    return {m[0]: int(m[1]) for m in
            re.findall(r'outpost_tunnel_closes_total\{reason="([a-z_0-9]+)"\} (\d+)', b.decode())}


def test_sigterm_drains_replica_make_before_break(outpost_bin, tmp_path, replicas, pki,
                                                  upstream, procs):
    """SIGTERM on replica A (of two the connector dials): /readyz 503 at
    once, START_CLOSE on its tunnels, its slow request in flight finishes,
    requests through replica B never fail, A exits 0 once nothing is left."""
    two = ",".join(f"{a}:{replicas.tport}" for a in ADDRS[:2])
    conn = connector(outpost_bin, str(tmp_path), replicas.edges[0], pki, "alpha",
                     TRAVERSAL_CONTROLLER_URL="https://localhost:1",
                     TRAVERSAL_CONTROLLER_CONNECT_TO=two)
    procs.append(conn)
    assert wait_until(lambda: all_online(replicas, which=(0, 1)), 10), conn.text()[-3000:]
    a, b = replicas.edges[0], replicas.edges[1]
    before = closes(conn)
    failures, ok, result = [], [0], {}
    stop = threading.Event()

    def loop():
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            s, _, body = b.proxy("alpha", f"{upstream.hostport}/x")
            if s == 200:
                ok[0] += 1
            else:
                failures.append((s, body[:200]))

    def slow():
        result["r"] = a.proxy("alpha", f"{upstream.hostport}/slow/1500")
    lt, st = threading.Thread(target=loop), threading.Thread(target=slow)
    lt.start()
    st.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        a.proc.p.send_signal(signal.SIGTERM)
        assert wait_until(lambda: a.request("GET", "/readyz", token=False)[0] == 503, 1, 0.02)
        ready = a.request("GET", "/readyz", token=False)
        assert json.loads(ready[2]) == {"status": "not ready", "reason": "draining"}, ready
        rc = a.proc.p.wait(timeout=10)
        took = time.monotonic() - t0
        st.join(timeout=5)
        time.sleep(0.5)  # B keeps serving after A is gone
    finally:
        stop.set()
        lt.join(timeout=35)
    log = a.proc.text()
    assert rc == 0 and took < 5, (rc, took, log[-2000:])
    assert "drain complete" in log, log[-2000:]
    assert result["r"][0] == 200 and result["r"][2] == b"slow\n", result
    assert failures == [] and ok[0] > 10, (failures[:5], ok)
    # Both of A's tunnels ended by START_CLOSE, none by a reset; the
    # replacements dialled to A found its tunnel port closed ("refused").
    assert conn.text().count("draining (start_close)") == 2, conn.text()[-3000:]
    after = closes(conn)
    grew = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert grew.pop("start_close", 0) == 2 and set(grew) <= {"refused"}, (before, after)
    assert all_online(replicas, which=(1,))
    assert b.proxy("alpha", f"{upstream.hostport}/after")[0] == 200


def test_drain_timeout_bounds_the_drain_and_sigint_stops_at_once(outpost_edge_bin, tmp_path,
                                                                 pki, outpost_bin, upstream,
                                                                 procs):
    """A request slower than EDGE_DRAIN_TIMEOUT does not hold the edge; a
    second SIGTERM (or SIGINT) stops at once."""
    for n, second in enumerate((None, signal.SIGTERM, signal.SIGINT)):
        d = os.path.join(str(tmp_path), f"e{n}")
        os.makedirs(d)
        e = Edge(outpost_edge_bin, d, pki, EDGE_DRAIN_TIMEOUT="1s")
        conn = connector(outpost_bin, d, e, pki, "alpha")
        procs.append(conn)
        e.wait_tunnels("alpha", 2)
        def slow():
            try:
                e.proxy("alpha", f"{upstream.hostport}/slow/8000")
            except (OSError, http.client.HTTPException):
                pass  # cut off by the stop: the point of the test
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        e.proc.p.send_signal(signal.SIGTERM)
        if second is not None:
            assert wait_until(lambda: "draining:" in e.proc.text(), 1, 0.02), e.proc.text()
            e.proc.p.send_signal(second)
        rc = e.proc.p.wait(timeout=5)
        took = time.monotonic() - t0
        th.join(timeout=10)
        e.stop()
        assert rc == 0, e.proc.text()[-2000:]
        if second is None:
            assert 1.0 <= took < 3, took
            assert "drain timed out (EDGE_DRAIN_TIMEOUT)" in e.proc.text()
        else:
            assert took < 0.9, (second, took)
            assert "drain timed out" not in e.proc.text()


@pytest.mark.parametrize("value", ["-1s", "2h", "soon"])
def test_drain_timeout_bad_value_refused(outpost_edge_bin, value):
    r = run([outpost_edge_bin, "check-config"], env=base_env(EDGE_H2C="true",
                                                             EDGE_DRAIN_TIMEOUT=value))
    assert r.returncode == 100, r
    assert "EDGE_DRAIN_TIMEOUT" in r.stdout + r.stderr
