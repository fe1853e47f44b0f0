"""The identity store on disk (DATA_DIR/identity), through `outpost identity`.

A kill -9 at any moment of a save leaves either the old or the new identity,
each complete and consistent (key matches certificate, metadata names the
certificate's connector); a full file system leaves the old one and reports
the error.  Certificates come from openssl (pki.sh), checks use openssl.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from conftest import base_env, run
from controllerlib import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "alpha", "beta")


def import_argv(outpost_bin, pki, name):
    return [outpost_bin, "identity", "import", "--cert", f"{pki}/client-{name}.pem",
            "--key", f"{pki}/client-{name}.key", "--ca", f"{pki}/ca.pem", "--name", name]


def show(outpost_bin, data):
    return run([outpost_bin, "identity", "show"], env=base_env(DATA_DIR=data))


def openssl_pub(args):
    return subprocess.run(["openssl", *args], capture_output=True, check=True,
                          timeout=10).stdout


def consistent(data):
    """The live generation: key matches the leaf, meta names the leaf's CN."""
    cur = os.path.join(data, "identity", "current")
    meta = dict(line.split("=", 1) for line in open(f"{cur}/meta").read().split())
    cert_pub = openssl_pub(["x509", "-in", f"{cur}/chain.pem", "-noout", "-pubkey"])
    key_pub = openssl_pub(["pkey", "-in", f"{cur}/key.pem", "-pubout"])
    subject = openssl_pub(["x509", "-in", f"{cur}/chain.pem", "-noout", "-subject"])
    assert cert_pub == key_pub
    assert f"connector-{meta['name']}".encode() in subject
    return meta["name"]


def test_import_then_show(outpost_bin, pki, tmp_path):
    data = str(tmp_path)
    r = run(import_argv(outpost_bin, pki, "alpha"), env=base_env(DATA_DIR=data))
    assert r.returncode == 0, r.stderr
    r = show(outpost_bin, data)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["name"] == "alpha" and got["source"] == "import"
    assert got["generation"] == 1 and got["expired"] is False
    assert got["renew_at"] < got["not_after"]
    assert os.stat(f"{data}/identity").st_mode & 0o777 == 0o700
    assert os.stat(f"{data}/identity/g1/key.pem").st_mode & 0o777 == 0o600
    assert consistent(data) == "alpha"


def test_show_without_identity(outpost_bin, tmp_path):
    r = show(outpost_bin, str(tmp_path))
    assert r.returncode == 1
    assert "no identity" in r.stderr


def test_mismatched_key_refused(outpost_bin, pki, tmp_path):
    data = str(tmp_path)
    argv = import_argv(outpost_bin, pki, "alpha")
    argv[argv.index("--key") + 1] = f"{pki}/client-beta.key"
    r = run(argv, env=base_env(DATA_DIR=data))
    assert r.returncode == 100
    assert "does not match" in r.stderr
    assert not os.path.exists(f"{data}/identity/current")


def test_kill9_during_saves_leaves_one_identity(outpost_bin, pki, tmp_path):
    """Saves alternate between two identities and are killed at random."""
    data = str(tmp_path)
    env = base_env(DATA_DIR=data)
    assert run(import_argv(outpost_bin, pki, "alpha"), env=env).returncode == 0
    t0 = time.monotonic()
    assert run(import_argv(outpost_bin, pki, "beta"), env=env).returncode == 0
    took = time.monotonic() - t0
    rng = random.Random(12)
    interrupted = 0
    for i in range(60):
        name = ("alpha", "beta")[i % 2]
        p = subprocess.Popen(import_argv(outpost_bin, pki, name), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, took))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        entries = os.listdir(f"{data}/identity")
        if len(entries) > 2 or "current.tmp" in entries:
            interrupted += 1  # killed between writing and cleaning up
        r = show(outpost_bin, data)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["name"] in ("alpha", "beta")
        assert consistent(data) == json.loads(r.stdout)["name"]
    # The loop must have hit saves in progress, or it proves nothing.
    assert interrupted > 0


SCRIPT = r"""
set -u
mount -t tmpfs -o size=256k,mode=0700 outpost-test "$DATA"
"$OUTPOST" identity import --cert "$PKI/client-alpha.pem" --key "$PKI/client-alpha.key" \
    --ca "$PKI/ca.pem" --name alpha >/dev/null || { echo "first import failed"; exit 1; }
dd if=/dev/zero of="$DATA/fill" bs=4096 2>/dev/null
dd if=/dev/zero of="$DATA/fill2" bs=1 2>/dev/null
echo "free=$(stat -f -c %a "$DATA")"
"$OUTPOST" identity import --cert "$PKI/client-beta.pem" --key "$PKI/client-beta.key" \
    --ca "$PKI/ca.pem" --name beta 2>"$OUT/import.err"
echo "import=$?"
"$OUTPOST" identity show >"$OUT/show.json" 2>"$OUT/show.err"
echo "show=$?"
ls "$DATA/identity" >"$OUT/ls"
cp -r "$DATA/identity" "$OUT/identity"
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare(1) for a private tmpfs")
def test_full_disk_keeps_old_identity(outpost_bin, pki, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    env = base_env(DATA_DIR=data, OUTPOST=outpost_bin, PKI=pki, DATA=data, OUT=out)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    res = dict(line.split("=", 1) for line in r.stdout.split())
    assert res["free"] == "0"
    assert res["import"] == "111"
    err = (out / "import.err").read_text()
    assert "No space left on device" in err
    assert "PRIVATE KEY" not in err
    assert res["show"] == "0"
    assert json.loads((out / "show.json").read_text())["name"] == "alpha"
    assert (out / "ls").read_text().split() == ["current", "g1"]
    assert consistent(str(out)) == "alpha"
