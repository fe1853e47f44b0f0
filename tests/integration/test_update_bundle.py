"""Update bundles (#21 item 3): scripts/update.sh builds a real, openssl-signed
bundle from parts made here, and `outpost update verify` accepts it or
refuses it with the reason (exit 100): tampered part, bad signature,
another key, truncated, wrong arch, downgrade (and --allow-downgrade),
min-version.  The running version is the build's VERSION."""
import os
import pathlib
import subprocess

import pytest

from conftest import run

TOP = pathlib.Path(__file__).resolve().parents[2]
RUNNING = (TOP / "VERSION").read_text().strip()


def bump(v, d):
    """v with d added to its last component."""
    parts = [int(x) for x in v.split(".")]
    parts[-1] += d
    return ".".join(map(str, parts))


def keypair(d):
    d.mkdir(parents=True, exist_ok=True)
    key, crt = d / "outpost-DEVELOPMENT-ONLY.key", d / "outpost-DEVELOPMENT-ONLY.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", "/CN=update test", "-keyout", key, "-out", crt],
                   check=True, capture_output=True, timeout=60)
    return key, crt


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    return keypair(base / "dev"), keypair(base / "other")


def build(tmp_path, keys, version=None, arch="x86_64", min_version=None, key=0):
    parts = tmp_path / "parts"
    parts.mkdir(exist_ok=True)
    for name, size in (("root.erofs", 70000), ("root.verity", 5000), ("uki-a.efi", 3000),
                       ("uki-b.efi", 3001)):
        (parts / name).write_bytes(os.urandom(size))
    (parts / "version").write_text((version or bump(RUNNING, 1)) + "\n")
    (parts / "arch").write_text(arch + "\n")
    env = dict(os.environ, DEV_KEY_DIR=str(keys[key][0].parent))
    env.pop("SIGNING_KEY", None)
    if min_version:
        env["UPDATE_MIN_VERSION"] = min_version
    r = run([TOP / "scripts/update.sh", parts, tmp_path / "out"], env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return pathlib.Path(r.stdout.strip())


def verify(outpost_bin, keys, path, *extra):
    return run([outpost_bin, "update", "verify", "--cert", keys[0][1], *extra, path])


def test_good_bundle_verifies_and_is_reproducible(outpost_bin, keys, tmp_path):
    b = build(tmp_path, keys)
    assert b.name == f"outpost-{bump(RUNNING, 1)}-x86_64.update"
    r = verify(outpost_bin, keys, b)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "ok"
    assert f"version {bump(RUNNING, 1)}" in r.stdout
    for name in ("root", "verity", "uki-a", "uki-b"):
        assert f"part {name} " in r.stdout
    first = b.read_bytes()
    env = dict(os.environ, DEV_KEY_DIR=str(keys[0][0].parent))
    r = run([TOP / "scripts/update.sh", tmp_path / "parts", tmp_path / "again"], env=env,
            timeout=60)
    assert pathlib.Path(r.stdout.strip()).read_bytes() == first


def refused(r, reason):
    assert r.returncode == 100, r.stdout + r.stderr
    assert f"refused: {reason}" in r.stdout, r.stdout


def test_tampered_part_is_refused(outpost_bin, keys, tmp_path):
    b = build(tmp_path, keys)
    data = bytearray(b.read_bytes())
    data[4096 + 100] ^= 1
    b.write_bytes(data)
    refused(verify(outpost_bin, keys, b), "part root: sha256 mismatch")


def test_flipped_signature_is_refused(outpost_bin, keys, tmp_path):
    b = build(tmp_path, keys)
    data = bytearray(b.read_bytes())
    mlen = int.from_bytes(data[8:12], "big")
    data[12 + mlen + 4 + 10] ^= 0x40
    b.write_bytes(data)
    refused(verify(outpost_bin, keys, b), "bad signature")


def test_edited_manifest_is_refused(outpost_bin, keys, tmp_path):
    b = build(tmp_path, keys, arch="aarch64")
    data = b.read_bytes().replace(b"arch aarch64", b"arch x86_64\n", 1)
    b.write_bytes(data)
    refused(verify(outpost_bin, keys, b), "bad signature")


def test_other_key_is_refused(outpost_bin, keys, tmp_path):
    refused(verify(outpost_bin, keys, build(tmp_path, keys, key=1)), "bad signature")


def test_truncated_bundle_is_refused(outpost_bin, keys, tmp_path):
    b = build(tmp_path, keys)
    data = b.read_bytes()
    b.write_bytes(data[:-1])
    refused(verify(outpost_bin, keys, b), "manifest: part uki-b: outside the file")
    b.write_bytes(data[:100])
    refused(verify(outpost_bin, keys, b), "truncated: in the manifest")


def test_wrong_arch_is_refused(outpost_bin, keys, tmp_path):
    refused(verify(outpost_bin, keys, build(tmp_path, keys, arch="aarch64")),
            "for arch aarch64, this is x86_64")


def test_downgrade_refused_unless_allowed(outpost_bin, keys, tmp_path):
    b = build(tmp_path, keys, version=RUNNING)
    refused(verify(outpost_bin, keys, b),
            f"version {RUNNING} is not newer than {RUNNING} (UPDATE_ALLOW_DOWNGRADE)")
    r = verify(outpost_bin, keys, b, "--allow-downgrade")
    assert r.returncode == 0, r.stdout + r.stderr


def test_min_version_refused(outpost_bin, keys, tmp_path):
    new = bump(RUNNING, 2)
    b = build(tmp_path, keys, version=new, min_version=bump(RUNNING, 1))
    refused(verify(outpost_bin, keys, b),
            f"version {new} applies to {bump(RUNNING, 1)} or newer, this is {RUNNING}")
    r = verify(outpost_bin, keys, build(tmp_path, keys, min_version=RUNNING))
    assert r.returncode == 0, r.stdout + r.stderr
