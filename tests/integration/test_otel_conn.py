"""The OTLP exporter's connection (#15): kept between exports, redialled
after the collector restarts, and the spans still queued at shutdown
exported within the drain deadline.

The collector is tests/integration/otlp/receiver.js (Node's http server with
its defaults: keep-alive, a 5 s idle timeout), which records the client port
of each request ("conn"): one port per connection.  The connector runs
behind the edge with a Python upstream (test_otlp.py's stack).
"""
import re
import signal
import socket
import threading
import time

from conftest import free_port, wait_until
from test_otlp import Receiver, burst, metric_value, pki, stack  # noqa: F401 (fixtures)


def conns(rcv, signal_name=None):
    return [r["conn"] for r in rcv.records(signal_name)]


def test_exports_share_one_connection(stack, tmp_path):
    """Metrics every second and log records: several exports, one connection;
    each answer read whole (every export 200, none retried)."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path))
    try:
        conn = start(OTEL_EXPORTER_OTLP_ENDPOINT=rcv.url, OTEL_METRIC_EXPORT_INTERVAL="1000")
        assert burst(edge, up, 3) == [200] * 3
        assert wait_until(lambda: len(rcv.records("metrics")) >= 5, 15), rcv.records()
        recs = rcv.records()
        assert {r["signal"] for r in recs} >= {"metrics", "logs"}
        assert all(r["status"] == 200 and "error" not in r for r in recs)
        assert "connection" not in recs[0]["headers"]  # HTTP/1.1 default: keep-alive
        assert len(set(conns(rcv))) == 1, conns(rcv)
        hp = conn.health_port
        assert metric_value(hp, "outpost_otlp_exports_total",
                            'signal="metrics",result="retry"') == 0
        assert metric_value(hp, "outpost_otlp_exports_total",
                            'signal="metrics",result="ok"') >= 5
    finally:
        rcv.stop()


def test_reconnects_after_the_collector_restarts(stack, tmp_path):
    """The collector goes away with the kept connection and comes back on
    the same port: the exporter dials again and the exports resume there."""
    up, edge, start = stack
    port = free_port()
    rcv = Receiver(str(tmp_path), port=port)
    try:
        conn = start(OTEL_EXPORTER_OTLP_ENDPOINT=rcv.url, OTEL_METRIC_EXPORT_INTERVAL="1000")
        assert wait_until(lambda: len(rcv.records("metrics")) >= 3, 15)
        first = set(conns(rcv))
        assert len(first) == 1, first
        rcv.stop()
        time.sleep(1.5)  # an export or two find nobody: refused, retried later
        rcv = Receiver(str(tmp_path), port=port)
        assert burst(edge, up, 4) == [200] * 4
        assert wait_until(lambda: len(rcv.records("metrics")) >= 3, 20), conn.text()[-2000:]
        again = set(conns(rcv))
        assert again and not again & first, (first, again)
        assert all(r["status"] == 200 for r in rcv.records())
        assert conn.alive()
    finally:
        rcv.stop()


class RawCollector:
    """A collector written on sockets, to answer in ways Node's server does
    not: answer(n) gives the bytes for the n-th request of a connection
    (from 0), or None to close that connection without an answer.  It
    records (connection number, request number) per request it reads."""

    def __init__(self, answer):
        self.answer = answer
        self.seen = []
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.done = False
        self.t = threading.Thread(target=self.accept, daemon=True)
        self.t.start()

    def accept(self):
        k = 0
        while not self.done:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(c, k), daemon=True).start()
            k += 1

    def serve(self, c, k):
        c.settimeout(10)
        buf = b""
        with c:
            for n in range(100):
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                while len(buf) < length:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                buf = buf[length:]
                self.seen.append((k, n))
                out = self.answer(n)
                if out is None:
                    return
                c.sendall(out)

    def stop(self):
        self.done = True
        self.t.join(5)
        self.srv.close()


CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n2\r\n\x0a\x00\r\n0\r\n\r\n")


def test_chunked_answers_keep_the_connection(stack):
    """A chunked answer is read to its end and the connection carries the
    next export."""
    up, edge, start = stack
    col = RawCollector(lambda n: CHUNKED)
    try:
        conn = start(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"http://127.0.0.1:{col.port}/v1/metrics",
                     OTEL_METRIC_EXPORT_INTERVAL="1000")
        assert wait_until(lambda: len(col.seen) >= 4, 15), col.seen
        assert {k for k, _ in col.seen} == {0}, col.seen
        assert metric_value(conn.health_port, "outpost_otlp_exports_total",
                            'signal="metrics",result="ok"') >= 3
    finally:
        col.stop()


def test_kept_connection_closed_when_taken_up_is_redialled(stack):
    """A collector that answers one export per connection and drops the
    connection when the next export comes on it: each export is sent again
    at once on a fresh connection, none counted as a failed attempt."""
    up, edge, start = stack
    col = RawCollector(lambda n: CHUNKED if n == 0 else None)
    try:
        conn = start(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"http://127.0.0.1:{col.port}/v1/metrics",
                     OTEL_METRIC_EXPORT_INTERVAL="1000", ENV_LEVEL="debug")
        assert wait_until(lambda: len([1 for _, n in col.seen if n == 1]) >= 3, 20), col.seen
        hp = conn.health_port
        assert metric_value(hp, "outpost_otlp_exports_total",
                            'signal="metrics",result="retry"') == 0, conn.text()[-2000:]
        assert metric_value(hp, "outpost_otlp_exports_total",
                            'signal="metrics",result="ok"') >= 3
        assert "kept connection to 127.0.0.1" in conn.text()
        assert "failed" not in conn.text()
    finally:
        col.stop()


def spans(rcv):
    out = []
    for r in rcv.records("traces"):
        for rs in r.get("body", {}).get("resourceSpans", []):
            for ss in rs["scopeSpans"]:
                out += ss["spans"]
    return out


def handled(rcv):
    return [s for s in spans(rcv) if s["name"] == "connector.handle_http_request"]


def test_queued_spans_are_exported_at_shutdown(stack, tmp_path):
    """Spans waiting for their batch (OTEL_BSP_SCHEDULE_DELAY 10 min) when
    SIGTERM comes are exported before the process exits, nothing dropped."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path))
    try:
        conn = start(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rcv.url + "/v1/traces",
                     OTEL_BSP_SCHEDULE_DELAY="600000", DRAIN_TIMEOUT="5s")
        assert burst(edge, up, 6) == [200] * 6
        time.sleep(0.5)
        assert handled(rcv) == []  # still queued
        t0 = time.monotonic()
        conn.p.send_signal(signal.SIGTERM)
        assert conn.p.wait(10) == 0
        assert time.monotonic() - t0 < 5
        assert len(handled(rcv)) == 6, conn.text()[-2000:]
        assert "not exported" not in conn.text()
    finally:
        rcv.stop()


def test_shutdown_flush_is_bounded_and_counts_the_drop(stack, tmp_path):
    """A collector that never answers: the flush gives up at the drain
    deadline (DRAIN_TIMEOUT 2 s), the process exits 0 and says how many
    spans it dropped (counted in outpost_otlp_dropped_total)."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path), "--delay-ms", "60000")
    try:
        conn = start(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rcv.url + "/v1/traces",
                     OTEL_BSP_SCHEDULE_DELAY="600000", DRAIN_TIMEOUT="2s",
                     OTEL_EXPORTER_OTLP_TIMEOUT="10000")
        assert burst(edge, up, 5) == [200] * 5
        t0 = time.monotonic()
        conn.p.send_signal(signal.SIGTERM)
        assert conn.p.wait(10) == 0
        took = time.monotonic() - t0
        assert 1.5 < took < 4, took
        assert wait_until(lambda: len(rcv.records("traces")) == 1, 5)
        # The receiver took the one batch in (and never answered): the
        # spans the connector says it dropped are those, the five requests'
        # handle spans among them.
        m = re.search(r"otlp: stopping with (\d+) spans, 0 log records and 0 data "
                      r"points not exported: dropped", conn.text())
        assert m, conn.text()[-2000:]
        assert int(m.group(1)) == len(spans(rcv)) and len(handled(rcv)) == 5
    finally:
        rcv.stop()


def test_edge_exports_queued_spans_at_shutdown(outpost_bin, outpost_edge_bin, pki, tmp_path):
    """The edge does the same: its front-door spans still queued at SIGTERM
    reach the collector before it exits."""
    from edgelib import Edge, Upstream, connector
    rcv = Receiver(str(tmp_path))
    up = Upstream()
    edge = Edge(outpost_edge_bin, str(tmp_path), pki,
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rcv.url + "/v1/traces",
                OTEL_BSP_SCHEDULE_DELAY="600000", EDGE_DRAIN_TIMEOUT="5s")
    conn = None
    try:
        conn = connector(outpost_bin, str(tmp_path), edge, pki, "alpha", OTEL_SDK_DISABLED="true")
        edge.wait_tunnels("alpha", 2)
        assert burst(edge, up, 3) == [200] * 3
        time.sleep(0.5)
        assert spans(rcv) == []
        edge.proc.p.send_signal(signal.SIGTERM)
        assert edge.proc.p.wait(10) == 0
        doors = [s for s in spans(rcv) if s["name"] == "edge.front_door"]
        assert len(doors) == 3, edge.proc.text()[-2000:]
        assert "not exported" not in edge.proc.text()
    finally:
        if conn:
            conn.stop()
        edge.stop()
        up.stop()
        rcv.stop()
