"""The aarch64 edge-box disk boots under qemu-system-aarch64 -M virt (TCG)
to /healthz: through UEFI with Secure Boot (the signed UKI on the ESP), and
straight from the kernel.

The disk is the appliance's own (scripts/image.sh: GPT, erofs root under
dm-verity, config FAT, data ext4, ESP with a signed UKI) built around
build/aarch64/outpost with board/aarch64-virt's kernel (OUTPOST_AARCH64_KERNEL
or `scripts/kernel.sh aarch64-virt`) and systemd's aarch64 EFI stub from the
aarch64 sysroot (scripts/sysroot.sh).  The firmware is qemu-efi-aarch64's
AAVMF with the snakeoil keys enrolled, so the image is signed with them.
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
BOOT_TIMEOUT = 180  # TCG on a loaded 2-core host; a boot takes 3-10 s
AAVMF = "/usr/share/AAVMF"
SNAKEOIL_KEY = "/usr/share/ovmf/PkKek-1-snakeoil.key"
SNAKEOIL_CERT = "/usr/share/ovmf/PkKek-1-snakeoil.pem"


def script(*args, timeout=600):
    r = subprocess.run([os.path.join(TOP, "scripts", args[0]), *args[1:]],
                       capture_output=True, text=True, timeout=timeout)
    return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture(scope="module")
def kernel():
    k = os.environ.get("OUTPOST_AARCH64_KERNEL") or script("kernel.sh", "aarch64-virt",
                                                           timeout=3600)
    if not k:
        pytest.skip("no aarch64 kernel (scripts/kernel.sh aarch64-virt failed)")
    return k


@pytest.fixture(scope="module")
def disk(kernel, tmp_path_factory):
    """(image, kernel command line for a direct boot)."""
    for f in (BIN, os.path.join(AAVMF, "AAVMF_CODE.snakeoil.fd"), SNAKEOIL_KEY):
        if not os.path.exists(f):
            pytest.skip(f"{f} missing (make ARCH=aarch64; scripts/setup.sh)")
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("qemu-system-aarch64 missing (qemu-system-arm)")
    sysroot = script("sysroot.sh", "aarch64")
    assert sysroot, "scripts/sysroot.sh aarch64 failed"
    out = tmp_path_factory.mktemp("aarch64-image")
    key = out / "snakeoil.key"
    # Debian ships the key encrypted with the passphrase "snakeoil".
    subprocess.run(["openssl", "pkey", "-in", SNAKEOIL_KEY, "-passin", "pass:snakeoil",
                    "-out", str(key)], check=True, timeout=30)
    name = "outpost-test-aarch64"
    env = dict(os.environ, KEEP_WORK="1", SIGNING_KEY=str(key), SIGNING_CERT=SNAKEOIL_CERT,
               IMAGE_BOARD="aarch64-virt", IMAGE_EFI_BOOT="BOOTAA64.EFI", IMAGE_BIOS="0",
               IMAGE_OBJCOPY="aarch64-linux-gnu-objcopy",
               IMAGE_STUB=os.path.join(sysroot, "usr/lib/systemd/boot/efi/linuxaa64.efi.stub"),
               IMAGE_LOADER=os.path.join(sysroot, "usr/lib/systemd/boot/efi/systemd-bootaa64.efi"))
    r = subprocess.run([os.path.join(TOP, "scripts", "image.sh"), BIN, kernel, str(out), name],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    cmdline = (out / f"work-{name}" / "cmdline-a.txt").read_text()
    return out / f"{name}.img", cmdline


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot(img, tmp_path, timeout, kernel=None, cmdline=None, until=None):
    """Boot img, by UEFI or (kernel given) directly.  Returns (seconds to
    /healthz or None, console text).  until: a console regex that ends the
    wait early (a refusal)."""
    port = free_port()
    console = tmp_path / "console.log"
    if kernel:
        how = ["-kernel", kernel, "-append", cmdline]
    else:
        vars_ = tmp_path / "AAVMF_VARS.fd"
        shutil.copyfile(os.path.join(AAVMF, "AAVMF_VARS.snakeoil.fd"), vars_)
        how = ["-drive", f"if=pflash,format=raw,readonly=on,file={AAVMF}/AAVMF_CODE.snakeoil.fd",
               "-drive", f"if=pflash,format=raw,file={vars_}"]
    vm = subprocess.Popen(
        ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "256",
         "-nodefaults", "-display", "none", "-serial", f"file:{console}", *how,
         "-drive", f"if=none,id=d,format=raw,file={img},snapshot=on",
         "-device", "virtio-blk-pci,drive=d",
         "-netdev", f"user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:8080",
         "-device", "virtio-net-pci,netdev=n"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    took = None

    def text():
        return console.read_text(errors="replace") if console.exists() else ""
    try:
        while time.monotonic() - t0 < timeout and vm.poll() is None:
            if until and re.search(until, text()):
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if '"healthy"' in r.read().decode():
                        took = time.monotonic() - t0
                        break
            except OSError:
                time.sleep(0.5)
    finally:
        vm.kill()
        vm.wait(timeout=10)
    return took, text()


def partition(img, name):
    table = json.loads(subprocess.run(["sfdisk", "--json", str(img)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    (p,) = [p for p in table["partitions"] if p.get("name") == name]
    sector = table.get("sectorsize", 512)
    return p["start"] * sector, p["size"] * sector


def flip(img, at):
    with open(img, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xff]))


def find(img, part, needle):
    off, size = partition(img, part)
    with open(img, "rb") as f:
        f.seek(off)
        return off + f.read(size).index(needle)


def test_uefi_secure_boot_reaches_healthz(disk, tmp_path):
    img, _ = disk
    took, log = boot(img, tmp_path, BOOT_TIMEOUT)
    assert took is not None, f"no /healthz after {BOOT_TIMEOUT} s; console:\n{log[-3000:]}"
    print(f"\naarch64 UEFI + Secure Boot to /healthz in {took:.1f} s")
    assert "BOOTAA64" in log or "UEFI" in log
    assert re.search(r"data:\s+data partition mounted", log), log[-2000:]


def test_uefi_refuses_a_tampered_uki(disk, tmp_path):
    img, _ = disk
    bad = tmp_path / "tampered.img"
    shutil.copyfile(img, bad)
    # A byte of the stub's code, inside the signed UKI on the ESP.
    flip(bad, find(bad, "esp", b"MZ") + 0x3000)
    took, log = boot(bad, tmp_path, 120,
                     until=r"Access Denied|Security Violation|verification failed")
    assert took is None, "a tampered UKI booted"
    assert re.search(r"Access Denied|Security Violation|verification failed", log), log[-2000:]


def test_direct_kernel_boot_reaches_healthz(kernel, disk, tmp_path):
    img, cmdline = disk
    took, log = boot(img, tmp_path, BOOT_TIMEOUT, kernel=kernel, cmdline=cmdline)
    assert took is not None, f"no /healthz after {BOOT_TIMEOUT} s; console:\n{log[-3000:]}"
    print(f"\naarch64 direct boot to /healthz in {took:.1f} s")
    assert re.search(r"outpost \S+ .*appliance", log), log[-2000:]


def test_a_changed_root_byte_stops_the_boot(kernel, disk, tmp_path):
    img, cmdline = disk
    bad = tmp_path / "tampered.img"
    shutil.copyfile(img, bad)
    # One byte of /sbin/init itself: the kernel must read it to start.
    flip(bad, find(bad, "root-a", b"\x7fELF\x02\x01\x01") + 0x100)
    # A good boot answers in a few seconds; give the bad one 30.
    took, log = boot(bad, tmp_path, 30, kernel=kernel, cmdline=cmdline,
                     until=r"Kernel panic|No working init")
    assert took is None, "booted from a modified root"
    assert re.search(r"verity: .* is corrupted", log), log[-2000:]
