"""The BIOS path of updates (#21): init on a syslinux-booted appliance keeps
the tries itself, in /syslinux/outpost-tries on the ESP, and arms each try
with syslinux's boot-once command (the ADV at the end of ldlinux.sys).  The
real `outpost init --test` as PID 1 (OUTPOST_INIT_FIRMWARE=bios), with a
directory standing in for the ESP, as in test_init_assess.py: the default
slot arms the next try of a slot on trial and reboots before its worker
starts, or reports rolled_back when none is left; the slot on trial is
marked good (DEFAULT in syslinux.cfg, the tries file gone) or reboots.  And
APPLY as in test_update_apply.py (loop-device partitions in a chroot), with
the ESP a directory: the kernel and command line come out of the bundle's
UKI (a real PE made with objcopy from systemd's stub), into /boot/linux-b
and label b, with the tries file and boot-once b.  Root needed."""
import os
import shutil
import struct
import time

import pytest

from test_init_assess import RUNNING, exit_of, running, wait_file, world  # noqa: F401
import test_update_apply as ua

NEWER = "999.0.0"
ADV = 1024
CFG = ("DEFAULT {d}\nPROMPT 0\nTIMEOUT 0\n"
       "LABEL a\n  # outpost {va}\n  LINUX /boot/linux-a\n  APPEND console=ttyS0 outpost.slot=a\n")
CFG_B = "LABEL b\n  # outpost {vb}\n  LINUX /boot/linux-b\n  APPEND console=ttyS0 outpost.slot=b\n"
STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"


def adv_empty():
    """An ADV as syslinux's installer leaves it (magic, checksum, magic)."""
    body = struct.pack("<II", 0x5a2d2fa5, 0xa3041767) + bytes(500) + \
        struct.pack("<I", 0xdd28bf64)
    return body * 2


def adv_once(blob):
    """The boot-once command of the first valid ADV copy, "" when none is
    set; None when neither copy is valid."""
    for c in (blob[:512], blob[512:]):
        words = struct.unpack("<128I", c)
        if words[0] != 0x5a2d2fa5 or words[127] != 0xdd28bf64 or \
                sum(words[1:127]) & 0xffffffff != 0xa3041767:
            continue
        p = 8
        while p + 2 <= 508 and c[p] != 0:
            tag, n = c[p], c[p + 1]
            if tag == 1:
                return c[p + 2:p + 2 + n].decode()
            p += 2 + n
        return ""
    return None


def bios_esp(esp, default="a", va=RUNNING, vb=None, tries=None):
    """A BIOS ESP: syslinux.cfg (label b when vb), ldlinux.sys, tries."""
    s = esp / "syslinux"
    s.mkdir(parents=True, exist_ok=True)
    (esp / "boot").mkdir(exist_ok=True)
    (esp / "EFI/Linux").mkdir(parents=True, exist_ok=True)
    (s / "syslinux.cfg").write_text(CFG.format(d=default, va=va) +
                                    (CFG_B.format(vb=vb) if vb else ""))
    (s / "ldlinux.sys").write_bytes(b"\x90" * 4096 + adv_empty())
    if tries:
        (s / "outpost-tries").write_text(tries)


def once(esp):
    return adv_once((esp / "syslinux/ldlinux.sys").read_bytes()[-ADV:])


@pytest.fixture
def bios(monkeypatch):
    monkeypatch.setenv("OUTPOST_INIT_FIRMWARE", "bios")


def test_default_slot_arms_the_next_try_and_reboots(world, bios, outpost_bin, tmp_path):  # noqa: F811
    esp = world / "esp"
    bios_esp(esp, vb=NEWER, tries="b %s 2\n" % NEWER)
    rc, log = exit_of(world, outpost_bin, tmp_path, "a", "status")
    assert rc == 0, log
    assert "arming try 2 of 3" in log and "reboot (test mode: exit)" in log, log
    assert not (world / "out/first").exists(), "the worker ran before the reboot"
    assert (esp / "syslinux/outpost-tries").read_text() == "b %s 1\n" % NEWER
    assert once(esp) == "b"
    assert (esp / "syslinux/ldlinux.sys").read_bytes()[:4096] == b"\x90" * 4096


def test_default_slot_after_the_last_try_is_rolled_back(world, bios, outpost_bin, tmp_path):  # noqa: F811
    esp = world / "esp"
    bios_esp(esp, vb=NEWER, tries="b %s 0\n" % NEWER)
    with running(world, outpost_bin, tmp_path, "a", "status") as (p, log, first):
        assert first["state"] == 6, first  # rolled_back
        assert first["reason"] == "%s did not come up after 3 tries" % NEWER, first
        assert first["other"] == NEWER, first
        time.sleep(2)
        assert p.poll() is None, log.read_text()
    assert once(esp) == ""
    # Kept: every later boot reports the same, as systemd-boot's +0 UKI does.
    assert (esp / "syslinux/outpost-tries").read_text() == "b %s 0\n" % NEWER


def test_trial_marked_good_sets_default(world, bios, outpost_bin, tmp_path):  # noqa: F811
    esp = world / "esp"
    bios_esp(esp, va="0.0.1", vb=RUNNING, tries="b %s 1\n" % RUNNING)
    with running(world, outpost_bin, tmp_path, "b", "ready") as (p, log, first):
        assert first["state"] == 4, first  # trial
        assert first["other"] == "0.0.1", first
        last = wait_file(world / "out/last", p, log)
        assert last["state"] == 5, (last, log.read_text())  # good
    cfg = (esp / "syslinux/syslinux.cfg").read_text()
    assert cfg.startswith("DEFAULT b\n"), cfg
    assert CFG_B.format(vb=RUNNING) in cfg and "# outpost 0.0.1" in cfg, cfg
    assert not (esp / "syslinux/outpost-tries").exists()


def test_trial_worker_exit_100_reboots_to_default(world, bios, outpost_bin, tmp_path):  # noqa: F811
    esp = world / "esp"
    bios_esp(esp, va="0.0.1", vb=RUNNING, tries="b %s 2\n" % RUNNING)
    rc, log = exit_of(world, outpost_bin, tmp_path, "b", "exit100")
    assert rc == 0 and "trial boot of %s in slot b failed" % RUNNING in log, log
    assert (esp / "syslinux/syslinux.cfg").read_text().startswith("DEFAULT a\n")
    assert (esp / "syslinux/outpost-tries").read_text() == "b %s 2\n" % RUNNING


def test_good_slot_without_tries_never_reboots(world, bios, outpost_bin, tmp_path):  # noqa: F811
    bios_esp(world / "esp")
    with running(world, outpost_bin, tmp_path, "a", "exit100") as (p, log, first):
        assert first["state"] == 5 and first["other"] == "", first  # good
        time.sleep(2)
        assert p.poll() is None, log.read_text()


# --- APPLY on BIOS --------------------------------------------------------

def make_uki(d, slot, kernel):
    """A UKI as scripts/image.sh makes it: systemd's stub, .cmdline, .linux."""
    (d / ("cmdline-" + slot)).write_text("console=ttyS0 quiet outpost.slot=%s x=\"a b\"" % slot)
    out = d / ("uki-%s.efi" % slot)
    ua.sh("objcopy", "--add-section", ".cmdline=%s" % (d / ("cmdline-" + slot)),
          "--change-section-vma", ".cmdline=0x30000",
          "--add-section", ".linux=%s" % kernel, "--change-section-vma", ".linux=0x2000000",
          STUB, out)
    return out


def make_bundle(d, pe=True):
    """A signed bundle whose UKIs are real PE files (pe) or not."""
    if not os.path.exists(STUB) or not shutil.which("objcopy"):
        pytest.skip("no systemd EFI stub or objcopy (scripts/setup.sh)")
    parts = d / "parts"
    parts.mkdir()
    kernel = d / "bzImage"
    kernel.write_bytes(os.urandom(300001))
    (parts / "root.erofs").write_bytes(os.urandom(1500000))
    (parts / "root.verity").write_bytes(os.urandom(12288))
    for slot in "ab":
        if pe:
            shutil.copy(make_uki(d, slot, kernel), parts / ("uki-%s.efi" % slot))
        else:
            (parts / ("uki-%s.efi" % slot)).write_bytes(os.urandom(70000))
    (parts / "version").write_text(ua.NEXT + "\n")
    (parts / "arch").write_text("x86_64\n")
    ua.sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
          "-subj", "/CN=bios", "-keyout", d / "k.key", "-out", d / "k.crt")
    env = dict(os.environ, SIGNING_KEY=str(d / "k.key"), SIGNING_CERT=str(d / "k.crt"))
    r = ua.sh(ua.TOP / "scripts/update.sh", parts, d / "out", env=env, text=True)
    return {"bundle": r.stdout.strip(), "cert": d / "k.crt", "kernel": kernel,
            "parts": parts}


@pytest.fixture(scope="module")
def uki_bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("biosbundle"))


def apply_bios(tmp_path, disk, monkeypatch, outpost_bin, bundle):
    """init --test with a BIOS ESP at /esp (label b of 0.0.1, rolled back)
    taking APPLY of bundle; its exit code and log."""
    root = ua.make_root(tmp_path, disk, outpost_bin, bundle["bundle"], bundle["cert"])
    esp = root / "esp"
    bios_esp(esp, vb="0.0.1")  # an older b, to be replaced
    (esp / "boot/linux-b").write_bytes(b"old kernel")
    (esp / "syslinux/outpost-tries").write_text("b 0.0.1 0\n")
    monkeypatch.setenv("OUTPOST_INIT_ESP", "/esp")
    log = tmp_path / "init.log"
    p = ua.run_init(root, log)
    try:
        # The end: init's exit (the reboot) or a failure it logs and lives.
        end = time.monotonic() + 90
        while time.monotonic() < end and p.poll() is None and \
                "update failed:" not in log.read_text():
            time.sleep(0.1)
        rc = p.poll()
    finally:
        ua.stop(p)
    return esp, rc, log.read_text()


def test_apply_on_bios_installs_kernel_label_tries_and_boot_once(
        tmp_path, ua_disk, bios, monkeypatch, outpost_bin, uki_bundle):
    esp, rc, text = apply_bios(tmp_path, ua_disk, monkeypatch, outpost_bin, uki_bundle)
    assert rc == 0 and "update %s written to slot b" % ua.NEXT in text, text
    assert "reboot (test mode: exit)" in text, text
    parts = uki_bundle["parts"]
    want = (parts / "root.erofs").read_bytes()
    assert ua.sha(ua_disk.read("root-b", len(want))) == ua.sha(want)
    assert (esp / "boot/linux-b").read_bytes() == uki_bundle["kernel"].read_bytes()
    cfg = (esp / "syslinux/syslinux.cfg").read_text()
    assert cfg == CFG.format(d="a", va=RUNNING) + (
        "LABEL b\n  # outpost %s\n  LINUX /boot/linux-b\n"
        "  APPEND console=ttyS0 quiet outpost.slot=b x=\"a b\"\n" % ua.NEXT), cfg
    assert (esp / "syslinux/outpost-tries").read_text() == "b %s 2\n" % ua.NEXT
    assert once(esp) == "b"
    assert sorted(os.listdir(esp / "boot")) == ["linux-b"]  # no temporary left
    assert os.listdir(esp / "EFI/Linux") == []  # no UKI: systemd-boot is not used


@pytest.fixture
def ua_disk(tmp_path):
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("needs root and loop devices")
    d = ua.Disk(tmp_path)
    yield d
    d.close()


def test_apply_on_bios_refuses_a_uki_that_is_no_pe(
        tmp_path_factory, tmp_path, ua_disk, bios, monkeypatch, outpost_bin):
    """Signed and hashed, but no kernel to take out: failed, and slot b
    (its label gone before its partitions were written) boots no more."""
    bundle = make_bundle(tmp_path_factory.mktemp("notpe"), pe=False)
    esp, rc, text = apply_bios(tmp_path, ua_disk, monkeypatch, outpost_bin, bundle)
    assert rc is None, text  # no reboot
    assert "update failed: PE: no MZ header" in text, text
    cfg = (esp / "syslinux/syslinux.cfg").read_text()
    assert cfg == CFG.format(d="a", va=RUNNING), cfg
    assert not (esp / "syslinux/outpost-tries").exists()
    assert once(esp) == ""
    assert sorted(os.listdir(esp / "boot")) == ["linux-b"]  # the old file, unused
