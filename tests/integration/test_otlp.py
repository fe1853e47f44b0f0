"""OTLP/HTTP export (#15) against an independent receiver.

tests/integration/otlp/receiver.js (Node, protobufjs) decodes every export
from outpost's own .proto files in both encodings and records each request
(raw bytes and decoded body) as a JSON line; these tests read those lines.
The connector runs with the edge and a Python upstream (edgelib), so the
metric values come from real requests through a real tunnel.
"""
import base64
import json
import os
import subprocess
import time

import pytest

from conftest import free_port, wait_until
from edgelib import Edge, Upstream, connector, dev_pki
from upstream import Squid

HERE = os.path.dirname(os.path.abspath(__file__))
RECEIVER = os.path.join(HERE, "otlp", "receiver.js")


class Receiver:
    """The Node OTLP receiver on a loopback port (TLS with cert/key)."""

    def __init__(self, tmp, *args, cert=None, key=None, port=0):
        self.out = os.path.join(tmp, f"otlp-{time.monotonic_ns()}.jsonl")
        argv = ["node", RECEIVER, "--port", str(port), "--out", self.out, *args]
        if cert:
            argv += ["--cert", cert, "--key", key]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            self.proc.kill()
            raise AssertionError("receiver did not start: " + line + self.proc.stdout.read().decode())
        self.port = int(line.split()[1])
        self.scheme = "https" if cert else "http"

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def records(self, signal=None):
        try:
            with open(self.out) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        # Only whole lines: the receiver may be writing the last one.
        recs = [json.loads(l) for l in text.split("\n")[:-1] if l.strip()]
        return [r for r in recs if signal is None or r["signal"] == signal]

    def control(self, **behaviour):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        if self.scheme == "https":
            import ssl
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5,
                                            context=ssl._create_unverified_context())
        c.request("POST", "/control", body=json.dumps(behaviour))
        assert c.getresponse().status == 204
        c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(str(tmp_path))
    yield r
    r.stop()


@pytest.fixture
def stack(outpost_bin, outpost_edge_bin, pki, tmp_path):
    """start(**settings) -> connector alpha (two tunnels up) behind an edge."""
    up = Upstream()
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    procs = [edge]

    def start(**settings):
        conn = connector(outpost_bin, str(tmp_path), edge, pki, "alpha", **settings)
        procs.append(conn)
        edge.wait_tunnels("alpha", 2)
        return conn
    try:
        yield up, edge, start
    finally:
        for p in reversed(procs):
            p.stop()
        up.stop()


def resource(body):
    key = "resourceMetrics" if "resourceMetrics" in body else "resourceLogs"
    attrs = body[key][0]["resource"].get("attributes", [])
    return {a["key"]: a["value"].get("stringValue") for a in attrs}


def metrics_of(rec):
    """{name: metric} of one metrics export."""
    out = {}
    for rm in rec["body"]["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                out[m["name"]] = m
    return out


def points(m):
    for kind in ("sum", "gauge", "histogram"):
        if kind in m:
            return m[kind]["dataPoints"]
    raise AssertionError(m)


def attrs(p):
    return {a["key"]: a["value"]["stringValue"] for a in p.get("attributes", [])}


def ok_requests(rec):
    """outpost_requests_total{outcome="ok"} in one export, or None."""
    m = metrics_of(rec).get("outpost_requests_total")
    if m is None:
        return None
    return next((p.get("asDouble", 0) for p in points(m) if attrs(p) == {"outcome": "ok"}), None)


def last_metrics(rcv, pred, timeout=15):
    """The first metrics export satisfying pred (waiting for it)."""
    def find():
        for r in reversed(rcv.records("metrics")):
            if "body" in r and pred(r):
                return r
        return None
    rec = wait_until(find, timeout, 0.1)
    assert rec, [r.get("error") for r in rcv.records()]
    return rec


def otlp_env(rcv, **extra):
    env = dict(OTEL_EXPORTER_OTLP_ENDPOINT=rcv.url, OTEL_METRIC_EXPORT_INTERVAL="1000")
    env.update(extra)
    return env


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_metrics_after_requests(stack, receiver, protocol):
    """N requests through the tunnel appear in the exported counters and the
    latency histogram (outpost's names and the anchor's), in either
    encoding, with the resource attributes set."""
    up, edge, start = stack
    start(**otlp_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL=protocol, ENV_NAME="staging",
                     OTEL_SERVICE_NAME="edge-connector",
                     OTEL_RESOURCE_ATTRIBUTES="team=net%20ops,service.name=ignored",
                     TRAVERSAL_CONNECTOR_ID="conn-alpha-1"))
    n = 7
    for i in range(n):
        s, _, _ = edge.proxy("alpha", f"{up.hostport}/echo")
        assert s == 200
    rec = last_metrics(receiver, lambda r: ok_requests(r) == n)
    want_ct = "application/json" if protocol == "http/json" else "application/x-protobuf"
    assert rec["content_type"] == want_ct
    assert rec["path"] == "/v1/metrics"
    res = resource(rec["body"])
    assert res["service.name"] == "edge-connector"
    assert res["deployment.environment"] == "staging"
    assert res["service.instance.id"] == "conn-alpha-1"
    assert res["service.version"]
    assert res["host.name"] == os.uname().nodename
    assert res["team"] == "net ops"
    ms = metrics_of(rec)
    req = ms["outpost_requests_total"]["sum"]
    assert req["isMonotonic"] and req["aggregationTemporality"] == 2
    anchor = ms["upstream_requests_total"]
    assert [p["asDouble"] for p in points(anchor) if attrs(p) == {"outcome": "ok"}] == [n]
    for name in ("outpost_upstream_seconds", "upstream_latency"):
        h = ms[name]["histogram"]
        assert h["aggregationTemporality"] == 2
        (p,) = h["dataPoints"]
        assert p["count"] == str(n)
        assert len(p["bucketCounts"]) == len(p["explicitBounds"]) + 1
        assert sum(int(c) for c in p["bucketCounts"]) == n
        assert p["sum"] >= 0  # present (sub-millisecond requests sum to 0)
    assert ms["upstream_latency"]["unit"] == "s"
    assert points(ms["connector.streams_active"])[0]["asDouble"] == 2
    assert points(ms["concurrent_requests"])[0]["asDouble"] == 0
    assert points(ms["request_body_size_limit_hit_total"])[0]["asDouble"] == 0
    assert "reconnects_total" in ms
    # Every interval again: cumulative, from the same start time.
    later = last_metrics(receiver, lambda r: r["ts"] > rec["ts"])
    p0 = points(ms["outpost_uptime_seconds"])[0]
    p1 = points(metrics_of(later)["outpost_uptime_seconds"])[0]
    assert p0["startTimeUnixNano"] == p1["startTimeUnixNano"]
    assert int(p1["timeUnixNano"]) > int(p0["timeUnixNano"])


def log_records(rcv):
    """Every log record exported so far (OTLP JSON mapping, ids hex)."""
    out = []
    for r in rcv.records("logs"):
        for rl in r.get("body", {}).get("resourceLogs", []):
            for sl in rl["scopeLogs"]:
                out += sl["logRecords"]
    return out


def test_logs_exported(stack, receiver):
    """The JSON log lines arrive as log records with their severity."""
    up, edge, start = stack
    start(**otlp_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL="http/json"))
    assert wait_until(lambda: any("running" in l["body"]["stringValue"]
                                  for l in log_records(receiver)), 10)
    running = next(l for l in log_records(receiver) if "running" in l["body"]["stringValue"])
    assert running["severityNumber"] == 9 and running["severityText"] == "INFO"
    assert int(running["timeUnixNano"]) > 0
    assert receiver.records("logs")[0]["path"] == "/v1/logs"


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_log_inside_a_request_names_its_span(stack, receiver, protocol):
    """A line logged while a tunnelled request is handled (its upstream
    refused) is a log record with that request's trace and span ids (the
    connector.handle_http_request span) and its trace flags; a line
    outside any request has none; the JSON log line names them too."""
    up, edge, start = stack
    conn = start(**otlp_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                            OTEL_BSP_SCHEDULE_DELAY="200"))
    s, _, _ = edge.proxy("alpha", f"127.0.0.1:{free_port()}/nothing-here")
    assert s >= 500

    def failed():
        return [l for l in log_records(receiver) if "failed: refused" in l["body"]["stringValue"]]

    def handles():
        from test_traces import spans_of
        return [sp for sp in spans_of(receiver).values()
                if sp["name"] == "connector.handle_http_request"]
    assert wait_until(lambda: failed() and handles(), 10), receiver.records()
    (rec,) = failed()
    (span,) = handles()
    assert span["status"]["code"] in ("STATUS_CODE_ERROR", 2)
    assert rec["traceId"] == span["traceId"] and len(rec["traceId"]) == 32
    assert rec["spanId"] == span["spanId"] and len(rec["spanId"]) == 16
    assert rec["flags"] == 1  # sampled (parentbased_always_on)
    running = next(l for l in log_records(receiver) if "running" in l["body"]["stringValue"])
    assert not running.get("traceId") and not running.get("spanId"), running
    lines = [json.loads(l) for l in conn.text().splitlines() if l.startswith("{")]
    assert [(l["trace_id"], l["span_id"]) for l in lines if "failed: refused" in l["msg"]] == \
        [(span["traceId"], span["spanId"])]
    assert not any("trace_id" in l for l in lines if "running" in l["msg"])


def test_edge_exports_metrics_and_logs(outpost_edge_bin, pki, receiver, tmp_path):
    """outpost-edge exports like the connector: its registry (the
    /metrics families, sessions included) and its log lines, under its
    own service name."""
    edge = Edge(outpost_edge_bin, str(tmp_path), pki,
                **otlp_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                           OTEL_SERVICE_NAME="the-edge"))
    try:
        rec = last_metrics(receiver, lambda r: "outpost_sessions_open" in metrics_of(r))
        assert resource(rec["body"])["service.name"] == "the-edge"
        assert "outpost_otlp_exports_total" in metrics_of(rec)

        def lines():
            return [lr["body"]["stringValue"] for r in receiver.records("logs")
                    for rl in r.get("body", {}).get("resourceLogs", [])
                    for sl in rl["scopeLogs"] for lr in sl["logRecords"]]
        assert wait_until(lambda: any(ln.startswith("seccomp:") for ln in lines()), 10), lines()
        assert resource(receiver.records("logs")[0]["body"])["service.name"] == "the-edge"
    finally:
        edge.stop()


def test_no_request_data_in_exports(stack, receiver):
    """Marker strings in a request's path, query, headers and body never
    appear in any exported byte, while that request is counted."""
    up, edge, start = stack
    conn = start(**otlp_env(receiver, ENV_LEVEL="debug",
                     OTEL_EXPORTER_OTLP_HEADERS="x-api-key=sekrit-hdr-value"))
    marks = ["MARKPATH7f3a", "MARKQUERY91c2", "MARKHDR5d0e", "MARKBODY22b8"]
    s, _, _ = edge.proxy("alpha", f"{up.hostport}/echo/{marks[0]}?q={marks[1]}", method="POST",
                         body=f"payload {marks[3]}".encode(), headers={"X-Mark": marks[2]})
    assert s == 200
    last_metrics(receiver, lambda r: ok_requests(r) == 1)
    time.sleep(1.5)  # the next log batch too
    recs = receiver.records()
    assert {r["signal"] for r in recs} >= {"metrics", "logs"}
    for r in recs:
        raw = base64.b64decode(r["raw_b64"])
        for m in marks:
            assert m.encode() not in raw, (m, r["signal"])
        assert r["headers"].get("x-api-key") == "sekrit-hdr-value"
    assert "sekrit-hdr-value" not in conn.text()


def metric_value(port, name, labels):
    """One sample of the connector's /metrics (Prometheus text), or 0."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith(name + "{" + labels + "}") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def burst(edge, up, n):
    """n requests through the tunnel; the statuses."""
    return [edge.proxy("alpha", f"{up.hostport}/echo")[0] for _ in range(n)]


def test_collector_503_retry_after_then_drop(stack, tmp_path):
    """A collector answering 503 with Retry-After: the exporter waits that
    long between attempts, gives up after 5 and counts the dropped items;
    requests are unaffected; once it answers 200 the data flows again."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path), "--status", "503", "--retry-after", "1")
    try:
        conn = start(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=rcv.url + "/v1/metrics",
                     OTEL_METRIC_EXPORT_INTERVAL="1000")
        assert burst(edge, up, 20) == [200] * 20
        hp = conn.health_port
        assert wait_until(lambda: metric_value(hp, "outpost_otlp_dropped_total",
                                               'signal="metrics"') > 0, 20), conn.text()[-2000:]
        # The first request's 5 attempts, Retry-After (1 s) apart: never the
        # doubling backoff (its 4th wait would be 8 s).
        tries = [r["ts"] for r in rcv.records("metrics")][:5]
        gaps = [b - a for a, b in zip(tries, tries[1:])]
        assert len(gaps) == 4 and all(900 <= g < 2500 for g in gaps), gaps
        assert metric_value(hp, "outpost_otlp_exports_total",
                            'signal="metrics",result="retry"') >= 4
        assert "metrics export to 127.0.0.1" in conn.text() and "HTTP 503" in conn.text()
        rcv.control(status=200)
        n = len(rcv.records("metrics"))
        assert wait_until(lambda: any(r["status"] == 200 for r in rcv.records("metrics")[n:]), 10)
        assert burst(edge, up, 5) == [200] * 5
    finally:
        rcv.stop()


def test_collector_slow_or_down_never_delays_requests(stack, tmp_path):
    """With the collector answering after 3 s (beyond OTEL_EXPORTER_OTLP_TIMEOUT
    1 s), and then gone, requests flow as with telemetry off: no failure,
    every export attempt timed out or refused and counted, memory flat."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path), "--delay-ms", "3000")
    try:
        conn = start(**otlp_env(rcv, OTEL_EXPORTER_OTLP_TIMEOUT="1000", ENV_LEVEL="debug"))
        hp = conn.health_port
        assert burst(edge, up, 50) == [200] * 50
        rss0 = rss_kib(conn.p.pid)
        t0 = time.monotonic()
        assert burst(edge, up, 200) == [200] * 200
        slow = time.monotonic() - t0
        assert wait_until(lambda: metric_value(hp, "outpost_otlp_exports_total",
                                               'signal="metrics",result="retry"') >= 2, 15)
        assert "timeout" in conn.text()
        rcv.stop()  # now down: connection refused
        assert burst(edge, up, 200) == [200] * 200
        assert wait_until(lambda: "Connection refused" in conn.text(), 20)
        assert burst(edge, up, 200) == [200] * 200
        rss1 = rss_kib(conn.p.pid)
        # The queues are bounded (16 requests, 4 MiB per signal): growth stays
        # far below what 600 requests' worth of queued log batches would take.
        assert rss1 - rss0 < 8 * 1024, (rss0, rss1)
        assert slow < 60
    finally:
        rcv.stop()
    # The same bursts with telemetry off: the same answers.
    conn.stop()
    off = start(**otlp_env(rcv, OTEL_SDK_DISABLED="true", ENV_LEVEL="debug"))
    assert "otlp: exporting" not in off.text()
    assert burst(edge, up, 250) == [200] * 250


def test_tls_private_ca(stack, pki, tmp_path):
    """https to a collector whose certificate only a private CA vouches for."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path), cert=f"{pki}/edge.pem", key=f"{pki}/edge.key")
    try:
        start(**otlp_env(rcv, OTEL_EXPORTER_OTLP_CERTIFICATE=f"{pki}/ca.pem"))
        assert burst(edge, up, 3) == [200] * 3
        last_metrics(rcv, lambda r: ok_requests(r) == 3)
    finally:
        rcv.stop()


def test_tls_wrong_ca_is_an_error_not_a_crash(stack, pki, tmp_path_factory, tmp_path):
    up, edge, start = stack
    other = dev_pki(str(tmp_path_factory.mktemp("other-pki")), "beta")
    rcv = Receiver(str(tmp_path), cert=f"{pki}/edge.pem", key=f"{pki}/edge.key")
    try:
        conn = start(**otlp_env(rcv, OTEL_EXPORTER_OTLP_CERTIFICATE=f"{other}/ca.pem"))
        assert wait_until(lambda: "certificate not trusted" in conn.text(), 15), conn.text()[-2000:]
        assert metric_value(conn.health_port, "outpost_otlp_exports_total",
                            'signal="metrics",result="retry"') >= 1
        assert conn.alive()
        assert burst(edge, up, 10) == [200] * 10
        assert rcv.records() == []
    finally:
        rcv.stop()


def test_export_through_squid(stack, pki, tmp_path):
    """EGRESS_PROXY_URL carries the telemetry too: squid logs the exports
    (plain http: the absolute form) and the receiver gets them."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path))
    try:
        with Squid(edge.tport, http_port=rcv.port) as sq:
            start(**otlp_env(rcv, EGRESS_PROXY_URL=f"http://127.0.0.1:{sq.port}"))
            assert burst(edge, up, 4) == [200] * 4
            last_metrics(rcv, lambda r: ok_requests(r) == 4)
            assert wait_until(lambda: any(f"127.0.0.1:{rcv.port}/v1/metrics" in l
                                          for l in sq.log()), 10), sq.log()
            assert any(r["headers"].get("via") for r in rcv.records())
    finally:
        rcv.stop()


def test_tls_client_certificate(stack, pki, tmp_path):
    """A collector that wants a client certificate gets the configured one."""
    up, edge, start = stack
    rcv = Receiver(str(tmp_path), "--client-ca", f"{pki}/ca.pem",
                   cert=f"{pki}/edge.pem", key=f"{pki}/edge.key")
    try:
        start(**otlp_env(rcv, OTEL_EXPORTER_OTLP_CERTIFICATE=f"{pki}/ca.pem",
                         OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=f"{pki}/connector-alpha.pem",
                         OTEL_EXPORTER_OTLP_CLIENT_KEY=f"{pki}/connector-alpha.key"))
        assert burst(edge, up, 2) == [200] * 2
        rec = last_metrics(rcv, lambda r: ok_requests(r) == 2)
        assert "spiffe://" in rec["client_cert"] and "connector/alpha" in rec["client_cert"]
    finally:
        rcv.stop()


@pytest.mark.parametrize("bad,key", [
    (dict(OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent/ca.pem"), "OTEL_EXPORTER_OTLP_CERTIFICATE"),
    (dict(OTEL_EXPORTER_OTLP_CERTIFICATE="GARBAGE"), "OTEL_EXPORTER_OTLP_CERTIFICATE"),
    (dict(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="GARBAGE",
          OTEL_EXPORTER_OTLP_CLIENT_KEY="KEY"), "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
    (dict(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="CERT",
          OTEL_EXPORTER_OTLP_CLIENT_KEY="GARBAGE"), "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
])
def test_check_config_reports_the_collector_tls_files(bad, key, pki, outpost_bin, tmp_path):
    """What otel_new refuses at run, check-config reports (one validation
    path: cfg_otel_tls), naming the setting, never the key's bytes; with no
    https endpoint the files are not used, by either."""
    from conftest import base_env, run
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("TOPSECRETKEYBYTES not a PEM\n")
    files = {"GARBAGE": str(garbage), "CERT": f"{pki}/connector-alpha.pem",
             "KEY": f"{pki}/connector-alpha.key"}
    env = {k: files.get(v, v) for k, v in bad.items()}
    base = dict(TRAVERSAL_CONTROLLER_URL="https://edge.example", **env)
    r = run([outpost_bin, "check-config"],
            env=base_env(OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:4318", **base))
    assert r.returncode == 100, r
    assert f"environment: {key}: " in r.stderr, r.stderr
    assert "TOPSECRETKEYBYTES" not in r.stdout + r.stderr
    r = run([outpost_bin, "check-config"],
            env=base_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", **base))
    assert r.returncode == 0, r
