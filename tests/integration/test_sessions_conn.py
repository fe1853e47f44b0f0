"""Sessions (spec/sessions.md), the connector's side, against the independent
grpc-js peer (controller/controller.js plays the edge: it sends SessionOpen
on the Tunnel call and serves outpost.v1.Sessions/Attach) and loopback TCP
targets written here."""
import base64
import hashlib
import json
import os
import socket
import threading
import time

import pytest

from conftest import wait_until
from controllerlib import Controller
from tunnellib import connector_env, get, log_lines, rss_kib, start_connector

TIMEOUT = 10


class Target:
    """A loopback TCP listener; every accepted connection runs handler(conn)
    in a thread.  accepts counts connections; closed counts handlers done."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepts = 0
        self.closed = 0
        self.got = []            # per connection: bytes received, when handlers record them
        self.conns = []
        self.stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        c.settimeout(30)
        try:
            self.handler(self, c)
        except OSError:
            pass
        finally:
            self.closed += 1
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()


def echo(t, c):
    """Echo until EOF, then FIN."""
    while True:
        b = c.recv(65536)
        if not b:
            c.shutdown(socket.SHUT_WR)
            return
        c.sendall(b)


def read_to_eof(c):
    buf = b""
    while True:
        b = c.recv(65536)
        if not b:
            return buf
        buf += b


def sort_lines(t, c):
    """Read to EOF, then answer the sorted lines (a half-close target)."""
    buf = read_to_eof(c)
    c.sendall(b"".join(sorted(buf.splitlines(keepends=True))))
    c.shutdown(socket.SHUT_WR)


def banner_then_read(t, c):
    """Speak first and half-close; then read to EOF (the other half)."""
    c.sendall(b"HELLO\n")
    c.shutdown(socket.SHUT_WR)
    t.got.append(read_to_eof(c))


def reset_after_hello(t, c):
    """Read one chunk, answer it, then reset the connection (RST)."""
    c.recv(65536)
    c.sendall(b"bye\n")
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def hold_open(t, c):
    """Never read; wait for the peer to close."""
    c.settimeout(60)
    while c.recv(1, socket.MSG_PEEK) and not t.stop:
        time.sleep(0.1)


class Flood:
    """Send `total` bytes of a fixed pattern as fast as the socket takes them."""

    def __init__(self, total):
        self.total = total
        self.sent = 0
        self.chunk = bytes(range(256)) * 256

    def __call__(self, t, c):
        while self.sent < self.total:
            n = c.send(self.chunk[: min(len(self.chunk), self.total - self.sent)])
            self.sent += n
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass


@pytest.fixture
def ctl():
    with Controller() as c:
        yield c


@pytest.fixture
def targets():
    made = []

    def make(handler):
        t = Target(handler)
        made.append(t)
        return t
    yield make
    for t in made:
        t.close()


def connect(ctl, spawn, outpost_bin, **settings):
    """A connector with one tunnel to ctl: (process, tunnel id)."""
    env = connector_env(ctl, MAX_TUNNELS_ALLOWED=1, **settings)
    p = start_connector(spawn, outpost_bin, env)
    t = ctl.wait_tunnel()
    return p, t["tunnel"]


_n = iter(range(1, 1 << 30))


def open_session(ctl, tunnel, port, host="127.0.0.1", **extra):
    """Send SessionOpen; returns (session id, the result the connector sent)."""
    sid = f"s{next(_n)}.x-{os.getpid()}"
    ctl.cmd(cmd="session_open", tunnel=tunnel, session=sid, host=host, port=port, **extra)
    ctl.wait(lambda e: e["event"] == "attach" and e["session"] == sid, TIMEOUT, since=0)
    r = ctl.wait(lambda e: e["event"] == "session_result" and e["session"] == sid,
                 TIMEOUT, since=0)
    return sid, r["result"]


def send(ctl, sid, data, repeat=1):
    ctl.cmd(cmd="session_send", session=sid, data_b64=base64.b64encode(data).decode(),
            repeat=repeat, timeout=30)


def stat(ctl, sid):
    return ctl.cmd(cmd="session_stat", session=sid)


def read_all(ctl, sid):
    return base64.b64decode(ctl.cmd(cmd="session_read", session=sid)["data_b64"])


def wait_end(ctl, sid, timeout=TIMEOUT):
    return ctl.wait(lambda e: e["event"] == "session_end" and e["session"] == sid,
                    timeout, since=0)


def metric(port, name):
    """The value of series name (with its labels, as rendered), or None."""
    _, text = get(port, "/metrics")
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_metric(port, name, value, timeout=5):
    """The connector counts a session once the edge's end of the call
    reached it, a moment after the peer saw the connector's end."""
    assert wait_until(lambda: metric(port, name) == value, timeout), \
        (name, metric(port, name), value)


def ended_total(port):
    _, text = get(port, "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("outpost_sessions_total{"))


def ended_logs(p):
    p.terminate()
    p.wait(timeout=10)
    return [l for l in log_lines(p) if "session" in l.get("msg", "") and
            "ended (" in l.get("msg", "")]


# --- capabilities and policy ---------------------------------------------------

def test_sessions_capability_only_with_session_allow(ctl, spawn, outpost_bin):
    p, _ = connect(ctl, spawn, outpost_bin)
    caps = [e for e in ctl.events if e["event"] == "tunnel_open"][-1]["capabilities"]
    assert caps == ["enroll,renew,stream"]
    p.terminate()
    p.wait(timeout=10)
    connect(ctl, spawn, outpost_bin, SESSION_ALLOW="127.0.0.1:22")
    caps = [e for e in ctl.events if e["event"] == "tunnel_open"][-1]["capabilities"]
    assert caps == ["enroll,renew,sessions,stream"]


def test_sessions_off_refuses_without_dialling(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin)
    sid, res = open_session(ctl, tun, t.port)
    assert res["ok"] is False and res["reason"] == "policy_denied"
    end = wait_end(ctl, sid)
    assert end["why"] == "ended" and end["bytes"] == 0
    assert t.accepts == 0


def test_unlisted_port_is_policy_denied(ctl, spawn, outpost_bin, targets):
    t, other = targets(echo), targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{other.port}")
    sid, res = open_session(ctl, tun, t.port)
    assert (res["ok"], res["reason"]) == (False, "policy_denied")
    wait_end(ctl, sid)
    time.sleep(0.2)
    assert t.accepts == 0 and other.accepts == 0


def test_bad_request_and_refused(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    port = t.port
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:1-65535")
    _, res = open_session(ctl, tun, 0)
    assert (res["ok"], res["reason"]) == (False, "bad_request")
    t.close()
    time.sleep(0.3)
    _, res = open_session(ctl, tun, port)
    assert (res["ok"], res["reason"]) == (False, "refused")


# --- bytes ------------------------------------------------------------------------

def test_echo_several_mib_byte_exact_then_half_close(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}")
    sid, res = open_session(ctl, tun, t.port)
    assert res == {"ok": True, "reason": "", "detail": ""} or res["ok"] is True
    block = os.urandom(1 << 20)
    send(ctl, sid, block, repeat=6)
    want = hashlib.sha256(block * 6).hexdigest()
    assert wait_until(lambda: stat(ctl, sid)["bytes"] >= 6 << 20, 30, 0.1), stat(ctl, sid)
    st = stat(ctl, sid)
    assert (st["bytes"], st["sha256"]) == (6 << 20, want)
    assert not st["half_closed"]
    ctl.cmd(cmd="session_half_close", session=sid)
    ctl.wait(lambda e: e["event"] == "session_half_close" and e["session"] == sid,
             TIMEOUT, since=0)
    end = wait_end(ctl, sid)
    assert end["why"] == "ended" and end["half_closed"] is True
    assert wait_until(lambda: t.closed == 1, 5)
    wait_metric(p.health_port, 'outpost_sessions_total{result="ok"}', 1)
    wait_metric(p.health_port, 'outpost_session_bytes_total{direction="to_target"}', 6 << 20)
    wait_metric(p.health_port, 'outpost_session_bytes_total{direction="from_target"}', 6 << 20)
    wait_metric(p.health_port, "outpost_sessions_open", 0)
    logs = ended_logs(p)
    assert len(logs) == 1
    assert f"127.0.0.1:{t.port}" in logs[0]["msg"] and "ended (ok)" in logs[0]["msg"]
    assert "6291456 bytes to the target, 6291456 from it" in logs[0]["msg"]


def test_edge_half_close_first_target_answers(ctl, spawn, outpost_bin, targets):
    t = targets(sort_lines)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}")
    sid, res = open_session(ctl, tun, t.port)
    assert res["ok"]
    send(ctl, sid, b"pear\napple\nfig\n")
    ctl.cmd(cmd="session_half_close", session=sid)
    ctl.wait(lambda e: e["event"] == "session_half_close" and e["session"] == sid,
             TIMEOUT, since=0)
    assert read_all(ctl, sid) == b"apple\nfig\npear\n"
    assert wait_end(ctl, sid)["why"] == "ended"


def test_target_half_close_first_edge_keeps_sending(ctl, spawn, outpost_bin, targets):
    t = targets(banner_then_read)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}")
    sid, res = open_session(ctl, tun, t.port)
    assert res["ok"]
    ctl.wait(lambda e: e["event"] == "session_half_close" and e["session"] == sid,
             TIMEOUT, since=0)
    assert read_all(ctl, sid) == b"HELLO\n"
    send(ctl, sid, b"still flowing\n")
    send(ctl, sid, b"x" * 100000)
    ctl.cmd(cmd="session_half_close", session=sid)
    assert wait_end(ctl, sid)["why"] == "ended"
    assert wait_until(lambda: t.got, 5)
    assert t.got[0] == b"still flowing\n" + b"x" * 100000


# --- limits and timeouts ---------------------------------------------------------

def test_overloaded_at_session_max(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}",
                     SESSION_MAX="2")
    a, ra = open_session(ctl, tun, t.port)
    b, rb = open_session(ctl, tun, t.port)
    c, rc = open_session(ctl, tun, t.port)
    assert ra["ok"] and rb["ok"]
    assert (rc["ok"], rc["reason"]) == (False, "overloaded")
    assert t.accepts == 2
    wait_metric(p.health_port, "outpost_sessions_open", 2)
    ctl.cmd(cmd="session_half_close", session=a)
    wait_end(ctl, a)
    wait_metric(p.health_port, "outpost_sessions_open", 1)
    d, rd = open_session(ctl, tun, t.port)
    assert rd["ok"]


def test_idle_timeout_ends_and_closes_target(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}",
                     SESSION_IDLE_TIMEOUT="60s")
    sid, res = open_session(ctl, tun, t.port, idle_timeout_s=1)
    assert res["ok"]
    send(ctl, sid, b"ping")
    start = time.monotonic()
    end = wait_end(ctl, sid, timeout=5)
    assert 0.8 < time.monotonic() - start < 4
    assert not end["half_closed"]          # reset (RST_STREAM CANCEL), no FIN
    assert wait_until(lambda: t.closed == 1, 3)
    wait_metric(p.health_port, 'outpost_sessions_total{result="idle_timeout"}', 1)


def test_lifetime_ends_a_busy_session(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}",
                     SESSION_MAX_LIFETIME="2s", SESSION_IDLE_TIMEOUT="1s")
    sid, res = open_session(ctl, tun, t.port)
    start = time.monotonic()
    for _ in range(40):
        if stat(ctl, sid)["ended"]:
            break
        send(ctl, sid, b"keepalive")
        time.sleep(0.2)
    end = wait_end(ctl, sid, timeout=5)
    assert 1.8 < time.monotonic() - start < 4
    assert not end["half_closed"]
    wait_metric(p.health_port, 'outpost_sessions_total{result="lifetime"}', 1)


def test_edge_cancel_closes_the_target(ctl, spawn, outpost_bin, targets):
    t = targets(hold_open)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}")
    sid, res = open_session(ctl, tun, t.port)
    assert res["ok"] and t.accepts == 1
    ctl.cmd(cmd="session_end", session=sid, code=1, details="client went away")
    assert wait_until(lambda: t.closed == 1, 3)
    wait_metric(p.health_port, "outpost_sessions_open", 0)
    wait_metric(p.health_port, 'outpost_sessions_total{result="cancelled"}', 1)


def test_target_reset_ends_the_call_without_half_close(ctl, spawn, outpost_bin, targets):
    t = targets(reset_after_hello)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}")
    sid, res = open_session(ctl, tun, t.port)
    send(ctl, sid, b"hello\n")
    end = wait_end(ctl, sid)
    assert end["why"] == "ended" and end["half_closed"] is False
    assert read_all(ctl, sid) == b"bye\n"
    wait_metric(p.health_port, 'outpost_sessions_total{result="reset"}', 1)


# --- drain and loss --------------------------------------------------------------------

def test_drain_keeps_sessions_and_refuses_new_ones(ctl, spawn, outpost_bin, targets):
    t = targets(echo)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}",
                     DRAIN_TIMEOUT="30s")
    sid, res = open_session(ctl, tun, t.port)
    # A SessionOpen right behind START_CLOSE on the same call (one write to
    # the controller: the replacement tunnel is up within milliseconds, and
    # then the old Tunnel call ends).
    late = f"late-{os.getpid()}"
    ctl.proc.stdin.write(json.dumps({"cmd": "start_close", "tunnel": tun}) + "\n" +
                         json.dumps({"cmd": "session_open", "tunnel": tun, "session": late,
                                     "host": "127.0.0.1", "port": t.port}) + "\n")
    ctl.proc.stdin.flush()
    res2 = ctl.wait(lambda e: e["event"] == "session_result" and e["session"] == late,
                    TIMEOUT, since=0)["result"]
    assert (res2["ok"], res2["reason"]) == (False, "draining")
    ctl.wait(lambda e: e["event"] == "tunnel_open" and e["tunnel"] != tun, TIMEOUT, since=0)
    # The old Tunnel call ends; its connection stays for the session.
    ctl.wait(lambda e: e["event"] == "tunnel_closed" and e["tunnel"] == tun, TIMEOUT, since=0)
    send(ctl, sid, b"after drain\n")
    assert wait_until(lambda: stat(ctl, sid)["bytes"] == 12, 5)
    assert read_all(ctl, sid) == b"after drain\n"
    ctl.cmd(cmd="session_half_close", session=sid)
    assert wait_end(ctl, sid)["why"] == "ended"


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_connection_loss_frees_everything(spawn, outpost_bin, targets):
    t = targets(echo)
    with Controller() as ctl:
        p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}",
                         RECONNECT_INTERVAL="30s", MAX_BACKOFF_DELAY="60s")
        time.sleep(0.3)
        base = fds(p.pid)
        sids = [open_session(ctl, tun, t.port)[0] for _ in range(5)]
        for s in sids:
            send(ctl, s, b"x")
        assert fds(p.pid) == base + 5
    assert wait_until(lambda: t.closed == 5, 5)
    assert wait_until(lambda: fds(p.pid) <= base - 1, 5), (fds(p.pid), base)
    wait_metric(p.health_port, "outpost_sessions_open", 0)
    assert wait_until(lambda: ended_total(p.health_port) == 5, 5)


# --- backpressure ----------------------------------------------------------------------

def test_backpressure_target_floods_while_the_edge_does_not_read(ctl, spawn, outpost_bin,
                                                                  targets):
    flood = Flood(256 << 20)
    t = targets(flood)
    p, tun = connect(ctl, spawn, outpost_bin, SESSION_ALLOW=f"127.0.0.1:{t.port}")
    base = rss_kib(p.pid)
    sid, res = open_session(ctl, tun, t.port)
    ctl.cmd(cmd="session_pause", session=sid)
    time.sleep(2)
    stalled = flood.sent
    time.sleep(1)
    assert flood.sent == stalled < 64 << 20     # flow control stopped the target
    assert rss_kib(p.pid) - base < 8 * 1024      # and nothing piled up in the connector
    ctl.cmd(cmd="session_resume", session=sid)
    ctl.wait(lambda e: e["event"] == "session_half_close" and e["session"] == sid, 60,
             since=0)
    assert stat(ctl, sid)["bytes"] == 256 << 20
    assert rss_kib(p.pid) - base < 8 * 1024
