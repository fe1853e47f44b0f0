"""`outpost ntp` against NTP responders on 127.0.0.1 (written here, in
Python, from RFC 5905's packet format; independent of the C engine).

The host clock is never set: --step is only exercised unprivileged.
"""
import json
import socket
import struct
import threading
import time

import pytest

from conftest import base_env, run

NTP_UNIX = 2208988800
DAY = 86400


def ntp_ts(t):
    sec = int(t)
    return struct.pack(">II", (sec + NTP_UNIX) & 0xffffffff, int((t - sec) * 2**32))


class Responder:
    """One UDP socket on loopback answering like an NTP server would."""

    def __init__(self, how="good", skew=DAY):
        self.how, self.skew, self.asked = how, skew, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                req, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            self.asked += 1
            if self.how == "silent" or len(req) < 48 or req[0] & 7 != 3:
                continue
            now = time.time() + self.skew
            stratum, refid, li = 2, b"GPS\0", 0
            if self.how == "kod":
                stratum, refid = 0, b"RATE"
            head = bytes([li << 6 | 4 << 3 | 4, stratum, 6, 0xec]) + b"\0" * 8 + refid
            self.sock.sendto(head + ntp_ts(now) + req[40:48] + ntp_ts(now) +
                             ntp_ts(now + 0.001), peer)

    def close(self):
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def responders():
    made = []

    def make(*args, **kw):
        r = Responder(*args, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def ntp(outpost_bin, servers, *args, timeout=30):
    return run([outpost_bin, "ntp", *args], env=base_env(NTP_SERVERS=servers),
               timeout=timeout)


def test_reports_the_offset_of_a_local_server(outpost_bin, responders):
    r = responders(skew=DAY)
    p = ntp(outpost_bin, f"127.0.0.1:{r.port}")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["server"] == "127.0.0.1" and out["stratum"] == 2
    assert abs(out["offset_ms"] - DAY * 1000) < 1000
    assert 0 <= out["delay_ms"] < 1000
    assert out["stepped"] is False
    assert r.asked == 1


def test_moves_on_from_silent_and_kissing_servers(outpost_bin, responders):
    silent, kod, good = responders("silent"), responders("kod"), responders(skew=-DAY)
    t0 = time.monotonic()
    p = ntp(outpost_bin, f"127.0.0.1:{silent.port},localhost:{kod.port},"
                         f"[127.0.0.1]:{good.port}")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert abs(out["offset_ms"] + DAY * 1000) < 1000
    assert (silent.asked, kod.asked, good.asked) == (1, 1, 1)
    # The silent server costs its per-address deadline (2 s), no more.
    assert time.monotonic() - t0 < 10


def test_no_answer_is_a_temporary_error(outpost_bin, responders):
    kod = responders("kod")
    p = ntp(outpost_bin, f"127.0.0.1:{kod.port}")
    assert p.returncode == 111
    assert json.loads(p.stdout) == {"error": "no_answer", "detail": "127.0.0.1: kod RATE"}


def test_without_servers_is_a_configuration_error(outpost_bin):
    p = run([outpost_bin, "ntp"], env=base_env())
    assert p.returncode == 100
    assert "NTP_SERVERS" in p.stderr
    p = ntp(outpost_bin, "pool.example:99999")
    assert p.returncode == 100


def test_step_needs_the_privilege_and_says_so(outpost_bin, responders):
    # As an unprivileged user: the clock of this machine is never touched.
    r = responders(skew=DAY)
    p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             outpost_bin, "ntp", "--step"],
            env=base_env(NTP_SERVERS=f"127.0.0.1:{r.port}"))
    assert p.returncode == 111
    assert json.loads(p.stdout)["stepped"] is False
    assert "cannot set the clock" in p.stderr
