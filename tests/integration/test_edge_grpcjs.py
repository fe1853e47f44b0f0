"""Interoperability: a @grpc/grpc-js *client* acting as a connector
(controller/edge_client.js) against outpost-edge, over h2c and mTLS.  Proves
the edge speaks standard gRPC, and covers the edge's own decisions: identity
at the handshake, typed errors, timeouts, tunnels closing under a request."""
import json
import subprocess
import threading

import pytest

from conftest import wait_until
from edgelib import Edge, grpcjs_client

PKI_SH = __file__.rsplit("/", 1)[0] + "/pki.sh"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    subprocess.run(["sh", PKI_SH, d, "alpha"], check=True, capture_output=True, timeout=120)
    return d


@pytest.fixture
def procs():
    started = []
    yield started
    for p in reversed(started):
        p.stop()


def start_edge(outpost_edge_bin, tmp_path, procs, pki=None, **kw):
    if pki is not None:
        kw.setdefault("EDGE_TRUST_DOMAIN", "outpost.test")
        # pki.sh names the server files server.pem/server.key.
        kw.setdefault("EDGE_TLS_CERT_FILE", f"{pki}/server.pem")
        kw.setdefault("EDGE_TLS_KEY_FILE", f"{pki}/server.key")
    e = Edge(outpost_edge_bin, str(tmp_path), pki, **kw)
    procs.append(e)
    return e


def client(tmp_path, procs, edge, name, **kw):
    c = grpcjs_client(str(tmp_path), edge, name, **kw)
    procs.append(c)
    return c


def test_h2c_tunnels_metadata_and_proxy(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    c = client(tmp_path, procs, edge, "jsconn", tunnels=2)
    st = edge.wait_tunnels("jsconn", 2)
    assert sorted(t["id"].rsplit("-", 1)[0] for t in st["tunnels"]) == ["jsconn-0", "jsconn-1"]
    assert all(t["transport"] == "h2c" and t["max_concurrent_requests"] == 100
               for t in st["tunnels"])
    s, h, b = edge.proxy("jsconn", "svc.internal:8080/api/x?q=1", method="PUT", body=b"abc",
                         headers={"X-Custom": "1", "Connection": "X-Hop", "X-Hop": "no"})
    assert s == 200, b
    doc = json.loads(b)
    assert doc["method"] == "PUT" and doc["url"] == "http://svc.internal:8080/api/x?q=1"
    names = [k.lower() for k, _ in doc["headers"]]
    assert "x-custom" in names and doc["body_len"] == 3
    # The edge's credentials and hop-by-hop headers never reach the connector.
    assert "authorization" not in names and "x-hop" not in names and "connection" not in names
    assert dict(h)["x-connector"] == "jsconn"
    # Every ControllerMessage the client saw parsed as the spec's types.
    assert '"metadata_request"' in c.text()


def test_mtls_identity_from_spiffe_uri(outpost_edge_bin, tmp_path, procs, pki):
    edge = start_edge(outpost_edge_bin, tmp_path, procs, pki)
    client(tmp_path, procs, edge, "whatever", tls=(pki, "client-alpha"))
    st = edge.wait_tunnels("alpha", 1)  # named by the certificate, not by the client
    assert st["tunnels"][0]["transport"] == "mtls"
    assert edge.proxy("alpha", "svc/cookies")[0] == 200
    assert edge.proxy("whatever", "svc/")[0] == 404


@pytest.mark.parametrize("cert,reason", [
    ("client-expired", "expired"),
    ("client-wrongca", "unknown_ca"),
    ("server", "no identity"),
])
def test_refused_at_the_handshake_with_reason(outpost_edge_bin, tmp_path, procs, pki, cert, reason):
    edge = start_edge(outpost_edge_bin, tmp_path, procs, pki)
    client(tmp_path, procs, edge, "x", tls=(pki, cert))
    assert wait_until(lambda: "refused" in edge.proc.text() and reason in edge.proc.text(), 10), \
        edge.proc.text()[-2000:]
    assert edge.state()["connectors"] == []


def test_cn_identity_only_with_the_option(outpost_edge_bin, tmp_path, procs, pki):
    edge = start_edge(outpost_edge_bin, tmp_path, procs, pki, EDGE_ALLOW_CN_IDENTITY="true")
    client(tmp_path, procs, edge, "x", tls=(pki, "server"))  # CN=localhost, no URI SAN
    edge.wait_tunnels("localhost", 1)


def test_typed_error_is_502_with_reason(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    client(tmp_path, procs, edge, "jsconn")
    edge.wait_tunnels("jsconn", 1)
    for path, reason in (("error/dns?typed=1", "dns"), ("error/too_large", "too_large")):
        s, _, b = edge.proxy("jsconn", f"svc/{path}")
        doc = json.loads(b)
        assert s == 502 and doc["error"] == "upstream_error" and doc["reason"] == reason, b


def test_edge_timeout_is_504(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs, EDGE_REQUEST_TIMEOUT="300ms")
    client(tmp_path, procs, edge, "jsconn")
    edge.wait_tunnels("jsconn", 1)
    s, _, b = edge.proxy("jsconn", "svc/slow/2000")
    assert s == 504, b
    assert edge.state("jsconn")["in_flight"] == 0
    assert edge.proxy("jsconn", "svc/fast")[0] == 200


def test_tunnel_closing_under_a_request_is_502(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    c = client(tmp_path, procs, edge, "jsconn")
    edge.wait_tunnels("jsconn", 1)
    out = {}
    t = threading.Thread(target=lambda: out.update(r=edge.proxy("jsconn", "svc/slow/3000")))
    t.start()
    assert wait_until(lambda: edge.state("jsconn")["in_flight"] == 1, 3, 0.02)
    c.p.kill()
    t.join(10)
    assert out["r"][0] == 502 and b"tunnel_closed" in out["r"][2]


def test_api_errors(outpost_edge_bin, tmp_path, procs):
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    client(tmp_path, procs, edge, "jsconn")
    edge.wait_tunnels("jsconn", 1)
    assert edge.request("GET", "/v1/connectors/nobody")[0] == 404
    assert edge.request("GET", "/v1/connectors/jsconn/nothing")[0] == 404
    assert edge.request("GET", "/v1/connectors/jsconn/proxy/ftp/svc/")[0] == 404
    assert edge.request("GET", "/v1/connectors/jsconn/proxy/http/sv@c/")[0] == 400
    assert edge.request("POST", "/v1/connectors/jsconn")[0] == 405
    assert edge.request("GET", "/v1/connectors/jsconn/tunnels/zzz/drain")[0] == 405
    assert edge.request("POST", "/v1/connectors/jsconn/tunnels/zzz/drain")[0] == 404


def test_pipelined_front_door_requests(outpost_edge_bin, tmp_path, procs):
    """Two requests in one write: the second is dispatched while the first's
    answer is delivered from the tunnel; both must come back, in order."""
    import socket
    edge = start_edge(outpost_edge_bin, tmp_path, procs)
    client(tmp_path, procs, edge, "jsconn")
    edge.wait_tunnels("jsconn", 1)
    req = ("GET /v1/connectors/jsconn/proxy/http/svc/size/{n} HTTP/1.1\r\nHost: e\r\n"
           f"Authorization: Bearer {edge.token}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", edge.aport), timeout=10) as s:
        s.sendall((req.format(n=3) + req.format(n=5) + req.format(n=7)).encode())
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"xxxxxxx"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.index(b"\r\n\r\nxxx") < data.index(b"\r\n\r\nxxxxx") < data.index(b"\r\n\r\nxxxxxxx")
    assert edge.proc.alive()
