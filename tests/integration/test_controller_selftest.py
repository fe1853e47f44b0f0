"""Self-test of the independent grpc-js controller (controller/controller.js).

A tiny grpc-js connector (controller/selftest_client.js) dials it, over mTLS
with the PKI from pki.sh and over h2c, to show that the controller serves
the connector.v1 Tunnel RPC from the shared .proto, reports every message,
and obeys its control channel.  The connector tests replace the stub client
with outpost itself.
"""
import base64
import json
import os
import subprocess

import pytest

from controllerlib import CONTROLLER_DIR, NODE, Controller, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "test")


class Client:
    """The grpc-js stub connector."""

    def __init__(self, port, pki=None, cert="client-test"):
        argv = [NODE, os.path.join(CONTROLLER_DIR, "selftest_client.js"), f"127.0.0.1:{port}"]
        if pki:
            argv += ["--tls", "--ca", os.path.join(pki, "ca.pem"),
                     "--cert", os.path.join(pki, cert + ".pem"),
                     "--key", os.path.join(pki, cert + ".key")]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=CONTROLLER_DIR)

    def finish(self, timeout=10):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, [json.loads(l) for l in out.splitlines() if l.strip()], err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)


def exercise(c, client):
    """Tunnel opens, messages flow both ways, START_CLOSE ends it."""
    t = c.wait_tunnel()["tunnel"]
    hello = c.wait_message(lambda m: m.get("message") == "health_check_response")
    assert hello["msg"]["health_check_response"]["status"] == "healthy"
    assert hello["msg"]["request_id"] == "hello-1"

    body = bytes(range(256)) * 64
    c.cmd(cmd="http", tunnel=t, request_id="r1", method="POST", url="http://127.0.0.1:1/x",
          headers=[["content-type", "application/octet-stream"]],
          body_b64=base64.b64encode(body).decode())
    resp = c.wait_message(lambda m: m.get("request_id") == "r1")["msg"]
    assert resp["message"] == "http_response"
    assert resp["http_response"]["http_status"] == 200
    assert base64.b64decode(resp["http_response"]["body"]) == body
    assert {"key": "x-echo-method", "value": "POST"} in resp["http_response"]["headers"]

    c.cmd(cmd="metadata", tunnel=t, request_id="m1")
    meta = c.wait_message(lambda m: m.get("request_id") == "m1")["msg"]
    assert meta["metadata_response"]["connection_uuid"] == "selftest"

    tunnels = c.cmd(cmd="list")["tunnels"]
    assert [x["tunnel"] for x in tunnels if x["open"]] == [t]
    assert tunnels[0]["received"] == 3

    c.cmd(cmd="start_close", tunnel=t, request_id="c1")
    c.wait(lambda e: e["event"] == "tunnel_closed" and e["tunnel"] == t)
    rc, lines, err = client.finish()
    assert rc == 0, err
    kinds = [l["msg"]["message"] for l in lines if l["event"] == "received"]
    assert kinds == ["http_request", "metadata_request", "connection_request"]
    assert lines[-1]["event"] == "end"
    return t


def test_mtls_tunnel(pki):
    with Controller(tls=True, pki=pki) as c:
        client = Client(c.port, pki)
        try:
            exercise(c, client)
            opened = [e for e in c.events if e["event"] == "tunnel_open"][0]
            assert opened["uris"] == ["spiffe://outpost.test/connector/test"]
            assert opened["cn"] == "connector-test"
        finally:
            client.kill()


def test_h2c_tunnel():
    with Controller() as c:
        client = Client(c.port)
        try:
            exercise(c, client)
        finally:
            client.kill()


def test_mtls_rejects_wrong_ca_client(pki):
    with Controller(tls=True, pki=pki) as c:
        client = Client(c.port, pki, cert="client-wrongca")
        try:
            rc, lines, _ = client.finish(timeout=20)
            assert rc == 2
            assert lines[-1]["event"] == "error"
            assert not [e for e in c.events if e["event"] == "tunnel_open"]
        finally:
            client.kill()


def test_commands_fail_cleanly():
    with Controller() as c:
        with pytest.raises(RuntimeError, match="no open tunnel"):
            c.cmd(cmd="http", tunnel="any", request_id="x", method="GET", url="http://h/")
        with pytest.raises(RuntimeError, match="unknown command"):
            c.cmd(cmd="bogus")
        assert c.cmd(cmd="list")["tunnels"] == []
