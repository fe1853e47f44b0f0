"""Hop-by-hop headers through the real edge and connector (issue #10 item 8):
every token of a request's Connection header is removed on the way to the
upstream, the ninth and later ones included."""
import json

import pytest

from edgelib import Edge, connector, dev_pki
from test_edge import upstream  # noqa: F401 (the fixture)

NOMINATED = [f"X-Hop-{i}" for i in range(1, 9)] + ["X-Internal-Secret", "X-Hop-Last"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


def test_every_connection_token_is_hop_by_hop(outpost_bin, outpost_edge_bin, pki,
                                              tmp_path, upstream):
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    c = None
    try:
        c = connector(outpost_bin, str(tmp_path), edge, pki, "alpha")
        edge.wait_tunnels("alpha", 1)
        headers = {n: "nominated" for n in NOMINATED}
        headers.update({"Connection": ", ".join(NOMINATED), "X-Kept": "kept"})
        s, _, b = edge.proxy("alpha", f"{upstream.hostport}/headers", headers=headers)
        assert s == 200, b
        seen = {k.lower(): v for k, v in json.loads(b)["headers"].items()}
        assert seen.get("x-kept") == "kept", seen
        for n in NOMINATED:
            assert n.lower() not in seen, (n, seen)
        assert "connection" not in seen or seen["connection"].lower() in ("close", "keep-alive")
    finally:
        if c is not None:
            c.stop()
        edge.stop()
