"""The edge's enrolment service (spec/enrollment.md) against independent
peers: a @grpc/grpc-js client (controller/enroll_client.js), CSRs made by
`openssl req`, certificates checked by `openssl verify` / `openssl x509`.
Covers tokens (single use, expiry, restart), bad CSRs, the access rule for
calls without a client certificate, device pairing, renewal and revocation,
and the operator commands (outpost-edge token/pair/revoke)."""
import base64
import json
import os
import re
import select
import shutil
import stat
import subprocess
import time

import pytest

from conftest import base_env, free_port, wait_until
from edgelib import CONTROLLER_DIR, Edge, grpcjs_client
from test_edge_grpcjs import pki, procs  # noqa: F401  (the same fixtures)

TD = "outpost.test"

PERMISSION_DENIED, INVALID_ARGUMENT, FAILED_PRECONDITION = 7, 3, 9
RESOURCE_EXHAUSTED, UNAUTHENTICATED, UNAVAILABLE = 8, 16, 14


def start_edge(binary, tmp, procs, pki, data=None, **kw):
    kw.setdefault("EDGE_TRUST_DOMAIN", TD)
    kw.setdefault("EDGE_TLS_CERT_FILE", f"{pki}/server.pem")
    kw.setdefault("EDGE_TLS_KEY_FILE", f"{pki}/server.key")
    kw.setdefault("EDGE_DATA_DIR", data or os.path.join(tmp, "edge-data"))
    kw.setdefault("EDGE_PAIRING_INTERVAL", "1s")
    e = Edge(binary, tmp, pki, **kw)
    e.data = kw["EDGE_DATA_DIR"]
    e.pki = pki
    procs.append(e)
    return e


class Client:
    """enroll_client.js on one channel; call() sends a request, waits for its answer."""

    def __init__(self, tmp, edge, procs, cert=None, key=None, name="enroll"):
        argv = ["node", os.path.join(CONTROLLER_DIR, "enroll_client.js"),
                f"127.0.0.1:{edge.tport}", "--ca", f"{edge.pki}/ca.pem",
                "--server-name", "localhost"]
        if cert:
            argv += ["--cert", cert, "--key", key]
        self.err = open(os.path.join(tmp, f"{name}.stderr"), "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err,
                                  env=base_env(NODE_PATH=os.path.join(CONTROLLER_DIR,
                                                                      "node_modules")))
        procs.append(self)

    def call(self, method, request=None, timeout=15):
        self.p.stdin.write((json.dumps({"method": method, "request": request or {}}) + "\n")
                           .encode())
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, f"{method}: no answer within {timeout} s"
        return json.loads(self.p.stdout.readline())

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        self.p.stdout.close()
        self.err.close()


def csr(tmp, name, key_args=("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")):
    """(base64 DER CSR, key path) made by openssl req, asking for a SAN we ignore."""
    key, der = os.path.join(tmp, f"{name}.key"), os.path.join(tmp, f"{name}.csr")
    subprocess.run(["openssl", "req", "-new", *key_args, "-nodes", "-keyout", key,
                    "-subj", "/CN=asks-for-anything", "-addext",
                    "subjectAltName=URI:spiffe://evil.test/connector/root",
                    "-outform", "DER", "-out", der], check=True, capture_output=True, timeout=60)
    with open(der, "rb") as f:
        return base64.b64encode(f.read()).decode(), key


def token(edge, name, ttl=None):
    body = {"name": name} if ttl is None else {"name": name, "ttl": ttl}
    s, _, b = edge.request("POST", "/v1/tokens", body=json.dumps(body))
    assert s == 201, b
    doc = json.loads(b)
    assert doc["name"] == name and doc["expires_at"].endswith("Z")
    return doc["token"]


def write_identity(tmp, base, resp):
    """Leaf and CA of an Identity as PEM files; returns (leaf path, ca path)."""
    paths = []
    for suffix, der in (("pem", resp["certificate_chain"][0]), ("ca.pem", resp["ca_certificate"])):
        path = os.path.join(tmp, f"{base}.{suffix}")
        pem = subprocess.run(["openssl", "x509", "-inform", "DER", "-outform", "PEM"],
                             input=base64.b64decode(der), capture_output=True, check=True,
                             timeout=10).stdout
        with open(path, "wb") as f:
            f.write(pem)
        paths.append(path)
    return paths


def x509_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text", "-serial"],
                          capture_output=True, text=True, check=True, timeout=10).stdout


def enroll(tmp, edge, procs, name, base=None):
    """Token enrolment through grpc-js: (cert path, key path, ca path, response)."""
    base = base or name
    der, key = csr(tmp, base)
    r = Client(tmp, edge, procs, name=f"enroll-{base}").call(
        "Enroll", {"token": token(edge, name), "csr": der, "hostname": "host-" + name})
    assert r["ok"], r
    cert, ca = write_identity(tmp, base, r["response"])
    return cert, key, ca, r["response"]


def test_enroll_grpcjs_certificate_verifies(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    # The identity routes are behind the front door's token.
    for method, path in (("POST", "/v1/tokens"), ("GET", "/v1/pairings"),
                         ("POST", "/v1/pairings/BCDF-GHJK/deny"),
                         ("POST", "/v1/connectors/beta/revoke")):
        assert edge.request(method, path, body="{}", token=False)[0] == 401, path
    s, _, b = edge.request("POST", "/v1/tokens", body='{"name":"../x"}')
    assert s == 400, b
    tok = token(edge, "beta", "1h")
    assert re.fullmatch(r"opt_[0-9a-f]{48}", tok)
    der, key = csr(tmp, "beta")
    c = Client(tmp, edge, procs)
    r = c.call("Enroll", {"token": tok, "csr": der, "hostname": "h1", "version": "t"})
    assert r["ok"], r
    resp = r["response"]
    assert resp["connector_name"] == "beta" and len(resp["certificate_chain"]) == 1
    cert, ca = write_identity(tmp, "beta", resp)
    v = subprocess.run(["openssl", "verify", "-CAfile", ca, "-purpose", "sslclient", cert],
                       capture_output=True, text=True, timeout=10)
    assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr
    text = x509_text(cert)
    assert f"URI:spiffe://{TD}/connector/beta" in text and "evil.test" not in text
    assert "TLS Web Client Authentication" in text
    serial = re.search(r"serial=([0-9A-F]+)", text).group(1)
    assert 24 <= len(serial) <= 34  # 128 random bits
    # The CSR's key, not another one.
    pub = lambda args: subprocess.run(["openssl", *args], capture_output=True,  # noqa: E731
                                      check=True, timeout=10).stdout
    assert pub(["x509", "-in", cert, "-noout", "-pubkey"]) == pub(["pkey", "-in", key, "-pubout"])
    # Backdated 5 minutes; not_after_unix is the certificate's.
    nb = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-startdate", "-enddate"],
                        capture_output=True, text=True, check=True, timeout=10).stdout
    assert abs(int(resp["not_after_unix"]) - time.time() - 86400) < 60, nb
    assert os.stat(os.path.join(edge.data, "ca.pem")).st_mode & 0o077 == 0
    assert stat.S_IMODE(os.stat(os.path.join(edge.data, "tokens")).st_mode) == 0o600
    # The generated CA is the edge's own, and the token is gone from the store.
    with open(os.path.join(edge.data, "tokens")) as f:
        assert tok not in f.read()
    # Listed, offline until it connects, with its certificate's end.
    st = edge.state("beta")
    assert st["state"] == "offline" and st["certificate_not_after"].endswith("Z")
    # Single use: the same token again is refused, indistinctly.
    der2, _ = csr(tmp, "beta2")
    r = c.call("Enroll", {"token": tok, "csr": der2})
    assert not r["ok"] and r["code"] == PERMISSION_DENIED
    assert r["details"].startswith("invalid_token")
    log = edge.proc.text()
    assert "token unknown or already used" in log and tok not in log


def test_token_expired_and_wrong(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    short = token(edge, "gamma", "1s")
    der, _ = csr(tmp, "gamma")
    c = Client(tmp, edge, procs)
    time.sleep(2.2)
    answers = [c.call("Enroll", {"token": t, "csr": der})
               for t in (short, "opt_" + "0" * 48, "", "x" * 300)]
    for r in answers:
        assert not r["ok"] and r["code"] == PERMISSION_DENIED, r
        assert r["details"] == answers[0]["details"]  # the client cannot tell them apart
    log = edge.proc.text()
    assert "token expired" in log and "token unknown" in log and short not in log


def test_bad_csr_keeps_the_token(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    tok = token(edge, "delta")
    good, _ = csr(tmp, "delta")
    raw = bytearray(base64.b64decode(good))
    raw[-1] ^= 0x01  # inside the signature
    flipped = base64.b64encode(bytes(raw)).decode()
    weak, _ = csr(tmp, "weak", ("-newkey", "rsa:1024"))
    c = Client(tmp, edge, procs)
    for bad in (flipped, weak, base64.b64encode(b"\x30\x03\x02\x01\x00").decode()):
        r = c.call("Enroll", {"token": tok, "csr": bad})
        assert not r["ok"] and r["code"] == INVALID_ARGUMENT, r
        assert r["details"].startswith("bad_csr"), r
    # A refused CSR does not use the token up.
    r = c.call("Enroll", {"token": tok, "csr": good})
    assert r["ok"], r


def test_calls_without_client_certificate(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    c = Client(tmp, edge, procs)
    r = c.call("Tunnel")
    assert not r["ok"] and r["code"] == UNAUTHENTICATED, r
    assert r["details"].startswith("client_certificate_required")
    der, _ = csr(tmp, "eps")
    r = c.call("Renew", {"csr": der})
    assert not r["ok"] and r["code"] == UNAUTHENTICATED, r
    assert r["details"].startswith("client_certificate_required")
    # Nothing was registered under any name.
    assert edge.state()["connectors"] == []
    # With the configured client CA's certificate, the tunnel works as before.
    t = grpcjs_client(tmp, edge, "whatever", tls=(pki, "client-alpha"))
    procs.append(t)
    edge.wait_tunnels("alpha", 1)


def test_pairing_flow(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    der, key = csr(tmp, "pair")
    c = Client(tmp, edge, procs)
    r = c.call("Pair", {"csr": der, "hostname": "box-1", "version": "t"})
    assert r["ok"], r
    p = r["response"]
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", p["user_code"])
    assert int(p["interval_seconds"]) == 1
    assert 590 <= int(p["expires_unix"]) - time.time() <= 601
    poll = {"pairing_id": p["pairing_id"]}
    r = c.call("PairPoll", poll)  # right after Pair: faster than the interval
    assert not r["ok"] and r["code"] == RESOURCE_EXHAUSTED and r["details"] == "slow_down", r
    time.sleep(1.1)
    r = c.call("PairPoll", poll)
    assert not r["ok"] and r["code"] == FAILED_PRECONDITION, r
    assert r["details"] == "authorization_pending"
    # The operator sees it, then approves through the front door.
    s, _, b = edge.request("GET", "/v1/pairings")
    pend = json.loads(b)["pairings"]
    assert s == 200 and [x["code"] for x in pend] == [p["user_code"]]
    assert pend[0]["hostname"] == "box-1" and pend[0]["address"] == "127.0.0.1"
    s, _, b = edge.request("POST", f"/v1/pairings/{p['user_code'].lower()}/approve",
                           body=json.dumps({"name": "paired"}))
    assert s == 200 and json.loads(b)["state"] == "approved", b
    time.sleep(1.1)
    r = c.call("PairPoll", poll)
    assert r["ok"], r
    assert r["response"]["connector_name"] == "paired"
    cert, ca = write_identity(tmp, "paired", r["response"])
    assert f"URI:spiffe://{TD}/connector/paired" in x509_text(cert)
    # Used up: a further poll finds nothing.
    time.sleep(1.1)
    r = c.call("PairPoll", poll)
    assert not r["ok"] and r["details"] == "expired_token", r
    # Denied pairings, and unknown codes.
    r = c.call("Pair", {"csr": der})
    code = r["response"]["user_code"]
    assert edge.request("POST", f"/v1/pairings/{code}/deny", body="{}")[0] == 200
    assert edge.request("POST", f"/v1/pairings/{code}/deny", body="{}")[0] == 404
    time.sleep(1.1)
    r = c.call("PairPoll", {"pairing_id": r["response"]["pairing_id"]})
    assert not r["ok"] and r["code"] == PERMISSION_DENIED and r["details"] == "access_denied"
    # A bad CSR is refused at Pair; the per-address cap holds.
    r = c.call("Pair", {"csr": base64.b64encode(b"junk").decode()})
    assert not r["ok"] and r["code"] == INVALID_ARGUMENT and r["details"].startswith("bad_csr")
    codes = [c.call("Pair", {"csr": der}) for _ in range(5)]
    assert [x["ok"] for x in codes] == [True] * 4 + [False]
    assert codes[-1]["code"] == RESOURCE_EXHAUSTED


def test_pairing_expires(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, EDGE_PAIRING_TTL="10s")
    der, _ = csr(tmp, "exp")
    c = Client(tmp, edge, procs)
    p = c.call("Pair", {"csr": der})["response"]
    assert int(p["expires_unix"]) - time.time() <= 11
    time.sleep(10.5)
    r = c.call("PairPoll", {"pairing_id": p["pairing_id"]})
    assert not r["ok"] and r["code"] == PERMISSION_DENIED and r["details"] == "expired_token"
    assert edge.request("POST", f"/v1/pairings/{p['user_code']}/approve",
                        body=json.dumps({"name": "late"}))[0] == 404


def cli(binary, edge, *args):
    env = base_env(EDGE_API_PORT=edge.aport, EDGE_API_TOKEN_FILE=os.path.join(
        os.path.dirname(edge.proc.log), "edge-token"))
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=20)


def test_renew_then_revoke(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    cert, key, ca, first = enroll(tmp, edge, procs, "zeta")
    # Renew over mTLS with the issued certificate: same name, new key, new serial.
    der, key2 = csr(tmp, "zeta-renew")
    c = Client(tmp, edge, procs, cert=cert, key=key, name="renew")
    r = c.call("Renew", {"csr": der})
    assert r["ok"], r
    assert r["response"]["connector_name"] == "zeta"
    cert2, _ = write_identity(tmp, "zeta2", r["response"])
    assert x509_text(cert2).split("serial=")[1] != x509_text(cert).split("serial=")[1]
    assert f"URI:spiffe://{TD}/connector/zeta" in x509_text(cert2)
    c.stop()
    # A tunnel with the certificate, then revocation by the operator command.
    d = os.path.join(tmp, "zeta-pki")
    os.makedirs(d)
    shutil.copy(cert2, f"{d}/z.pem")
    shutil.copy(key2, f"{d}/z.key")
    shutil.copy(f"{pki}/ca.pem", f"{d}/ca.pem")
    t = grpcjs_client(tmp, edge, "zeta", tls=(d, "z"))
    procs.append(t)
    edge.wait_tunnels("zeta", 1)
    r = cli(outpost_edge_bin, edge, "revoke", "zeta")
    assert r.returncode == 0 and json.loads(r.stdout)["revoked"], r.stdout + r.stderr
    t0 = time.monotonic()
    assert wait_until(lambda: not edge.state("zeta")["tunnels"], 1.0, 0.02), \
        "tunnel not closed within a second"
    assert time.monotonic() - t0 < 1.0
    # Reconnects (the emulator retries) and Renew with either certificate fail at the handshake.
    for cp, kp in ((cert, key), (cert2, key2)):
        c = Client(tmp, edge, procs, cert=cp, key=kp, name="renew-after")
        r = c.call("Renew", {"csr": der})
        assert not r["ok"] and r["code"] == UNAVAILABLE, r
        c.stop()
    assert "refused at the handshake: revoked" in edge.proc.text()
    assert edge.state("zeta")["tunnels"] == []
    # Kept across a restart.
    edge.stop()
    procs.remove(edge)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, data=edge.data)
    c = Client(tmp, edge, procs, cert=cert2, key=key2, name="renew-restart")
    assert c.call("Renew", {"csr": der})["code"] == UNAVAILABLE
    # Re-enrolled under the same name: a new certificate that works.
    cert3, key3, _, _ = enroll(tmp, edge, procs, "zeta", base="zeta3")
    c = Client(tmp, edge, procs, cert=cert3, key=key3, name="renew-new")
    r = c.call("Renew", {"csr": der})
    assert r["ok"] and r["response"]["connector_name"] == "zeta", r


def test_tokens_survive_restart_and_cli(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    r = cli(outpost_edge_bin, edge, "token", "create", "eta", "--ttl", "10m")
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    assert re.fullmatch(r"opt_[0-9a-f]{48}", tok)
    used = token(edge, "theta")
    der, _ = csr(tmp, "eta")
    assert Client(tmp, edge, procs, name="c1").call("Enroll", {"token": used, "csr": der})["ok"]
    with open(os.path.join(edge.data, "ca.pem"), "rb") as f:
        ca_before = f.read()
    edge.stop()
    procs.remove(edge)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, data=edge.data)
    c = Client(tmp, edge, procs, name="c2")
    r = c.call("Enroll", {"token": tok, "csr": der})
    assert r["ok"] and r["response"]["connector_name"] == "eta", r
    assert not c.call("Enroll", {"token": used, "csr": der})["ok"]
    with open(os.path.join(edge.data, "ca.pem"), "rb") as f:
        assert f.read() == ca_before  # generated once
    # Bad usage and a refused request exit 100; an unreachable edge 111.
    assert cli(outpost_edge_bin, edge, "token", "create").returncode == 100
    assert cli(outpost_edge_bin, edge, "pair", "approve", "BCDF-GHJK", "--name",
               "x").returncode == 100
    edge.stop()
    procs.remove(edge)
    assert cli(outpost_edge_bin, edge, "revoke", "eta").returncode == 111


def test_configured_ca_files(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, EDGE_CA_CERT_FILE=f"{pki}/inter.pem",
                      EDGE_CA_KEY_FILE=f"{pki}/inter.key")
    cert, _, ca, resp = enroll(tmp, edge, procs, "iota")
    assert not os.path.exists(os.path.join(edge.data, "ca.pem"))  # nothing generated
    with open(ca, "rb") as a, open(f"{pki}/inter.pem", "rb") as b:
        assert a.read() == b.read()
    v = subprocess.run(["openssl", "verify", "-partial_chain", "-CAfile", f"{pki}/inter.pem",
                        cert], capture_output=True, text=True, timeout=10)
    assert v.returncode == 0, v.stdout + v.stderr


@pytest.mark.parametrize("settings,message", [
    (dict(EDGE_CA_CERT_FILE="{pki}/inter.pem", EDGE_CA_KEY_FILE="{pki}/ca.key"),
     "EDGE_CA_KEY_FILE: the key does not match"),
    (dict(EDGE_CA_CERT_FILE="{pki}/inter.pem"), "EDGE_CA_KEY_FILE: required"),
    (dict(EDGE_DATA_DIR="", EDGE_CA_CERT_FILE="{pki}/ca.pem", EDGE_CA_KEY_FILE="{pki}/ca.key"),
     "needs EDGE_DATA_DIR"),
    (dict(EDGE_DATA_DIR="", EDGE_CLIENT_CA_FILE=""), "EDGE_CLIENT_CA_FILE: required"),
])
def test_identity_settings_refused(outpost_edge_bin, tmp_path, pki, settings, message):
    tok = os.path.join(str(tmp_path), "tok")
    with open(tok, "w") as f:
        f.write("t" * 32)
    env = dict(EDGE_LISTEN="127.0.0.1:0", EDGE_API_PORT=1, EDGE_API_TOKEN_FILE=tok,
               EDGE_TLS_CERT_FILE=f"{pki}/server.pem", EDGE_TLS_KEY_FILE=f"{pki}/server.key",
               EDGE_CLIENT_CA_FILE=f"{pki}/ca.pem",
               EDGE_DATA_DIR=os.path.join(str(tmp_path), "data"))
    env.update({k: v.format(pki=pki) for k, v in settings.items()})
    env = {k: v for k, v in env.items() if v != ""}
    # One validation path: check-config refuses what run refuses, saying the same.
    for cmd in ("run", "check-config"):
        r = subprocess.run([outpost_edge_bin, cmd], env=base_env(**env), capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 100, (cmd, r.stdout + r.stderr)
        assert message in r.stdout + r.stderr, cmd
    assert "config invalid" in r.stderr


def test_check_config_has_no_side_effects(outpost_edge_bin, tmp_path, pki):
    """check-config accepts a good configuration without creating EDGE_DATA_DIR or a CA
    (run creates both); with the CA generated by run, it loads and checks that one."""
    tok, data = os.path.join(str(tmp_path), "tok"), os.path.join(str(tmp_path), "data")
    with open(tok, "w") as f:
        f.write("t" * 32)
    env = base_env(EDGE_LISTEN="127.0.0.1:0", EDGE_API_PORT=free_port(), EDGE_API_TOKEN_FILE=tok,
                   EDGE_TLS_CERT_FILE=f"{pki}/server.pem", EDGE_TLS_KEY_FILE=f"{pki}/server.key",
                   EDGE_DATA_DIR=data)
    r = subprocess.run([outpost_edge_bin, "check-config"], env=env, capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.strip() == "config ok", r.stdout + r.stderr
    assert not os.path.exists(data)
    p = subprocess.Popen([outpost_edge_bin, "run"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: os.path.exists(os.path.join(data, "ca.pem")), 10, 0.05)
    finally:
        p.terminate()
        p.wait(timeout=10)
    with open(os.path.join(data, "ca.pem"), "r+b") as f:  # a broken CA is refused by both
        f.seek(40)
        f.write(b"!!!!")
    for cmd in ("check-config", "run"):
        r = subprocess.run([outpost_edge_bin, cmd], env=env, capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 100 and "EDGE_DATA_DIR CA" in r.stderr, (cmd, r.stderr)


def test_enrolment_off_and_oversized(outpost_edge_bin, tmp_path, procs, pki):
    tmp = str(tmp_path)
    # Without EDGE_DATA_DIR: no CA, the routes and calls say so.
    offdir = os.path.join(tmp, "off")
    os.makedirs(offdir)
    off = Edge(outpost_edge_bin, offdir, pki, EDGE_TRUST_DOMAIN=TD,
               EDGE_TLS_CERT_FILE=f"{pki}/server.pem", EDGE_TLS_KEY_FILE=f"{pki}/server.key")
    off.pki = pki
    procs.append(off)
    s, _, b = off.request("POST", "/v1/tokens", body='{"name":"x"}')
    assert s == 409 and json.loads(b)["error"] == "enrollment_disabled"
    der, _ = csr(tmp, "off")
    r = Client(offdir, off, procs).call("Enroll", {"token": "opt_x", "csr": der})
    assert not r["ok"] and r["code"] == 12 and r["details"].startswith("enrollment_disabled")
    # A request larger than any CSR is refused, the connection survives.
    edge = start_edge(outpost_edge_bin, tmp, procs, pki)
    c = Client(tmp, edge, procs, name="big")
    big = base64.b64encode(os.urandom(40000)).decode()
    r = c.call("Enroll", {"token": "opt_x", "csr": big})
    assert not r["ok"] and r["code"] == RESOURCE_EXHAUSTED and r["details"].startswith("bad_request")
    r = c.call("Enroll", {"token": token(edge, "kappa"), "csr": der})
    assert r["ok"], r
