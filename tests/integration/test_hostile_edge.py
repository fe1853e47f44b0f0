"""#17 item 3: `outpost run` against a hostile edge (tests/integration/hostile_edge.py).

For each misbehaviour: the connector closes the tunnel (with the right GOAWAY
code where one applies), /status names a reason, the connector reconnects
with backoff (a second connection, not before RECONNECT_INTERVAL), it keeps
running (the closes counted in outpost_reconnects_total), and its resident memory stays under RSS_BOUND_KIB (read from /proc).
"""
import socket
import time

import pytest

import hostile_edge as he
from conftest import base_env, free_port, wait_until
from tunnellib import get, rss_kib

RSS_BOUND_KIB = 64 * 1024  # the connector's whole RSS during an attack


def tree_rss_kib(pid):
    """RSS of pid and its children (the worker), in KiB."""
    total = rss_kib(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            total += sum(rss_kib(int(c)) for c in f.read().split())
    except OSError:
        pass
    return total


def run_against(spawn, outpost_bin, edge, scheme="http", hostile=3, gap=0.2, **extra):
    """Run the connector against edge until it was attacked on `hostile`
    connections; check it lived, backed off (gaps of at least `gap` s
    between attacked connections, None: not checked), stayed under
    RSS_BOUND_KIB and, with a good connection, still answers there."""
    port = free_port()
    env = dict(HTTP_PORT=port, ENV_LEVEL="error", RECONNECT_INTERVAL="300ms",
               MAX_BACKOFF_DELAY="2s",
               MAX_TUNNELS_ALLOWED=2 if edge.good_index is not None else 1,
               TRAVERSAL_CONTROLLER_URL=f"{scheme}://127.0.0.1:{edge.port}")
    env.update(extra)
    p = spawn([outpost_bin, "run"], env=base_env(**env))
    peak = 0
    end = time.monotonic() + 60
    while len(edge.hostile()) < hostile and time.monotonic() < end and p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        time.sleep(0.05)
    assert p.poll() is None, "the connector exited"
    attacked = edge.hostile()
    assert len(attacked) >= hostile, f"no reconnects: {len(attacked)} connections"
    gaps = [b[0] - a[0] for a, b in zip(attacked, attacked[1:])]
    if gap is not None:
        assert min(gaps) >= gap, f"reconnected without backoff: {gaps}"
    assert peak < RSS_BOUND_KIB, f"RSS {peak} KiB over {RSS_BOUND_KIB}"
    if edge.good is not None:
        assert not edge.good.closed, "the good tunnel was closed"
        assert he.ask_health(edge.good, "still-there") == "healthy"
    st = wait_until(lambda: get(port, "/status")[1], 5)
    st["metrics"] = get(port, "/metrics")[1]
    return st, [c for _, c in attacked]


def metric(st, name, labels=""):
    """The value of series name{labels} in the /metrics text (0 if absent)."""
    want = name + ("{" + labels + "}" if labels else "")
    for line in st["metrics"].splitlines():
        if line.split(" ")[0] == want:
            return float(line.split()[-1])
    return 0


def reconnects(st):
    return metric(st, "outpost_reconnects_total")


def closes(st, reason):
    """outpost_tunnel_closes_total for one typed reason."""
    return metric(st, "outpost_tunnel_closes_total", f'reason="{reason}"')


def slot_error(st):
    """(reason, detail) of the slot that was attacked (the one with an
    error) in /status."""
    for slot in st["detail"]["slots"]:
        if slot["last_error"] is not None:
            return slot["last_error"], slot["last_error_detail"]
    return None, None


# name: (misbehaviour, typed reason, detail substring, GOAWAY code or None)
CASES = {
    "ping_flood": (he.ping_flood, "h2", "Flooding", None),
    "settings_flood": (he.settings_flood, "h2", "Flooding", None),
    "continuation_flood": (he.continuation_flood, "h2", "CONTINUATION", None),
    "hpack_bomb": (he.hpack_bomb, "h2", "COMPRESSION_ERROR", 9),
    "window_update_overflow": (he.window_update_overflow, "h2", "FLOW_CONTROL_ERROR",
                               he.FLOW_CONTROL_ERROR),
    "grpc_4gib": (he.grpc_4gib, "protocol", "too_large", None),
    "rapid_reset": (he.rapid_reset, "stream", "reset", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_h2(spawn, outpost_bin, name):
    behaviour, reason, detail, goaway = CASES[name]
    with he.HostileEdge(behaviour, good=True) as edge:
        st, conns = run_against(spawn, outpost_bin, edge)
    got = slot_error(st)
    assert got[0] == reason and detail in got[1], got
    assert reconnects(st) >= 2, st["metrics"]
    assert closes(st, reason) >= 2, st["metrics"]
    if goaway is not None:
        assert goaway in conns[0].goaways, conns[0].goaways


def test_tls_stall(spawn, outpost_bin, tmp_path):
    from controllerlib import make_pki
    pki = make_pki(tmp_path / "pki")
    with he.HostileEdge(he.tls_stall, raw=True) as edge:
        st, _ = run_against(spawn, outpost_bin, edge, scheme="https", HANDSHAKE_TIMEOUT="1s",
                            TLS_CERT_FILE=f"{pki}/client-test.pem",
                            TLS_KEY_FILE=f"{pki}/client-test.key",
                            TLS_CA_FILE=f"{pki}/ca.pem")
    assert slot_error(st)[0] == "handshake_timeout", st
    assert closes(st, "handshake_timeout") >= 2, st["metrics"]


@pytest.fixture
def blackhole():
    """An upstream URL whose connections are never accepted nor answered."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/x"
    s.close()


def test_zero_window_forever(spawn, outpost_bin):
    """The edge's window never opens: the stalled sends close the tunnel
    (send_stalled) within KEEPALIVE_INTERVAL + HANDSHAKE_TIMEOUT of no
    progress, the answers owed stay in a bounded queue."""
    with he.HostileEdge(he.zero_window, good=True) as edge:
        st, _ = run_against(spawn, outpost_bin, edge, KEEPALIVE_INTERVAL="1s",
                            HANDSHAKE_TIMEOUT="1s")
    assert slot_error(st)[0] == "send_stalled", st
    assert closes(st, "send_stalled") >= 2, st["metrics"]


def test_request_flood(spawn, outpost_bin, blackhole):
    """HttpRequests faster than they can be answered: at most
    MAX_CONCURRENT_REQUESTS in flight, every other one refused at once
    (overloaded); flooded without reading, the tunnel closes typed."""
    with he.HostileEdge(he.request_flood, good=True, ctx=blackhole) as edge:
        st, conns = run_against(spawn, outpost_bin, edge, MAX_CONCURRENT_REQUESTS=10,
                                REQUEST_TIMEOUT="30s", KEEPALIVE_INTERVAL="1s",
                                HANDSHAKE_TIMEOUT="1s")
    answers = conns[0].answers
    assert len(answers) >= he.FLOOD - 10, len(answers)
    assert set(answers.values()) == {"overloaded"}, set(answers.values())
    assert metric(st, "outpost_requests_total", 'outcome="overloaded"') >= he.FLOOD - 10
    assert metric(st, "outpost_requests_in_flight") <= 2 * 10
    assert slot_error(st)[0] == "send_queue_full", st
    assert closes(st, "send_queue_full") >= 2, st["metrics"]


def test_extreme_controller_messages(spawn, outpost_bin, blackhole):
    """Every field at its extreme: a 60 kB request id and int64 limits are
    answered, an unknown action ignored, a 1 MB url and a 100 kB method
    refused typed; a message of 1.5 million empty headers (3 MB wire,
    ~70 MB decoded) closes the tunnel (protocol) before it is decoded."""
    with he.HostileEdge(he.extreme_messages, good=True, ctx=blackhole) as edge:
        st, conns = run_against(spawn, outpost_bin, edge, REQUEST_TIMEOUT="2s")
    got = conns[0].answers
    for rid, _, kind, reason in he.EXTREME:
        if kind is None:
            assert rid not in got, (rid, got[rid])
        else:
            assert got.get(rid) == (kind, reason), (rid[:10], got.get(rid))
    reason, detail = slot_error(st)
    assert reason == "protocol" and "memory bound" in detail, (reason, detail)
    assert closes(st, "protocol") >= 2, st["metrics"]


def test_start_close_flood(spawn, outpost_bin):
    """5000 START_CLOSEs on each tunnel: it drains once (the rest are no-ops),
    closes once drained (counted as start_close); replacements are
    immediate (make-before-break) until tunnels keep being asked to close
    right after opening, then paced by backoff: no dial storm.  The other
    tunnel keeps serving."""
    with he.HostileEdge(he.start_close_flood, good=True) as edge:
        st, conns = run_against(spawn, outpost_bin, edge, hostile=12, gap=None)
    attacked = edge.hostile()
    gaps = [b[0] - a[0] for a, b in zip(attacked[6:], attacked[7:])]
    assert min(gaps) >= 0.2, f"no backoff after 6 quick drains: {gaps}"
    assert closes(st, "start_close") >= 10, st["metrics"]
