"""Health bodies byte for byte as the anchor connector writes them.

A probe or a dashboard written for the anchor reads these exact strings:
/healthz {"status":"healthy"}; /readyz {"status":"ready","active_tunnels":N}
or 503 {"status":"not ready","active_tunnels":0,"reason":"..."} (outpost's
reason is typed).  The ready case runs against a real outpost-edge.
"""
import http.client

import pytest

from conftest import free_port, wait_until
from edgelib import Edge, connector, dev_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_healthz_body(worker):
    _, port = worker()
    assert get(port, "/healthz") == (200, b'{"status":"healthy"}')


def test_readyz_not_configured_body(worker):
    _, port = worker()
    assert get(port, "/readyz") == (
        503, b'{"status":"not ready","active_tunnels":0,"reason":"not_configured"}')


def test_readyz_refused_body(worker):
    _, port = worker(TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{free_port()}",
                     RECONNECT_INTERVAL="100ms")
    want = (503, b'{"status":"not ready","active_tunnels":0,"reason":"refused"}')
    assert wait_until(lambda: get(port, "/readyz") == want, 10), get(port, "/readyz")


def test_readyz_ready_body_counts_tunnels(outpost_bin, outpost_edge_bin, tmp_path, pki):
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    p = connector(outpost_bin, str(tmp_path), edge, pki, "alpha", MAX_TUNNELS_ALLOWED=3)
    try:
        want = (200, b'{"status":"ready","active_tunnels":3}')
        assert wait_until(lambda: get(p.health_port, "/readyz") == want, 10), \
            get(p.health_port, "/readyz")
        assert get(p.health_port, "/healthz") == (200, b'{"status":"healthy"}')
    finally:
        p.stop()
        edge.stop()
