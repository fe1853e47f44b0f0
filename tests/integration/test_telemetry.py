"""Telemetry (#15) against real consumers.

A real Prometheus server (Debian's `prometheus`, a throwaway config on
loopback, its own TSDB in a temp dir) scrapes the connector's health port
and the edge's /metrics; Prometheus asks for OpenMetrics first, so this
proves both endpoints' OpenMetrics through a real parser, and the values
through its query API.  promtool lints the text encoding of both endpoints
and prometheus_client's strict parser their OpenMetrics.
"""
import http.client
import json
import os
import subprocess
import urllib.parse

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from conftest import free_port, port_answers, wait_until
from edgelib import Edge, Proc, Upstream, connector, dev_pki

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
# What Prometheus 2.x sends (scrape/scrape.go, acceptHeader).
PROM_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return dev_pki(str(tmp_path_factory.mktemp("pki")), "alpha")


@pytest.fixture
def stack(outpost_bin, outpost_edge_bin, pki, tmp_path):
    """upstream, edge, connector alpha with its two tunnels up."""
    up = Upstream()
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    procs = [edge]
    try:
        conn = connector(outpost_bin, str(tmp_path), edge, pki, "alpha")
        procs.append(conn)
        edge.wait_tunnels("alpha", 2)
        yield up, edge, conn
    finally:
        for p in reversed(procs):
            p.stop()
        up.stop()


def scrape(port, accept=None, token=None):
    h = {}
    if accept is not None:
        h["Accept"] = accept
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/metrics", headers=h)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def promtool(text):
    return subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=30)


class Prometheus:
    """prometheus on a free loopback port scraping the given targets every 500 ms."""

    def __init__(self, tmp, connector_port, edge_port, edge_token_file):
        self.port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"""global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: connector
    static_configs:
      - targets: ["127.0.0.1:{connector_port}"]
  - job_name: edge
    authorization:
      type: Bearer
      credentials_file: {edge_token_file}
    static_configs:
      - targets: ["127.0.0.1:{edge_port}"]
""")
        data = os.path.join(tmp, "tsdb")
        os.mkdir(data)
        self.proc = Proc(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                          f"--web.listen-address=127.0.0.1:{self.port}"],
                         {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp},
                         os.path.join(tmp, "prometheus.log"))
        # The port answers before the TSDB is open; until then the query API
        # says 503 "Service Unavailable".  /-/ready is 200 once it serves.
        if not wait_until(lambda: not self.proc.alive() or self.ready(), 30, 0.1):
            raise AssertionError("prometheus did not start:\n" + self.proc.text()[-3000:])
        assert self.proc.alive(), self.proc.text()[-3000:]

    def ready(self):
        if not port_answers(self.port):
            return False
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/-/ready")
            r = c.getresponse()
            r.read()
            return r.status == 200
        except OSError:
            return False
        finally:
            c.close()

    def api(self, path, **params):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", f"/api/v1/{path}?" + urllib.parse.urlencode(params))
            r = c.getresponse()
            doc = json.loads(r.read())
        finally:
            c.close()
        assert doc["status"] == "success", doc
        return doc["data"]

    def value(self, query):
        """The single sample of an instant query, or None when there is none."""
        res = self.api("query", query=query)["result"]
        return float(res[0]["value"][1]) if len(res) == 1 else None

    def wait_value(self, query, pred, timeout=15):
        v = wait_until(lambda: (lambda x: x if x is not None and pred(x) else None)(
            self.value(query)), timeout, 0.2)
        assert v is not None, f"{query}: {self.value(query)}\n" + self.proc.text()[-2000:]
        return v

    def stop(self):
        self.proc.stop()


def test_metrics_content_negotiation(stack):
    _, edge, conn = stack
    for port, token in ((conn.health_port, None), (edge.aport, edge.token)):
        st, ct, body = scrape(port, None, token)
        assert st == 200 and ct == TEXT and "# EOF" not in body
        st, ct, body = scrape(port, PROM_ACCEPT, token)
        assert st == 200 and ct == OM and body.endswith("# EOF\n")
        # q decides: text preferred over OpenMetrics here.
        st, ct, _ = scrape(port, "application/openmetrics-text;q=0.2, text/plain", token)
        assert st == 200 and ct == TEXT


def test_openmetrics_rules(stack):
    _, edge, conn = stack
    _, _, body = scrape(conn.health_port, "application/openmetrics-text")
    fams = {f.name: f for f in om_parse(body)}  # strict: raises on any violation
    assert fams["outpost_requests"].type == "counter"
    assert "# TYPE outpost_requests counter\n" in body
    assert 'outpost_requests_total{outcome="ok"} 0' in body
    assert fams["outpost_upstream_seconds"].unit == "seconds"
    assert fams["process_resident_memory_bytes"].unit == "bytes"
    assert fams["outpost_build"].type == "info"
    assert fams["outpost_tunnels_up"].samples[0].value == 2
    _, _, body = scrape(edge.aport, "application/openmetrics-text", edge.token)
    efams = {f.name: f for f in om_parse(body)}
    assert efams["outpost_session_bytes"].unit == "bytes"
    assert efams["outpost_sessions"].type == "counter"


def test_promtool_accepts_the_text_encoding(stack):
    """promtool 2.42 (Debian) lints the Prometheus text format only: given
    OpenMetrics it stops at the first `info` type, so the OpenMetrics
    encoding is checked by the strict parser above and by Prometheus
    itself scraping it (below)."""
    _, edge, conn = stack
    for port, token in ((conn.health_port, None), (edge.aport, edge.token)):
        _, ct, body = scrape(port, "text/plain", token)
        assert ct == TEXT
        r = promtool(body)
        assert r.returncode == 0, (port, r.stdout, r.stderr)


def test_real_prometheus_scrapes_connector_and_edge(stack, tmp_path):
    up, edge, conn = stack
    tok = os.path.join(str(tmp_path), "edge-token")  # written by Edge()
    prom = Prometheus(str(tmp_path), conn.health_port, edge.aport, tok)
    try:
        prom.wait_value('up{job="connector"}', lambda v: v == 1)
        prom.wait_value('up{job="edge"}', lambda v: v == 1)
        assert prom.wait_value('outpost_tunnels_up{job="connector"}', lambda v: v == 2) == 2
        # It negotiated OpenMetrics with both: the metadata carries the units
        # and the OpenMetrics family names.
        md = prom.api("targets/metadata", match_target='{job="connector"}',
                      metric="outpost_upstream_seconds")
        assert [(m["type"], m["unit"]) for m in md] == [("histogram", "seconds")], md
        md = prom.api("targets/metadata", match_target='{job="edge"}',
                      metric="outpost_session_bytes")
        assert [(m["type"], m["unit"]) for m in md] == [("counter", "bytes")], md
        n = 7
        for i in range(n):
            s, _, _ = edge.proxy("alpha", f"{up.hostport}/slow/300")
            assert s == 200
        assert prom.wait_value('outpost_requests_total{job="connector",outcome="ok"}',
                               lambda v: v >= n) == n
        q = prom.wait_value('histogram_quantile(0.5, sum by (le) '
                            '(outpost_upstream_seconds_bucket{job="connector"}))',
                            lambda v: v == v)  # not NaN
        # Every request took 300 ms at the upstream: the bucket (0.25, 0.5].
        assert 0.25 < q <= 0.5, q
        assert prom.value('outpost_sessions_open{job="edge"}') == 0
    finally:
        prom.stop()


# --- the OTEL_* settings on the one validation path (issue #15 item 1) ---

def check_config(outpost_bin, *args, **env):
    from conftest import base_env, run
    return run([outpost_bin, "check-config", *args], env=base_env(**env))


def test_otel_settings_valid_are_accepted(outpost_bin, tmp_path):
    r = check_config(outpost_bin, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
                     OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                     OTEL_EXPORTER_OTLP_HEADERS="api-key=sekrit-marker-1,x-b=a%20b",
                     OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod, team=edge",
                     OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                     OTEL_TRACES_SAMPLER_ARG="0.25", OTEL_SDK_DISABLED="false")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in out  # the exporter implements it
    assert "sekrit-marker-1" not in out
    p = check_config(outpost_bin, "--print", OTEL_EXPORTER_OTLP_HEADERS="api-key=sekrit-marker-1")
    assert "sekrit-marker-1" not in p.stdout + p.stderr
    assert "OTEL_EXPORTER_OTLP_HEADERS" in p.stdout


def test_otel_settings_invalid_are_refused_by_name(outpost_bin, tmp_path):
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    r = check_config(outpost_bin, OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
                     OTEL_EXPORTER_OTLP_HEADERS="api-key=sekrit-marker-2,broken",
                     OTEL_RESOURCE_ATTRIBUTES="a=b,c=d%zz",
                     OTEL_TRACES_SAMPLER="sometimes",
                     OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=str(cert),
                     OTEL_BSP_MAX_QUEUE_SIZE="10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="20",
                     OTEL_EXPORTER_OTLP_TIMEOUT="0")
    assert r.returncode == 100
    out = r.stdout + r.stderr
    assert 'OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported' in out
    assert "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value" in out
    assert "OTEL_RESOURCE_ATTRIBUTES: entry 2 is not key=value" in out
    assert 'OTEL_TRACES_SAMPLER: "sometimes" is not a sampler' in out
    assert "OTEL_EXPORTER_OTLP_CLIENT_KEY go together" in out
    assert "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (20) exceeds OTEL_BSP_MAX_QUEUE_SIZE (10)" in out
    assert "OTEL_EXPORTER_OTLP_TIMEOUT" in out
    assert "sekrit-marker-2" not in out


def test_otel_header_values_stay_one_line(outpost_bin):
    """A percent-encoded CR LF in a header value would inject a header."""
    r = check_config(outpost_bin, OTEL_EXPORTER_OTLP_HEADERS="a=b,x=sekrit%0D%0AInjected:%201")
    assert r.returncode == 100
    out = r.stdout + r.stderr
    assert "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value" in out
    assert "sekrit" not in out


def test_otel_endpoint_credentials_refused(outpost_bin):
    r = check_config(outpost_bin, OTEL_EXPORTER_OTLP_ENDPOINT="http://u:sekrit@127.0.0.1:4318")
    assert r.returncode == 100
    out = r.stdout + r.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT: credentials in the URL are not supported" in out
    assert "sekrit" not in out
