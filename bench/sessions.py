#!/usr/bin/env python3
"""Sessions benchmark (issue #13): bulk throughput of one session (1 GiB) and
of 8 in parallel, against (a) direct TCP and (b) a socat mTLS TCP chain of the
same shape; session set-up time p50/p99; edge and connector RSS at 1000 idle
sessions.  All on loopback; writes its section of bench/RESULTS.md (between
the sessions markers; the rest of the file is left alone).

  bench/sessions.py BUILD_DIR        (make bench-sessions)

Paths, each a local TCP port the client dials, the same 1 GiB source behind:
  a: client -> source
  b: client -> socat TCP-LISTEN ══ mTLS (client cert) ══▶ socat OPENSSL-LISTEN -> source
  c: client -> outpost-edge forward -> edge front door (Upgrade) ══ mTLS tunnel
     (HTTP/2, gRPC) ══▶ outpost (SESSION_ALLOW) -> source
Numbers are noisy on shared CPUs: compare the columns of one run.
"""
import datetime
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
BEGIN, END = "<!-- sessions:begin (written by bench/sessions.py) -->", "<!-- sessions:end -->"
GIB = 1 << 30
PROCS = []

# A forking TCP source: every connection gets SIZE bytes, then EOF.
SOURCE = r"""
import os, socket, sys
size, port_file = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(1024)
open(port_file, "w").write(str(s.getsockname()[1]))
buf = memoryview(bytes(1 << 20))
while True:
    c, _ = s.accept()
    if os.fork() == 0:
        s.close(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = c.recv(1)
        if mode == b"b":        # banner: one byte, then hold until EOF
            c.sendall(b"!"); c.recv(1)
        else:
            left = size
            while left > 0:
                n = c.send(buf[:min(left, len(buf))]); left -= n
            c.shutdown(socket.SHUT_WR); c.recv(1)
        os._exit(0)
    c.close()
"""

# Bulk client: N connections at once to PORT, each reads to EOF; prints seconds.
CLIENT = r"""
import socket, sys, threading, time
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
got = [0] * n
def read(i):
    s = socks[i]; b = bytearray(1 << 20)
    while True:
        k = s.recv_into(b)
        if k == 0: break
        got[i] += k
t0 = time.monotonic()
for s in socks: s.sendall(b"g")
ts = [threading.Thread(target=read, args=(i,)) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
dt = time.monotonic() - t0
assert all(g == size for g in got), got
print(dt)
"""


def start(argv, log, env=None):
    p = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    PROCS.append(p)
    return p


def stop_all():
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: port {port} did not open")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def env(**kw):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OUTPOST_CONFIG": ""}
    e.update({k: str(v) for k, v in kw.items()})
    return e


def bulk(path, port, n):
    """Seconds for n parallel 1 GiB downloads through port."""
    out = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(n), str(GIB)],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"bench: path {path}, {n} at once: {out.stderr[-500:]}")
    return float(out.stdout.strip())


def upgrade(api, token, target):
    s = socket.create_connection(("127.0.0.1", api), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall((f"GET /v1/connectors/bench/connect/{target} HTTP/1.1\r\nHost: edge\r\n"
               f"Authorization: Bearer {token}\r\nConnection: Upgrade\r\n"
               "Upgrade: outpost-tcp\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise SystemExit("bench: the front door closed")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"bench: no upgrade: {head[:200]!r}")
    return s, rest


def setup_times(api, token, target, n=200):
    """ms from the front-door request to the target's first byte."""
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        s, rest = upgrade(api, token, target)
        s.sendall(b"b")
        while not rest:
            rest = s.recv(1)
        out.append((time.monotonic() - t0) * 1000)
        s.close()
    out.sort()
    return out[len(out) // 2], out[min(len(out) - 1, int(len(out) * 0.99))]


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/x86_64")
    edge_bin, outpost_bin = f"{build}/outpost-edge", f"{build}/outpost"
    tmp = tempfile.mkdtemp(prefix="outpost-bench-sessions-")
    pki = f"{tmp}/pki"
    subprocess.run([f"{ROOT}/scripts/dev-pki.sh", pki, "bench"], check=True,
                   capture_output=True, timeout=60)
    try:
        pf = f"{tmp}/source.port"
        start([sys.executable, "-c", SOURCE, str(GIB), pf], f"{tmp}/source.log")
        while not os.path.exists(pf) or not open(pf).read():
            time.sleep(0.05)
        src = int(open(pf).read())
        idle = idle_server()
        # b: the socat mTLS chain.
        pb_in, pb_tls = free_port(), free_port()
        start(["socat", f"OPENSSL-LISTEN:{pb_tls},bind=127.0.0.1,reuseaddr,fork,"
               f"cert={pki}/edge.pem,key={pki}/edge.key,cafile={pki}/ca.pem,verify=1",
               f"TCP:127.0.0.1:{src},nodelay"], f"{tmp}/socat-server.log")
        start(["socat", f"TCP-LISTEN:{pb_in},bind=127.0.0.1,reuseaddr,fork,nodelay",
               f"OPENSSL:127.0.0.1:{pb_tls},cert={pki}/connector-bench.pem,"
               f"key={pki}/connector-bench.key,cafile={pki}/ca.pem,verify=1,"
               "nodelay"], f"{tmp}/socat-client.log")
        # c: edge + connector + forward.
        tport, api, hport, pc = free_port(), free_port(), free_port(), free_port()
        token = os.urandom(16).hex()
        with open(f"{tmp}/token", "w") as f:
            f.write(token + "\n")
        edge = start([edge_bin, "run"], f"{tmp}/edge.log", env(
            EDGE_LISTEN=f"127.0.0.1:{tport}", EDGE_API_PORT=api,
            EDGE_API_TOKEN_FILE=f"{tmp}/token", EDGE_TLS_CERT_FILE=f"{pki}/edge.pem",
            EDGE_TLS_KEY_FILE=f"{pki}/edge.key", EDGE_CLIENT_CA_FILE=f"{pki}/ca.pem",
            ENV_LEVEL="warn"))
        wait_port(api)
        conn = start([outpost_bin, "run"], f"{tmp}/outpost.log", env(
            TRAVERSAL_CONTROLLER_URL=f"https://127.0.0.1:{tport}",
            TLS_CERT_FILE=f"{pki}/connector-bench.pem", TLS_KEY_FILE=f"{pki}/connector-bench.key",
            TLS_CA_FILE=f"{pki}/ca.pem", HTTP_PORT=hport, SESSION_ALLOW=f"127.0.0.1:{src},127.0.0.1:{idle}",
            SESSION_MAX=1100, ENV_LEVEL="warn"))
        end = time.time() + 20
        while time.time() < end:
            try:
                import http.client
                c = http.client.HTTPConnection("127.0.0.1", hport, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        start([edge_bin, "forward", "--listen", f"127.0.0.1:{pc}", "--edge",
               f"http://127.0.0.1:{api}", "--token-file", f"{tmp}/token", "bench",
               f"127.0.0.1:{src}"], f"{tmp}/forward.log", env())
        wait_port(pc)
        wait_port(pb_in)

        rows = []
        for n in (1, 8):
            t = {k: bulk(k, p, n) for k, p in (("a", src), ("b", pb_in), ("c", pc))}
            mbps = {k: n * GIB / v / 1e6 for k, v in t.items()}
            rows.append((n, mbps))
        setup_direct = setup_times_direct(src)
        setup = setup_times(api, token, f"127.0.0.1:{src}")
        # RSS at 1000 idle sessions.
        e0, c0 = rss_kib(edge.pid), rss_kib(conn.pid)
        socks = []
        for _ in range(1000):
            s, rest = upgrade(api, token, f"127.0.0.1:{idle}")
            s.sendall(b"h")
            while not rest:
                rest = s.recv(1)
            socks.append(s)
        time.sleep(0.5)
        e1, c1 = rss_kib(edge.pid), rss_kib(conn.pid)
        for s in socks:
            s.close()
        write(rows, setup_direct, setup, (e0, e1), (c0, c1))
    finally:
        stop_all()


def idle_server():
    """Port of a one-thread server that answers one byte and holds the
    connection (1000 idle sessions without 1000 processes or threads)."""
    import selectors
    import threading
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1024)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)

    def loop():
        while True:
            for key, _ in sel.select():
                if key.fileobj is ls:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        continue
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                    continue
                try:
                    d = key.fileobj.recv(64)
                except OSError:
                    d = b""
                if d:
                    key.fileobj.send(d[:1])
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
    threading.Thread(target=loop, daemon=True).start()
    return ls.getsockname()[1]


def setup_times_direct(port, n=200):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"b")
        s.recv(1)
        out.append((time.monotonic() - t0) * 1000)
        s.close()
    out.sort()
    return out[len(out) // 2], out[min(len(out) - 1, int(len(out) * 0.99))]


def write(rows, setup_direct, setup, edge_rss, conn_rss):
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    lines = [BEGIN, "## Sessions: direct TCP vs. socat mTLS chain vs. outpost session", "",
             f"Measured {now} at revision `{rev}` on {platform.system()} {platform.machine()}, "
             f"{os.cpu_count()} CPU (shared: compare the columns of one run), loopback only.",
             "",
             "- **a**: client → source (direct TCP).",
             "- **b**: client → socat ══ mTLS (client cert) ══▶ socat → source.",
             "- **c**: client → `outpost-edge forward` → edge front door (Upgrade) ══ mTLS tunnel "
             "(HTTP/2, gRPC) ══▶ outpost → source.",
             "",
             "| sessions | a: direct MB/s | b: socat mTLS MB/s | c: outpost MB/s | c/b | c/a |",
             "|---|---|---|---|---|---|"]
    for n, m in rows:
        lines.append(f"| {n} × 1 GiB | {m['a']:.0f} | {m['b']:.0f} | {m['c']:.0f} | "
                     f"{m['c'] / m['b']:.2f} | {m['c'] / m['a']:.2f} |")
    lines += ["", "| measure | value | goal |", "|---|---|---|",
              f"| c/b, one session | {rows[0][1]['c'] / rows[0][1]['b']:.2f} | ≥ 0.8 |",
              f"| c/b, 8 sessions | {rows[1][1]['c'] / rows[1][1]['b']:.2f} | ≥ 0.8 |",
              f"| set-up, front-door request to first byte, p50 / p99 (200 sequential) | "
              f"{setup[0]:.2f} / {setup[1]:.2f} ms (direct connect {setup_direct[0]:.2f} / "
              f"{setup_direct[1]:.2f} ms) | |",
              f"| connector RSS at 1000 idle sessions | {conn_rss[1] / 1024:.1f} MiB "
              f"(from {conn_rss[0] / 1024:.1f}) | ≤ 16 MiB |",
              f"| edge RSS at 1000 idle sessions | {edge_rss[1] / 1024:.1f} MiB "
              f"(from {edge_rss[0] / 1024:.1f}) | |",
              END]
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    block = "\n".join(lines) + "\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", lambda m: block,
                      text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(RESULTS, "w") as f:
        f.write(text)
    print(block)


if __name__ == "__main__":
    main()
