"""#17 item 3: `outpost run` against a hostile edge (tests/integration/hostile_edge.py).

For each misbehaviour: the connector closes the tunnel (with the right GOAWAY
code where one applies), /status names a reason, the connector reconnects
with backoff (a second connection, not before RECONNECT_INTERVAL), it keeps
running (the closes counted in outpost_reconnects_total), and its resident memory stays under RSS_BOUND_KIB (read from /proc).
"""
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


def run_against(spawn, outpost_bin, edge, scheme="http", **extra):
    port = free_port()
    env = dict(HTTP_PORT=port, ENV_LEVEL="error", RECONNECT_INTERVAL="300ms",
               MAX_BACKOFF_DELAY="2s", MAX_TUNNELS_ALLOWED=1,
               TRAVERSAL_CONTROLLER_URL=f"{scheme}://127.0.0.1:{edge.port}")
    env.update(extra)
    p = spawn([outpost_bin, "run"], env=base_env(**env))
    peak = 0
    end = time.monotonic() + 40
    while len(edge.accepted) < 3 and time.monotonic() < end and p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        time.sleep(0.05)
    assert p.poll() is None, "the connector exited"
    assert len(edge.accepted) >= 3, f"no reconnects: {len(edge.accepted)} connections"
    gaps = [b[0] - a[0] for a, b in zip(edge.accepted, edge.accepted[1:])]
    assert min(gaps) >= 0.2, f"reconnected without backoff: {gaps}"
    assert peak < RSS_BOUND_KIB, f"RSS {peak} KiB over {RSS_BOUND_KIB}"
    st = wait_until(lambda: get(port, "/status")[1], 5)
    st["metrics"] = get(port, "/metrics")[1]
    return st, [c for _, c in edge.accepted]


def reconnects(st):
    """outpost_reconnects_total from the /metrics text."""
    for line in st["metrics"].splitlines():
        if line.startswith("outpost_reconnects_total"):
            return float(line.split()[-1])
    return 0


def slot_error(st):
    """(reason, detail) of slot 0 in /status."""
    slot = st["detail"]["slots"][0]
    return slot["last_error"], slot["last_error_detail"]


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
    with he.HostileEdge(behaviour) as edge:
        st, conns = run_against(spawn, outpost_bin, edge)
    got = slot_error(st)
    assert got[0] == reason and detail in got[1], got
    assert reconnects(st) >= 2, st["metrics"]
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
