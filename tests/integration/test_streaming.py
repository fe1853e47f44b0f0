"""Streamed responses (spec/streaming.md, issue #20): the connector side.

The connector does not advertise `stream` yet, so a controller must not ask
for streaming; one that asks anyway gets the answer every controller must
accept: one buffered HttpResponse on the Tunnel call, byte-exact.
"""
import base64
import hashlib
import itertools
import os

import pytest

from controllerlib import Controller
from tunnellib import body_of, connector_env, start_connector
from upstream import Nginx

_ids = itertools.count(1)


@pytest.fixture
def nginx(tmp_path):
    with Nginx(tmp_path / "nginx") as n:
        yield n


@pytest.fixture
def h2c():
    with Controller() as c:
        yield c


def test_stream_response_unadvertised_is_answered_buffered(h2c, nginx, spawn, outpost_bin):
    """Capabilities lack `stream`; stream_response=true still yields one HttpResponse."""
    start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=1))
    t = h2c.wait_tunnel()
    assert "stream" not in ",".join(t["capabilities"]).split(",")
    blob = os.urandom(3 << 20)
    nginx.write("big.bin", blob)
    rid = f"stream-{next(_ids)}"
    h2c.cmd(cmd="send", tunnel=t["tunnel"], msg={
        "request_id": rid,
        "http_request": {"method": "GET", "url": nginx.url("/big.bin"), "headers": [],
                         "body": base64.b64encode(b"").decode(), "stream_response": True}})
    m = h2c.wait(lambda e: e["event"] == "message" and e["msg"].get("request_id") == rid,
                 timeout=20, since=0)["msg"]
    assert m["http_response"]["http_status"] == 200
    assert hashlib.sha256(body_of(m)).hexdigest() == hashlib.sha256(blob).hexdigest()
