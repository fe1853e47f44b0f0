"""Appliance updates on a BIOS boot (issue #21 "Tests", SeaBIOS): syslinux
counts no tries, so init keeps them (/syslinux/outpost-tries) and arms each
try with syslinux's boot-once (the ADV of ldlinux.sys), which ldlinux clears
as it boots it.  One appliance, make image's dev-signed N (no Secure Boot on
this path), paired with an edge: N -> N+1 through the edge (offer, fetch,
write, reboot into slot b by boot-once, good after UPDATE_GOOD_AFTER, DEFAULT
b, identity kept), then a never-ready bundle newer than N+1 written to slot
a, tried three times (each failed try lands on DEFAULT b, whose init arms
the next) and b again by itself, rolled_back.  Every wait is bounded."""
import os
import re
import subprocess
import time

from conftest import NAME, VERSION, Vm
from test_update import (GUEST_EDGE, NEXT, NEXT_NAME, Appliance, _rebundle, paired_appliance,
                         edge_can_offer, next_dir, offer, status,  # noqa: F401
                         wait_update, edge_bin)  # noqa: F401

NEXT2 = NEXT + ".1"  # the never-ready bundle, newer than N+1
BOOT = 120  # one SeaBIOS + syslinux boot to the banner, under TCG


class BiosAppliance(Appliance):
    """Appliance (test_update.py) booted by qemu's SeaBIOS and syslinux."""

    def boot(self):
        if self.vm is not None:
            self.vm.kill()
        self.vm = Vm(self.scratch, self.img, boot="seabios", snapshot=False, reboot=True,
                     guestfwd=(GUEST_EDGE, self.edge.tport))
        return self.vm


def slots_booted(vm):
    """The slot of each boot that reached init's banner (printed once a
    boot; a boot that only arms the next try reboots before it)."""
    return re.findall(r"slot:\s+([ab])\r?\n", vm.console())


def esp_file(img, path):
    """A file of the ESP (the first partition, at 1 MiB) of the disk."""
    return subprocess.run(["mtype", "-i", "%s@@%d" % (img, 1 << 20), "::" + path],
                          capture_output=True, timeout=30,
                          env=dict(os.environ, MTOOLS_SKIP_CHECK="1")).stdout


def adv_once(img):
    """syslinux's boot-once command in ldlinux.sys's first ADV copy."""
    adv = esp_file(img, "/syslinux/ldlinux.sys")[-1024:]
    p = 8
    while p + 2 <= 508 and adv[p] != 0:
        if adv[p] == 1:
            return adv[p + 2:p + 2 + adv[p + 1]].decode()
        p += 2 + adv[p + 1]
    return ""


def wait_slots(vm, want, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end and slots_booted(vm) != want:
        assert vm.proc.poll() is None, vm.console()[-3000:]
        assert len(slots_booted(vm)) <= len(want), (slots_booted(vm), vm.console()[-3000:])
        time.sleep(1)
    assert slots_booted(vm) == want, (slots_booted(vm), vm.console()[-3000:])


def test_bios_update_good_then_never_ready_rolls_back(edge_bin, scratch, image_dir,  # noqa: F811
                                                      next_dir):  # noqa: F811
    assert edge_can_offer(edge_bin), "outpost-edge has no `update offer`"
    never = _rebundle(os.path.join(next_dir, "never-ready", NEXT_NAME + ".parts"),
                      os.path.join(scratch, "bios-never"), version=NEXT2)
    images = {".img": os.path.join(image_dir, NAME + ".img")}
    with paired_appliance(edge_bin, scratch, images, "bios", BiosAppliance) as (e, app):
        vm = app.vm
        st = status(vm)
        assert st["update"]["state"] == "good" and st["update"]["slot"] == "a", st
        r = offer(edge_bin, e, "appliance", os.path.join(next_dir, NEXT_NAME + ".update"))
        assert r.returncode == 0, r.stdout + r.stderr
        # Written, rebooted: syslinux boots label b once (boot-once).
        vm.wait_console(r"trial boot of %s in slot b" % re.escape(NEXT), 900)
        assert slots_booted(vm) == ["a", "b"], slots_booted(vm)
        st = wait_update(vm, ("good",), BOOT)
        assert st["version"] == NEXT and st["update"]["slot"] == "b", st
        assert st["update"]["other_version"] == VERSION, st
        assert st["identity"]["source"] == "data_dir", st  # no re-enrolment
        assert "PAIRING CODE" not in vm.console().split("trial boot of")[1]
        assert e.connector("appliance")["tunnels"], "no tunnel after the update"
        # ldlinux cleared the boot-once; DEFAULT is b now, no tries left over.
        cfg = esp_file(app.img, "/syslinux/syslinux.cfg").decode()
        assert cfg.startswith("DEFAULT b\n") and "# outpost %s" % NEXT in cfg, cfg
        assert adv_once(app.img) == "", "ldlinux did not clear its boot-once"
        assert esp_file(app.img, "/syslinux/outpost-tries") == b""
        # A never-ready bundle, newer still, into slot a: three tries.
        r = offer(edge_bin, e, "appliance", never)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_slots(vm, ["a", "b", "a", "a", "a", "b"], 1200)
        con = vm.console()
        assert "arming try 2 of 3" in con and "arming try 3 of 3" in con, con[-3000:]
        st = wait_update(vm, ("rolled_back",), BOOT)
        assert st["version"] == NEXT and st["update"]["slot"] == "b", st
        assert NEXT2 in st["update"]["reason"], st
        assert st["update"]["other_version"] == NEXT2, st
        assert "PAIRING CODE" not in con.split("trial boot of")[1]
