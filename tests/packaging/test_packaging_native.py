"""The .deb and the .rpm: what lintian and rpm say, and an install that runs.

Each package is installed into a scratch root (`dpkg --root`, `rpm --root`)
and the installed binary runs there (chroot: the static binary needs nothing
else) with the config file the unit names, the conffile the package ships.
"""
import gzip
import os
import re
import shutil

import pytest

from conftest import DEPLOY, run

VERSION = (DEPLOY.parent / "VERSION").read_text().strip()
ARCH = os.environ.get("PKG_ARCH", "x86_64")
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armhf": "armhf"}[ARCH]
RPM_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "armhf": "armv7hl"}[ARCH]
UNIT = DEPLOY / "systemd" / "outpost.service"
# Another architecture's package installs (and its binary runs) through qemu-user.
FOREIGN = bool(os.environ.get("PKG_QEMU"))
COMMON = {"/usr/bin/outpost", "/etc/outpost/outpost.conf", "/etc/outpost/tls",
          "/usr/share/man/man8/outpost.8.gz"}


@pytest.fixture(scope="module")
def deb(pkg_dir):
    return pkg_dir / f"outpost_{VERSION}_{DEB_ARCH}.deb"


@pytest.fixture(scope="module")
def rpm(pkg_dir):
    return pkg_dir / f"outpost-{VERSION}-1.{RPM_ARCH}.rpm"


def unit_env():
    """The Environment= assignments of the unit, as a dict."""
    env = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment="):
            for kv in line[len("Environment="):].split():
                k, v = kv.split("=", 1)
                env[k] = v
    return env


def installed_check(root, check=True):
    """`outpost check-config --print` of the installed binary with the unit's
    config file: inside root (chroot) on this host's architecture, through
    $PKG_QEMU (qemu-user) for another one."""
    conf = unit_env()["OUTPOST_CONFIG"]
    if FOREIGN:
        argv = [os.environ["PKG_QEMU"], str(root / "usr/bin/outpost")]
        conf = str(root) + conf
    else:
        argv = [shutil.which("chroot"), str(root), "/usr/bin/outpost"]
    return run(argv + ["check-config", "--print"], env={"PATH": "/usr/bin", "OUTPOST_CONFIG": conf},
               check=check)


def test_lintian_has_no_errors(deb):
    r = run(["lintian", "--fail-on", "error", "--no-tag-display-limit", str(deb)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not re.search(r"^E: ", r.stdout, re.M), r.stdout


def test_deb_fields_and_conffile(deb):
    f = run(["dpkg-deb", "-f", str(deb), "Package", "Architecture", "Built-Using"]).stdout
    assert f"Architecture: {DEB_ARCH}" in f
    # Every library linked into the static binary is named with its version.
    for lib in ("bearssl", "c-ares", "nghttp2", "pcre2", "protobuf-c"):
        assert re.search(rf"\b{lib} \(= [^)]+\)", f), f
    info = run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout
    assert info.split() == ["/etc/outpost/outpost.conf"]


def test_rpm_lists_the_expected_files(rpm):
    files = set(run(["rpm", "-qlp", str(rpm)]).stdout.split())
    assert files == COMMON | {"/etc/outpost", "/usr/lib/systemd/system/outpost.service",
                              "/usr/share/licenses/outpost/copyright"}
    assert run(["rpm", "-qp", "--configfiles", str(rpm)]).stdout.split() == \
        ["/etc/outpost/outpost.conf"]
    assert run(["rpm", "-qp", "--qf", "%{ARCH}", str(rpm)]).stdout == RPM_ARCH


def test_same_payload_in_both(deb, rpm, tmp_path):
    d, r = tmp_path / "d", tmp_path / "r"
    run(["dpkg-deb", "-x", str(deb), str(d)])
    install_rpm(rpm, r)
    for path in ("usr/bin/outpost", "etc/outpost/outpost.conf", "usr/share/man/man8/outpost.8.gz"):
        assert (d / path).read_bytes() == (r / path).read_bytes(), path
    assert (d / "lib/systemd/system/outpost.service").read_bytes() == UNIT.read_bytes()
    assert (r / "usr/lib/systemd/system/outpost.service").read_bytes() == UNIT.read_bytes()
    assert (d / "usr/share/doc/outpost/copyright").read_bytes() == \
        (r / "usr/share/licenses/outpost/copyright").read_bytes()


def test_copyright_is_machine_readable_with_every_notice(deb, tmp_path):
    run(["dpkg-deb", "-x", str(deb), str(tmp_path)])
    text = (tmp_path / "usr/share/doc/outpost/copyright").read_text()
    paras = [p for p in text.split("\n\n") if p.strip()]
    assert paras[0].startswith("Format: https://www.debian.org/doc/packaging-manuals/"
                               "copyright-format/1.0/")
    heads = [p.split("\n", 1)[0] for p in paras]
    assert "Files: *" in heads and "License: ISC" in heads
    for lib in ("bearssl", "c-ares", "nghttp2", "pcre2", "protobuf-c"):
        assert f"Files: embedded/{lib}/*" in heads and f"License: {lib}-notice" in heads, lib
    # Every License named by a Files paragraph has its text.
    named = {re.search(r"^License: (.+)$", p, re.M).group(1) for p in paras
             if p.startswith("Files:")}
    assert named <= {h[len("License: "):] for h in heads if h.startswith("License: ")}


def test_man_page_documents_every_setting_and_command(deb, tmp_path, settings, outpost_bin):
    run(["dpkg-deb", "-x", str(deb), str(tmp_path)])
    page = tmp_path / "usr/share/man/man8/outpost.8.gz"
    text = run(["man", "-l", "-Tutf8", str(page)], env={"PATH": os.environ["PATH"],
                                                        "MANWIDTH": "200"}).stdout
    text = re.sub(r".\x08", "", text)
    edge = {k for k in settings if k.startswith("EDGE_")} | {"HEARTBEAT_INTERVAL"}
    for key in set(settings) - edge:
        assert re.search(rf"^\s+{key} \(", text, re.M), key
    helptext = run([outpost_bin, "help"]).stdout
    for cmd in re.findall(r"^  (\S+)", helptext, re.M):
        assert re.search(rf"^\s+{re.escape(cmd)}\b", text, re.M), cmd
    assert gzip.open(page).read().startswith(b".TH OUTPOST 8 ")


def install_deb(deb, root):
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/lib/dpkg/status").write_text("")
    run(["dpkg", "--root", str(root), *(["--force-architecture"] if FOREIGN else []), "-i",
         str(deb)])


def install_rpm(rpm, root):
    root.mkdir()
    run(["rpm", "--root", str(root), "--initdb"])
    run(["rpm", "--root", str(root), *(["--ignorearch"] if FOREIGN else []), "-i", str(rpm)])


def test_deb_installs_into_a_scratch_root_and_runs(deb, tmp_path):
    root = tmp_path / "root"
    install_deb(deb, root)
    assert run(["dpkg", "--root", str(root), "-s", "outpost"]).stdout.count(
        "Status: install ok installed") == 1
    out = installed_check(root).stdout
    assert re.search(r"^MAX_TUNNELS_ALLOWED=2 ", out, re.M)
    # The conffile is the configuration: a value set there is the one used,
    # and a bad one is refused (exit 100), naming the key.
    conf = root / "etc/outpost/outpost.conf"
    conf.write_text(conf.read_text().replace("#MAX_TUNNELS_ALLOWED=2", "MAX_TUNNELS_ALLOWED=3"))
    assert re.search(r"^MAX_TUNNELS_ALLOWED=3", installed_check(root).stdout, re.M)
    conf.write_text(conf.read_text().replace("MAX_TUNNELS_ALLOWED=3", "MAX_TUNNELS_ALLOWED=x"))
    r = installed_check(root, check=False)
    assert r.returncode == 100 and "MAX_TUNNELS_ALLOWED" in r.stderr, r.stderr


def test_deb_keeps_an_edited_conffile_on_reinstall(deb, tmp_path):
    root = tmp_path / "root"
    install_deb(deb, root)
    conf = root / "etc/outpost/outpost.conf"
    conf.write_text(conf.read_text() + "ENV_NAME=site-a\n")
    run(["dpkg", "--root", str(root), "--force-confold",
         *(["--force-architecture"] if FOREIGN else []), "-i", str(deb)])
    assert conf.read_text().endswith("ENV_NAME=site-a\n")
    assert re.search(r"^ENV_NAME=site-a", installed_check(root).stdout, re.M)


def test_rpm_installs_into_a_scratch_root_and_runs(rpm, tmp_path):
    root = tmp_path / "root"
    install_rpm(rpm, root)
    assert run(["rpm", "--root", str(root), "-q", "outpost"]).stdout.strip() == \
        f"outpost-{VERSION}-1.{RPM_ARCH}"
    assert run(["rpm", "--root", str(root), "-V", "outpost"], check=False).stdout == ""
    out = installed_check(root).stdout
    assert re.search(r"^HTTP_PORT=8080 ", out, re.M)
