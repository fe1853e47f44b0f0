#!/usr/bin/python3
"""Boot-to-/healthz time of the appliance per boot path, under qemu TCG.

    bench/appliance_boot.py [RUNS]

Uses the image from `make image` (OUTPOST_IMAGE_DIR, default build/image),
the cached kernel (OUTPOST_KERNEL, default: scripts/kernel.sh) and, for the
Secure Boot path, an image signed with OVMF's snakeoil key built on the fly.
Rewrites the "Appliance boot" section of bench/RESULTS.md (between the
appliance-boot markers), leaving other sections alone.  The time counts
from starting qemu to the first 200 from /healthz through user-net.
"""
import os
import platform
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "image"))
import conftest  # noqa: E402  (the VM helpers of the image tests)

NOTES = """\
Notes. Direct kernel boot uses qboot (`-bios qboot.rom`), the minimal firmware a microVM host
uses; with SeaBIOS it takes about 0.3 s more. Of the direct-virtio time, about 0.9 s is kernel
(dm-mod.waitfor waits for every device probe, including q35's built-in AHCI ports), 0.2 s from
`/sbin/init` to the health port, the rest qemu start-up and decompression. The AHCI+e1000 path is
slow because of QEMU's e1000 under TCG: the link reports carrier about 2 s after init brings it up
(`autonegotiation=off` on the device saves ~2 s), and received frames then reach the guest up to
1 s late (init waits for carrier before its first DISCOVER). OVMF spends ~3 s in firmware.
"""
BEGIN, END = "<!-- appliance-boot:begin -->", "<!-- appliance-boot:end -->"
PATHS = [
    ("direct -kernel, virtio blk+net", "direct", "virtio", "img"),
    ("direct -kernel, pvscsi+vmxnet3 (VMware-like)", "direct", "vmware", "img"),
    ("direct -kernel, AHCI+e1000 (VirtualBox-like)", "direct", "vbox", "img"),
    ("SeaBIOS + syslinux, virtio", "bios", "virtio", "img"),
    ("OVMF Secure Boot + signed UKI, virtio", "ovmf", "virtio", "snakeoil"),
]


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    image_dir = os.environ.get("OUTPOST_IMAGE_DIR", os.path.join(TOP, "build/image"))
    kernel = os.environ.get("OUTPOST_KERNEL") or subprocess.run(
        [os.path.join(TOP, "scripts/kernel.sh")], check=True,
        capture_output=True, text=True).stdout.strip()
    binary = os.environ.get("OUTPOST_BIN", os.path.join(TOP, "build/x86_64/outpost"))
    work = tempfile.mkdtemp(prefix="outpost-bench.")
    imgs = {"img": os.path.join(image_dir, conftest.NAME + ".img")}
    key = os.path.join(work, "snakeoil.key")
    subprocess.run(["openssl", "pkey", "-in", conftest.SNAKEOIL_KEY, "-passin",
                    "pass:snakeoil", "-out", key], check=True)
    imgs["snakeoil"] = conftest.build_image(
        binary, kernel, os.path.join(work, "snakeoil"), SIGNING_KEY=key,
        SIGNING_CERT=conftest.SNAKEOIL_CERT)[".img"]
    rows = []
    for label, boot, devices, which in PATHS:
        times = []
        for _ in range(runs):
            vm = conftest.Vm(work, imgs[which], boot=boot, devices=devices,
                             kernel=kernel)
            try:
                took, _ = vm.wait_http("/healthz", 120)
                times.append(took)
            finally:
                vm.kill()
        rows.append((label, min(times), statistics.median(times), max(times)))
        print("%-48s min %.2f s  median %.2f s" % (label, rows[-1][1], rows[-1][2]))
    write(rows, runs)


def write(rows, runs):
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]
    out = [BEGIN, "## Appliance boot: qemu start to first /healthz 200", "",
           "`bench/appliance_boot.py %d` on %s (%d cores), %s, TCG (no KVM), 256 MiB, "
           "user-net hostfwd; %d runs per path. Goal: <= 2 s for direct kernel boot."
           % (runs, cpu, os.cpu_count(), qemu, runs), "",
           "| boot path | min | median | max |", "|---|---|---|---|"]
    out += ["| %s | %.2f s | %.2f s | %.2f s |" % r for r in rows]
    out += ["", NOTES, END]
    path = os.path.join(TOP, "bench", "RESULTS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + "\n".join(out) + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(out) + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
