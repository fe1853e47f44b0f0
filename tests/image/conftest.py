"""Shared helpers for the appliance tests: binaries, images, a qemu runner.

Environment (set by `make image-test`):
  OUTPOST_BIN        the static outpost binary
  OUTPOST_KERNEL     the cached bzImage (scripts/kernel.sh)
  OUTPOST_IMAGE_DIR  where `make image` wrote outpost-<version>-x86_64.*
Every wait is bounded; every process started here is killed and reaped.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERSION = open(os.path.join(TOP, "VERSION")).read().strip()
NAME = "outpost-%s-x86_64" % VERSION
SNAKEOIL_KEY = "/usr/share/ovmf/PkKek-1-snakeoil.key"
SNAKEOIL_CERT = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
QBOOT = "/usr/share/qemu/qboot.rom"


def need_env(name):
    v = os.environ.get(name)
    if not v or not os.path.exists(v):
        pytest.skip("%s not set (run through make image-test)" % name)
    return v


@pytest.fixture(scope="session")
def outpost_bin():
    return need_env("OUTPOST_BIN")


@pytest.fixture(scope="session")
def kernel():
    return need_env("OUTPOST_KERNEL")


@pytest.fixture(scope="session")
def image_dir():
    return need_env("OUTPOST_IMAGE_DIR")


@pytest.fixture(scope="session")
def scratch():
    d = tempfile.mkdtemp(prefix="outpost-image-test.")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def build_image(outpost_bin, kernel, out, **env):
    """Run scripts/image.sh into out with extra environment; returns paths."""
    e = dict(os.environ)
    e.update(env)
    e.setdefault("DEV_KEY_DIR", os.path.join(out, "dev-signing"))
    e.setdefault("SOURCE_DATE_EPOCH", "1700000000")
    subprocess.run([os.path.join(TOP, "scripts/image.sh"), outpost_bin, kernel,
                    out], check=True, env=e, timeout=120,
                   stdout=subprocess.DEVNULL)
    return {k: os.path.join(out, NAME + k) for k in
            (".img", ".img.bmap", ".ova", ".roothash")}


@pytest.fixture(scope="session")
def snakeoil_image(outpost_bin, kernel, scratch):
    """The image signed with OVMF's snakeoil key (enrolled in its vars)."""
    key = os.path.join(scratch, "snakeoil.key")
    # Debian ships the key encrypted with the passphrase "snakeoil".
    subprocess.run(["openssl", "pkey", "-in", SNAKEOIL_KEY, "-passin",
                    "pass:snakeoil", "-out", key], check=True, timeout=30)
    return build_image(outpost_bin, kernel, os.path.join(scratch, "snakeoil"),
                       SIGNING_KEY=key, SIGNING_CERT=SNAKEOIL_CERT)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cmdline_of(img):
    """The kernel command line inside the image's UKI (.cmdline section)."""
    out = subprocess.run(["mtype", "-i", "%s@@%d" % (img, 1 << 20), "::/syslinux/syslinux.cfg"],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, MTOOLS_SKIP_CHECK="1")).stdout
    m = re.search(r"^\s*APPEND (.*)$", out, re.M)
    return m.group(1).strip()


DISKS = {
    "virtio": ["-drive", "file={img},if=none,id=d0,format={fmt},snapshot={snap}",
               "-device", "virtio-blk-pci,drive=d0"],
    "vmware": ["-device", "pvscsi,id=scsi0",
               "-drive", "file={img},if=none,id=d0,format={fmt},snapshot={snap}",
               "-device", "scsi-hd,drive=d0,bus=scsi0.0"],
    "vbox": ["-device", "ahci,id=ahci0",
             "-drive", "file={img},if=none,id=d0,format={fmt},snapshot={snap}",
             "-device", "ide-hd,drive=d0,bus=ahci0.0"],
}
NICS = {"virtio": "virtio-net-pci", "vmware": "vmxnet3", "vbox": "e1000"}


RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "relay.py")


class Vm:
    """One qemu-system-x86_64 under TCG with a serial log and an HMP monitor."""

    def __init__(self, workdir, img, boot="direct", devices="virtio",
                 kernel=None, fmt="raw", snapshot=True, guest_port=8080,
                 mem=256, guestfwd=None, reboot=False):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="vm.", dir=workdir)
        self.serial = os.path.join(self.dir, "serial.log")
        self.mon = os.path.join(self.dir, "monitor.sock")
        args = ["qemu-system-x86_64", "-nodefaults", "-nographic",
                "-display", "none", "-m", str(mem), "-machine", "q35",
                "-serial", "file:" + self.serial,
                "-monitor", "unix:%s,server=on,wait=off" % self.mon]
        # reboot=True: a guest reboot boots again (the update tests, through
        # firmware); else qemu exits, which tests of poweroff wait for.
        args += [] if reboot else ["-no-reboot"]
        fill = dict(img=img, fmt=fmt, snap="on" if snapshot else "off")
        args += [a.format(**fill) for a in DISKS[devices]]
        # guestfwd ("10.0.2.100:7443", PORT): a host service on loopback
        # (an edge) the guest may reach despite restrict=on, one relay
        # process per connection.
        fwd = ",guestfwd=tcp:%s-cmd:%s %s 127.0.0.1 %d" % (
            guestfwd[0], sys.executable, RELAY, guestfwd[1]) if guestfwd else ""
        args += ["-netdev", "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d%s"
                 % (self.port, guest_port, fwd),
                 "-device", "%s,netdev=n0,romfile=" % NICS[devices]]
        if boot == "direct":
            # qboot: the minimal firmware for direct kernel boot (as a
            # microVM host would use); SeaBIOS would add about a second.
            args += ["-bios", QBOOT, "-kernel", kernel,
                     "-append", cmdline_of(img)]
        elif boot == "ovmf":
            vars_copy = os.path.join(self.dir, "vars.fd")
            shutil.copy(OVMF_VARS, vars_copy)
            args += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file="
                     + OVMF_CODE,
                     "-drive", "if=pflash,format=raw,unit=1,file=" + vars_copy,
                     "-global", "ICH9-LPC.disable_s3=1"]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "qemu.err"), "w"))

    def console(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_console(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.console())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("console never showed %r; console:\n%s"
                             % (pattern, self.console()[-3000:]))

    def http(self, path, timeout=2):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_http(self, path, timeout, want=200):
        """Poll until path answers want; returns (seconds since start, body)."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                # Short: before the guest listens, slirp holds a connection
                # open without answering, and a long timeout would make the
                # measured boot time a multiple of it.
                code, body = self.http(path, timeout=0.25)
                if code == want:
                    return time.monotonic() - self.t0, body
                last = code
            except (OSError, ValueError) as e:
                last = e
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("%s never answered %d (last: %r); console:\n%s"
                             % (path, want, last, self.console()[-3000:]))

    def monitor(self, cmd):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.mon)
        s.sendall((cmd + "\n").encode())
        time.sleep(0.2)
        s.close()

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def vms(scratch):
    """Factory for VMs that are always killed at the end of the test."""
    started = []

    def start(img, **kw):
        vm = Vm(scratch, img, **kw)
        started.append(vm)
        return vm

    yield start
    for vm in started:
        vm.kill()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "full: slower boot paths, run by make image-test-full")


def record_boot(name, seconds):
    """Append a boot-to-/healthz time for bench/ (OUTPOST_BENCH_OUT)."""
    out = os.environ.get("OUTPOST_BENCH_OUT")
    if out:
        with open(out, "a") as f:
            f.write("%s %.2f\n" % (name, seconds))


def copy_image(src, dst):
    subprocess.run(["cp", "--sparse=always", src, dst], check=True, timeout=60)
    return dst


ESP_OFFSET = 1 << 20


def partition(img, name):
    """(offset, size) in bytes of the GPT partition called name."""
    import json
    out = subprocess.run(["sfdisk", "--json", img], check=True,
                         capture_output=True, text=True).stdout
    for p in json.loads(out)["partitiontable"]["partitions"]:
        if p.get("name") == name:
            return p["start"] * 512, p["size"] * 512
    raise KeyError(name)


def put_config(img, text, scratch):
    """Write outpost.conf onto the image's config partition with mtools."""
    off, _ = partition(img, "outpost-config")
    src = os.path.join(scratch, "outpost.conf")
    with open(src, "w") as f:
        f.write(text)
    subprocess.run(["mcopy", "-o", "-i", "%s@@%d" % (img, off), src,
                    "::/outpost.conf"], check=True, timeout=30,
                   env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))


def flip_byte(path, at):
    """Invert the low bit of the byte at offset at (a tampered file)."""
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x01]))
