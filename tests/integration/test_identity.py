"""The connector's identity end to end against the real outpost-edge:
token enrolment (`outpost run` and `outpost enroll`), restart from DATA_DIR,
guided recovery, a wrong CA, device pairing, renewal under load and
revocation (issue 12 items 4, 5, 7, 8; spec/enrollment.md)."""
import http.client
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import base_env, free_port, run, wait_until
from controllerlib import make_pki
from edgelib import Edge, Proc, Upstream

TD = "outpost.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "alpha")


@pytest.fixture
def procs():
    started = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


def start_edge(outpost_edge_bin, tmp, procs, pki, **kw):
    kw.setdefault("EDGE_TRUST_DOMAIN", TD)
    kw.setdefault("EDGE_TLS_CERT_FILE", f"{pki}/server.pem")
    kw.setdefault("EDGE_TLS_KEY_FILE", f"{pki}/server.key")
    kw.setdefault("EDGE_DATA_DIR", os.path.join(tmp, "edge-data"))
    kw.setdefault("EDGE_PAIRING_INTERVAL", "1s")
    e = Edge(outpost_edge_bin, tmp, pki, **kw)
    procs.append(e)
    return e


def new_token(edge, name):
    s, _, b = edge.request("POST", "/v1/tokens", body=json.dumps({"name": name}))
    assert s == 201, b
    return json.loads(b)["token"]


def conn_env(edge, pki, data=None, **kw):
    env = dict(TRAVERSAL_CONTROLLER_URL=edge.url, TLS_CA_FILE=f"{pki}/ca.pem",
               RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="1s", ENV_LEVEL="debug")
    if data is not None:
        env["DATA_DIR"] = data
    env.update(kw)
    return env


def start_connector(outpost_bin, tmp, procs, env, name="outpost"):
    port = free_port()
    p = Proc([outpost_bin, "run"], base_env(HTTP_PORT=port, **env),
             os.path.join(tmp, f"{name}-{port}.log"))
    p.port = port
    procs.append(p)
    return p


def get(port, path):
    """(status, JSON body) from the connector's health port, or (None, None)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        return r.status, (json.loads(body) if path != "/metrics" else body.decode())
    except (OSError, ValueError):
        return None, None


def wait_ready(p, timeout=15):
    ok = wait_until(lambda: not p.alive() or get(p.port, "/readyz")[0] == 200, timeout, 0.05)
    assert ok and p.alive(), "connector not ready:\n" + p.text()[-3000:]


def wait_reason(p, reason, timeout=10):
    got = wait_until(lambda: (get(p.port, "/readyz")[1] or {}).get("reason") == reason,
                     timeout, 0.05)
    assert got, f"readyz reason never {reason}: {get(p.port, '/readyz')}\n" + p.text()[-3000:]


def identity(p):
    return get(p.port, "/status")[1]["identity"]


def test_enroll_then_restart_from_data_dir(outpost_bin, outpost_edge_bin, tmp_path, procs,
                                          pki, upstream):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    env = conn_env(edge, pki, data)
    p = start_connector(outpost_bin, tmp, procs, dict(env, ENROLLMENT_TOKEN=new_token(edge, "alpha")))
    wait_ready(p)
    st = get(p.port, "/status")[1]
    assert st["state"] == "running"
    assert st["identity"]["source"] == "enrollment" and st["identity"]["name"] == "alpha"
    s, _, b = edge.proxy("alpha", upstream.hostport + "/echo")
    assert s == 200, b
    assert "opt_" not in p.text()  # the token is never logged
    r = run([outpost_bin, "identity", "show"], env=base_env(DATA_DIR=data))
    assert r.returncode == 0 and json.loads(r.stdout)["source"] == "enroll"
    # Restart without the token (it is single-use anyway): ready from DATA_DIR.
    p.stop()
    procs.remove(p)
    p = start_connector(outpost_bin, tmp, procs, env)
    wait_ready(p)
    assert identity(p)["source"] == "data_dir" and identity(p)["name"] == "alpha"
    assert "from data_dir" in p.text()
    s, _, b = edge.proxy("alpha", upstream.hostport + "/echo")
    assert s == 200, b


def test_outpost_enroll_once(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    tok = new_token(edge, "beta")
    tokfile = tmp_path / "token"
    tokfile.write_text(f"  {tok}\n")
    env = base_env(**conn_env(edge, pki, data, ENROLLMENT_TOKEN_FILE=str(tokfile)))
    r = run([outpost_bin, "enroll"], env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert tok not in r.stderr
    shown = json.loads(run([outpost_bin, "identity", "show"], env=base_env(DATA_DIR=data)).stdout)
    assert shown["name"] == "beta" and shown["source"] == "enroll"
    # The token was used: with an empty DATA_DIR it is refused, permanently.
    data2 = str(tmp_path / "data2")
    os.mkdir(data2)
    r = run([outpost_bin, "enroll"], env=dict(env, DATA_DIR=data2), timeout=30)
    assert r.returncode == 100, r.stderr
    assert "invalid_token" in r.stderr


def test_token_refused_in_config_file(outpost_bin, tmp_path):
    conf = tmp_path / "outpost.conf"
    conf.write_text("ENROLLMENT_TOKEN=opt_secretvalue\n")
    for cmd in (["check-config"], ["run"]):
        r = run([outpost_bin, *cmd], env=base_env(OUTPOST_CONFIG=str(conf)))
        assert r.returncode == 100, r.stderr
        assert "ENROLLMENT_TOKEN" in r.stderr and "opt_secretvalue" not in r.stderr


def test_empty_data_dir_needs_recovery(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    p = start_connector(outpost_bin, tmp, procs, conn_env(edge, pki, data))
    wait_reason(p, "needs_recovery")
    st = get(p.port, "/status")[1]
    assert st["state"] == "needs_recovery"
    assert "ENROLLMENT_TOKEN" in st["identity"]["action"]
    time.sleep(1.5)
    assert p.alive()  # no crash loop: the health port stays up
    assert get(p.port, "/healthz")[0] == 200
    assert get(p.port, "/readyz") == (503, {"status": "not ready", "active_tunnels": 0,
                                            "reason": "needs_recovery"})


def test_wrong_ca_is_a_typed_failure(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    env = conn_env(edge, pki, data, TLS_CA_FILE=f"{pki}/other_ca.pem",
                   ENROLLMENT_TOKEN=new_token(edge, "gamma"))
    r = run([outpost_bin, "enroll"], env=base_env(**env), timeout=30)
    assert r.returncode == 100, r.stderr
    assert "unknown_ca" in r.stderr
    p = start_connector(outpost_bin, tmp, procs, env)
    wait_reason(p, "unknown_ca")
    assert get(p.port, "/status")[1]["state"] == "enrolling"
    assert "unknown_ca" in identity(p)["last_error"]


def test_pairing(outpost_bin, outpost_edge_bin, tmp_path, procs, pki, upstream):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    p = start_connector(outpost_bin, tmp, procs, conn_env(edge, pki, data, PAIRING="true"))
    code = wait_until(lambda: (identity(p) if get(p.port, "/status")[0] else {}).get("user_code"),
                      10, 0.05)
    assert code, p.text()
    assert get(p.port, "/readyz")[1]["reason"] == "pairing"
    assert f"pairing: code {code}" in p.text()
    s, _, b = edge.request("POST", f"/v1/pairings/{code}/approve",
                           body=json.dumps({"name": "paired"}))
    assert s == 200, b
    wait_ready(p)
    assert identity(p)["source"] == "pairing" and identity(p)["name"] == "paired"
    s, _, b = edge.proxy("paired", upstream.hostport + "/echo")
    assert s == 200, b


def renewals(p, result="ok"):
    text = get(p.port, "/metrics")[1] or ""
    for line in text.splitlines():
        if line.startswith(f'outpost_identity_renewals_total{{result="{result}"}}'):
            return int(float(line.split()[-1]))
    return 0


def test_renewal_under_load(outpost_bin, outpost_edge_bin, tmp_path, procs, pki, upstream):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, EDGE_CERT_LIFETIME="12s")
    p = start_connector(outpost_bin, tmp, procs,
                        conn_env(edge, pki, data, RENEW_AT="0.5",
                                 ENROLLMENT_TOKEN=new_token(edge, "delta")))
    wait_ready(p)
    first = identity(p)["not_after"]
    stop, results = threading.Event(), []

    def load():
        while not stop.is_set():
            s, _, b = edge.proxy("delta", upstream.hostport + "/echo")
            results.append(s if s == 200 else (s, b[:200]))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        assert wait_until(lambda: renewals(p) >= 3, 40, 0.2), p.text()[-3000:]
        time.sleep(1)
    finally:
        stop.set()
        t.join(timeout=35)
    assert len(results) > 50
    assert [s for s in results if s != 200] == []
    assert identity(p)["not_after"] > first and identity(p)["source"] == "renewal"
    shown = json.loads(run([outpost_bin, "identity", "show"], env=base_env(DATA_DIR=data)).stdout)
    assert shown["source"] == "renew" and shown["generation"] >= 4
    assert renewals(p, "error") == 0


def test_revocation(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    p = start_connector(outpost_bin, tmp, procs,
                        conn_env(edge, pki, data, ENROLLMENT_TOKEN=new_token(edge, "eps")))
    wait_ready(p)
    edge.wait_tunnels("eps", 1)
    s, _, b = edge.request("POST", "/v1/connectors/eps/revoke")
    assert s == 200, b
    t0 = time.monotonic()
    assert wait_until(lambda: not edge.state("eps")["tunnels"], 1.0, 0.02)
    assert time.monotonic() - t0 < 1.0
    wait_reason(p, "revoked")
    st = get(p.port, "/status")[1]
    assert st["state"] == "needs_recovery" and "revoked" in st["identity"]["action"]
    time.sleep(1)
    assert p.alive() and edge.state("eps")["tunnels"] == []
    assert "refused at the handshake: revoked" in edge.proc.text()


def test_appliance_pairs_by_default(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    """Under the appliance's init (OUTPOST_DATA_STATE set) PAIRING defaults to true,
    and the code is also a plain line on the console (stderr)."""
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    p = start_connector(outpost_bin, tmp, procs,
                        conn_env(edge, pki, data, OUTPOST_DATA_STATE="ok"))
    assert wait_until(lambda: "outpost: PAIRING CODE " in p.text(), 10, 0.05), p.text()
    assert get(p.port, "/status")[1]["state"] == "pairing"
    # PAIRING=false wins over the appliance default.
    q = start_connector(outpost_bin, tmp, procs,
                        conn_env(edge, pki, str(tmp_path), OUTPOST_DATA_STATE="ok",
                                 PAIRING="false"), name="nopair")
    wait_reason(q, "needs_recovery")


def test_appliance_data_lost_pairing_is_recovery(outpost_bin, outpost_edge_bin, tmp_path, procs,
                                                pki):
    """Under the appliance's init with a data partition that needs recovery (/data is
    tmpfs): NEEDS RECOVERY and a pairing code, /readyz needs_recovery, no tunnel; the
    approved code brings the connector up (until the next boot)."""
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    p = start_connector(outpost_bin, tmp, procs,
                        conn_env(edge, pki, data, OUTPOST_DATA_STATE="needs_recovery"))
    line = "outpost: NEEDS RECOVERY: PAIRING CODE "
    assert wait_until(lambda: line in p.text(), 10, 0.05), p.text()
    code = p.text().split(line)[1].split(":")[0]
    wait_reason(p, "needs_recovery")
    st = get(p.port, "/status")[1]
    assert st["state"] == "needs_recovery", st
    assert st["identity"]["user_code"] == code and "data partition" in st["identity"]["action"]
    assert edge.state()["connectors"] == []  # no tunnel while recovering
    s, _, b = edge.request("POST", f"/v1/pairings/{code}/approve", body=json.dumps({"name": "box"}))
    assert s == 200, b
    wait_ready(p)
    st = get(p.port, "/status")[1]
    assert st["state"] == "running" and st["identity"]["source"] == "pairing", st
    assert "lost at the next boot" in p.text()


def test_outpost_enroll_pairs(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    p = Proc([outpost_bin, "enroll"], base_env(**conn_env(edge, pki, data, PAIRING="true")),
             os.path.join(tmp, "enroll.log"))
    procs.append(p)
    assert wait_until(lambda: "outpost: PAIRING CODE " in p.text(), 10, 0.05), p.text()
    code = p.text().split("outpost: PAIRING CODE ")[1].split(":")[0]
    s, _, b = edge.request("POST", f"/v1/pairings/{code}/approve", body=json.dumps({"name": "box"}))
    assert s == 200, b
    assert p.p.wait(timeout=15) == 0, p.text()
    shown = json.loads(run([outpost_bin, "identity", "show"], env=base_env(DATA_DIR=data)).stdout)
    assert shown["name"] == "box" and shown["source"] == "pair"


def test_kill9_during_renewals(outpost_bin, outpost_edge_bin, tmp_path, procs, pki):
    """The store under real renewals: the connector renews about every second
    and is killed -9 at random moments; after each kill the stored identity
    loads, its key matches its certificate, and a restart is ready from it."""
    import random
    import signal
    tmp, data = str(tmp_path), str(tmp_path / "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, EDGE_CERT_LIFETIME="10s")
    env = conn_env(edge, pki, data, RENEW_AT="0.1")
    rng = random.Random(7)
    gens = set()
    for i in range(6):
        extra = {"ENROLLMENT_TOKEN": new_token(edge, "zeta")} if i == 0 else {}
        p = start_connector(outpost_bin, tmp, procs, dict(env, **extra), name=f"k{i}")
        wait_ready(p)
        before = renewals(p)
        assert wait_until(lambda: renewals(p) > before, 10, 0.05), p.text()[-2000:]
        time.sleep(rng.uniform(0, 1.5))  # somewhere in the next renewal
        p.p.send_signal(signal.SIGKILL)
        p.p.wait(timeout=5)
        r = run([outpost_bin, "identity", "show"], env=base_env(DATA_DIR=data))
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["name"] == "zeta" and not shown["expired"]
        gens.add(shown["generation"])
        cur = os.path.join(data, "identity", "current")
        pub = [subprocess.run(["openssl", *a], capture_output=True, check=True).stdout
               for a in (["x509", "-in", f"{cur}/chain.pem", "-noout", "-pubkey"],
                         ["pkey", "-in", f"{cur}/key.pem", "-pubout"])]
        assert pub[0] == pub[1]
    assert len(gens) >= 5
