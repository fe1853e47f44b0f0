"""The image as files: layout, config, layer contents, size, reproducibility."""

import calendar
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile
import time

import pytest

from conftest import ARCH, ARCHS, ELF_MACHINE, OCI_DIR, TOP, Layout, platform

SIZE_GATE = 2_000_000  # bytes; the hard gate of issue 7 (goal: 1 MB)
USER = 65532


def created_epoch(cfg):
    return calendar.timegm(time.strptime(cfg["created"], "%Y-%m-%dT%H:%M:%SZ"))


def test_layout_blobs_match_their_digests(layout):
    assert json.loads((layout.path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    desc = layout.manifest_desc()
    assert desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    man = layout.manifest()
    assert man["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in man["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"]
    cfg = layout.config()
    diff_id = "sha256:" + hashlib.sha256(layout.layer_tar()).hexdigest()
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}


def test_config_runs_outpost_as_numeric_non_root_user(layout):
    c = layout.config()["config"]
    assert c["Entrypoint"] == ["/outpost"]
    assert c["Cmd"] == ["run"]
    assert re.fullmatch(r"[1-9][0-9]*", c["User"]) and int(c["User"]) != 0
    assert c["ExposedPorts"] == {"8080/tcp": {}}
    assert c["Healthcheck"]["Test"] == ["CMD", "/outpost", "probe"]


def test_platform_and_annotations(layout):
    cfg = layout.config()
    arch, variant = platform(ARCH)
    assert cfg["os"] == "linux" and cfg["architecture"] == arch
    assert cfg.get("variant") == variant
    assert layout.manifest_desc()["platform"]["architecture"] == arch
    ann = layout.manifest()["annotations"]
    version = (TOP / "VERSION").read_text().strip()
    assert ann["org.opencontainers.image.version"] == version
    assert re.fullmatch(r"[0-9a-f]{12}|unknown", ann["org.opencontainers.image.revision"])
    assert ann["org.opencontainers.image.source"]
    assert "MIT" in ann["org.opencontainers.image.licenses"]
    assert ann["org.opencontainers.image.created"] == cfg["created"]
    assert layout.manifest_desc()["annotations"]["org.opencontainers.image.ref.name"] == \
        f"outpost:{version}"


def layer_members(layout):
    with tarfile.open(fileobj=io.BytesIO(layout.layer_tar())) as tf:
        return tf.getmembers()


def test_layer_holds_only_the_binary_licences_ca_and_data(layout):
    names = [m.name for m in layer_members(layout)]
    assert names == sorted(names), "tar entries must be sorted"
    allowed = re.compile(r"outpost|data|licenses(/[a-z0-9-]+)?|etc(/ssl(/certs(/ca-certificates\.crt)?)?)?")
    assert [n for n in names if not allowed.fullmatch(n)] == []
    for lic in ("outpost", "musl", "bearssl", "nghttp2", "c-ares", "pcre2", "protobuf-c"):
        assert f"licenses/{lic}" in names
    assert "licenses/lwip" not in names, "lwIP is not linked into /outpost"


def test_layer_owners_modes_and_timestamps_are_fixed(layout):
    cfg = layout.config()
    for m in layer_members(layout):
        assert m.mtime == created_epoch(cfg), m.name
        assert m.uname == "" and m.gname == "", m.name
        if m.name == "data":
            assert (m.uid, m.gid, m.mode) == (USER, 0, 0o770)
        else:
            assert (m.uid, m.gid) == (0, 0), m.name
            assert m.mode & 0o022 == 0, m.name
    (outpost,) = [m for m in layer_members(layout) if m.name == "outpost"]
    assert outpost.isfile() and outpost.mode == 0o755


def test_binary_is_static_for_the_image_architecture(layout):
    with tarfile.open(fileobj=io.BytesIO(layout.layer_tar())) as tf:
        elf = tf.extractfile("outpost").read()
    assert elf[:4] == b"\x7fELF"
    is64 = elf[4] == 2
    (machine,) = struct.unpack_from("<H", elf, 18)
    assert machine == ELF_MACHINE[ARCH]
    phoff, phentsize, phnum = (struct.unpack_from("<QHH", elf, 32)[0], *struct.unpack_from("<HH", elf, 54)) \
        if is64 else (struct.unpack_from("<I", elf, 28)[0], *struct.unpack_from("<HH", elf, 42))
    types = [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types, "PT_INTERP: the binary is not static"
    assert 2 not in types, "PT_DYNAMIC: the binary is not static"


def test_compressed_size_under_gate(layout, archive):
    man = layout.manifest()
    blobs = layout.manifest_desc()["size"] + man["config"]["size"] + \
        sum(layer["size"] for layer in man["layers"])
    size = os.path.getsize(archive)
    print(f"\n{ARCH}: blobs {blobs} bytes, archive {size} bytes")
    assert blobs <= size <= SIZE_GATE


def test_archive_is_layout_plus_docker_load_manifest(layout, archive):
    with tarfile.open(archive) as tf:
        names = tf.getnames()
        assert names == sorted(names)
        for m in tf.getmembers():
            assert (m.uid, m.gid, m.mtime) == (0, 0, created_epoch(layout.config()))
        dm = json.load(tf.extractfile("manifest.json"))
        index = json.load(tf.extractfile("index.json"))
    assert index == layout.index
    (entry,) = dm
    man = layout.manifest()
    assert entry["Config"] == "blobs/sha256/" + man["config"]["digest"][7:]
    assert entry["Layers"] == ["blobs/sha256/" + man["layers"][0]["digest"][7:]]
    assert f"outpost:{(TOP / 'VERSION').read_text().strip()}" in entry["RepoTags"]
    assert all(n in names for n in [entry["Config"], *entry["Layers"], "oci-layout"])


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_skopeo_reads_the_archive(layout, archive, transport):
    r = subprocess.run(["skopeo", "inspect", "--raw", f"{transport}:{archive}"],
                       capture_output=True, timeout=60, check=True)
    raw = json.loads(r.stdout)
    # The OCI path hands back our manifest; the docker path converts it but
    # must keep the same layer and config.
    if transport == "oci-archive":
        assert r.stdout == layout.blob(layout.manifest_desc())
    assert raw["config"]["digest"] == layout.manifest()["config"]["digest"]


def build_again(tmp, cfg, ann):
    env = dict(os.environ, OCI_OUT=str(tmp), SOURCE_DATE_EPOCH=str(created_epoch(cfg)),
               VERSION=ann["org.opencontainers.image.version"],
               REVISION=ann["org.opencontainers.image.revision"],
               OCI_SOURCE=ann["org.opencontainers.image.source"],
               O=str(layout_build_dir()))
    out = subprocess.run([str(TOP / "image" / "oci.sh"), "image", ARCH], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return re.search(r"manifest (sha256:[0-9a-f]{64})", out).group(1)


def layout_build_dir():
    return OCI_DIR.parent


def test_two_builds_give_the_same_manifest_digest(layout, tmp_path):
    cfg, ann = layout.config(), layout.manifest()["annotations"]
    a = build_again(tmp_path / "a", cfg, ann)
    b = build_again(tmp_path / "b", cfg, ann)
    assert a == b == layout.manifest_desc()["digest"]
    assert (tmp_path / "a" / f"outpost-{ARCH}.tar").read_bytes() == \
        (tmp_path / "b" / f"outpost-{ARCH}.tar").read_bytes()
    assert Layout(tmp_path / "a" / ARCH).index == layout.index


PLATFORMS = {a: platform(a) for a in ARCHS}


@pytest.mark.skipif(not (OCI_DIR / "multi" / "index.json").exists(),
                    reason="no multi-arch layout: make oci-multi")
def test_multi_arch_index_covers_amd64_arm64_armv7():
    multi = Layout(OCI_DIR / "multi")
    index = multi.json(multi.manifest_desc())
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    seen = {}
    for desc in index["manifests"]:
        plat = desc["platform"]
        key = (plat["architecture"], plat.get("variant"))
        man = multi.json(desc)
        cfg = multi.json(man["config"])
        assert (cfg["architecture"], cfg.get("variant")) == key
        (layer,) = man["layers"]
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(multi.blob(layer)))) as tf:
            elf = tf.extractfile("outpost").read()
        seen[key] = struct.unpack_from("<H", elf, 18)[0]
    assert seen == {PLATFORMS[a]: ELF_MACHINE[a] for a in PLATFORMS}
