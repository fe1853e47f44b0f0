"""The shipped files: byte-reproducible builds, the bmap, and the OVA
(tar order, manifest, certificate signature, OVF references, and a VMDK
that converts back to a disk that boots)."""
import hashlib
import os
import re
import subprocess
import tarfile
import xml.etree.ElementTree as ET

import pytest

from conftest import NAME, build_image, record_boot

OVF_NS = "{http://schemas.dmtf.org/ovf/envelope/1}"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_two_builds_are_byte_identical(outpost_bin, kernel, scratch):
    keys = os.path.join(scratch, "repro-keys")
    a = build_image(outpost_bin, kernel, os.path.join(scratch, "repro-a"),
                    DEV_KEY_DIR=keys)
    b = build_image(outpost_bin, kernel, os.path.join(scratch, "repro-b"),
                    DEV_KEY_DIR=keys)
    for k in (".img", ".img.bmap", ".ova"):
        assert sha256(a[k]) == sha256(b[k]), k


def test_development_key_is_named_as_such(image_dir):
    if os.environ.get("SIGNING_KEY"):
        pytest.skip("built with SIGNING_KEY, not the development key")
    with tarfile.open(os.path.join(image_dir, NAME + ".ova")) as t:
        cert = t.extractfile(NAME + ".cert").read().decode()
    pem = cert[cert.index("-----BEGIN"):]
    subj = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem,
                          capture_output=True, text=True, check=True).stdout
    assert "DEVELOPMENT ONLY" in subj


def test_bmap_copy_reproduces_the_image(image_dir, scratch):
    img = os.path.join(image_dir, NAME + ".img")
    out = os.path.join(scratch, "flashed.img")
    subprocess.run(["bmaptool", "-q", "copy", "--bmap", img + ".bmap", img, out],
                   check=True, timeout=120)
    assert sha256(out) == sha256(img)


def test_ova_layout_manifest_and_signature(image_dir, scratch):
    ova = os.path.join(image_dir, NAME + ".ova")
    d = os.path.join(scratch, "ova")
    os.makedirs(d, exist_ok=True)
    with tarfile.open(ova) as t:
        members = t.getmembers()
        names = [m.name for m in members]
        t.extractall(d)
    assert names == [NAME + ".ovf", NAME + ".mf", NAME + ".cert",
                     NAME + "-disk1.vmdk"]
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == members[0].mtime
               for m in members)
    mf = open(os.path.join(d, NAME + ".mf")).read()
    lines = dict(re.findall(r"^SHA256\(([^)]+)\)= ([0-9a-f]{64})$", mf, re.M))
    assert set(lines) == {NAME + ".ovf", NAME + "-disk1.vmdk"}
    for f, h in lines.items():
        assert sha256(os.path.join(d, f)) == h, f
    # The .cert: a signature over the .mf, then the signer's certificate.
    cert = open(os.path.join(d, NAME + ".cert")).read()
    m = re.match(r"SHA256\(%s\)= ([0-9a-f]+)\n" % re.escape(NAME + ".mf"), cert)
    assert m
    with open(os.path.join(d, "sig.bin"), "wb") as f:
        f.write(bytes.fromhex(m.group(1)))
    with open(os.path.join(d, "signer.pem"), "w") as f:
        f.write(cert[m.end():])
    subprocess.run(["openssl", "x509", "-in", os.path.join(d, "signer.pem"),
                    "-pubkey", "-noout", "-out", os.path.join(d, "pub.pem")],
                   check=True)
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                        os.path.join(d, "pub.pem"), "-signature",
                        os.path.join(d, "sig.bin"), os.path.join(d, NAME + ".mf")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Verified OK" in r.stdout
    # A changed manifest no longer verifies.
    with open(os.path.join(d, "bad.mf"), "w") as f:
        f.write(mf.replace("SHA256", "SHA256 ", 1))
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                        os.path.join(d, "pub.pem"), "-signature",
                        os.path.join(d, "sig.bin"), os.path.join(d, "bad.mf")],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_ovf_references_and_hardware(image_dir, scratch):
    d = os.path.join(scratch, "ova2")
    with tarfile.open(os.path.join(image_dir, NAME + ".ova")) as t:
        t.extractall(d)
    root = ET.parse(os.path.join(d, NAME + ".ovf")).getroot()
    files = root.findall("%sReferences/%sFile" % (OVF_NS, OVF_NS))
    assert len(files) == 1
    href = files[0].get(OVF_NS + "href")
    assert href == NAME + "-disk1.vmdk"
    assert int(files[0].get(OVF_NS + "size")) == os.path.getsize(os.path.join(d, href))
    disk = root.find("%sDiskSection/%sDisk" % (OVF_NS, OVF_NS))
    assert disk.get(OVF_NS + "fileRef") == files[0].get(OVF_NS + "id")
    assert "streamOptimized" in disk.get(OVF_NS + "format")
    assert int(disk.get(OVF_NS + "capacity")) == os.path.getsize(
        os.path.join(image_dir, NAME + ".img"))
    text = open(os.path.join(d, NAME + ".ovf")).read()
    assert "<rasd:VirtualQuantity>1</rasd:VirtualQuantity>" in text  # 1 vCPU
    assert "<rasd:VirtualQuantity>256</rasd:VirtualQuantity>" in text  # MiB
    assert "<rasd:ResourceSubType>AHCI</rasd:ResourceSubType>" in text
    assert "<rasd:ResourceSubType>E1000</rasd:ResourceSubType>" in text
    version = open(os.path.join(os.path.dirname(__file__), "../../VERSION")).read().strip()
    assert "<Version>%s</Version>" % version in text


def test_ova_disk_converts_back_and_boots(vms, image_dir, kernel, scratch):
    d = os.path.join(scratch, "ova3")
    with tarfile.open(os.path.join(image_dir, NAME + ".ova")) as t:
        t.extractall(d)
    raw = os.path.join(d, "back.img")
    subprocess.run(["qemu-img", "convert", "-O", "raw",
                    os.path.join(d, NAME + "-disk1.vmdk"), raw],
                   check=True, timeout=120)
    assert sha256(raw) == sha256(os.path.join(image_dir, NAME + ".img"))
    # As VirtualBox/VMware would attach it: AHCI disk, e1000 NIC.
    vm = vms(raw, boot="bios", devices="vbox")
    took, _ = vm.wait_http("/healthz", 60)
    record_boot("seabios-syslinux-vbox-from-ova", took)
