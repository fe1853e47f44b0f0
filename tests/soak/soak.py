#!/usr/bin/env python3
"""Sanitizer soak (#17 item 8): the ASan+UBSan host builds of outpost and
outpost-edge under mixed load for --seconds, then zero sanitizer reports
and a flat RSS and fd count.

    tests/soak/soak.py --outpost build/host/outpost --edge build/host/outpost-edge \
        --seconds 120 --dir build/soak          (make soak SOAK_SECONDS=N)

What runs: a real nginx (upstream.py: /echo and static files), a raw upstream
that misbehaves on purpose (rawupstream.py), one outpost-edge with TLS and
two connectors ("alpha" lives the whole run and is sampled, "beta" is
drained with SIGTERM and started again).  Each round, in a bounded time:
  - requests of every size (0 B .. 3 MiB, around the 16 KiB TLS record and
    the 64 KiB flow-control window) through the edge's front door, POST to
    /echo and GET of files, from 4 threads at once, byte-exact;
  - upstream faults: a reset after the head, a truncated Content-Length
    body, a slow (dripping) answer, a header block over the limit: each gets
    its typed error (or, streamed, a body cut short), or (slow) its whole
    body, and the next request is fine;
  - a drain: START_CLOSE of one of alpha's tunnels (the edge API), with
    load running, alpha opens a new tunnel;
  - every 3rd round beta is drained with SIGTERM (exit 0 required) and
    restarted; every 4th round the edge is restarted on the same ports
    (exit 0 required) and both connectors reconnect.
Then alpha's RSS (VmRSS) and fd count, sampled once a round, must stay
within RSS_GROWTH_MAX and FD_GROWTH_MAX of their value after the first
quarter of the run (warm-up: pools, TLS sessions, ASan's quarantine, which
is capped at 16 MiB here).  At the end every process is stopped with
SIGTERM and must exit 0 (LeakSanitizer runs at exit: a leak is exit 23);
every log is read for sanitizer reports.

Why SECCOMP=false: the sanitizer runtimes make calls the allow-list has no
reason to allow (reading /proc/self/maps, sigaltstack, LeakSanitizer's
stop-the-world clone and ptrace at exit, the symbolizer's fork and exec on
a report) and a killed process would lose its report; the allow-list itself
is proven on the static binaries by tests/integration/test_seccomp.py.
Why ALLOW_ROOT=true with OUTPOST_USER=0:0 (when run as root): a process
that changes uid from root becomes non-dumpable, and LeakSanitizer's
ptrace of its own threads then fails; the drop is proven on the static
binaries by tests/integration/test_privileges.py.  Capabilities are
dropped as always.
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import edgelib  # noqa: E402
from conftest import base_env, free_port, port_answers, wait_until  # noqa: E402
from rawupstream import RawUpstream  # noqa: E402
from upstream import Nginx  # noqa: E402

MiB = 1 << 20
RSS_GROWTH_MAX = 24 * MiB  # stated bound: ASan's allocator and quarantine are noisy
FD_GROWTH_MAX = 8
SIZES = [0, 1, 100, 4095, 16384, 16385, 65535, 65536, 65537, 200000, MiB, 3 * MiB]
REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                    r"UndefinedBehaviorSanitizer|SUMMARY: \w+Sanitizer")
SAN_ENV = dict(
    ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:quarantine_size_mb=16:"
                 "malloc_context_size=20:strict_string_checks=1:detect_stack_use_after_return=1",
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
    SECCOMP="false")
if os.geteuid() == 0:
    SAN_ENV.update(OUTPOST_USER="0:0", ALLOW_ROOT="true")


class Edge:
    """outpost-edge on fixed ports, so a restart is the same edge to the connectors."""

    def __init__(self, binary, tmp, pki, tport, aport, gen):
        self.tport, self.aport = tport, aport
        self.token = "soak-" + os.urandom(8).hex()
        tok = os.path.join(tmp, "edge-token")
        with open(tok, "w") as f:
            f.write(self.token)
        env = base_env(EDGE_LISTEN=f"127.0.0.1:{tport}", EDGE_API_PORT=aport,
                       EDGE_API_TOKEN_FILE=tok, EDGE_TLS_CERT_FILE=f"{pki}/edge.pem",
                       EDGE_TLS_KEY_FILE=f"{pki}/edge.key", EDGE_CLIENT_CA_FILE=f"{pki}/ca.pem",
                       HEARTBEAT_INTERVAL="1s", EDGE_REQUEST_TIMEOUT="20s", **SAN_ENV)
        self.proc = edgelib.Proc([binary, "run"], env, os.path.join(tmp, f"edge-{gen}.log"))
        if not wait_until(lambda: not self.proc.alive() or port_answers(aport), 20):
            raise SystemExit("soak: edge did not start:\n" + self.proc.text()[-3000:])

    url = edgelib.Edge.url
    request = edgelib.Edge.request
    state = edgelib.Edge.state
    proxy = edgelib.Edge.proxy
    wait_tunnels = edgelib.Edge.wait_tunnels


class Soak:
    def __init__(self, args):
        self.a = args
        self.dir = os.path.abspath(args.dir)
        os.makedirs(self.dir, exist_ok=True)
        for f in os.listdir(self.dir):
            if f.endswith(".log"):
                os.unlink(os.path.join(self.dir, f))
        self.pki = edgelib.dev_pki(os.path.join(self.dir, "pki"), "alpha", "beta")
        self.logs = []
        self.problems = []
        self.counts = {"requests": 0, "bytes": 0, "faults": 0, "drains": 0,
                       "beta_restarts": 0, "edge_restarts": 0}
        self.lock = threading.Lock()
        self.gen = 0

    # --- processes -----------------------------------------------------------

    def start_edge(self, tport=None, aport=None):
        self.gen += 1
        e = Edge(self.a.edge, self.dir, self.pki, tport or free_port(), aport or free_port(),
                 self.gen)
        self.logs.append(e.proc.log)
        return e

    def start_connector(self, name):
        self.gen += 1
        p = edgelib.connector(self.a.outpost, self.dir, self.edge, self.pki, name,
                              REQUEST_TIMEOUT="10s", DRAIN_TIMEOUT="10s", **SAN_ENV)
        self.logs.append(p.log)
        return p

    def stop(self, proc, what):
        proc.p.send_signal(signal.SIGTERM)
        try:
            rc = proc.p.wait(timeout=30)
        except Exception:
            proc.p.kill()
            rc = "killed after 30 s"
        proc.stop()
        if rc != 0:
            self.problems.append(f"{what} exited {rc}:\n{proc.text()[-3000:]}")
        # Logs are rewritten by a restart under the same name: read now.
        self.scan(proc.log, proc.text())

    def scan(self, name, text):
        for m in REPORT.finditer(text):
            start = max(0, m.start() - 200)
            self.problems.append(f"{name}: sanitizer report:\n{text[start:start + 3000]}")
            break

    # --- load ----------------------------------------------------------------

    def fail(self, msg):
        with self.lock:
            self.problems.append(msg)

    def one(self, name, size, tolerant=False):
        body = os.urandom(size)
        try:
            if size % 2:
                st, _, got = self.edge.proxy(name, f"127.0.0.1:{self.nginx.port}/echo",
                                             method="POST", body=body)
            else:
                st, _, got = self.edge.proxy(name, f"127.0.0.1:{self.nginx.port}/f{size}")
                body = self.files[size]
        except (OSError, http.client.HTTPException) as e:
            if not tolerant:
                self.fail(f"{name} {size} B: {e}")
            return
        if st == 200 and got == body:
            with self.lock:
                self.counts["requests"] += 1
                self.counts["bytes"] += size
        elif st == 200 or not tolerant or st not in (502, 503, 504):
            self.fail(f"{name} {size} B: status {st}, {len(got)} bytes: {got[:200]!r}")

    def load(self, tolerant=False, names=("alpha", "beta")):
        def worker(k):
            for i, size in enumerate(SIZES):
                if (i + k) % 4 == 0 or size < 70000:
                    self.one(names[(i + k) % len(names)], size, tolerant)
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)

    def faults(self):
        # A body cut after its head was sent: 502 when the response is
        # buffered, a cut-short 200 when it is streamed (STREAM_RESPONSES).
        for path, want in (("/reset", (502, "cut")), ("/trunc", (502, "cut")),
                           ("/bighead", (502,)), ("/slow", (200,))):
            try:
                st, _, got = self.edge.proxy("alpha", f"127.0.0.1:{self.raw.port}{path}")
            except http.client.IncompleteRead as e:
                st, got = "cut", e.partial
            ok = st in want and (st != 200 or got == SLOW_BODY)
            if not ok:
                self.fail(f"fault {path}: status {st} (want {want}), {got[:200]!r}")
            self.counts["faults"] += 1
        self.one("alpha", 4095)  # the next request is fine

    def drain_one(self):
        tunnels = [t for t in self.edge.state("alpha")["tunnels"] if t["state"] == "online"]
        if not tunnels:
            self.fail("drain: alpha has no online tunnel")
            return
        t = threading.Thread(target=self.load, kwargs={"tolerant": True, "names": ("alpha",)})
        t.start()
        st, _, b = self.edge.request("POST", f"/v1/connectors/alpha/tunnels/{tunnels[0]['id']}/drain")
        if st != 202:
            self.fail(f"drain: status {st}: {b[:200]!r}")
        t.join(timeout=120)
        self.counts["drains"] += 1
        self.edge.wait_tunnels("alpha", 2, timeout=20)

    def restart_beta(self):
        t = threading.Thread(target=self.load, kwargs={"tolerant": True, "names": ("beta",)})
        t.start()
        self.stop(self.beta, "beta (SIGTERM drain)")
        t.join(timeout=120)
        self.beta = self.start_connector("beta")
        self.edge.wait_tunnels("beta", 2, timeout=20)
        self.counts["beta_restarts"] += 1

    def restart_edge(self):
        tport, aport = self.edge.tport, self.edge.aport
        self.stop(self.edge.proc, "edge")
        self.edge = self.start_edge(tport, aport)
        for n in ("alpha", "beta"):
            self.edge.wait_tunnels(n, 2, timeout=30)
        self.counts["edge_restarts"] += 1

    # --- samples ---------------------------------------------------------------

    def sample(self):
        pid = self.alpha.p.pid
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
        return rss, len(os.listdir(f"/proc/{pid}/fd"))

    def run(self):
        self.t0 = time.monotonic()
        deadline = self.t0 + self.a.seconds
        self.files = {s: os.urandom(s) for s in SIZES if s % 2 == 0}
        with Nginx(os.path.join(self.dir, "nginx")) as self.nginx, \
                RawUpstream(faulty, timeout=15) as self.raw:
            for s, data in self.files.items():
                self.nginx.write(f"f{s}", data)
            self.edge = self.start_edge()
            self.alpha = self.start_connector("alpha")
            self.beta = self.start_connector("beta")
            samples, rnd = [], 0
            try:
                while time.monotonic() < deadline and len(self.problems) < 5:
                    rnd += 1
                    self.load()
                    self.faults()
                    self.drain_one()
                    if rnd % 3 == 0:
                        self.restart_beta()
                    if rnd % 4 == 0:
                        self.restart_edge()
                    samples.append((time.monotonic(),) + self.sample())
            finally:
                for p, what in ((self.alpha, "alpha"), (self.beta, "beta"),
                                (self.edge.proc, "edge")):
                    self.stop(p, what)
        return self.verdict(samples, rnd)

    def verdict(self, samples, rounds):
        if len(samples) < 4:
            self.problems.append(f"only {len(samples)} rounds: raise --seconds")
        else:
            base = samples[len(samples) // 4]
            rss_max = max(s[1] for s in samples[len(samples) // 4:])
            fd_max = max(s[2] for s in samples[len(samples) // 4:])
            print(f"soak: alpha RSS {samples[0][1] // 1024} KiB at start, "
                  f"{base[1] // 1024} KiB after warm-up, max {rss_max // 1024} KiB, "
                  f"last {samples[-1][1] // 1024} KiB (bound +{RSS_GROWTH_MAX // MiB} MiB); "
                  f"fds {base[2]} after warm-up, max {fd_max} (bound +{FD_GROWTH_MAX})")
            if rss_max - base[1] > RSS_GROWTH_MAX:
                self.problems.append(f"RSS grew {(rss_max - base[1]) // 1024} KiB")
            if fd_max - base[2] > FD_GROWTH_MAX:
                self.problems.append(f"fd count grew by {fd_max - base[2]}")
        print(f"soak: {rounds} rounds in {time.monotonic() - self.t0:.0f} s: "
              f"{json.dumps(self.counts)}")
        for p in self.problems:
            print("soak: FAIL: " + p, file=sys.stderr)
        return 1 if self.problems else 0


SLOW_BODY = b"drip" * 16


def faulty(conn, up):
    """The misbehaving upstream: what it does is named by the request path."""
    req = up.read_request(conn)
    if req is None:
        return
    path = req.split(b" ", 2)[1].decode()
    if path == "/reset":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc")
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    elif path == "/trunc":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
                     + b"t" * 1000)
    elif path == "/bighead":
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n")
    elif path == "/slow":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(SLOW_BODY))
        for i in range(0, len(SLOW_BODY), 16):
            time.sleep(0.1)
            conn.sendall(SLOW_BODY[i:i + 16])
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outpost", required=True)
    ap.add_argument("--edge", required=True)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--dir", default="build/soak")
    a = ap.parse_args()
    a.outpost, a.edge = os.path.abspath(a.outpost), os.path.abspath(a.edge)
    sys.exit(Soak(a).run())


if __name__ == "__main__":
    main()
