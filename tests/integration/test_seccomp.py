"""The seccomp allow-list (#17 item 1): the worker serves the full tunnel
path (real outpost-edge, real nginx) with the filter on, a forbidden call
kills (the test-only probe links the same module and lists), SECCOMP=false
runs without it and says so."""
import os
import re
import signal
import subprocess

import pytest

import edgelib
import tunnellib
from conftest import base_env, run
from upstream import Nginx


def seccomp_mode(pid):
    with open(f"/proc/{pid}/status") as f:
        return re.search(r"^Seccomp:\s+(\d+)", f.read(), re.M).group(1)


@pytest.fixture
def stack(outpost_edge_bin, tmp_path):
    pki = edgelib.dev_pki(str(tmp_path / "pki"), "alpha")
    edge = edgelib.Edge(outpost_edge_bin, str(tmp_path), pki)
    with Nginx(tmp_path / "nginx") as n:
        yield edge, pki, n
    edge.stop()


def serve_and_drain(outpost_bin, tmp_path, stack, **settings):
    edge, pki, n = stack
    p = edgelib.connector(outpost_bin, str(tmp_path), edge, pki, "alpha",
                          DATA_DIR=str(tmp_path), **settings)
    try:
        mode = seccomp_mode(p.p.pid)
        body = os.urandom(256 * 1024)
        for _ in range(3):
            st, _, got = edge.proxy("alpha", f"127.0.0.1:{n.port}/echo", method="POST",
                                    body=body)
            assert st == 200 and got == body, (st, len(got), p.text()[-2000:])
        st, _, got = edge.proxy("alpha", f"127.0.0.1:{n.port}/nope")
        assert st == 404, (st, got)
        # The health port (its own listener and connections) under the filter.
        st, status = tunnellib.get(p.health_port, "/status")
        assert st == 200 and status, (st, status)
        p.p.send_signal(signal.SIGTERM)
        assert p.p.wait(timeout=20) == 0, p.text()[-3000:]
        return mode, p.text()
    finally:
        p.stop()


def test_tunnel_path_under_the_filter(outpost_bin, tmp_path, stack):
    mode, log = serve_and_drain(outpost_bin, tmp_path, stack)
    assert mode == "2", log
    # outpost-edge carried every request under its own list.
    edge = stack[0]
    assert seccomp_mode(edge.proc.p.pid) == "2", edge.proc.text()
    assert "seccomp: allow-list installed" in edge.proc.text()
    assert "seccomp: allow-list installed" in log and "tunnels drained" in log, log


def test_debug_level_traps_and_still_serves(outpost_bin, tmp_path, stack):
    mode, log = serve_and_drain(outpost_bin, tmp_path, stack, ENV_LEVEL="debug")
    assert mode == "2", log
    assert "violations trapped and named" in log, log
    assert "forbidden system call" not in log, log


def test_seccomp_false_runs_without_and_warns(outpost_bin, tmp_path, stack):
    mode, log = serve_and_drain(outpost_bin, tmp_path, stack, SECCOMP="false")
    assert mode == "0", log
    warn = [ln for ln in log.splitlines() if "SECCOMP=false" in ln]
    assert warn and '"level":"warn"' in warn[0], log
    assert "allow-list installed" not in log


def test_edge_seccomp_false_runs_without_and_warns(outpost_edge_bin, tmp_path):
    edge = edgelib.Edge(outpost_edge_bin, str(tmp_path), SECCOMP="false")
    try:
        assert seccomp_mode(edge.proc.p.pid) == "0"
        warn = [ln for ln in edge.proc.text().splitlines() if "SECCOMP=false" in ln]
        assert warn and '"level":"warn"' in warn[0], edge.proc.text()
    finally:
        edge.stop()


def test_check_config_refuses_a_bad_value(outpost_bin):
    r = run([outpost_bin, "check-config"], env=base_env(SECCOMP="maybe"))
    assert r.returncode != 0 and "SECCOMP" in r.stdout + r.stderr, r


def probe(*args):
    path = os.environ.get("SANDBOX_PROBE")
    if not path or not os.path.isfile(path):
        pytest.fail("SANDBOX_PROBE must name the probe (run `make integration`)")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("profile", ["worker", "edge"])
def test_allowed_calls_pass(profile):
    r = probe(profile, "kill", "ok")
    assert r.returncode == 0 and r.stdout == "ok\n", r


@pytest.mark.parametrize("profile", ["worker", "edge"])
@pytest.mark.parametrize("call", ["ptrace", "execve", "packet"])
def test_forbidden_call_kills_by_sigsys(profile, call):
    r = probe(profile, "kill", call)
    assert r.returncode == -signal.SIGSYS, r


@pytest.mark.parametrize("call,nr", [("ptrace", "ptrace"), ("execve", "execve")])
def test_debug_trap_names_the_call(call, nr):
    r = probe("worker", "trap", call)
    assert r.returncode == 111, r
    m = re.search(r"outpost: seccomp: forbidden system call (\d+)", r.stderr)
    assert m, r.stderr
    # The number is the kernel's for this call (x86_64: the probe is native).
    assert int(m.group(1)) == {"ptrace": 101, "execve": 59}[nr], r.stderr
