"""The aarch64 edge-box disk boots under qemu-system-aarch64 -M virt (TCG)
to /healthz.

The disk is the appliance's own (scripts/image.sh: GPT, erofs root under
dm-verity, config FAT, data ext4) built around build/aarch64/outpost; the
kernel is board/aarch64-virt's, given by OUTPOST_AARCH64_KERNEL or built by
`scripts/kernel.sh aarch64-virt`.  It boots directly (-kernel) with the
disk's own command line, the console moved to the PL011 UART: the UEFI and
signed-UKI path of the x86 image is not built for ARM yet.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("OUTPOST_AARCH64_BIN", os.path.join(TOP, "build", "aarch64", "outpost"))
BOOT_TIMEOUT = 180  # TCG on a loaded 2-core host


@pytest.fixture(scope="module")
def kernel():
    k = os.environ.get("OUTPOST_AARCH64_KERNEL")
    if not k:
        r = subprocess.run([os.path.join(TOP, "scripts", "kernel.sh"), "aarch64-virt"],
                           capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            pytest.skip("no aarch64 kernel: " + r.stderr.strip().splitlines()[-1])
        k = r.stdout.strip()
    return k


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    if not os.path.exists(BIN):
        pytest.skip("build/aarch64/outpost missing: make ARCH=aarch64")
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("qemu-system-aarch64 missing (qemu-system-arm)")
    out = tmp_path_factory.mktemp("aarch64-image")
    name = "outpost-test-aarch64"
    # image.sh wants a kernel file for its x86 boot paths; they are unused.
    dummy = out / "no-x86-kernel"
    dummy.write_bytes(b"")
    r = subprocess.run([os.path.join(TOP, "scripts", "image.sh"), BIN, str(dummy), str(out), name],
                       env=dict(os.environ, KEEP_WORK="1", DEV_KEY_DIR=str(out / "keys")),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    cmdline = (out / f"work-{name}" / "cmdline.txt").read_text()
    cmdline = re.sub(r"console=\S+ ?", "", cmdline)
    return out / f"{name}.img", "console=ttyAMA0,115200 " + cmdline


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot(kernel, img, cmdline, tmp_path, timeout):
    """Boot img; returns (seconds to /healthz or None, console text)."""
    port = free_port()
    console = tmp_path / "console.log"
    vm = subprocess.Popen(
        ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "256",
         "-nodefaults", "-display", "none", "-serial", f"file:{console}",
         "-kernel", kernel, "-append", cmdline,
         "-drive", f"if=none,id=d,format=raw,file={img},snapshot=on",
         "-device", "virtio-blk-pci,drive=d",
         "-netdev", f"user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:8080",
         "-device", "virtio-net-pci,netdev=n"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    took = None
    try:
        while time.monotonic() - t0 < timeout and vm.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if '"ok"' in r.read().decode():
                        took = time.monotonic() - t0
                        break
            except OSError:
                time.sleep(0.5)
    finally:
        vm.kill()
        vm.wait(timeout=10)
    return took, console.read_text(errors="replace") if console.exists() else ""


def root_offset(img):
    table = json.loads(subprocess.run(["sfdisk", "--json", str(img)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    (root,) = [p for p in table["partitions"] if p.get("name") == "outpost-root"]
    return root["start"] * table.get("sectorsize", 512)


def test_direct_kernel_boot_reaches_healthz(kernel, disk, tmp_path):
    img, cmdline = disk
    took, log = boot(kernel, img, cmdline, tmp_path, BOOT_TIMEOUT)
    assert took is not None, f"no /healthz after {BOOT_TIMEOUT} s; console:\n{log[-3000:]}"
    print(f"\naarch64 direct boot to /healthz in {took:.1f} s")
    assert re.search(r"outpost \S+ .*appliance", log), log[-2000:]
    assert re.search(r"data:\s+data partition mounted", log), log[-2000:]


def test_a_changed_root_byte_stops_the_boot(kernel, disk, tmp_path):
    img, cmdline = disk
    bad = tmp_path / "tampered.img"
    shutil.copyfile(img, bad)
    with open(bad, "r+b") as f:
        # One byte of /sbin/init itself: the kernel must read it to start.
        start = root_offset(bad)
        f.seek(start)
        at = start + f.read(32 << 20).index(b"\x7fELF\x02\x01\x01") + 0x100
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xff]))
    # A good boot answers in a few seconds; give the bad one 30.
    took, log = boot(kernel, bad, cmdline, tmp_path, 30)
    assert took is None, "booted from a modified root"
