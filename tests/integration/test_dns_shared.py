"""Many requests at once to one upstream name share its DNS question.

The connector's resolver keeps at most 64 distinct names in c-ares at once;
requests for a name already being asked wait for that answer.  Before, each
request asked on its own, and with a resolver slower than the requests'
arrival the 65th concurrent request to the same name was refused
("overloaded").  Proven end to end: the real edge's front door, a real
tunnel, a real nginx upstream named `slow.test`, and a DNS responder on
loopback (below, the test's own) that answers every question after
DELAY s, so that all requests are waiting on DNS at the same time."""
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgelib import Edge, connector, dev_pki
from upstream import Nginx

DELAY = 0.5
N = 120  # more than the resolver's 64 slots


class SlowDNS:
    """UDP DNS on 127.0.0.1: slow.test A 127.0.0.1 (AAAA: no data), every
    other name NXDOMAIN; each answer DELAY s after its question.  Counts
    the questions per (name, type)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.asked = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while not self.stopping:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 17:
                continue
            i, labels = 12, []
            while i < len(q) and q[i] != 0 and len(labels) < 16:
                labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace").lower())
                i += 1 + q[i]
            name, qtype = ".".join(labels), struct.unpack_from(">H", q, i + 1)[0]
            with self.lock:
                self.asked[(name, qtype)] = self.asked.get((name, qtype), 0) + 1
            threading.Timer(DELAY, self._answer, (q[:i + 5], name, qtype, peer)).start()

    def _answer(self, question, name, qtype, peer):
        found = name == "slow.test"
        an = b""
        if found and qtype == 1:
            an = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
        head = question[:2] + struct.pack(">BBHHHH", 0x81, 0x80 if found else 0x83, 1,
                                          1 if an else 0, 0, 0)
        try:
            self.sock.sendto(head + question[12:] + an, peer)
        except OSError:
            pass

    def close(self):
        self.stopping = True
        self.t.join(timeout=2)
        self.sock.close()


@pytest.fixture
def dns():
    d = SlowDNS()
    yield d
    d.close()


def test_concurrent_requests_to_one_name_share_its_question(
        outpost_bin, outpost_edge_bin, dns, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("shared\n")
    (tmp_path / "pki").mkdir()
    pki = dev_pki(str(tmp_path / "pki"), "alpha")
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    conn = None
    with Nginx(tmp_path) as nginx:
        try:
            conn = connector(outpost_bin, str(tmp_path), edge, pki, "alpha",
                             DNS_SERVERS=f"127.0.0.1:{dns.port}",
                             MAX_CONCURRENT_REQUESTS=str(N + 10))
            edge.wait_tunnels("alpha", 1)
            target = f"slow.test:{nginx.port}/index.html"
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=N) as ex:
                res = list(ex.map(lambda _: edge.proxy("alpha", target), range(N)))
            took = time.monotonic() - start
            bad = [(s, b[:200]) for s, _, b in res if s != 200]
            assert not bad, f"{len(bad)} of {N} failed, first: {bad[0]}"
            assert all(b == b"shared\n" for _, _, b in res)
            # One question per type for the lot, unless a wave of requests
            # came after the first answer (then one more per wave): far
            # fewer than one per request.
            asked = dns.asked.get(("slow.test", 1), 0)
            assert 1 <= asked <= max(2, int(took / DELAY) + 1), (asked, took)
        finally:
            if conn is not None:
                conn.stop()
            edge.stop()
