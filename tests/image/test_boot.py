"""Boot the appliance image under qemu (TCG): each boot path and device set
reaches /healthz through user-net hostfwd; configuration, verity, Secure
Boot, persistence and poweroff behave as the issue says."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import (NAME, copy_image, partition, put_config, record_boot)

BOOT_TIMEOUT = 60  # per boot, generous for a loaded 2-core CI host under TCG


def image(image_dir):
    return os.path.join(image_dir, NAME + ".img")


@pytest.mark.parametrize("devices", ["virtio", "vmware", "vbox"])
def test_direct_kernel_boot_reaches_healthz(vms, image_dir, kernel, devices):
    vm = vms(image(image_dir), boot="direct", devices=devices, kernel=kernel)
    took, body = vm.wait_http("/healthz", BOOT_TIMEOUT)
    assert json.loads(body) == {"status": "healthy"}  # the anchor's body
    record_boot("direct-%s" % devices, took)
    con = vm.wait_console(r"health:\s+http://10\.0\.2\.15:8080/healthz", 10)
    assert con
    assert re.search(r"config:\s+/config/outpost.conf ok", vm.console())
    assert re.search(r"data:\s+data partition mounted", vm.console())
    assert re.search(r"slot:\s+a\r?\n", vm.console())  # outpost.slot= of label a


def test_seabios_syslinux_boot_reaches_healthz(vms, image_dir):
    vm = vms(image(image_dir), boot="bios", devices="virtio")
    took, _ = vm.wait_http("/healthz", BOOT_TIMEOUT)
    record_boot("seabios-syslinux-virtio", took)
    vm.wait_console(r"slot:\s+a\r?\n", 10)  # syslinux label a


def test_ovmf_secure_boot_reaches_healthz(vms, snakeoil_image):
    vm = vms(snakeoil_image[".img"], boot="ovmf", devices="virtio")
    took, _ = vm.wait_http("/healthz", BOOT_TIMEOUT * 2)
    record_boot("ovmf-secureboot-uki-virtio", took)
    # systemd-boot chose EFI/Linux/outpost-<version>-a.efi
    vm.wait_console(r"slot:\s+a\r?\n", 10)


def _uki_offset(img):
    """Byte offset of BOOTX64.EFI inside the disk image (FAT clusters of a
    freshly written file are contiguous)."""
    off, size = partition(img, "esp")
    with open(img, "rb") as f:
        f.seek(off)
        esp = f.read(size)
    i = esp.find(b"MZ")
    while i >= 0:
        if esp[i + 0x3c:i + 0x40] and b".linux" in esp[i:i + 4096] \
                and b"PE\0\0" in esp[i:i + 512]:
            return off + i
        i = esp.find(b"MZ", i + 1)
    raise AssertionError("UKI not found in the ESP")


def test_tampered_uki_refused_by_secure_boot(vms, snakeoil_image, scratch):
    img = copy_image(snakeoil_image[".img"], os.path.join(scratch, "tampered.img"))
    at = _uki_offset(img) + 0x3000  # inside the signed stub code
    with open(img, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x01]))
    vm = vms(img, boot="ovmf", devices="virtio")
    vm.wait_console(r"Access Denied|Security Violation|verification failed",
                    BOOT_TIMEOUT * 2)
    with pytest.raises(AssertionError):
        vm.wait_http("/healthz", 5)


@pytest.mark.full
def test_untrusted_key_refused_by_secure_boot(vms, image_dir):
    # The default image is signed with the development key, which the
    # snakeoil firmware does not trust.
    vm = vms(image(image_dir), boot="ovmf", devices="virtio")
    vm.wait_console(r"Access Denied|Security Violation|verification failed",
                    BOOT_TIMEOUT * 2)
    # Refused means never started: no health port, and no outpost banner.
    with pytest.raises(AssertionError):
        vm.wait_http("/healthz", 15)
    assert not re.search(r"health:\s+http://", vm.console()), vm.console()[-2000:]


def test_flipped_root_byte_stops_boot(vms, image_dir, kernel, scratch):
    img = copy_image(image(image_dir), os.path.join(scratch, "flipped.img"))
    off, size = partition(img, "root-a")
    with open(img, "r+b") as f:
        f.seek(off)
        root = f.read(size)
        # /sbin/init's first block: an ELF header on a 4 KiB boundary.
        at = next(i for i in range(0, len(root), 4096)
                  if root[i:i + 4] == b"\x7fELF")
        f.seek(off + at + 0x200)
        f.write(bytes([root[at + 0x200] ^ 0xff]))
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel)
    vm.wait_console(r"verity.*(corrupted|failed)|Kernel panic", BOOT_TIMEOUT)
    with pytest.raises(AssertionError):
        vm.wait_http("/healthz", 3)


def test_config_partition_sets_http_port(vms, image_dir, kernel, scratch):
    img = copy_image(image(image_dir), os.path.join(scratch, "port.img"))
    put_config(img, "# written by the test\nHTTP_PORT=9090\n", scratch)
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel, guest_port=9090)
    vm.wait_http("/healthz", BOOT_TIMEOUT)
    vm.wait_console(r"health:\s+http://10\.0\.2\.15:9090/healthz", 10)


def test_bad_config_reported_and_appliance_stays_up(vms, image_dir, kernel, scratch):
    img = copy_image(image(image_dir), os.path.join(scratch, "bad.img"))
    put_config(img, "HTTP_PORT=notaport\nMAX_TUNNELS_ALOWED=3\n", scratch)
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel)
    vm.wait_console(r"configuration has \d+ error", BOOT_TIMEOUT)
    _, body = vm.wait_http("/readyz", BOOT_TIMEOUT, want=503)
    assert '"config_error"' in body
    con = vm.console()
    assert "HTTP_PORT" in con and "MAX_TUNNELS_ALOWED" in con
    assert re.search(r"config:\s+/config/outpost.conf has \d+ error", con)
    code, _ = vm.http("/healthz")
    assert code == 200  # health is served with the defaults
    time.sleep(2)
    assert "worker exited" not in vm.console()  # up, not restarting


def test_broken_data_partition_needs_recovery(vms, image_dir, kernel, scratch):
    img = copy_image(image(image_dir), os.path.join(scratch, "nodata.img"))
    off, _ = partition(img, "outpost-data")
    with open(img, "r+b") as f:  # wipe the ext4 superblock
        f.seek(off + 1024)
        f.write(b"\0" * 1024)
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel)
    _, body = vm.wait_http("/readyz", BOOT_TIMEOUT, want=503)
    assert '"needs_recovery"' in body
    code, status = vm.http("/status")
    assert "needs_recovery" in status
    assert "NEEDS RECOVERY" in vm.console()
    assert vm.http("/healthz")[0] == 200


def _data_file(img, scratch, path):
    off, size = partition(img, "outpost-data")
    part = os.path.join(scratch, "data.part")
    subprocess.run(["dd", "if=" + img, "of=" + part, "bs=1M",
                    "skip=%d" % (off >> 20), "count=%d" % (size >> 20),
                    "status=none"], check=True, timeout=60)
    fsck = subprocess.run(["e2fsck", "-fn", part], capture_output=True,
                          text=True, timeout=60)
    cat = subprocess.run(["debugfs", "-R", "cat " + path, part],
                         capture_output=True, text=True, timeout=60)
    return fsck, cat.stdout


def test_data_persists_and_powerdown_is_clean(vms, image_dir, kernel, scratch):
    img = copy_image(image(image_dir), os.path.join(scratch, "persist.img"))
    for boot in (1, 2):
        vm = vms(img, boot="direct", devices="virtio", kernel=kernel,
                 snapshot=False)
        vm.wait_http("/healthz", BOOT_TIMEOUT)
        vm.wait_console(r"data partition mounted \(boot %d\)" % boot, 10)
        t0 = time.monotonic()
        vm.monitor("system_powerdown")
        rc = vm.wait_exit(15)
        assert rc is not None, "no poweroff within 15 s:\n" + vm.console()[-2000:]
        assert time.monotonic() - t0 <= 15
        assert "shutdown (power button)" in vm.console()
        fsck, count = _data_file(img, scratch, "/boot-count")
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        assert count.strip() == str(boot)
    # README "Moving the data from an older image": the data partition
    # copied onto a fresh image carries on counting there.
    fresh = copy_image(image(image_dir), os.path.join(scratch, "fresh.img"))
    subprocess.run(["bash", "-euc", MOVE_DATA, "move", img, fresh], check=True, timeout=60)
    vm = vms(fresh, boot="direct", devices="virtio", kernel=kernel)
    vm.wait_console(r"data partition mounted \(boot 3\)", BOOT_TIMEOUT)


# The README's recipe, word for word but for the file names ($1, $2).
MOVE_DATA = r'''
data() { sfdisk -d "$1" | sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\),.*name="outpost-data".*/\1 \2/p'; }
read -r os osz < <(data "$1")
read -r ns nsz < <(data "$2")
[ "$osz" -le "$nsz" ] && dd if="$1" of="$2" bs=512 skip="$os" seek="$ns" count="$osz" conv=notrunc
'''


def test_ctrl_alt_del_powers_off_in_order(vms, image_dir, kernel):
    vm = vms(image(image_dir), boot="direct", devices="virtio", kernel=kernel)
    vm.wait_http("/healthz", BOOT_TIMEOUT)
    vm.monitor("sendkey ctrl-alt-delete")
    assert vm.wait_exit(15) is not None, vm.console()[-2000:]
    con = vm.console()
    assert "shutdown (Ctrl-Alt-Del)" in con
    assert con.index("shutdown (Ctrl-Alt-Del)") < con.index("powering off")


def test_static_network_from_config(vms, image_dir, kernel, scratch):
    img = copy_image(image(image_dir), os.path.join(scratch, "static.img"))
    put_config(img, "NET_ADDRESS=10.0.2.15/24\nNET_GATEWAY=10.0.2.2\n"
               "NET_DNS=10.0.2.3\n", scratch)
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel)
    vm.wait_http("/healthz", BOOT_TIMEOUT)
    vm.wait_console(r"network:\s+eth0 10\.0\.2\.15/24 \(static\)", 10)
