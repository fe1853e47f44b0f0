"""The edge's side of appliance update delivery (#21, docs/protocol-extensions.md
"Appliance updates"): the real outpost-edge takes a bundle on POST /v1/updates
(`outpost-edge update offer`), offers it on tunnels that advertised "update",
serves Updates/Fetch byte-exact with resume, NOT_FOUND and OUT_OF_RANGE, and
keeps what Updates/Report says.  The connector is the grpc-js client
(controller/edge_client.js --update)."""
import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

import bundlelib
from conftest import base_env, wait_until
from edgelib import Edge, events, grpcjs_client

NEXT = "9.1.0"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return bundlelib.build(tmp_path_factory.mktemp("bundle"), NEXT, (300000, 12288, 20000, 20001))


@pytest.fixture
def edge(outpost_edge_bin, tmp_path):
    data = tmp_path / "edge-data"
    e = Edge(outpost_edge_bin, str(tmp_path), EDGE_DATA_DIR=str(data),
             EDGE_UPDATE_MAX_BYTES="1048576")
    e.data, e.bin, e.clients = data, outpost_edge_bin, []
    yield e
    for c in e.clients:
        c.stop()
    e.stop()


def client(tmp_path, edge, name, *extra):
    c = grpcjs_client(str(tmp_path), edge, name, extra=extra)
    edge.clients.append(c)
    return c


def wait_event(c, kind, n=1, timeout=10):
    evs = wait_until(lambda: len(events(c, kind)) >= n and events(c, kind), timeout, 0.05)
    assert evs, f"no {kind} #{n}:\n" + c.text()[-3000:]
    return evs[n - 1]


def cmd(c, **kw):
    c.p.stdin.write((json.dumps(kw) + "\n").encode())
    c.p.stdin.flush()


def fetch(c, n, **kw):
    """The n-th fetched event after asking for it."""
    cmd(c, cmd="fetch", tunnel=0, **kw)
    return wait_event(c, "fetched", n, 20)


def cli(edge, *argv):
    env = base_env(EDGE_API_PORT=str(edge.aport),
                   EDGE_API_TOKEN_FILE=os.path.join(os.path.dirname(edge.proc.log), "edge-token"))
    return subprocess.run([edge.bin, "update", *argv], env=env, capture_output=True,
                          text=True, timeout=30)


def test_offer_fetch_resume_report_withdraw(edge, tmp_path, bundle):
    a = client(tmp_path, edge, "alpha", "--update")
    b = client(tmp_path, edge, "beta")  # connector.v1 only
    edge.wait_tunnels("alpha", 1)
    edge.wait_tunnels("beta", 1)

    r = cli(edge, "offer", "alpha", str(bundle["path"]))
    assert r.returncode == 0, r.stderr
    ans = json.loads(r.stdout)
    assert ans == {"connector": "alpha", "version": NEXT, "arch": "x86_64",
                   "size": len(bundle["data"]), "sha256": bundle["sha"]}
    assert (edge.data / "updates" / f"{bundle['sha']}.update").read_bytes() == bundle["data"]
    o = wait_event(a, "offer")
    assert o["request_id"] == ""
    assert (o["version"], o["arch"], o["size"], o["sha256"]) == (
        NEXT, "x86_64", len(bundle["data"]), bundle["sha"])

    size = len(bundle["data"])
    f = fetch(a, 1, version=NEXT, sha256=bundle["sha"], offset=0)
    assert (f["code"], f["first"], f["bytes"], f["sha256"]) == (0, 0, size, bundle["sha"])
    assert f["contiguous"] and 0 < f["max_chunk"] <= 65536 and f["chunks"] >= size // 65536
    mid = 100001
    f = fetch(a, 2, version=NEXT, sha256=bundle["sha"], offset=mid)
    assert (f["code"], f["first"], f["bytes"]) == (0, mid, size - mid)
    assert f["sha256"] == hashlib.sha256(bundle["data"][mid:]).hexdigest()
    assert fetch(a, 3, version=NEXT, sha256=bundle["sha"], offset=size)["code"] == 11
    assert fetch(a, 4, version="9.0.0", sha256=bundle["sha"], offset=0)["code"] == 5
    assert fetch(a, 5, version=NEXT, sha256="00" * 32, offset=0)["code"] == 5

    cmd(a, cmd="report", tunnel=0, status={
        "slot": "a", "version": "9.0.0", "state": "downloading", "percent": 40,
        "offered_version": NEXT, "reason": "x" * 5000})
    assert wait_event(a, "reported")["code"] == 0
    cmd(a, cmd="report", tunnel=0, status={"state": "failed", "reason": "y" * 20000})
    assert wait_event(a, "reported", 2)["code"] == 8  # over the message bound: not kept
    st = json.loads(cli(edge, "status", "alpha").stdout)
    assert st["offers"][0]["sha256"] == bundle["sha"]
    (k,) = st["connectors"]
    assert k["name"] == "alpha" and k["offer"] == NEXT
    u = k["update"]
    assert (u["state"], u["percent"], u["slot"], u["version"], u["offered_version"]) == (
        "downloading", 40, "a", "9.0.0", NEXT)
    assert 0 < len(u["reason"]) < 300  # bounded
    assert edge.state("alpha")["update"]["state"] == "downloading"
    assert edge.state("beta")["update"] is None
    _, _, m = edge.request("GET", "/metrics")
    assert 'outpost_edge_update_connectors{state="downloading"} 1' in m.decode()

    # beta advertised no "update": no offer, and it keeps working.
    assert events(b, "offer") == []
    s, _, body = edge.proxy("beta", "x/ping")
    assert s == 200, body

    r = cli(edge, "withdraw", "alpha")
    assert r.returncode == 0, r.stderr
    assert fetch(a, 6, version=NEXT, sha256=bundle["sha"], offset=0)["code"] == 5
    assert not (edge.data / "updates" / f"{bundle['sha']}.update").exists()
    assert cli(edge, "withdraw", "alpha").returncode == 100


def test_offer_for_all_reaches_tunnels_opened_later(edge, tmp_path, bundle):
    a = client(tmp_path, edge, "alpha", "--update")
    edge.wait_tunnels("alpha", 1)
    r = cli(edge, "offer", "--all", str(bundle["path"]))
    assert r.returncode == 0, r.stderr
    assert wait_event(a, "offer")["sha256"] == bundle["sha"]
    late = client(tmp_path, edge, "gamma", "--update")
    assert wait_event(late, "offer")["version"] == NEXT
    plain = client(tmp_path, edge, "delta")
    edge.wait_tunnels("delta", 1)
    f = fetch(late, 1, version=NEXT, sha256=bundle["sha"], offset=len(bundle["data"]) - 1)
    assert (f["code"], f["bytes"]) == (0, 1)
    time.sleep(0.3)
    assert events(plain, "offer") == []
    st = json.loads(cli(edge, "status").stdout)
    assert [o["connector"] for o in st["offers"]] == ["all"]
    assert cli(edge, "withdraw", "--all").returncode == 0
    assert json.loads(cli(edge, "status").stdout)["offers"] == []


def raw(edge, head, timeout=5):
    """Send only a request head; the answer's status line and how long it took."""
    s = socket.create_connection(("127.0.0.1", edge.aport), timeout=timeout)
    t0 = time.monotonic()
    try:
        s.sendall(head.encode())
        got = b""
        while b"\r\n" not in got:
            d = s.recv(4096)
            if not d:
                break
            got += d
        return got.split(b"\r\n", 1)[0].decode(), time.monotonic() - t0
    finally:
        s.close()


def test_upload_refused_before_the_body(edge, bundle):
    huge = ("POST /v1/updates?connector=all HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 1000000\r\n{auth}\r\n")
    line, took = raw(edge, huge.format(auth=""))
    assert line.startswith("HTTP/1.1 401"), line
    assert took < 2  # answered without waiting for a body that never comes
    auth = f"Authorization: Bearer {edge.token}\r\n"
    line, _ = raw(edge, huge.replace("1000000", "2000000").format(auth=auth))
    assert line.startswith("HTTP/1.1 413"), line  # over EDGE_UPDATE_MAX_BYTES
    line, _ = raw(edge, huge.replace("1000000", "99999999999").format(auth=""))
    assert line.startswith("HTTP/1.1 413"), line
    s, _, b = edge.request("POST", "/v1/updates?connector=all", body=b"x" * 5000)
    assert s == 400 and json.loads(b)["error"] == "bad_bundle", b
    s, _, b = edge.request("POST", "/v1/updates", body=bundle["data"])
    assert s == 400, b
    s, _, b = edge.request("POST", "/v1/updates?connector=a/b", body=b"x")
    assert s == 400, b
    s, _, b = edge.request("POST", "/v1/updates?connector=all", body=bundle["data"],
                           token="Bearer wrong")
    assert s == 401, b
    assert list((edge.data / "updates").glob("*")) == []
    # Still serving, and a good upload goes through on a fresh connection.
    s, _, b = edge.request("POST", "/v1/updates?connector=all", body=bundle["data"])
    assert s == 201 and json.loads(b)["sha256"] == bundle["sha"], b


def test_real_connector_fetches_from_the_edge(edge, tmp_path, spawn, outpost_bin):
    """The real `outpost run` under a fake init (test_update_fetch.FakeInit)
    against the real edge: offered after `update offer`, fetched, verified,
    handed to init; its reports show in `update status`."""
    from conftest import free_port
    from test_update_fetch import FakeInit, NEXT as next_version, RUNNING
    b = bundlelib.build(tmp_path / "b", next_version)
    fi = FakeInit()
    try:
        data = tmp_path / "cdata"
        (data / "update").mkdir(parents=True)
        env = dict(TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{edge.tport}",
                   HTTP_PORT=free_port(), DATA_DIR=data, UPDATE_SIGNING_CERT=b["cert"],
                   MAX_TUNNELS_ALLOWED=1, RECONNECT_INTERVAL="200ms",
                   OUTPOST_INIT_CTL=str(fi.theirs.fileno()))
        spawn([outpost_bin, "run"], env=base_env(**env), pass_fds=(fi.theirs.fileno(),))
        assert wait_until(lambda: edge.state()["connectors"], 15), edge.proc.text()[-2000:]
        name = edge.state()["connectors"][0]["name"]
        edge.wait_tunnels(name, 1)

        def update():
            return json.loads(cli(edge, "status", name).stdout)["connectors"][0]["update"]
        # Its first report reaches the edge (on h2c, sent again if it came
        # before the Tunnel's metadata named the connection).
        u = wait_until(lambda: (update() or {}).get("state") == "idle", 15, 0.2)
        assert u, edge.proc.text()[-3000:]
        # Nothing written yet: no reboot (409, exit 100), nothing asked of init.
        r = cli(edge, "reboot", name)
        assert r.returncode == 100 and "has no update written (state idle)" in r.stderr, r
        assert (2, "") not in fi.requests, fi.requests
        r = cli(edge, "offer", name, str(b["path"]))
        assert r.returncode == 0, r.stderr

        def written():
            u = update()
            return u if u and u["state"] == "written" else None
        u = wait_until(written, 30, 0.1)
        assert u, edge.proc.text()[-3000:]
        assert (u["version"], u["offered_version"], u["other_version"]) == (
            RUNNING, next_version, next_version)
        staged = data / "update" / f"outpost-{next_version}.update"
        assert staged.read_bytes() == b["data"]
        assert fi.applied() == [f"/data/update/outpost-{next_version}.update"]
        assert "update fetch by" in edge.proc.text()
        # The front door's reboot (UPDATE_REBOOT=manual): init is asked.
        r = cli(edge, "reboot", name)
        assert r.returncode == 0 and json.loads(r.stdout) == {"rebooting": [name]}, r
        assert wait_until(lambda: (2, "") in fi.requests, 10), fi.requests  # REBOOT
        u = update()
        assert u["reboot_requested"] is not None, u
    finally:
        fi.close()


def test_reboot_request_through_the_front_door(edge, tmp_path):
    """POST /v1/updates/reboot (`outpost-edge update reboot`): sent only to
    a connector whose last report is `written`, naming the version it
    reported; an unknown connector 404, one not written 409 (exit 100);
    the query must name a connector or all, without a body."""
    a = client(tmp_path, edge, "alpha", "--update")
    b = client(tmp_path, edge, "beta", "--update")
    edge.wait_tunnels("alpha", 1)
    edge.wait_tunnels("beta", 1)
    assert cli(edge, "reboot", "nobody").returncode == 100
    r = cli(edge, "reboot", "alpha")
    assert r.returncode == 100 and "alpha has no update written (state unknown)" in r.stderr, r
    cmd(a, cmd="report", tunnel=0, status={"state": "written", "other_version": NEXT})
    cmd(b, cmd="report", tunnel=0, status={"state": "downloading", "percent": 40})
    wait_event(a, "reported")
    wait_event(b, "reported")
    r = cli(edge, "reboot", "beta")
    assert r.returncode == 100 and "beta has no update written (state downloading)" in r.stderr
    r = cli(edge, "reboot", "--all")
    assert r.returncode == 0 and json.loads(r.stdout) == {"rebooting": ["alpha"]}, r
    assert wait_event(a, "update_reboot")["version"] == NEXT
    r = cli(edge, "reboot", "alpha")
    assert r.returncode == 0 and json.loads(r.stdout) == {"rebooting": ["alpha"]}, r
    assert wait_event(a, "update_reboot", 2)["version"] == NEXT
    u = json.loads(cli(edge, "status", "alpha").stdout)["connectors"][0]["update"]
    assert u["reboot_requested"] is not None, u
    assert not events(b, "update_reboot")
    for method, path, body, want in (
            ("POST", "/v1/updates/reboot", None, 400),
            ("POST", "/v1/updates/reboot?connector=alpha", b"xx", 400),
            ("GET", "/v1/updates/reboot?connector=alpha", None, 405),
            ("POST", "/v1/updates/other?connector=alpha", None, 404)):
        s, _, got = edge.request(method, path, body=body)
        assert s == want, (method, path, s, got)
    s, _, _ = edge.request("POST", "/v1/updates/reboot?connector=alpha", token="Bearer wrong")
    assert s == 401
    assert len(events(a, "update_reboot")) == 2
