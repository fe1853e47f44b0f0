"""The outpost-edge image (`make oci-edge`, image/oci.sh image ARCH edge):
layout, config, layer contents and owners, static binary, reproducibility."""

import io
import json
import os
import re
import subprocess
import tarfile

import pytest

from conftest import ARCH, OCI_DIR, TOP, Layout, platform
from test_image import USER, created_epoch

VERSION = (TOP / "VERSION").read_text().strip()


@pytest.fixture(scope="module")
def edge():
    path = OCI_DIR / f"edge-{ARCH}"
    if not (path / "index.json").exists():
        pytest.fail(f"{path} missing: run make oci-edge ARCH={ARCH}")
    return Layout(path)


def members(layout):
    with tarfile.open(fileobj=io.BytesIO(layout.layer_tar())) as tf:
        return tf.getmembers()


def test_edge_config_runs_outpost_edge_as_non_root(edge):
    cfg = edge.config()
    c = cfg["config"]
    assert c["Entrypoint"] == ["/outpost-edge"] and c["Cmd"] == ["run"]
    assert c["User"] == str(USER) and c["StopSignal"] == "SIGTERM"
    assert c["ExposedPorts"] == {"7080/tcp": {}, "7443/tcp": {}}
    assert "Healthcheck" not in c  # no probe command: Kubernetes probes /readyz
    arch, variant = platform(ARCH)
    assert (cfg["architecture"], cfg.get("variant")) == (arch, variant)
    ann = edge.manifest()["annotations"]
    assert ann["org.opencontainers.image.title"] == "outpost-edge"
    assert "MPL-2.0" not in ann["org.opencontainers.image.licenses"]  # no CA bundle
    assert edge.manifest_desc()["annotations"]["org.opencontainers.image.ref.name"] == \
        f"outpost-edge:{VERSION}"


def test_edge_layer_holds_binary_licences_and_data_only(edge):
    ms = members(edge)
    names = [m.name for m in ms]
    assert names == sorted(names)
    allowed = re.compile(r"outpost-edge|data|licenses(/[a-z0-9-]+)?")
    assert [n for n in names if not allowed.fullmatch(n)] == []
    for lic in ("outpost", "musl", "bearssl", "nghttp2"):
        assert f"licenses/{lic}" in names
    epoch = created_epoch(edge.config())
    for m in ms:
        assert m.mtime == epoch and m.uname == "" and m.gname == "", m.name
        if m.name == "data":
            assert m.isdir() and (m.uid, m.gid, m.mode) == (USER, 0, 0o770)
        else:
            assert (m.uid, m.gid) == (0, 0) and m.mode & 0o022 == 0, m.name
    (binary,) = [m for m in ms if m.name == "outpost-edge"]
    assert binary.isfile() and binary.mode == 0o755
    with tarfile.open(fileobj=io.BytesIO(edge.layer_tar())) as tf:
        elf = tf.extractfile("outpost-edge").read()
    assert elf == (OCI_DIR.parent / ARCH / "outpost-edge").read_bytes()


def test_edge_archive_tags_and_reproducible_build(edge, tmp_path):
    with tarfile.open(OCI_DIR / f"outpost-edge-{ARCH}.tar") as tf:
        (entry,) = json.load(tf.extractfile("manifest.json"))
        assert json.load(tf.extractfile("index.json")) == edge.index
    assert entry["RepoTags"] == [f"outpost-edge:{VERSION}", "outpost-edge:latest"]
    cfg, ann = edge.config(), edge.manifest()["annotations"]
    digests = []
    for d in ("a", "b"):
        env = dict(os.environ, OCI_OUT=str(tmp_path / d), O=str(OCI_DIR.parent),
                   SOURCE_DATE_EPOCH=str(created_epoch(cfg)),
                   VERSION=ann["org.opencontainers.image.version"],
                   REVISION=ann["org.opencontainers.image.revision"],
                   OCI_SOURCE=ann["org.opencontainers.image.source"])
        out = subprocess.run([str(TOP / "image" / "oci.sh"), "image", ARCH, "edge"], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
        digests.append(re.search(r"manifest (sha256:[0-9a-f]{64})", out).group(1))
    assert digests[0] == digests[1] == edge.manifest_desc()["digest"]
    assert (tmp_path / "a" / f"outpost-edge-{ARCH}.tar").read_bytes() == \
        (tmp_path / "b" / f"outpost-edge-{ARCH}.tar").read_bytes()


def test_unknown_image_name_refused():
    r = subprocess.run([str(TOP / "image" / "oci.sh"), "image", ARCH, "edgy"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "unknown image" in r.stderr
