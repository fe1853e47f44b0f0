"""`outpost keygen` and `outpost csr` checked by a real, independent peer:
the openssl command line tool.

One behaviour per test: every key type passes `openssl pkey -check`; the
key file is written with mode 0600 and never replaced without --force;
every request passes `openssl req -verify` and shows the names it asks for.
"""
import os
import stat
import subprocess

import pytest

from conftest import run

KEY_TYPES = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"]
OPENSSL_ALGO = {"p256": "prime256v1", "p384": "secp384r1", "rsa2048": "2048 bit",
                "rsa3072": "3072 bit", "rsa4096": "4096 bit"}


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True,
                          timeout=30)


def keygen(outpost_bin, *args):
    return run([outpost_bin, "keygen", *args], timeout=60)


@pytest.mark.parametrize("ktype", KEY_TYPES)
def test_keygen_every_type_passes_openssl_check(outpost_bin, ktype):
    r = keygen(outpost_bin, "--type", ktype)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN PRIVATE KEY-----\n"), r.stdout[:40]
    chk = openssl("pkey", "-check", "-noout", "-text", input=r.stdout.encode())
    assert chk.returncode == 0, chk.stderr
    assert b"valid" in chk.stdout
    assert OPENSSL_ALGO[ktype].encode() in chk.stdout


def test_keygen_default_is_p256(outpost_bin):
    r = keygen(outpost_bin)
    assert r.returncode == 0, r.stderr
    txt = openssl("pkey", "-noout", "-text", input=r.stdout.encode())
    assert b"prime256v1" in txt.stdout, txt


def test_keygen_keys_differ(outpost_bin):
    assert keygen(outpost_bin).stdout != keygen(outpost_bin).stdout


def test_keygen_out_file_mode_0600(outpost_bin, tmp_path):
    out = tmp_path / "key.pem"
    old = os.umask(0)
    try:
        r = keygen(outpost_bin, "--out", str(out))
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert openssl("pkey", "-check", "-noout", "-in", str(out)).returncode == 0
    # Nothing but the key is left in the directory (no temporary file).
    assert os.listdir(tmp_path) == ["key.pem"]


def test_keygen_refuses_to_overwrite(outpost_bin, tmp_path):
    out = tmp_path / "key.pem"
    out.write_text("precious\n")
    r = keygen(outpost_bin, "--out", str(out))
    assert r.returncode == 100, r
    assert "exists" in r.stderr and "--force" in r.stderr
    assert out.read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["key.pem"]


def test_keygen_force_replaces(outpost_bin, tmp_path):
    out = tmp_path / "key.pem"
    out.write_text("old\n")
    out.chmod(0o644)
    r = keygen(outpost_bin, "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_keygen_bad_type_is_usage_error(outpost_bin):
    r = keygen(outpost_bin, "--type", "rsa1024")
    assert r.returncode == 100
    assert "--type" in r.stderr and r.stdout == ""


def test_keygen_unwritable_dir_is_io_error(outpost_bin, tmp_path):
    r = keygen(outpost_bin, "--out", str(tmp_path / "missing" / "key.pem"))
    assert r.returncode == 111, r
    assert "missing/key.pem" in r.stderr
