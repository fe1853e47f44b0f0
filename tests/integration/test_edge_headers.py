"""Header bytes and lengths on the way back from an upstream, through the real
connector (and the edge): issue #10 items 6 and 9."""
import http.client
import re
import urllib.request

import pytest

from controllerlib import Controller
from edgelib import Edge, connector, dev_pki
from test_edge import upstream  # noqa: F401 (the fixture)
from tunnellib import ask, connector_env, headers_of, start_connector
from upstream import Nginx

UTF8_NAME = 'attachment; filename="café.txt"'
# Latin-1 0xE9 is not UTF-8: the connector sends '?' in its place.
LATIN1_SCRUBBED = 'attachment; filename="caf?.txt"'


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


@pytest.fixture
def through_edge(outpost_bin, outpost_edge_bin, pki, tmp_path):
    """An edge and connector "alpha" with one online tunnel."""
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    c = None
    try:
        c = connector(outpost_bin, str(tmp_path), edge, pki, "alpha")
        edge.wait_tunnels("alpha", 1)
        yield edge
    finally:
        if c is not None:
            c.stop()
        edge.stop()


def raw_header(headers, name):
    """The header's bytes as they were on the wire (http.client decodes latin-1)."""
    vals = [v for k, v in headers if k.lower() == name.lower()]
    assert len(vals) == 1, headers
    return vals[0].encode("latin-1")


def test_head_carries_the_upstream_content_length(through_edge, tmp_path):
    edge = through_edge
    with Nginx(tmp_path / "nginx") as n:
        n.write("blob.bin", b"z" * 12345)
        s, h, b = edge.proxy("alpha", f"127.0.0.1:{n.port}/blob.bin", method="HEAD")
        assert s == 200 and b == b""
        assert raw_header(h, "Content-Length") == b"12345"
        s, h, b = edge.proxy("alpha", f"127.0.0.1:{n.port}/blob.bin")
        assert s == 200 and b == b"z" * 12345
        assert raw_header(h, "Content-Length") == b"12345"


def test_utf8_header_value_passes_byte_exact(through_edge, upstream):
    s, h, b = through_edge.proxy("alpha", f"{upstream.hostport}/disposition/utf-8")
    assert s == 200, b
    assert raw_header(h, "Content-Disposition") == UTF8_NAME.encode()


def test_latin1_header_value_is_scrubbed_not_refused(through_edge, upstream):
    s, h, b = through_edge.proxy("alpha", f"{upstream.hostport}/disposition/latin-1")
    assert s == 200, b
    assert raw_header(h, "Content-Disposition") == LATIN1_SCRUBBED.encode()


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, text
    return float(m.group(1))


def test_connector_header_values_decode_as_utf8_in_grpcjs(spawn, outpost_bin, upstream):
    """grpc-js (protobufjs) decodes the HttpResponse: a raw 0xE9 would come out
    as U+FFFD; the rule says '?' and counts it."""
    with Controller() as ctl:
        p = start_connector(spawn, outpost_bin, connector_env(ctl, MAX_TUNNELS_ALLOWED=1))
        t = ctl.wait_tunnel()["tunnel"]
        m = ask(ctl, t, "GET", f"http://{upstream.hostport}/disposition/utf-8")
        assert dict(headers_of(m))["Content-Disposition"] == UTF8_NAME
        assert metric(p.health_port, "outpost_header_bytes_replaced_total") == 0
        m = ask(ctl, t, "GET", f"http://{upstream.hostport}/disposition/latin-1")
        assert dict(headers_of(m))["Content-Disposition"] == LATIN1_SCRUBBED
        assert metric(p.health_port, "outpost_header_bytes_replaced_total") == 1
