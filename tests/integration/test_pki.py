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


def csr(outpost_bin, *args):
    return run([outpost_bin, "csr", *args], timeout=30)


@pytest.fixture(scope="module")
def keys(outpost_bin, tmp_path_factory):
    """One key file of every type, made by `outpost keygen`."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for t in KEY_TYPES:
        out[t] = d / f"{t}.pem"
        r = keygen(outpost_bin, "--type", t, "--out", str(out[t]))
        assert r.returncode == 0, r.stderr
    return out


SIG_ALGO = {"p256": b"ecdsa-with-SHA256", "p384": b"ecdsa-with-SHA384",
            "rsa2048": b"sha256WithRSAEncryption", "rsa3072": b"sha256WithRSAEncryption",
            "rsa4096": b"sha256WithRSAEncryption"}


@pytest.mark.parametrize("ktype", KEY_TYPES)
def test_csr_every_type_verified_by_openssl(outpost_bin, keys, ktype):
    r = csr(outpost_bin, "--key", str(keys[ktype]),
            "--spiffe-id", "spiffe://example.org/connector/edge-1",
            "--uri", "urn:outpost:test", "--cn", "edge-1",
            "--dns", "edge-1.example", "--dns", "alt.example")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    v = openssl("req", "-verify", "-noout", "-text", input=r.stdout.encode())
    assert v.returncode == 0, v.stderr
    assert b"verify OK" in v.stdout + v.stderr
    assert (b"URI:spiffe://example.org/connector/edge-1, URI:urn:outpost:test, "
            b"DNS:edge-1.example, DNS:alt.example") in v.stdout
    assert b"Subject: CN = edge-1" in v.stdout
    assert SIG_ALGO[ktype] in v.stdout
    # The request carries the key's public half.
    pub_req = openssl("req", "-noout", "-pubkey", input=r.stdout.encode()).stdout
    pub_key = openssl("pkey", "-pubout", "-in", str(keys[ktype])).stdout
    assert pub_req and pub_req == pub_key


def test_csr_without_cn_has_empty_subject(outpost_bin, keys, tmp_path):
    out = tmp_path / "req.pem"
    r = csr(outpost_bin, "--key", str(keys["p256"]),
            "--spiffe-id", "spiffe://td/connector/x", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    v = openssl("req", "-verify", "-noout", "-text", "-in", str(out))
    assert v.returncode == 0, v.stderr
    assert b"URI:spiffe://td/connector/x" in v.stdout
    assert b"CN =" not in v.stdout


def test_csr_key_made_by_openssl(outpost_bin, tmp_path):
    key = tmp_path / "k.pem"
    assert openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout",
                   "-out", str(key)).returncode == 0  # SEC1 "EC PRIVATE KEY"
    r = csr(outpost_bin, "--key", str(key), "--uri", "spiffe://td/x")
    assert r.returncode == 0, r.stderr
    assert openssl("req", "-verify", "-noout", input=r.stdout.encode()).returncode == 0


def test_csr_refuses_weak_key_without_printing_it(outpost_bin, tmp_path):
    key = tmp_path / "weak.pem"
    assert openssl("genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024",
                   "-out", str(key)).returncode == 0
    r = csr(outpost_bin, "--key", str(key), "--uri", "spiffe://td/x")
    assert r.returncode == 100, r
    assert "RSA key of 1024 bits, 2048 required" in r.stderr
    body = "".join(key.read_text().splitlines()[1:-1])
    assert body[:24] not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args,why", [
    ([], "--key is required"),
    (["--key", "K"], "--spiffe-id or --uri required"),
    (["--key", "K", "--spiffe-id", "https://x"], "must start with spiffe://"),
    (["--key", "K", "--uri", "has space"], "URI 1"),
    (["--key", "K", "--uri", "u:x", "--cn", "a\x01b"], "CN"),
])
def test_csr_usage_errors(outpost_bin, keys, args, why):
    args = [str(keys["p256"]) if a == "K" else a for a in args]
    r = csr(outpost_bin, *args)
    assert r.returncode == 100, r
    assert why in r.stderr


def test_csr_missing_key_file_is_io_error(outpost_bin, tmp_path):
    r = csr(outpost_bin, "--key", str(tmp_path / "nope.pem"), "--uri", "u:x")
    assert r.returncode == 111, r
    assert "nope.pem" in r.stderr


def test_csr_rsa_keys_made_by_openssl(outpost_bin, tmp_path):
    # openssl's primes are not all = 3 mod 4 (BearSSL's own are): four
    # keys make a lucky pass of a broken exponent recovery 1 in 256.
    for i in range(4):
        key = tmp_path / f"r{i}.pem"
        assert openssl("genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048",
                       "-out", str(key)).returncode == 0
        r = csr(outpost_bin, "--key", str(key), "--uri", "spiffe://td/x")
        assert r.returncode == 0, r.stderr
        v = openssl("req", "-verify", "-noout", input=r.stdout.encode())
        assert v.returncode == 0, v.stderr
