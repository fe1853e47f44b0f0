"""Issue #17 item 2 (first part), a local user reading /proc: secrets read
from the environment are wiped from the worker's environment block once
loaded, so /proc/PID/environ no longer shows them; the worker still uses
them (the mTLS tunnel opens with the key it was given that way)."""
import base64
import os

import pytest

from controllerlib import Controller, make_pki
from tunnellib import connector_env, start_connector


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_env_secrets_wiped_from_proc_environ(pki, spawn, outpost_bin):
    with Controller(tls=True, pki=pki) as ctl:
        env = connector_env(ctl, pki, MAX_TUNNELS_ALLOWED=1)
        key, cert = env.pop("TLS_KEY_FILE"), env.pop("TLS_CERT_FILE")
        env.update(TLS_KEY_BASE64=b64(key), TLS_CERT_BASE64=b64(cert),
                   X_NOT_SECRET="still-here")
        p = start_connector(spawn, outpost_bin, env)
        t = ctl.wait_tunnel()
        assert t["uris"] == ["spiffe://outpost.test/connector/test"]
        with open(f"/proc/{p.pid}/environ", "rb") as f:
            block = f.read()
        assert env["TLS_KEY_BASE64"].encode() not in block
        assert env["TLS_KEY_BASE64"][:16].encode() not in block
        assert env["TLS_CERT_BASE64"][:16].encode() not in block
        assert b"TLS_KEY_BASE64=\0" in block
        # Only secrets: the rest of the block is untouched.
        assert b"X_NOT_SECRET=still-here\0" in block
        assert f"TRAVERSAL_CONTROLLER_URL=https://127.0.0.1:{ctl.port}\0".encode() in block
