"""The privilege drop (#17 item 2): started as root, `outpost run` and
`outpost-edge run` drop to OUTPOST_USER (setgroups, setresgid, setresuid),
lose every capability (bounding, effective, permitted, inheritable,
ambient) but CAP_SYS_TIME when NTP_SERVERS needs it, set no_new_privs,
give their data directory to that user and still enrol, write tokens and
carry requests; the environment block shows no secret (proxy credentials
included); root needs ALLOW_ROOT=true.  Read from /proc/PID/status and
/proc/PID/environ of the real processes.  Needs root (CI runs as root)."""
import os
import shutil
import signal
import tempfile

import pytest

from conftest import base_env, free_port, run, wait_until
from edgelib import Proc
from test_identity import (conn_env, new_token, pki, procs, start_connector,  # noqa: F401
                           start_edge, upstream, wait_ready)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the drop needs root")

USER = 65532
CAP_SYS_TIME = 1 << 25
DEFAULT = dict(OUTPOST_USER="65532:65532", ALLOW_ROOT="false")  # base_env's, undone


@pytest.fixture
def world():
    """A directory every uid may search (pytest's tmp dirs are 0700 root)."""
    d = tempfile.mkdtemp(prefix="outpost-priv-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        rows = dict(line.split(":", 1) for line in f.read().splitlines())
    return {k: v.split() for k, v in rows.items()}


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


def assert_dropped(pid, caps=0, uid=USER):
    st = status(pid)
    assert st["Uid"] == [str(uid)] * 4, st["Uid"]
    assert st["Gid"] == [str(uid)] * 4, st["Gid"]
    assert st["Groups"] == [], st["Groups"]
    for k in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[k][0], 16) == caps, (k, st[k])
    for k in ("CapInh", "CapAmb"):
        assert int(st[k][0], 16) == 0, (k, st[k])
    assert st["NoNewPrivs"] == ["1"]
    assert st["Seccomp"] == ["2"]  # the allow-list comes after the drop


def owners(top):
    """uid of top and of everything under it."""
    got = {os.lstat(top).st_uid}
    for d, dirs, files in os.walk(top):
        got |= {os.lstat(os.path.join(d, n)).st_uid for n in dirs + files}
    return got


def test_enrol_and_serve_after_the_drop(outpost_bin, outpost_edge_bin, world, procs, pki,
                                        upstream):
    tmp = world
    edata, data = os.path.join(tmp, "edge-data"), os.path.join(tmp, "data")
    os.mkdir(data)
    edge = start_edge(outpost_edge_bin, tmp, procs, pki, EDGE_DATA_DIR=edata, **DEFAULT)
    assert_dropped(edge.proc.p.pid)
    assert "privileges: uid 65532 gid 65532, capabilities: none (dropped from root)" in \
        edge.proc.text()
    # The edge writes its token store as 65532, into the directory it was given.
    tok = new_token(edge, "alpha")
    assert owners(edata) == {USER}, owners(edata)
    proxy_pw = "proxypw-" + os.urandom(6).hex()
    env = conn_env(edge, pki, data, ENROLLMENT_TOKEN=tok, **DEFAULT,
                   HTTPS_PROXY=f"http://alice:{proxy_pw}@127.0.0.1:9",
                   HTTP_PROXY=f"alice:{proxy_pw}@127.0.0.1:9")
    p = start_connector(outpost_bin, tmp, procs, env)
    wait_ready(p)
    assert_dropped(p.p.pid)
    # Enrolled and stored as 65532, then a request through the tunnel.
    assert owners(data) == {USER}, owners(data)
    s, _, b = edge.proxy("alpha", upstream.hostport + "/echo", method="POST", body=b"x" * 70000)
    assert s == 200 and b == b"x" * 70000, (s, b[:200])
    block = environ(p.p.pid)
    assert tok.encode() not in block and proxy_pw.encode() not in block
    assert b"alice" not in block
    assert b"HTTPS_PROXY=http://127.0.0.1:9\0" in block, block
    assert b"HTTP_PROXY=127.0.0.1:9\0" in block, block
    assert proxy_pw not in p.text() and tok not in p.text()
    p.p.send_signal(signal.SIGTERM)
    assert p.p.wait(timeout=20) == 0, p.text()[-2000:]


def test_ntp_keeps_only_cap_sys_time(outpost_bin, world):
    p = Proc([outpost_bin, "run"],
             base_env(HTTP_PORT=free_port(), NTP_SERVERS="127.0.0.1:9", **DEFAULT),
             os.path.join(world, "ntp.log"))
    try:
        assert wait_until(lambda: not p.alive() or "running" in p.text(), 10), p.text()
        assert p.alive(), p.text()
        assert_dropped(p.p.pid, caps=CAP_SYS_TIME)
        assert "capabilities: CAP_SYS_TIME" in p.text()
    finally:
        p.stop()


def test_root_refused_without_allow_root(outpost_bin, outpost_edge_bin):
    for argv in ([outpost_bin, "run"], [outpost_bin, "check-config"],
                 [outpost_edge_bin, "check-config"]):
        r = run(argv, env=base_env(HTTP_PORT=free_port(), OUTPOST_USER="0:0",
                                   ALLOW_ROOT="false", EDGE_API_TOKEN_FILE="/dev/null",
                                   EDGE_H2C="true"))
        assert r.returncode == 100, (argv, r.stdout, r.stderr)
        assert "OUTPOST_USER: uid or gid 0 runs the loop as root; that needs " \
            "ALLOW_ROOT=true" in r.stderr + r.stdout, (argv, r.stderr)


@pytest.mark.parametrize("bad", ["nobody", "65532", "65532:", ":65532", "1:-1", "+1:1",
                                 "4294967295:1", "1:2:3", "1: 2"])
def test_check_config_reports_a_bad_outpost_user(outpost_bin, bad):
    r = run([outpost_bin, "check-config"], env=base_env(OUTPOST_USER=bad))
    assert r.returncode == 100, (bad, r.stdout, r.stderr)
    assert f'OUTPOST_USER: "{bad}" is not a numeric uid:gid' in r.stderr, r.stderr


def test_allow_root_runs_as_root_without_capabilities(outpost_bin, world):
    p = Proc([outpost_bin, "run"],
             base_env(HTTP_PORT=free_port(), OUTPOST_USER="0:0", ALLOW_ROOT="true"),
             os.path.join(world, "root.log"))
    try:
        assert wait_until(lambda: not p.alive() or "running" in p.text(), 10), p.text()
        assert_dropped(p.p.pid, uid=0)
        warn = [ln for ln in p.text().splitlines() if "AS ROOT" in ln]
        assert warn and '"level":"warn"' in warn[0], p.text()
    finally:
        p.stop()


def test_data_dir_the_user_cannot_reach_is_refused(outpost_bin, tmp_path):
    # pytest's tmp dirs are 0700 root: 65532 cannot search the way in.
    data = tmp_path / "data"
    data.mkdir()
    r = run([outpost_bin, "run"], env=base_env(HTTP_PORT=free_port(), DATA_DIR=str(data),
                                               **DEFAULT), timeout=15)
    assert r.returncode == 100, (r.stdout, r.stderr)
    assert f"DATA_DIR {data}: not writable as uid 65532" in r.stdout + r.stderr, r.stdout


def test_started_unprivileged_keeps_its_uid(outpost_bin, world):
    def become():
        os.setgroups([])
        os.setresgid(4321, 4321, 4321)
        os.setresuid(4321, 4321, 4321)
    log = os.path.join(world, "unpriv.log")
    p = Proc([outpost_bin, "run"], base_env(HTTP_PORT=free_port(), **DEFAULT), log,
             preexec_fn=become)
    try:
        assert wait_until(lambda: not p.alive() or "running" in p.text(), 10), p.text()
        st = status(p.p.pid)
        assert st["Uid"] == ["4321"] * 4 and st["NoNewPrivs"] == ["1"], st
        assert int(st["CapEff"][0], 16) == 0 and int(st["CapAmb"][0], 16) == 0
        assert "started unprivileged: OUTPOST_USER not applied" in p.text()
    finally:
        p.stop()


@pytest.mark.parametrize("ntp", [True, False])
def test_appliance_worker_credentials(outpost_bin, world, ntp):
    # The appliance's init (src/init/super.c) starts the worker as uid 999
    # with CAP_SYS_TIME inheritable and ambient: the worker keeps it in its
    # effective and permitted sets only when NTP_SERVERS needs it, and drops
    # the inheritable and ambient copies either way.
    data = os.path.join(world, "data")
    os.mkdir(data)
    os.chown(data, 999, 999)
    env = base_env(HTTP_PORT=free_port(), DATA_DIR=data, **DEFAULT)
    if ntp:
        env["NTP_SERVERS"] = "127.0.0.1:9"
    argv = ["setpriv", "--reuid=999", "--regid=999", "--clear-groups", "--inh-caps=+sys_time",
            "--ambient-caps=+sys_time", "--", outpost_bin, "run"]
    p = Proc(argv, env, os.path.join(world, "appliance.log"))
    try:
        assert wait_until(lambda: not p.alive() or "running" in p.text(), 10), p.text()
        assert p.alive(), p.text()
        st = status(p.p.pid)
        assert st["Uid"] == ["999"] * 4 and st["Gid"] == ["999"] * 4, st
        want = CAP_SYS_TIME if ntp else 0
        for k in ("CapEff", "CapPrm"):
            assert int(st[k][0], 16) == want, (k, st[k])
        for k in ("CapInh", "CapAmb"):
            assert int(st[k][0], 16) == 0, (k, st[k])
        assert st["NoNewPrivs"] == ["1"] and st["Seccomp"] == ["2"]
        assert "started unprivileged: OUTPOST_USER not applied" in p.text()
    finally:
        p.stop()
