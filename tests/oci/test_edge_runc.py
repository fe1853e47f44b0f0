"""The outpost-edge image run by runc (as root, image USER, read-only root,
own network namespace): the front door's probes answer, SIGTERM drains and
exits 0."""

import json
import os

import pytest

from conftest import ARCH, OCI_DIR, Layout, netns_http, runnable, wait_for
from test_image import USER
from test_runc import Runc

TOKEN = "edge-oci-token-" + "x" * 16
ENV = ["EDGE_H2C=true", "EDGE_LISTEN=127.0.0.1:7443", "EDGE_API_TOKEN_FILE=/data/api-token",
       "EDGE_DRAIN_TIMEOUT=5s"]


@pytest.fixture
def edge_container(bundle_dir):
    runnable()
    path = OCI_DIR / f"edge-{ARCH}"
    if not (path / "index.json").exists():
        pytest.fail(f"{path} missing: run make oci-edge ARCH={ARCH}")
    c = Runc(Layout(path), bundle_dir, False, ENV)
    tok = bundle_dir / "rootfs" / "data" / "api-token"
    tok.write_text(TOKEN + "\n")
    os.chown(tok, USER, USER)
    os.chmod(tok, 0o600)
    yield c
    c.close()


def test_edge_image_serves_probes_and_drains_on_sigterm(edge_container):
    c = edge_container.start()
    assert wait_for(lambda: netns_http(c.pid, "/readyz", port=7080)[0] == 200, 15, 0.1), \
        c.output()
    assert json.loads(netns_http(c.pid, "/healthz", port=7080)[1]) == {"status": "healthy"}
    assert c.host_uid() == USER
    c.kill("TERM")
    assert c.wait(20) == 0, c.output()
    out = c.output()
    assert "draining:" in out and "drain complete" in out, out
