"""sd_notify: the test plays the service manager.

It binds the Unix datagram socket that NOTIFY_SOCKET names and reads what
`outpost run` tells it while the connector comes up against a real
outpost-edge (mTLS, dev PKI), while the edge is unreachable, and while it
drains on SIGTERM.
"""
import os
import signal
import socket
import time

import pytest

from conftest import base_env, free_port, run
from edgelib import Edge, Proc, dev_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


class Manager:
    """The service manager's end: a datagram socket at a path or @name."""

    def __init__(self, tmp, abstract=False):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "outpost-test-" + os.urandom(6).hex()
            self.s.bind("\0" + name)
            self.addr = "@" + name
        else:
            self.addr = os.path.join(tmp, "notify.sock")
            self.s.bind(self.addr)
        self.msgs = []

    def read_until(self, pred, timeout):
        """Collect datagrams until pred(msgs) holds or timeout seconds pass."""
        deadline = time.monotonic() + timeout
        while not pred(self.msgs):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                self.msgs.append(self.s.recv(4096).decode())
            except socket.timeout:
                return pred(self.msgs)
        return True

    def without_watchdog(self):
        return [m for m in self.msgs if m != "WATCHDOG=1"]

    def close(self):
        self.s.close()


def start(outpost_bin, tmp, pki, url, mgr, **extra):
    env = dict(TRAVERSAL_CONTROLLER_URL=url, TLS_CERT_FILE=f"{pki}/connector-alpha.pem",
               TLS_KEY_FILE=f"{pki}/connector-alpha.key", TLS_CA_FILE=f"{pki}/ca.pem",
               HTTP_PORT=free_port(), RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="500ms",
               MAX_TUNNELS_ALLOWED=2, DRAIN_TIMEOUT="2s", NOTIFY_SOCKET=mgr.addr)
    env.update(extra)
    return Proc([outpost_bin, "run"], base_env(**env), os.path.join(tmp, "outpost.log"))


def has(line):
    return lambda msgs: any(line in m.split("\n") for m in msgs)


def test_ready_status_stopping_against_edge(outpost_bin, outpost_edge_bin, tmp_path, pki):
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    mgr = Manager(str(tmp_path))
    p = start(outpost_bin, str(tmp_path), pki, edge.url, mgr)
    try:
        assert mgr.read_until(has("STATUS=ready: 2 tunnels up"), 15), (mgr.msgs, p.text())
        msgs = mgr.without_watchdog()
        # Not ready first, then READY=1 together with the first tunnel, once.
        assert msgs[0] == "STATUS=not ready: connecting", msgs
        assert "READY=1\nSTATUS=ready: 1 tunnel up" in msgs, msgs
        assert sum("READY=1" in m.split("\n") for m in msgs) == 1, msgs
        # No watchdog was asked for, none is sent.
        assert "WATCHDOG=1" not in mgr.msgs
        p.p.send_signal(signal.SIGTERM)
        assert mgr.read_until(has("STOPPING=1"), 5), mgr.msgs
        assert "STOPPING=1\nSTATUS=draining" in mgr.msgs
        assert p.p.wait(timeout=10) == 0, p.text()
    finally:
        p.stop()
        edge.stop()
        mgr.close()


def test_no_ready_while_edge_unreachable_then_ready(outpost_bin, outpost_edge_bin, tmp_path,
                                                    pki):
    port = free_port()
    mgr = Manager(str(tmp_path), abstract=True)
    p = start(outpost_bin, str(tmp_path), pki, f"https://127.0.0.1:{port}", mgr,
              MAX_TUNNELS_ALLOWED=1)
    edge = None
    try:
        assert mgr.read_until(has("STATUS=not ready: refused"), 10), (mgr.msgs, p.text())
        # Refused dials repeat, the status does not (repeats are not sent).
        time.sleep(1)
        mgr.read_until(lambda m: False, 0.2)
        assert not any("READY=1" in m.split("\n") for m in mgr.msgs), mgr.msgs
        assert mgr.without_watchdog().count("STATUS=not ready: refused") == 1, mgr.msgs
        edge = Edge(outpost_edge_bin, str(tmp_path), pki, EDGE_LISTEN=f"127.0.0.1:{port}")
        assert mgr.read_until(has("READY=1"), 15), (mgr.msgs, p.text())
        assert "READY=1\nSTATUS=ready: 1 tunnel up" in mgr.msgs
    finally:
        p.stop()
        if edge:
            edge.stop()
        mgr.close()


def test_watchdog_pings_from_the_loop(outpost_bin, tmp_path, pki):
    mgr = Manager(str(tmp_path))
    # 200 ms interval: pinged every 100 ms, while not even configured to be ready.
    p = start(outpost_bin, str(tmp_path), pki, f"https://127.0.0.1:{free_port()}", mgr,
              WATCHDOG_USEC=200000)
    try:
        assert mgr.read_until(lambda m: m.count("WATCHDOG=1") >= 5, 5), mgr.msgs
        # A stopped loop sends nothing more.
        os.kill(p.p.pid, signal.SIGSTOP)
        mgr.read_until(lambda m: False, 0.3)
        n = mgr.msgs.count("WATCHDOG=1")
        mgr.read_until(lambda m: False, 0.5)
        assert mgr.msgs.count("WATCHDOG=1") == n
        os.kill(p.p.pid, signal.SIGCONT)
        assert mgr.read_until(lambda m: m.count("WATCHDOG=1") > n, 2), mgr.msgs
    finally:
        p.stop()
        mgr.close()


def test_watchdog_for_another_pid_is_not_ours(outpost_bin, tmp_path, pki):
    mgr = Manager(str(tmp_path))
    p = start(outpost_bin, str(tmp_path), pki, f"https://127.0.0.1:{free_port()}", mgr,
              WATCHDOG_USEC=100000, WATCHDOG_PID=1)
    try:
        assert mgr.read_until(has("STATUS=not ready: refused"), 10), mgr.msgs
        assert "WATCHDOG=1" not in mgr.msgs
    finally:
        p.stop()
        mgr.close()


@pytest.mark.parametrize("var,value", [("WATCHDOG_USEC", "soon"), ("WATCHDOG_USEC", "0"),
                                       ("NOTIFY_SOCKET", "relative/path"),
                                       ("NOTIFY_SOCKET", "/" + "x" * 120)])
def test_unusable_notify_environment_is_permanent_error(outpost_bin, tmp_path, var, value):
    env = base_env(HTTP_PORT=free_port(), NOTIFY_SOCKET=str(tmp_path / "n.sock"))
    env[var] = value
    r = run([outpost_bin, "run"], env=env)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert var in r.stderr
