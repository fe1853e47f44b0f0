"""deploy/systemd/outpost.service, judged by systemd's own tools.

`systemd-analyze verify` needs the unit's executable and the targets it
names: it runs in a scratch root where the .deb is installed and the host's
system units are copied in (this container's systemd is not PID 1, which
verify does not need).  `systemd-analyze security --offline=yes` scores the
sandbox; the exposure is recorded in $PKG_DIR/systemd-security.txt.
"""
import pathlib
import re
import shutil

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
