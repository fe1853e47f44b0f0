#!/usr/bin/env python3
"""lwIP benchmark (issue #16): the request path c with the lwIP build of the
connector (its own TCP/IP stack on a tap device) beside the POSIX build (the
kernel's stack), in one run, over the same bridge: req/s and latency at
concurrency 1, 64 and 200, connector RSS at idle and at 200 in flight.
Writes its section of bench/RESULTS.md (between the lwip markers).

  bench/lwip.py BUILD_DIR LWIP_BUILD_DIR    (make bench-lwip; as root)

    wrk → outpost-edge front door ══ mTLS tunnel (2 tunnels) ══▶ outpost → nginx (1 KiB)

The network is tests/lwip's (tests/lwip/lwipnet.py): the connectors in one
namespace (lwIP on tap0, POSIX on the bridge's address), the edge and nginx
in another.  Numbers are noisy on shared CPUs: compare the columns of one run.
"""
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lwip"))
from conftest import base_env, wait_until  # noqa: E402
from edgelib import Edge, Proc, dev_pki  # noqa: E402
from upstream import Nginx  # noqa: E402
import lwipnet  # noqa: E402
from lwipnet import EDGE_ADDR, LWIP_ADDR, POSIX_ADDR, TAP  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
BEGIN, END = "<!-- lwip:begin (written by bench/lwip.py) -->", "<!-- lwip:end -->"
DUR = int(os.environ.get("BENCH_DURATION", "5"))
NAME = "lw"
HTTP_PORT = 8080
NOTE = ("Both connectors run with `STREAM_RESPONSES=false` (buffered responses): with streamed "
        "responses on, outpost-edge crashed at concurrency 200 in this setup (SIGSEGV in "
        "`http_exchange_end` called from `edge_deliver.c`'s pump; reported to the lead).")


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def ready(host):
    import http.client
    try:
        c = http.client.HTTPConnection(host, HTTP_PORT, timeout=1)
        c.request("GET", "/readyz")
        return c.getresponse().status == 200
    except OSError:
        return False


def start_connector(net, kind, binary, edge, pki, tmp):
    env = dict(TRAVERSAL_CONTROLLER_URL=f"https://{EDGE_ADDR}:{edge.tport}",
               TLS_SERVER_NAME="localhost", TLS_CERT_FILE=f"{pki}/connector-{NAME}.pem",
               TLS_KEY_FILE=f"{pki}/connector-{NAME}.key", TLS_CA_FILE=f"{pki}/ca.pem",
               HTTP_PORT=HTTP_PORT, MAX_TUNNELS_ALLOWED=2, MAX_CONCURRENT_REQUESTS=256,
               ENV_LEVEL="warn", STREAM_RESPONSES="false")
    host = POSIX_ADDR
    if kind == "lwip":
        env.update(LWIP_TAP=TAP, LWIP_ADDRESS=f"{LWIP_ADDR}/24", LWIP_GATEWAY=EDGE_ADDR)
        host = LWIP_ADDR
    p = Proc(net.in_c() + [binary, "run"], base_env(**env), os.path.join(tmp, f"{kind}.log"))
    if not wait_until(lambda: not p.alive() or ready(host), 20, 0.1) or not p.alive():
        raise SystemExit(f"{kind} connector not ready:\n" + p.text()[-2000:])
    edge.wait_tunnels(NAME, 2)
    return p


def offline(edge):
    """No tunnel of NAME online (or NAME unknown) any more."""
    try:
        return not [t for t in edge.state(NAME)["tunnels"] if t["state"] == "online"]
    except (AssertionError, OSError):
        return True


def to_ms(v):
    n = float(re.match(r"[0-9.]+", v).group(0))
    return n / 1000 if v.endswith("us") else n * 1000 if v.endswith("s") and \
        not v.endswith("ms") else n


def wrk(url, token, conc):
    out = subprocess.run(["wrk", f"-t{1 if conc < 2 else 2}", f"-c{conc}", f"-d{DUR}s",
                          "--latency", "-H", f"Authorization: Bearer {token}", url],
                         capture_output=True, text=True, timeout=DUR + 60).stdout
    if "Requests/sec:" not in out:
        raise SystemExit(f"wrk -c{conc}: no result:\n{out[-1500:]}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(bad.group(1)) if bad else 0


def measure(edge, p, url):
    """Rows per concurrency, idle RSS, and peak RSS / in-flight during c=200."""
    time.sleep(1)
    idle = status_kib(p.p.pid, "VmRSS")
    rows = {c: wrk(url, edge.token, c) for c in (1, 64)}
    peak = {"rss": 0, "inflight": 0}
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            try:
                peak["rss"] = max(peak["rss"], status_kib(p.p.pid, "VmRSS"))
                n = sum(t["in_flight"] for t in edge.state(NAME)["tunnels"])
                peak["inflight"] = max(peak["inflight"], n)
            except (OSError, AssertionError, KeyError):
                pass
    t = threading.Thread(target=sample)
    t.start()
    try:
        rows[200] = wrk(url, edge.token, 200)
    except SystemExit as e:
        raise SystemExit(f"{e}\nedge: {edge.proc.p.poll()}") from None
    finally:
        done.set()
        t.join()
    return rows, idle, peak


def write(res, rev):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    lines = [BEGIN, "## Request path c on lwIP: the lwIP build beside the POSIX build", "",
             f"Measured {now} at revision `{rev}` on {platform.system()} {platform.machine()}, "
             f"{os.cpu_count()} CPU (shared: compare the columns of one run); wrk {DUR} s per "
             "cell, 1 KiB from nginx.", "",
             "wrk → outpost-edge front door ══ mTLS tunnel (2 tunnels) ══▶ outpost → nginx; the "
             "edge and nginx in one network namespace, the connector in another behind a "
             "bridge: **POSIX** on the kernel's stack (the bridge's address), **lwIP** on its "
             "own stack over `tap0` on the same bridge (tests/lwip/lwipnet.py).", "",
             NOTE, "",
             "| conc | POSIX req/s | lwIP req/s | lwIP/POSIX | p50 POSIX / lwIP (ms) | "
             "p99 POSIX / lwIP (ms) | non-2xx POSIX / lwIP |",
             "|---|---|---|---|---|---|---|"]
    for c in (1, 64, 200):
        a, b = res["posix"][0][c], res["lwip"][0][c]
        lines.append(f"| {c} | {a[0]:.0f} | {b[0]:.0f} | {b[0] / a[0]:.2f} | "
                     f"{a[1]:.2f} / {b[1]:.2f} | {a[2]:.2f} / {b[2]:.2f} | {a[3]} / {b[3]} |")
    lines += ["", "| connector | RSS idle | RSS peak at concurrency 200 | most in flight seen "
              "by the edge |", "|---|---|---|---|"]
    for k in ("posix", "lwip"):
        _, idle, peak = res[k]
        lines.append(f"| {'POSIX' if k == 'posix' else 'lwIP'} | {idle / 1024:.1f} MiB | "
                     f"{peak['rss'] / 1024:.1f} MiB | {peak['inflight']} |")
    lines.append(END)
    block = "\n".join(lines) + "\n"
    text = open(RESULTS).read()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", lambda m: block,
                      text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(RESULTS, "w") as f:
        f.write(text)
    print(block)


def main():
    if len(sys.argv) != 3 or os.geteuid() != 0:
        raise SystemExit("usage (as root): bench/lwip.py BUILD_DIR LWIP_BUILD_DIR")
    posix_bin = os.path.abspath(os.path.join(sys.argv[1], "outpost"))
    edge_bin = os.path.abspath(os.path.join(sys.argv[1], "outpost-edge"))
    lwip_bin = os.path.abspath(os.path.join(sys.argv[2], "outpost"))
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="bench-lwip-")
    net = lwipnet.Net()
    res, edge, nginx = {}, None, None
    try:
        pki = dev_pki(os.path.join(tmp, "pki"), NAME)
        nginx = Nginx(os.path.join(tmp, "nginx"), host=EDGE_ADDR)
        nginx.write("1k.bin", os.urandom(1024))
        edge = Edge(edge_bin, tmp, pki, listen=EDGE_ADDR, EDGE_API_MAX_CONNECTIONS=1200,
                    ENV_LEVEL="warn")
        url = (f"http://127.0.0.1:{edge.aport}/v1/connectors/{NAME}/proxy/http/"
               f"{EDGE_ADDR}:{nginx.port}/1k.bin")
        for kind, binary in (("posix", posix_bin), ("lwip", lwip_bin)):
            p = start_connector(net, kind, binary, edge, pki, tmp)
            try:
                res[kind] = measure(edge, p, url)
            finally:
                p.stop()
            if not edge.proc.alive():
                raise SystemExit(f"edge exited {edge.proc.p.returncode} during {kind}:\n" +
                                 edge.proc.text()[-2000:])
            wait_until(lambda: offline(edge), 10, 0.1)
    finally:
        if edge:
            edge.stop()
        if nginx:
            nginx.close()
        net.close()
    write(res, rev)


if __name__ == "__main__":
    main()
