"""Fixtures for the container image tests (make oci-test).

The image under test is the one `make oci` wrote: $OCI_DIR/$OCI_ARCH (an
OCI layout) and $OCI_DIR/outpost-$OCI_ARCH.tar.  Every blob is read through
`Layout`, which checks digests and sizes, so a test never trusts a file the
layout does not vouch for.
"""

import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import sys
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests"))
from boardenv import board_env  # noqa: E402
OCI_DIR = pathlib.Path(os.environ.get("OCI_DIR", TOP / "build" / "oci"))
ARCH = os.environ.get("OCI_ARCH", "x86_64")
HOST_ARCH = os.uname().machine
ARCHS = ("x86_64", "aarch64", "armhf")
ELF_MACHINE = {a: int(board_env(a)["BOARD_ELF_MACHINE"]) for a in ARCHS}


def platform(arch):
    """The OCI (architecture, variant or None) of a target, from its board.env."""
    b = board_env(arch)
    return b["BOARD_OCI_ARCH"], b["BOARD_OCI_VARIANT"] or None
UNPRIVILEGED_UID = 1000


class Layout:
    """An OCI image layout on disk, read with digest checks."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.index = json.loads((self.path / "index.json").read_text())

    def blob(self, desc):
        algo, hexdigest = desc["digest"].split(":", 1)
        assert algo == "sha256"
        data = (self.path / "blobs" / "sha256" / hexdigest).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hexdigest, desc["digest"]
        assert len(data) == desc["size"], desc["digest"]
        return data

    def json(self, desc):
        return json.loads(self.blob(desc))

    def manifest_desc(self):
        (desc,) = self.index["manifests"]
        return desc

    def manifest(self):
        return self.json(self.manifest_desc())

    def config(self):
        return self.json(self.manifest()["config"])

    def layer_tar(self):
        (layer,) = self.manifest()["layers"]
        return gzip.decompress(self.blob(layer))


@pytest.fixture(scope="session")
def layout():
    path = OCI_DIR / ARCH
    if not (path / "index.json").exists():
        pytest.fail(f"{path} missing: run make oci ARCH={ARCH}")
    return Layout(path)


@pytest.fixture(scope="session")
def archive():
    return OCI_DIR / f"outpost-{ARCH}.tar"


def extract_rootfs(layout, dest):
    """Unpack the single layer as a runtime would (owners kept: we are root)."""
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(layout.layer_tar())) as tf:
        for m in tf.getmembers():
            assert not m.name.startswith("/") and ".." not in m.name.split("/")
        tf.extractall(dest, numeric_owner=True)
    return dest


def runnable():
    if ARCH != HOST_ARCH:
        pytest.skip(f"{ARCH} image: runtimes here run {HOST_ARCH} only (no binfmt)")
    if os.geteuid() != 0:
        pytest.skip("runc bundles need root to create")


def wait_for(fn, timeout, step=0.05):
    """Poll fn() until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def netns_http(pid, path, port=8080, timeout=3):
    """GET http://127.0.0.1:port/path inside pid's network namespace.

    Returns (status, body) or (None, error text).  curl runs from the host
    filesystem; only its network namespace is the container's.
    """
    r = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "curl", "-sS", "-m", str(timeout),
         "-w", "\n%{http_code}", f"http://127.0.0.1:{port}{urllib.parse.quote(path)}"],
        capture_output=True, text=True, timeout=timeout + 5)
    if r.returncode != 0:
        return None, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def netns_lo_up(pid):
    """A runtime's fresh network namespace has lo down; bring it up."""
    subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "link", "set", "lo", "up"],
                   check=True, timeout=10)


@pytest.fixture
def bundle_dir():
    """A scratch directory every uid can traverse (runc rootless needs that)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="outpost-oci-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
