"""init writes an update to the other slot (#21): the real `outpost init --test`
as PID 1 of a new PID and mount namespace, chrooted into a root made here whose
/sys and /dev show only the partitions of a loop device (a GPT disk with esp,
root-a, verity-a, root-b, verity-b), so nothing else on the host can be
touched.  The worker is a small client of the control channel
(lib/initctl.h) that sends APPLY for a bundle made by scripts/update.sh in
/data/update/, then STATUS.  Root and loop devices, and a kernel with vfat
needed for the write (skipped otherwise: this host's kernel has none); a
refusal comes before the ESP is mounted."""
import hashlib
import os
import pathlib
import shutil
import struct
import subprocess
import time

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
RUNNING = (TOP / "VERSION").read_text().strip()
NEXT = ".".join(RUNNING.split(".")[:-1] + [str(int(RUNNING.split(".")[-1]) + 1)])
MIB = 1 << 20
# name, MiB
LAYOUT = [("esp", 8), ("root-a", 2), ("verity-a", 1), ("root-b", 2), ("verity-b", 1)]
MT = dict(os.environ, MTOOLS_SKIP_CHECK="1")

WORKER = r'''#!/usr/bin/python3
import os, socket, struct, time
fd = int(os.environ["OUTPOST_INIT_CTL"])
s = socket.socket(fileno=fd)
def ask(op, path=b""):
    s.send(struct.pack("<II256s", 0x4c54434f, op, path))
    r = s.recv(4096)
    magic, op, result, state, pct = struct.unpack_from("<5I", r)
    texts = [t.split(b"\0")[0].decode() for t in struct.unpack_from("8s32s32s128s", r, 20)]
    with open("/tmp/status.tmp", "w") as f:
        f.write("%d %d %d %s\n" % (result, state, pct, " | ".join(texts)))
    os.rename("/tmp/status.tmp", "/tmp/status")
    return state
ask(1, b"/data/update/bundle.update")  # init runs us as "outpost run"
end = time.monotonic() + 60
while time.monotonic() < end and ask(3) not in (3, 7):
    time.sleep(0.05)
time.sleep(60)
'''


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    d = tmp_path_factory.mktemp("bundles")
    parts = d / "parts"
    parts.mkdir()
    for name, size in (("root.erofs", 1500000), ("root.verity", 12288),
                       ("uki-a.efi", 70000), ("uki-b.efi", 70001)):
        (parts / name).write_bytes(os.urandom(size))
    (parts / "version").write_text(NEXT + "\n")
    (parts / "arch").write_text("x86_64\n")
    out = {}
    for k in ("good", "other"):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
           "-subj", "/CN=" + k, "-keyout", d / (k + ".key"), "-out", d / (k + ".crt"))
    # name: (signer, parts); "big" has a root larger than the 2 MiB slot.
    big = d / "big-parts"
    shutil.copytree(parts, big)
    (big / "root.erofs").write_bytes(os.urandom(3 * MIB))
    for k, (key, src) in dict(good=("good", parts), other=("other", parts),
                              big=("good", big)).items():
        env = dict(os.environ, SIGNING_KEY=str(d / (key + ".key")),
                   SIGNING_CERT=str(d / (key + ".crt")))
        r = sh(TOP / "scripts/update.sh", src, d / k, env=env, text=True)
        out[k] = pathlib.Path(r.stdout.strip())
    out["cert"] = d / "good.crt"
    out["parts"] = parts
    return out


class Disk:
    """A GPT disk file on a loop device, slot a filled, slot b zeroes."""

    def __init__(self, d):
        self.img = d / "disk.img"
        total = sum(mb for _, mb in LAYOUT) + 2
        with open(self.img, "wb") as f:
            f.truncate(total * MIB)
        spec = "label: gpt\n" + "".join(
            "size=%dMiB, name=%s\n" % (mb, n) for n, mb in LAYOUT)
        sh("sfdisk", "-q", self.img, input=spec.encode())
        esp = d / "esp.img"
        sh("mkfs.fat", "-C", esp, str(8 * 1024))
        sh("mmd", "-i", esp, "::/EFI", "::/EFI/Linux", env=MT)
        for name, text in (("outpost-%s-a.efi" % RUNNING, b"running a"),
                           ("outpost-0.0.1-b.efi", b"old b")):
            (d / name).write_bytes(text)
            sh("mcopy", "-i", esp, d / name, "::/EFI/Linux/" + name, env=MT)
        sh("dd", "if=%s" % esp, "of=%s" % self.img, "bs=1M", "seek=1", "conv=notrunc",
           "status=none")
        self.root_a = os.urandom(2 * MIB)
        with open(self.img, "r+b") as f:
            f.seek(9 * MIB)
            f.write(self.root_a)
        self.dev = sh("losetup", "-f", "--show", self.img, text=True).stdout.strip()
        self.base = os.path.basename(self.dev)
        # The kernel's partitions of it, added through BLKPG (partx): the
        # loop driver's own scan does not always run here.  partx fails
        # for those the scan did add; what counts is that all are there.
        subprocess.run(["partx", "-a", self.dev], capture_output=True, timeout=30)
        if not all(os.path.exists("/sys/class/block/%sp%d" % (self.base, i + 1))
                   for i in range(len(LAYOUT))):
            self.close()
            raise AssertionError("loop partitions never appeared")

    def part(self, name):
        return "%sp%d" % (self.base, [n for n, _ in LAYOUT].index(name) + 1)

    def read(self, name, n):
        with open("/dev/" + self.part(name), "rb") as f:
            return f.read(n)

    def esp_files(self):
        out = sh("mdir", "-b", "-i", "/dev/" + self.part("esp"), "::/EFI/Linux",
                 env=MT, text=True).stdout
        return sorted(os.path.basename(line.strip().rstrip("/"))
                      for line in out.splitlines() if line.strip())

    def esp_file(self, name):
        return sh("mtype", "-i", "/dev/" + self.part("esp"), "::/EFI/Linux/" + name,
                  env=MT).stdout

    def close(self):
        subprocess.run(["losetup", "-d", self.dev], timeout=30)


@pytest.fixture
def disk(tmp_path):
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("needs root and loop devices")
    d = Disk(tmp_path)
    yield d
    d.close()


@pytest.fixture
def vfat():
    """The writer mounts the ESP (FAT) as the appliance's kernel does."""
    if not any(line.split()[-1] == "vfat" for line in open("/proc/filesystems")):
        pytest.skip("the host kernel has no vfat to mount the ESP with")


def make_root(tmp_path, disk, outpost_bin, bundle, cert):
    """The chroot: the binary, the cert, the bundle, and only our devices."""
    r = tmp_path / "root"
    for sub in ("proc", "usr", "run/outpost", "data/update", "etc/outpost", "tmp",
                "sys/class/block", "dev"):
        (r / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(r / "tmp", 0o1777)
    for link in ("bin", "lib", "lib64", "sbin"):
        os.symlink("usr/" + link, r / link)
    shutil.copy(outpost_bin, r / "outpost")
    shutil.copy(cert, r / "etc/outpost/update-signing.crt")
    shutil.copy(bundle, r / "data/update/bundle.update")
    (r / "worker.py").write_text(WORKER)
    os.chmod(r / "worker.py", 0o755)
    (r / "cmdline").write_text("console=ttyS0 outpost.slot=a quiet\n")
    for name, _ in LAYOUT:
        p = disk.part(name)
        (r / "sys/class/block" / p).mkdir()
        # The kernel's uevent; PARTNAME= as its own GPT scan writes it
        # (partitions added through BLKPG carry no name).
        text = open("/sys/class/block/%s/uevent" % p).read()
        if "PARTNAME=" not in text:
            text += "PARTNAME=%s\n" % name
        (r / "sys/class/block" / p / "uevent").write_text(text)
        major, minor = map(int, open("/sys/class/block/%s/dev" % p).read().split(":"))
        os.mknod(r / "dev" / p, 0o600 | 0o060000, os.makedev(major, minor))
    os.mknod(r / "dev/null", 0o666 | 0o020000, os.makedev(1, 3))
    return r


def run_init(root, log):
    script = ("mount -t proc proc {r}/proc && mount --bind {r}/cmdline {r}/proc/cmdline"
              " && mount --bind -o ro /usr {r}/usr && exec chroot {r} /outpost init --test"
              ).format(r=root)
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount", "--propagation", "private",
         "sh", "-c", script],
        env=dict(os.environ, OUTPOST_INIT_WORKER="/worker.py"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
        start_new_session=True)


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, 9)
    p.wait(timeout=10)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_apply_writes_slot_b_installs_trial_uki_and_reboots(
        tmp_path, disk, vfat, outpost_bin, bundles):
    root = make_root(tmp_path, disk, outpost_bin, bundles["good"], bundles["cert"])
    log = tmp_path / "init.log"
    p = run_init(root, log)
    try:
        rc = p.wait(timeout=90)
    finally:
        stop(p)
    text = log.read_text()
    # UPDATE_REBOOT defaults to now: the shutdown ends in a reboot.
    assert rc == 0, text
    assert "update %s written to slot b" % NEXT in text, text
    assert "reboot (test mode: exit)" in text, text
    parts = bundles["parts"]
    for name, part in (("root-b", "root.erofs"), ("verity-b", "root.verity")):
        want = (parts / part).read_bytes()
        assert sha(disk.read(name, len(want))) == sha(want), name
    assert disk.read("root-a", 2 * MIB) == disk.root_a
    trial = "outpost-%s-b+3.efi" % NEXT
    assert disk.esp_files() == sorted(["outpost-%s-a.efi" % RUNNING, trial])
    assert disk.esp_file(trial) == (parts / "uki-b.efi").read_bytes()


def refused(tmp_path, disk, outpost_bin, bundles, which):
    """APPLY of bundles[which]: taken, then failed, init still running and
    nothing of slot b or the ESP touched; the reason given."""
    root = make_root(tmp_path, disk, outpost_bin, bundles[which], bundles["cert"])
    log = tmp_path / "init.log"
    p = run_init(root, log)
    status = root / "tmp/status"
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if status.exists() and status.read_text().split()[1] == "7":
                break
            assert p.poll() is None, log.read_text()
            time.sleep(0.1)
        line = status.read_text()
        assert p.poll() is None  # no reboot
    finally:
        stop(p)
    result, state, _pct, rest = line.split(" ", 3)
    assert (result, state) == ("0", "7"), line  # taken, then failed
    assert disk.read("root-b", 2 * MIB) == bytes(2 * MIB)
    assert disk.read("verity-b", MIB) == bytes(MIB)
    assert disk.esp_files() == sorted(["outpost-%s-a.efi" % RUNNING, "outpost-0.0.1-b.efi"])
    return rest.split(" | ")[3].strip()


def test_apply_refuses_another_key_and_touches_nothing(
        tmp_path, disk, outpost_bin, bundles):
    assert refused(tmp_path, disk, outpost_bin, bundles, "other") == "bad signature"


def test_apply_refuses_a_root_larger_than_the_slot_and_touches_nothing(
        tmp_path, disk, outpost_bin, bundles):
    """Signed by the right key, but its root (3 MiB) does not fit the 2 MiB
    slot: refused before anything is written."""
    reason = refused(tmp_path, disk, outpost_bin, bundles, "big")
    assert reason == "part root: 3 MiB larger than the slot (2 MiB)", reason
