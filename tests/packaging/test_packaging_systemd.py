"""deploy/systemd/outpost.service, judged by systemd's own tools.

`systemd-analyze verify` needs the unit's executable and the targets it
names: it runs in a scratch root where the .deb is installed and the host's
system units are copied in (this container's systemd is not PID 1, which
verify does not need).  `systemd-analyze security --offline=yes` scores the
sandbox; the exposure is recorded in $PKG_DIR/systemd-security.txt.  The
system call filter is checked against what the connector really calls,
traced with strace while it works against a real outpost-edge.
"""
import importlib.util
import os
import pathlib
import re
import shutil
import signal
import socket
import sys
import time

import pytest

from conftest import DEPLOY, run

UNIT = DEPLOY / "systemd" / "outpost.service"
GOAL = 1.5


def directives():
    out = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


@pytest.fixture(scope="module")
def root(pkg_dir, tmp_path_factory):
    from test_packaging_native import DEB_ARCH, VERSION, install_deb
    r = tmp_path_factory.mktemp("unitroot")
    install_deb(pkg_dir / f"outpost_{VERSION}_{DEB_ARCH}.deb", r)
    units = r / "lib/systemd/system"
    for f in pathlib.Path("/lib/systemd/system").iterdir():
        if f.suffix in (".target", ".slice", ".socket") and not (units / f.name).exists():
            shutil.copy(f, units / f.name, follow_symlinks=False)
    return r


def verify(root, unit="outpost.service"):
    return run(["systemd-analyze", f"--root={root}", "verify", "--man=no", unit], check=False)


def test_verify_is_clean(root):
    r = verify(root)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", r.stdout + r.stderr


def test_verify_catches_a_broken_unit(root):
    # The check can fail: a misspelt directive and a missing binary are reported.
    bad = root / "lib/systemd/system/outpost-broken.service"
    bad.write_text(UNIT.read_text().replace("ProtectSystem=", "ProtectSytem=")
                   .replace("/usr/bin/outpost run", "/usr/bin/outpost-missing run"))
    r = verify(root, bad.name)
    assert r.returncode != 0 and "ProtectSytem" in r.stderr and "outpost-missing" in r.stderr, \
        r.stderr


def test_security_exposure_within_goal(pkg_dir):
    r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
            check=False)
    m = re.search(r"Overall exposure level for outpost\.service: (\d+\.\d+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    score = float(m.group(1))
    (pkg_dir / "systemd-security.txt").write_text(
        f"outpost.service exposure {score} {m.group(2)} (goal <= {GOAL})\n" + r.stdout)
    print(f"systemd-analyze security: outpost.service exposure {score} {m.group(2)}")
    assert score <= GOAL, r.stdout


def test_unit_contract():
    d = directives()
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["ExecStart"] == ["/usr/bin/outpost run"]
    assert d["RestartPreventExitStatus"] == ["100"]
    assert d["DynamicUser"] == ["yes"] and d["StateDirectory"] == ["outpost"]
    env = dict(kv.split("=", 1) for line in d["Environment"] for kv in line.split())
    assert env["DATA_DIR"] == "%S/outpost"
    # Every secret file comes from a credential, every credential is used.
    creds = dict(c.split(":", 1) for c in d["LoadCredential"])
    files = {k: v for k, v in env.items() if k.endswith("_FILE")}
    assert files and all(v.startswith("%d/") for v in files.values()), files
    assert {v[len("%d/"):] for v in files.values()} == set(creds)
    for k in ("ProtectSystem", "PrivateDevices", "RestrictAddressFamilies", "SystemCallFilter"):
        assert k in d, k
    assert d["ProtectSystem"] == ["strict"]
    assert "@system-service" in d["SystemCallFilter"]
    assert "WatchdogSec" in d


def test_drain_fits_in_the_stop_timeout(settings):
    from conftest import duration_s
    assert int(directives()["TimeoutStopSec"][0]) > duration_s(settings["DRAIN_TIMEOUT"])


def syscall_group(name, seen=None):
    """The system calls of a systemd syscall-filter group, nested groups expanded."""
    seen = set() if seen is None else seen
    out = set()
    for ln in run(["systemd-analyze", "syscall-filter", "--no-pager", name]).stdout.splitlines()[1:]:
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        if ln.startswith("@"):
            if ln not in seen:
                seen.add(ln)
                out |= syscall_group(ln, seen)
        else:
            out.add(ln)
    return out


def unit_filter():
    """(allowed, denied) system calls as the unit's SystemCallFilter= lines say."""
    allowed, denied = set(), set()
    for line in directives()["SystemCallFilter"]:
        deny = line.startswith("~")
        for item in line.lstrip("~").split():
            names = syscall_group(item) if item.startswith("@") else {item}
            (denied if deny else allowed).update(names)
    return allowed, denied


def integration_edgelib():
    """tests/integration/edgelib.py, which imports that directory's conftest."""
    d = DEPLOY.parent / "tests" / "integration"
    saved = sys.modules.get("conftest")
    spec = importlib.util.spec_from_file_location("conftest", d / "conftest.py")
    sys.modules["conftest"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules["conftest"])
    try:
        spec = importlib.util.spec_from_file_location("edgelib", d / "edgelib.py")
        lib = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lib)
        return lib
    finally:
        sys.modules["conftest"] = saved


@pytest.mark.skipif(bool(os.environ.get("PKG_QEMU")), reason="traced natively only")
def test_syscalls_pass_the_unit_filter(outpost_bin, tmp_path):
    # Every system call the connector makes while it comes up against a real
    # outpost-edge, serves a request and drains (traced with strace) is one
    # the unit's SystemCallFilter= allows: a call it denies would fail with
    # EPERM only in production.
    edge_bin = os.environ.get("OUTPOST_EDGE_BIN")
    if not edge_bin or shutil.which("strace") is None:
        pytest.fail("needs OUTPOST_EDGE_BIN and strace")
    lib = integration_edgelib()
    pki = lib.dev_pki(str(tmp_path / "pki"), "alpha")
    trace = tmp_path / "trace"
    wrapper = tmp_path / "outpost"
    # Without capabilities, as the unit's CapabilityBoundingSet= (empty) runs it.
    wrapper.write_text(f'#!/bin/sh\nexec setpriv --bounding-set=-all --inh-caps=-all -- '
                       f'strace -f -qq -o {trace} -- {outpost_bin} "$@"\n')
    wrapper.chmod(0o755)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    edge = lib.Edge(edge_bin, str(tmp_path), pki)
    up = lib.Upstream()
    p = None
    try:
        p = lib.connector(str(wrapper), str(tmp_path), edge, pki, "alpha",
                          NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC=200000,
                          DATA_DIR=str(tmp_path))
        st, _, body = edge.proxy("alpha", f"{up.hostport}/echo", method="POST",
                                 body=b"hello")
        assert st == 200 and body == b"hello", (st, body)
        time.sleep(0.3)
        (child,) = open(f"/proc/{p.p.pid}/task/{p.p.pid}/children").read().split()
        os.kill(int(child), signal.SIGTERM)
        assert p.p.wait(timeout=15) == 0, p.text()
    finally:
        if p:
            p.stop()
        up.stop()
        edge.stop()
        notify.close()
    text = trace.read_text()
    used = set(re.findall(r"^\d+ +(\w+)\(", text, re.M))
    assert {"sendto", "connect", "accept4"} <= used, sorted(used)
    allowed, denied = unit_filter()
    assert used <= allowed - denied, sorted(used - (allowed - denied))
    # Every socket it opens is of a family RestrictAddressFamilies= admits.
    families = set(re.findall(r"^\d+ +socket\((AF_\w+)", text, re.M))
    assert {"AF_INET", "AF_UNIX"} <= families, families
    assert families <= set(directives()["RestrictAddressFamilies"][0].split()), families
