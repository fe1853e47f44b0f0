"""A signed update bundle for the tests of #21, built the way `make update`
builds one (scripts/update.sh) from random parts and a fresh RSA key."""
import hashlib
import os
import pathlib
import subprocess

TOP = pathlib.Path(__file__).resolve().parents[2]


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


def build(d, version, sizes=(400000, 12288, 30000, 30001)):
    """{"path", "data", "sha", "cert"} of a bundle of version under d."""
    parts = d / "parts"
    parts.mkdir(parents=True)
    for name, size in zip(("root.erofs", "root.verity", "uki-a.efi", "uki-b.efi"), sizes):
        (parts / name).write_bytes(os.urandom(size))
    (parts / "version").write_text(version + "\n")
    (parts / "arch").write_text("x86_64\n")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
       "-subj", "/CN=test", "-keyout", d / "k.key", "-out", d / "k.crt")
    env = dict(os.environ, SIGNING_KEY=str(d / "k.key"), SIGNING_CERT=str(d / "k.crt"))
    path = pathlib.Path(sh(TOP / "scripts/update.sh", parts, d / "out", env=env,
                           text=True).stdout.strip())
    data = path.read_bytes()
    return {"path": path, "data": data, "sha": hashlib.sha256(data).hexdigest(),
            "cert": d / "k.crt"}
