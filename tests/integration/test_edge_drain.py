"""outpost-edge on SIGTERM with one edge (no other replica for the connector
to move to): a session open at SIGTERM keeps carrying bytes, /readyz is 503
at once, new tunnel connections are refused, and once the session ends the
edge exits 0 well before EDGE_DRAIN_TIMEOUT (the connector's draining
tunnels, which it keeps with nowhere to go, do not hold the edge)."""
import json
import os
import signal
import socket
import time

import pytest

from conftest import wait_until
from edgelib import Edge, connector, dev_pki
from test_sessions import Target, echo, recv_exact


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "c1")


def open_session(edge, port):
    s = socket.create_connection(("127.0.0.1", edge.aport), timeout=10)
    s.sendall((f"GET /v1/connectors/c1/connect/127.0.0.1:{port} HTTP/1.1\r\nHost: edge\r\n"
               f"Connection: Upgrade\r\nUpgrade: outpost-tcp\r\n"
               f"Authorization: Bearer {edge.token}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        assert d, buf
        buf += d
    assert buf.startswith(b"HTTP/1.1 101"), buf
    return s


def test_sigterm_keeps_a_session_then_exits_before_the_timeout(outpost_edge_bin, outpost_bin,
                                                               tmp_path, pki):
    t = Target(echo)
    e = Edge(outpost_edge_bin, str(tmp_path), pki, EDGE_DRAIN_TIMEOUT="20s")
    conn = connector(outpost_bin, str(tmp_path), e, pki, "c1", SESSION_ALLOW="127.0.0.1:1-65535")
    try:
        e.wait_tunnels("c1", 2)
        s = open_session(e, t.port)
        s.sendall(b"a")
        assert recv_exact(s, 1, 10) == b"a"
        e.proc.p.send_signal(signal.SIGTERM)
        assert wait_until(lambda: e.request("GET", "/readyz", token=False)[0] == 503, 1, 0.02)
        assert wait_until(lambda: "START_CLOSE on 2 tunnel(s)" in e.proc.text(), 2), \
            e.proc.text()[-2000:]
        with pytest.raises(ConnectionRefusedError):  # the tunnel port is closed
            socket.create_connection(("127.0.0.1", e.tport), timeout=2)
        time.sleep(1.0)
        for b in (b"b", b"c"):  # the session outlives the SIGTERM
            s.sendall(b)
            assert recv_exact(s, 1, 10) == b
        assert e.proc.alive()
        t0 = time.monotonic()
        s.close()
        rc = e.proc.p.wait(timeout=10)
        took = time.monotonic() - t0
        assert rc == 0 and took < 5, (rc, took, e.proc.text()[-2000:])
        assert "drain complete" in e.proc.text()
    finally:
        conn.stop()
        e.stop()
        t.close()
