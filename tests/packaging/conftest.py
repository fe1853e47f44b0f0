"""Fixtures for the packaging checks (make packaging-test).

The binary under test is $OUTPOST_BIN (absolute path); packages come from
$PKG_DIR (what `make deb rpm` wrote).  The tools are the ones that consume
the artefacts: kubectl kustomize, systemd-analyze, lintian, dpkg, rpm and
podman-compose.
"""
import os
import pathlib
import re
import socket
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = TOP / "deploy"


@pytest.fixture(scope="session")
def outpost_bin():
    path = os.environ.get("OUTPOST_BIN")
    if not path or not os.path.isfile(path):
        pytest.fail("OUTPOST_BIN must name the binary under test (run `make packaging-test`)")
    return path


@pytest.fixture(scope="session")
def pkg_dir():
    path = os.environ.get("PKG_DIR")
    if not path or not os.path.isdir(path):
        pytest.fail("PKG_DIR must name the directory `make deb rpm` wrote")
    return pathlib.Path(path)


def run(argv, env=None, timeout=60, check=True, **kw):
    """Run to completion; CompletedProcess (text).  Fails the test on error if check."""
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def settings(outpost_bin):
    """{name: value} as the binary prints them (`check-config --print`, defaults only)."""
    out = run([outpost_bin, "check-config", "--print"],
              env={"PATH": os.environ["PATH"], "OUTPOST_CONFIG": ""}).stdout
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*?)(?:  # .*)?$", out, re.M))


def duration_s(text):
    """A settings.def duration ("30s", "2m", "1m30s", "500ms", "45") in seconds."""
    if text.isdigit():
        return int(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)(ms|s|m|h)", text)
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
