"""Drop-in parity with the anchor connector's newer settings (issue 18 item
4): TRAVERSAL_CONNECTOR_ID as the X-Traversal-Connector-ID header of the
Tunnel call (seen by the grpc-js controller and by outpost-edge), PEM text
in the *_BASE64 settings, Go-style fractional durations, and the telemetry
settings, all implemented (issue #15)."""
import os
import re

import pytest

from conftest import base_env, free_port, run, wait_until
from controllerlib import Controller, make_pki
from edgelib import Edge, connector, dev_pki
from tunnellib import connector_env, readyz, start_connector, wait_tunnels


def check(outpost_bin, **settings):
    return run([outpost_bin, "check-config", "--print"], env=base_env(**settings))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def h2c():
    with Controller() as c:
        yield c


@pytest.fixture
def mtls(pki):
    with Controller(tls=True, pki=pki) as c:
        yield c


# --- TRAVERSAL_CONNECTOR_ID ----------------------------------------------

def test_connector_id_is_a_header_of_every_tunnel_call(h2c, spawn, outpost_bin):
    ident = "acme-prod_01:conn.A/7"
    start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=2,
                                                      TRAVERSAL_CONNECTOR_ID=ident))
    wait_tunnels(h2c, 2)
    opened = [e for e in h2c.events if e["event"] == "tunnel_open"]
    assert [t["connector_id"] for t in opened] == [[ident], [ident]]
    assert all(t["capabilities"] == ["enroll,renew,stream"] for t in opened)


def test_no_connector_id_no_header(h2c, spawn, outpost_bin):
    start_connector(spawn, outpost_bin, connector_env(h2c, MAX_TUNNELS_ALLOWED=1))
    assert h2c.wait_tunnel()["connector_id"] == []


def test_outpost_edge_sees_the_connector_id(outpost_bin, outpost_edge_bin, tmp_path):
    d = dev_pki(str(tmp_path / "pki"), "alpha")
    edge = Edge(outpost_edge_bin, str(tmp_path), d)
    conn = None
    try:
        conn = connector(outpost_bin, str(tmp_path), edge, d, "alpha",
                         TRAVERSAL_CONNECTOR_ID="0b6f3c1e-alpha")
        st = edge.wait_tunnels("alpha", 2)
        assert [t["connector_id"] for t in st["tunnels"]] == ["0b6f3c1e-alpha"] * 2
    finally:
        if conn:
            conn.stop()
        edge.stop()


@pytest.mark.parametrize("value,why", [
    ("acme prod", "byte 5 is not visible ASCII"),
    ("acme\tprod", "byte 5 is not visible ASCII"),
    ("caf\u00e9", "byte 4 is not visible ASCII"),
    ("x" * 129, "longer than 128 characters"),
])
def test_connector_id_refused_by_check_config_and_run(outpost_bin, value, why):
    env = base_env(TRAVERSAL_CONNECTOR_ID=value, HTTP_PORT=free_port(),
                   TRAVERSAL_CONTROLLER_URL="http://127.0.0.1:9")
    for argv in (["check-config"], ["run"]):
        r = run([outpost_bin, *argv], env=env)
        assert r.returncode == 100, r
        assert f"error: environment: TRAVERSAL_CONNECTOR_ID: {why}" in r.stderr, r.stderr


def test_connector_id_of_128_characters_passes(outpost_bin):
    r = check(outpost_bin, TRAVERSAL_CONNECTOR_ID="x" * 128)
    assert r.returncode == 0, r


# --- PEM text in *_BASE64 ------------------------------------------------

def pem_env(pki, client="test"):
    def text(name):
        with open(os.path.join(pki, name)) as f:
            return f.read()
    return dict(TLS_CERT_BASE64=text(f"client-{client}.pem"),
                TLS_KEY_BASE64=text(f"client-{client}.key"),
                TLS_CA_BASE64=text("ca.pem"))


def test_pem_text_in_base64_settings_opens_mtls_tunnels(mtls, pki, spawn, outpost_bin):
    env = connector_env(mtls, pki, MAX_TUNNELS_ALLOWED=1)
    for k in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"):
        del env[k]
    env.update(pem_env(pki))
    p = start_connector(spawn, outpost_bin, env)
    t = mtls.wait_tunnel()
    assert t["uris"] == ["spiffe://outpost.test/connector/test"]
    assert wait_until(lambda: readyz(p.health_port)[0] == 200, 5)


def test_broken_pem_text_is_reported_without_the_value(outpost_bin, pki):
    env = pem_env(pki)
    env["TLS_KEY_BASE64"] = ("-----BEGIN EC PRIVATE KEY-----\nTOPSECRETKEYBYTES\n"
                             "-----END EC PRIVATE KEY-----\n")
    r = check(outpost_bin, TRAVERSAL_CONTROLLER_URL="https://127.0.0.1:9", **env)
    assert r.returncode == 100, r
    assert "error: environment: TLS_KEY_BASE64: " in r.stderr
    assert "TOPSECRETKEYBYTES" not in r.stdout + r.stderr
    assert "BEGIN CERTIFICATE" not in r.stdout + r.stderr


# --- fractional durations --------------------------------------------------

def test_fractional_durations_are_accepted(outpost_bin):
    r = check(outpost_bin, RECONNECT_INTERVAL="1.5s", DRAIN_TIMEOUT="0.5m",
              REQUEST_TIMEOUT="1m0.25s", KEEPALIVE_INTERVAL="0.75h")
    assert r.returncode == 0, r
    assert "RECONNECT_INTERVAL=1.5s  # environment" in r.stdout


@pytest.mark.parametrize("key,inside,outside,bounds", [
    ("HEALTH_HEADER_TIMEOUT", "0.1s", "0.099s", "100ms..5m"),
    ("KEEPALIVE_INTERVAL", "1.0h", "1.001h", "1s..1h"),
    ("DRAIN_TIMEOUT", "9.5m", "10.5m", "0s..10m"),
])
def test_fractional_durations_meet_the_bounds_exactly(outpost_bin, key, inside, outside, bounds):
    assert check(outpost_bin, **{key: inside}).returncode == 0
    r = check(outpost_bin, **{key: outside})
    assert r.returncode == 100, r
    assert f"environment: {key}: out of range ({bounds})" in r.stderr


@pytest.mark.parametrize("value", ["0.0001s", "1.5", "-1.5s", "1..5s"])
def test_bad_fractional_durations_are_refused(outpost_bin, value):
    r = check(outpost_bin, DRAIN_TIMEOUT=value)
    assert r.returncode == 100, r
    assert f'environment: DRAIN_TIMEOUT: invalid duration "{value}"' in r.stderr


# --- telemetry settings: accepted and implemented ------------------------

def test_telemetry_settings_are_accepted_as_implemented(outpost_bin):
    """The anchor's telemetry settings are read and implemented (issue #15):
    accepted without a "not implemented" warning; a bad value is an error."""
    r = check(outpost_bin, OTEL_SERVICE_NAME="traversal-connector",
              OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod",
              OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:4318/v1/metrics",
              OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:4318/v1/traces",
              OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="http://127.0.0.1:4318/v1/logs",
              OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
              TRAVERSAL_DISABLE_TELEMETRY="true")
    assert r.returncode == 0, r
    assert "not implemented" not in r.stderr, r.stderr
    r = check(outpost_bin, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert r.returncode == 100 and "OTEL_EXPORTER_OTLP_PROTOCOL" in r.stderr, r
    r = check(outpost_bin, TRAVERSAL_DISABLE_TELEMETRY="maybe")
    assert r.returncode == 100 and "TRAVERSAL_DISABLE_TELEMETRY: invalid bool" in r.stderr


# --- docs/migrating.md covers every anchor setting ----------------------------

# The anchor connector's settings (its current release; /work/shared/FACTS.md
# and the reference documents).
ANCHOR = """ENV_NAME ENV_LEVEL HTTP_PORT ENV_FILE TRAVERSAL_CONTROLLER_URL MAX_TUNNELS_ALLOWED
MAX_CONCURRENT_REQUESTS RECONNECT_INTERVAL MAX_BACKOFF_DELAY REQUEST_TIMEOUT
MAX_REQUEST_BODY_SIZE_MB MAX_RESPONSE_BODY_SIZE_MB MAX_DECODED_RESPONSE_BODY_SIZE_MB
EGRESS_PROXY_URL HTTPS_PROXY HTTP_PROXY NO_PROXY TRAVERSAL_CONNECTOR_ID TLS_CERT_BASE64
TLS_KEY_BASE64 TLS_CA_BASE64 TLS_SERVER_NAME UPSTREAM_TLS_VERIFY UPSTREAM_TLS_CA_BASE64
UPSTREAM_TLS_CA_FILE REDACTION_RULES_FILE REDACTION_RELOAD_INTERVAL OTEL_SERVICE_NAME
OTEL_RESOURCE_ATTRIBUTES OTEL_EXPORTER_OTLP_METRICS_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
OTEL_EXPORTER_OTLP_LOGS_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL TRAVERSAL_DISABLE_TELEMETRY""".split()

MIGRATING = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "migrating.md")


def test_migrating_lists_every_anchor_setting_truthfully(outpost_bin):
    """Each anchor setting has a row; a row that names an outpost setting
    names a real one, and one saying *not yet* names no setting we have."""
    r = run([outpost_bin, "check-config", "--markdown"], env=base_env())
    ours = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", r.stdout, re.M))
    rows = [l for l in open(MIGRATING).read().splitlines() if l.startswith("| `")]
    for name in ANCHOR:
        row = next((l for l in rows if f"`{name}`" in l.split("|")[1]), None)
        assert row, f"docs/migrating.md has no row for {name}"
        if "*not yet*" in row.split("|")[2]:
            assert name not in ours, f"{name} is a setting now: update its row"
        else:
            assert name in ours, f"{name}: migrating.md names it, the table has no such setting"
