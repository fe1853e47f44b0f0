"""W3C trace context end to end (#15 item 4) and exemplars (item 6).

The connector runs against the independent grpc-js controller, which puts
traceparent / tracestate fields in the HttpRequest it sends, and a real
nginx upstream that logs the traceparent and tracestate it receives
(Nginx(trace_log=True)): the upstream sees the incoming trace continued
under a new span id (the executor's span), never the controller's own
parent id, and a fresh sampled trace when the request carries none or an
invalid one.
"""
import base64
import os
import re

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from conftest import wait_until
from controllerlib import Controller
from test_telemetry import scrape
from tunnellib import ask, connector_env, start_connector
from upstream import Nginx

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


@pytest.fixture
def nginx(tmp_path):
    with Nginx(tmp_path / "nginx", trace_log=True) as n:
        yield n


@pytest.fixture
def h2c():
    with Controller() as c:
        yield c


def connect(h2c, spawn, outpost_bin, **settings):
    p = start_connector(spawn, outpost_bin,
                        connector_env(h2c, MAX_TUNNELS_ALLOWED=1, **settings))
    return p, h2c.wait_tunnel()["tunnel"]


def seen(nginx, path, method="GET", h2c=None, tunnel=None, headers=()):
    """Send one request to nginx through the tunnel; (trace, span, flags, tracestate)
    nginx got for it."""
    msg = ask(h2c, tunnel, method, nginx.url(path), headers=headers)
    assert "http_response" in msg, msg
    assert wait_until(lambda: any(r[0] == path for r in nginx.traceparents()), 5)
    uri, tp, ts = [r for r in nginx.traceparents() if r[0] == path][-1]
    m = TP_RE.match(tp)
    assert m, tp
    return m.group(1), m.group(2), m.group(3), ts


def test_joins_the_incoming_trace(h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin)
    nginx.write("a.txt", b"a")
    trace, span, flags, ts = seen(
        nginx, "/a.txt", h2c=h2c, tunnel=t,
        headers=[("traceparent", f"00-{TRACE}-{PARENT}-01"), ("tracestate", "rojo=00f0,congo=t61")])
    assert trace == TRACE
    assert span not in (PARENT, "0" * 16)  # the executor's own span
    assert flags == "01"
    assert ts == "rojo=00f0,congo=t61"  # passed on unchanged


def test_unsampled_parent_stays_unsampled(h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin)
    nginx.write("b.txt", b"b")
    trace, span, flags, _ = seen(nginx, "/b.txt", h2c=h2c, tunnel=t,
                                 headers=[("TraceParent", f"00-{TRACE}-{PARENT}-00")])
    assert (trace, flags) == (TRACE, "00") and span != PARENT


@pytest.mark.parametrize("bad", [
    f"00-{TRACE.upper()}-{PARENT}-01",          # uppercase hex
    f"00-{'0' * 32}-{PARENT}-01",               # all-zero trace id
    f"00-{TRACE}-{PARENT}-01-extra",            # version 00 with more after it
    f"ff-{TRACE}-{PARENT}-01",                  # version ff
])
def test_invalid_traceparent_starts_a_new_trace(bad, h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin)
    nginx.write("c.txt", b"c")
    trace, span, flags, ts = seen(nginx, "/c.txt", h2c=h2c, tunnel=t,
                                  headers=[("traceparent", bad), ("tracestate", "rojo=1")])
    assert trace not in (TRACE, "0" * 32) and flags == "01"
    assert ts == "-"  # W3C: the tracestate of an invalid traceparent goes with it


def test_two_traceparents_start_a_new_trace(h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin)
    nginx.write("d.txt", b"d")
    tp = f"00-{TRACE}-{PARENT}-01"
    trace, _, _, _ = seen(nginx, "/d.txt", h2c=h2c, tunnel=t,
                          headers=[("traceparent", tp), ("traceparent", tp)])
    assert trace != TRACE


def test_future_version_is_continued_as_version_00(h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin)
    nginx.write("e.txt", b"e")
    trace, _, flags, _ = seen(nginx, "/e.txt", h2c=h2c, tunnel=t,
                              headers=[("traceparent", f"cc-{TRACE}-{PARENT}-01-future")])
    assert (trace, flags) == (TRACE, "01")


def test_without_traceparent_each_request_starts_a_trace(h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin)
    nginx.write("f.txt", b"f")
    nginx.write("g.txt", b"g")
    a = seen(nginx, "/f.txt", h2c=h2c, tunnel=t)
    b = seen(nginx, "/g.txt", h2c=h2c, tunnel=t)
    assert a[0] != b[0] and a[2] == b[2] == "01"  # parentbased_always_on: roots sampled


@pytest.mark.parametrize("sampler", [dict(OTEL_TRACES_SAMPLER="always_off"),
                                     dict(OTEL_TRACES_SAMPLER="traceidratio",
                                          OTEL_TRACES_SAMPLER_ARG="0")])
def test_sampler_drops_and_says_so(sampler, h2c, nginx, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin, **sampler)
    nginx.write("h.txt", b"h")
    trace, _, flags, _ = seen(nginx, "/h.txt", h2c=h2c, tunnel=t)
    assert flags == "00"  # the upstream is told the trace is not sampled


def test_openmetrics_exemplar_names_the_trace(h2c, nginx, spawn, outpost_bin):
    p, t = connect(h2c, spawn, outpost_bin)
    nginx.write("i.txt", b"i")
    seen(nginx, "/i.txt", h2c=h2c, tunnel=t,
         headers=[("traceparent", f"00-{TRACE}-{PARENT}-01")])
    _, _, body = scrape(p.health_port, "application/openmetrics-text")
    fams = {f.name: f for f in om_parse(body)}  # strict: exemplars included
    ex = [s.exemplar for s in fams["outpost_upstream_seconds"].samples
          if s.name.endswith("_bucket") and s.exemplar is not None]
    assert len(ex) == 1, body
    assert ex[0].labels["trace_id"] == TRACE
    assert re.fullmatch("[0-9a-f]{16}", ex[0].labels["span_id"])
    assert ex[0].labels["span_id"] != PARENT
    # The Prometheus text format has no exemplars.
    _, _, text = scrape(p.health_port, "text/plain")
    assert TRACE not in text


# --- the spans, exported over OTLP to the independent receiver (test_otlp.py) ---

def spans_of(rcv):
    """Every span exported so far: {spanId: span} (OTLP JSON mapping, ids hex)."""
    out = {}
    for r in rcv.records("traces"):
        for rs in r.get("body", {}).get("resourceSpans", []):
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    out[s["spanId"]] = s
    return out


def spans_resources(rcv):
    """{spanId: the service.name values of its resource}."""
    out = {}
    for r in rcv.records("traces"):
        for rs in r.get("body", {}).get("resourceSpans", []):
            names = {a["value"].get("stringValue") for a in rs["resource"].get("attributes", [])
                     if a["key"] == "service.name"}
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    out[s["spanId"]] = names
    return out


def span_attrs(s):
    return {a["key"]: next(iter(a["value"].values())) for a in s.get("attributes", [])}


@pytest.fixture
def receiver(tmp_path):
    from test_otlp import Receiver
    r = Receiver(str(tmp_path))
    yield r
    r.stop()


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_spans_exported_with_parent_and_child(protocol, h2c, nginx, receiver, spawn,
                                              outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=
                   receiver.url + "/v1/traces", OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                   OTEL_BSP_SCHEDULE_DELAY="200")
    nginx.write("j.txt", b"jjj")
    marks = ["MARKPATH7f3a", "MARKQUERY91c2", "MARKHDR5d0e", "MARKBODY22b8"]
    path = f"/j.txt?{marks[1]}=1"
    nginx.write(f"{marks[0]}.txt", b"x")
    msg = ask(h2c, t, "POST", nginx.url(f"/{marks[0]}.txt?q={marks[1]}"),
              headers=[("traceparent", f"00-{TRACE}-{PARENT}-01"), ("X-Mark", marks[2])],
              body=marks[3].encode())
    assert "http_response" in msg
    trace, up_id, _, _ = seen(nginx, path, h2c=h2c, tunnel=t,
                              headers=[("traceparent", f"00-{TRACE}-{PARENT}-01"),
                                       ("tracestate", "rojo=1")])
    assert wait_until(lambda: up_id in spans_of(receiver), 10), receiver.records()
    spans = spans_of(receiver)
    up = spans[up_id]  # the span nginx was named in its traceparent
    assert up["name"] == "executor.upstream_http" and up["traceId"] == TRACE
    handle = spans[up["parentSpanId"]]
    assert handle["name"] == "connector.handle_http_request"
    assert handle["parentSpanId"] == PARENT and handle["traceId"] == TRACE
    assert handle["traceState"] == up["traceState"] == "rojo=1"
    kinds = {handle["kind"], up["kind"]}
    assert kinds in ({"SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"}, {2, 3}), kinds
    a = span_attrs(up)
    assert a["http.request.method"] == "GET"
    assert a["server.address"] == "127.0.0.1"
    assert int(a["server.port"]) == nginx.port
    assert int(a["http.response.status_code"]) == 200
    assert int(a["http.response.body.size"]) == 3
    assert "error.type" not in a
    assert int(span_attrs(handle)["http.response.status_code"]) == 200
    assert int(up["startTimeUnixNano"]) >= int(handle["startTimeUnixNano"])
    assert int(up["endTimeUnixNano"]) <= int(handle["endTimeUnixNano"])
    # The POST with markers in path, query, header and body: exported
    # (both spans), and none of its data in any exported byte.
    posts = [s for s in spans.values() if span_attrs(s).get("http.request.method") == "POST"]
    assert len(posts) == 2 and all(int(span_attrs(s)["http.request.body.size"]) == len(marks[3])
                                   for s in posts)
    for r in receiver.records("traces"):
        raw = base64.b64decode(r["raw_b64"])
        for m in marks:
            assert m.encode() not in raw, m


def test_failed_request_span_names_the_typed_reason(h2c, receiver, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                   OTEL_BSP_SCHEDULE_DELAY="200")
    from conftest import free_port
    msg = ask(h2c, t, "GET", f"http://127.0.0.1:{free_port()}/x",
              headers=[("traceparent", f"00-{TRACE}-{PARENT}-01")])
    assert "error_response" in msg, msg
    def requests():  # not the tunnel's own lifecycle spans
        return [s for s in spans_of(receiver).values() if not s["name"].startswith("tunnel.")]
    assert wait_until(lambda: len(requests()) >= 2, 10), receiver.records()
    for s in requests():
        assert span_attrs(s)["error.type"] == "refused", s
        assert s["status"]["code"] in ("STATUS_CODE_ERROR", 2)


# --- the edge's front door: one trace from the client to the upstream ---

def test_front_door_to_upstream_is_one_trace(outpost_bin, outpost_edge_bin, nginx, receiver,
                                             tmp_path):
    from edgelib import Edge, connector, dev_pki
    pki = dev_pki(str(tmp_path / "pki"), "alpha")
    edge = Edge(outpost_edge_bin, str(tmp_path), pki, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                OTEL_BSP_SCHEDULE_DELAY="200", OTEL_SERVICE_NAME="the-edge")
    procs = [edge]
    try:
        procs.append(connector(outpost_bin, str(tmp_path), edge, pki, "alpha",
                               OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                               OTEL_BSP_SCHEDULE_DELAY="200"))
        edge.wait_tunnels("alpha", 1)
        nginx.write("k.txt", b"k")
        s, _, _ = edge.proxy("alpha", f"127.0.0.1:{nginx.port}/k.txt",
                             headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
        assert s == 200
        assert wait_until(lambda: any(r[0] == "/k.txt" for r in nginx.traceparents()), 5)
        tp = [r for r in nginx.traceparents() if r[0] == "/k.txt"][-1][1]
        trace, up_id, flags = TP_RE.match(tp).groups()
        assert (trace, flags) == (TRACE, "01")
        assert wait_until(lambda: up_id in spans_of(receiver), 10), receiver.records()
        spans = spans_of(receiver)
        handle = spans[spans[up_id]["parentSpanId"]]
        # The connector's span is the child of the edge's front-door span
        # (the HttpRequest's traceparent), itself the client's child.
        assert handle["parentSpanId"] not in (PARENT, "", None)
        assert handle["traceId"] == TRACE
        assert wait_until(lambda: handle["parentSpanId"] in spans_of(receiver), 10)
        door = spans_of(receiver)[handle["parentSpanId"]]
        assert door["name"] == "edge.front_door" and door["traceId"] == TRACE
        assert door["parentSpanId"] == PARENT
        assert door["kind"] in ("SPAN_KIND_SERVER", 2)
        a = span_attrs(door)
        assert a["http.request.method"] == "GET"
        assert int(a["http.response.status_code"]) == 200
        assert int(door["startTimeUnixNano"]) <= int(handle["startTimeUnixNano"])
        assert "the-edge" in spans_resources(receiver)[door["spanId"]]
        # Without a traceparent the edge starts the trace, sampled.
        nginx.write("l.txt", b"l")
        s, _, _ = edge.proxy("alpha", f"127.0.0.1:{nginx.port}/l.txt")
        assert s == 200
        assert wait_until(lambda: any(r[0] == "/l.txt" for r in nginx.traceparents()), 5)
        tp = [r for r in nginx.traceparents() if r[0] == "/l.txt"][-1][1]
        trace2, up2, flags2 = TP_RE.match(tp).groups()
        assert trace2 != TRACE and flags2 == "01"
        # The edge's span is that trace's root.
        assert wait_until(lambda: up2 in spans_of(receiver), 10)
        handle2 = spans_of(receiver)[spans_of(receiver)[up2]["parentSpanId"]]
        assert wait_until(lambda: handle2["parentSpanId"] in spans_of(receiver), 10)
        door2 = spans_of(receiver)[handle2["parentSpanId"]]
        assert door2["name"] == "edge.front_door" and door2["traceId"] == trace2
        assert door2.get("parentSpanId", "") == ""
        # A client's tracestate goes on with its trace only: with an
        # invalid traceparent the edge starts a trace and drops it.
        nginx.write("m.txt", b"m")
        for tp_in, want in ((f"00-{TRACE}-{PARENT}-01", "rojo=1"), ("00-bad", "-")):
            s, _, _ = edge.proxy("alpha", f"127.0.0.1:{nginx.port}/m.txt",
                                 headers={"traceparent": tp_in, "tracestate": "rojo=1"})
            assert s == 200
            assert wait_until(lambda: [r for r in nginx.traceparents() if r[0] == "/m.txt"], 5)
            assert [r for r in nginx.traceparents() if r[0] == "/m.txt"][-1][2] == want
            open(os.path.join(nginx.dir, "trace.log"), "w").close()
    finally:
        for p in reversed(procs):
            p.stop()


# --- the tunnel's lifecycle: dial, handshake, open, drain as spans of their own ---

def lifecycle(rcv):
    """The lifecycle spans exported so far: [(name, span)], in start order."""
    out = [s for s in spans_of(rcv).values() if s["name"].startswith("tunnel.")]
    return sorted(((s["name"], s) for s in out), key=lambda p: int(p[1]["startTimeUnixNano"]))


def test_tunnel_lifecycle_spans(h2c, receiver, spawn, outpost_bin):
    _, t = connect(h2c, spawn, outpost_bin, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                   OTEL_BSP_SCHEDULE_DELAY="200")
    h2c.cmd(cmd="start_close", tunnel=t, request_id="c1")
    # The connection drains and closes; its replacement dials.
    assert wait_until(lambda: [n for n, _ in lifecycle(receiver)].count("tunnel.drain") >= 1
                      and [n for n, _ in lifecycle(receiver)].count("tunnel.dial") >= 2, 15), \
        receiver.records("traces")
    spans = [s for _, s in lifecycle(receiver)]
    first = [s for s in spans if s["traceId"] == spans[0]["traceId"]]
    names = [s["name"] for s in first]
    assert names == ["tunnel.dial", "tunnel.open", "tunnel.drain"], names  # h2c: no TLS
    dial, opened, drain = first
    assert dial.get("parentSpanId", "") == ""  # the connection's trace starts at its dial
    assert int(span_attrs(dial)["outpost.tunnel.connection"]) == 1
    assert opened["parentSpanId"] == drain["parentSpanId"] == dial["spanId"]
    for s in first:
        a = span_attrs(s)
        assert a["server.address"] == "127.0.0.1" and int(a["server.port"]) == h2c.port, a
        assert "error.type" not in a, a
        assert s["status"].get("code") in (None, 0, "STATUS_CODE_UNSET"), s
    assert span_attrs(drain)["outpost.drain.reason"] == "start_close"
    assert int(dial["endTimeUnixNano"]) <= int(opened["startTimeUnixNano"])
    assert int(opened["endTimeUnixNano"]) <= int(drain["startTimeUnixNano"])
    # The replacement is a connection, and a trace, of its own.
    assert [s for s in spans if s["name"] == "tunnel.dial" and s is not dial]


def test_failed_dial_span_names_the_reason(receiver, spawn, outpost_bin):
    from conftest import free_port
    port = free_port()  # nothing listens there
    env = dict(HTTP_PORT=free_port(), ENV_LEVEL="info", RECONNECT_INTERVAL="200ms",
               MAX_BACKOFF_DELAY="1s", TRAVERSAL_CONTROLLER_URL=f"http://127.0.0.1:{port}",
               OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="200")
    start_connector(spawn, outpost_bin, env)
    assert wait_until(lambda: len(lifecycle(receiver)) >= 2, 15), receiver.records("traces")
    for name, s in lifecycle(receiver):
        assert name == "tunnel.dial", name  # never further
        a = span_attrs(s)
        assert a["error.type"] == "refused" and int(a["server.port"]) == port, a
        assert s["status"]["code"] in ("STATUS_CODE_ERROR", 2)


def test_failed_handshake_span_names_the_reason(receiver, spawn, outpost_bin, tmp_path):
    from controllerlib import make_pki
    edge_pki = make_pki(tmp_path / "edge")
    other = make_pki(tmp_path / "other")  # the connector trusts another CA
    with Controller(tls=True, pki=edge_pki) as c:
        start_connector(spawn, outpost_bin, connector_env(
            c, other, MAX_TUNNELS_ALLOWED=1, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="200"))
        assert wait_until(lambda: "tunnel.handshake" in [n for n, _ in lifecycle(receiver)], 15), \
            receiver.records("traces")
    spans = lifecycle(receiver)
    hs = [s for n, s in spans if n == "tunnel.handshake"][0]
    dial = [s for n, s in spans if n == "tunnel.dial" and s["spanId"] == hs["parentSpanId"]][0]
    assert "error.type" not in span_attrs(dial)  # the dial itself worked
    assert span_attrs(hs)["error.type"] not in ("", None)
    assert hs["status"]["code"] in ("STATUS_CODE_ERROR", 2)
    assert "tunnel.open" not in [n for n, _ in spans]


def test_span_drops_are_counted(h2c, nginx, receiver, spawn, outpost_bin):
    """A full span queue (OTEL_BSP_MAX_QUEUE_SIZE=1: a request's two spans
    end together) drops the oldest span, counted with the exporter's own
    drops in outpost_otlp_dropped_total{signal="traces"}."""
    from test_otlp import metric_value
    p, t = connect(h2c, spawn, outpost_bin, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=
                   receiver.url + "/v1/traces", OTEL_BSP_MAX_QUEUE_SIZE="1",
                   OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1", OTEL_BSP_SCHEDULE_DELAY="100")
    nginx.write("n.txt", b"n")
    n = 5
    for i in range(n):
        assert "http_response" in ask(h2c, t, "GET", nginx.url("/n.txt"))
    assert wait_until(lambda: metric_value(p.health_port, "outpost_otlp_dropped_total",
                                           'signal="traces"') >= n, 10)
    assert wait_until(lambda: [s for s in spans_of(receiver).values()
                               if s["name"] == "connector.handle_http_request"], 10)
    exported = [s for s in spans_of(receiver).values() if not s["name"].startswith("tunnel.")]
    assert len(exported) <= n, exported  # one of each request's two spans got through


def test_span_export_timeout_abandons_the_batch(h2c, nginx, receiver, spawn, outpost_bin):
    """OTEL_BSP_EXPORT_TIMEOUT: a span batch whose export has not finished
    in time (a collector that does not answer) is abandoned and counted,
    long before OTEL_EXPORTER_OTLP_TIMEOUT would end the attempt."""
    from test_otlp import metric_value
    receiver.control(delay_ms=120000)  # accepts, never answers in time
    p, t = connect(h2c, spawn, outpost_bin, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=
                   receiver.url + "/v1/traces", OTEL_EXPORTER_OTLP_TIMEOUT="60000",
                   OTEL_BSP_EXPORT_TIMEOUT="500", OTEL_BSP_SCHEDULE_DELAY="100")
    nginx.write("o.txt", b"o")
    assert "http_response" in ask(h2c, t, "GET", nginx.url("/o.txt"))
    assert wait_until(lambda: metric_value(p.health_port, "outpost_otlp_dropped_total",
                                           'signal="traces"') >= 2, 8)
    assert metric_value(p.health_port, "outpost_otlp_exports_total",
                        'signal="traces",result="rejected"') >= 1
