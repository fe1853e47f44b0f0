"""Appliance updates on real boots (issue #21 "Tests"): version N (make image)
and N+1 of the same source (make next-update: scripts/next-update.sh, the
binary of make next-bin), a never-ready N+1 whose worker exits 100 at once,
and bundles the appliance must refuse.

What it checks: the N+1 image boots as N+1, the never-ready N+1 never gets
ready, both bundles verify against the image's key, the refusal bundles are
refused by `outpost update verify`; through the edge on one OVMF Secure
Boot appliance, the refusals, N -> N+1, a power cut in the trial, good; on
another, a power cut in the write, the never-ready N+1 rolled back after
three tries, and a signed root that fails verity rolled back the same way."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import (VERSION, Vm, copy_image, flip_byte, need_env, put_config,
                      SNAKEOIL_KEY, SNAKEOIL_CERT)

BOOT_TIMEOUT = 60
NEXT = ".".join(VERSION.split(".")[:-1] + [str(int(VERSION.split(".")[-1]) + 1)])
NEXT_NAME = "outpost-%s-x86_64" % NEXT
NEXT2 = NEXT + ".1"  # the tampered-root bundle's: newer than a rolled-back NEXT
GUEST_EDGE = "10.0.2.100:7443"
CODE = r"PAIRING CODE ([A-Z]{4}-[A-Z]{4})"
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def next_dir():
    return need_env("OUTPOST_NEXT_DIR")


@pytest.fixture(scope="session")
def dev_cert(image_dir):
    """The certificate `make image` signed with (the image's
    /etc/outpost/update-signing.crt)."""
    c = os.path.join(image_dir, "..", "dev-signing", "outpost-DEVELOPMENT-ONLY.crt")
    if not os.path.exists(c):
        pytest.skip("no development key (SIGNING_KEY given to make image?)")
    return c


def verify(outpost_bin, cert, bundle, *flags):
    r = subprocess.run([outpost_bin, "update", "verify", "--cert", cert, *flags, bundle],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_next_bundles_verify(outpost_bin, dev_cert, next_dir):
    for b in (os.path.join(next_dir, NEXT_NAME + ".update"),
              os.path.join(next_dir, "never-ready", NEXT_NAME + ".update")):
        rc, out = verify(outpost_bin, dev_cert, b)
        assert rc == 0, out
        assert NEXT in out, out


def test_next_image_boots_as_next(vms, kernel, next_dir):
    vm = vms(os.path.join(next_dir, NEXT_NAME + ".img"), boot="direct", kernel=kernel)
    vm.wait_http("/healthz", BOOT_TIMEOUT)
    _, status = vm.wait_http("/status", 10)
    assert json.loads(status)["version"] == NEXT, status
    assert "never ready" not in vm.console()


def test_never_ready_image_exits_100(vms, kernel, next_dir):
    img = os.path.join(next_dir, "never-ready", NEXT_NAME + ".img")
    vm = vms(img, boot="direct", kernel=kernel)
    vm.wait_console(r"worker refuses to run \(exit 100", BOOT_TIMEOUT)
    con = vm.console()
    assert "test build: never ready" in con, con[-3000:]
    assert "init: worker started" in con
    with pytest.raises(AssertionError):
        vm.wait_http("/readyz", 3)


# --- bundles the appliance refuses ------------------------------------------

def _rebundle(parts, out, key=None, cert=None, mutate=None, **change):
    """A bundle of parts with files of the parts directory replaced
    (version, arch), mutate(parts copy) applied, signed with key (default:
    make image's)."""
    p = os.path.join(out, "parts")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(parts, p)
    if mutate:
        mutate(p)
    for name, text in change.items():
        with open(os.path.join(p, name), "w") as f:
            f.write(text + "\n")
    env = dict(os.environ)
    if key:
        env.update(SIGNING_KEY=key, SIGNING_CERT=cert)
    else:
        env["DEV_KEY_DIR"] = os.path.join(os.environ["OUTPOST_IMAGE_DIR"], "..", "dev-signing")
    r = subprocess.run([os.path.join(TOP, "scripts/update.sh"), p, out], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def make_refusals(parts, bundle, d, key=None, cert=None, other_key=None, other_cert=None):
    """name -> (bundle, the reason's words) from the N+1 parts and bundle:
    each must be refused by N (whose image trusts key/cert, default make
    image's) with nothing written; "signature" is signed with the other key."""
    out = {
        "downgrade": (_rebundle(parts, d + "/down", key, cert, version="0.0.1"),
                      "is not newer than %s" % VERSION),
        "arch": (_rebundle(parts, d + "/arch", key, cert, arch="aarch64"),
                 "for arch aarch64"),
        "signature": (_rebundle(parts, d + "/sig", other_key, other_cert), "bad signature"),
    }
    tampered = os.path.join(d, "tampered.update")
    shutil.copy(bundle, tampered)
    flip_byte(tampered, 4096 + 1024)  # inside the root part (the first, at 4096)
    out["tampered"] = (tampered, "part root: sha256 mismatch")
    return out


def snakeoil_key(scratch):
    key = os.path.join(scratch, "snakeoil.plain.key")
    if not os.path.exists(key):
        # Debian ships the key encrypted with the passphrase "snakeoil".
        subprocess.run(["openssl", "pkey", "-in", SNAKEOIL_KEY, "-passin", "pass:snakeoil",
                        "-out", key], check=True, timeout=30)
    return key


@pytest.fixture(scope="session")
def refusals(next_dir, scratch):
    """Against make image's key (the signature one signed with snakeoil)."""
    return make_refusals(os.path.join(next_dir, NEXT_NAME + ".parts"),
                         os.path.join(next_dir, NEXT_NAME + ".update"),
                         os.path.join(scratch, "refuse"),
                         other_key=snakeoil_key(scratch), other_cert=SNAKEOIL_CERT)


@pytest.mark.parametrize("what", ["downgrade", "arch", "signature", "tampered"])
def test_refused_bundles_refused_by_verify(outpost_bin, dev_cert, refusals, what):
    bundle, words = refusals[what]
    rc, out = verify(outpost_bin, dev_cert, bundle)
    assert rc != 0 and re.search(r"^refused: .*%s" % re.escape(words), out, re.M), out


# --- the flow through the edge (needs offer and init's trial) ---------------

def edge_can_offer(edge_bin):
    """True once outpost-edge has `update offer` (helper offer's work)."""
    r = subprocess.run([edge_bin, "help"], capture_output=True, text=True, timeout=10,
                       env={"PATH": "/usr/bin:/bin", "OUTPOST_CONFIG": ""})
    return "update offer" in r.stdout + r.stderr


def edge_cli(edge_bin, edge, *args):
    """outpost-edge's operator command against the test's edge."""
    env = {"PATH": "/usr/bin:/bin", "OUTPOST_CONFIG": "",
           "EDGE_API_PORT": str(edge.aport),
           "EDGE_API_TOKEN_FILE": os.path.join(os.path.dirname(edge.pki), "api-token")}
    return subprocess.run([edge_bin, *args], capture_output=True, text=True, timeout=60,
                          env=env)



@pytest.fixture
def edge_bin(outpost_bin):
    return os.path.join(os.path.dirname(outpost_bin), "outpost-edge")


@pytest.fixture(scope="session")
def snakeoil_next(next_dir, kernel, scratch):
    """N+1 and never-ready N+1 built again signed with OVMF's snakeoil key
    (the UKIs too: Secure Boot checks them), as the snakeoil N image
    expects, and a bundle whose root fails verity."""
    key = snakeoil_key(scratch)
    img = os.path.join(scratch, "so-next")
    os.makedirs(img, exist_ok=True)
    r = subprocess.run([os.path.join(TOP, "scripts/next-update.sh"),
                        need_env("OUTPOST_NEXT_BIN"), kernel, img, NEXT],
                       env=dict(os.environ, SIGNING_KEY=key, SIGNING_CERT=SNAKEOIL_CERT),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    good, never = r.stdout.split()
    parts = os.path.join(img, "next", NEXT_NAME + ".parts")
    return {
        "good": good, "never_ready": never,
        # Refused by the snakeoil N; "signature": make image's key.
        "refusals": make_refusals(parts, good, os.path.join(scratch, "so-refuse"),
                                  key, SNAKEOIL_CERT),
        # Signed and hashed as it is, but its root no longer matches the
        # verity hash its UKIs name: the new slot stops at verity.
        "bad_root": _rebundle(parts,
                              os.path.join(scratch, "so-badroot"), key=key,
                              cert=SNAKEOIL_CERT, mutate=_flip_init, version=NEXT2),
    }


def _flip_init(parts):
    """Flip a byte of /sbin/init's first block (an ELF header on a 4 KiB
    boundary) in the root image, as test_boot's verity test does."""
    path = os.path.join(parts, "root.erofs")
    with open(path, "rb") as f:
        root = f.read()
    at = next(i for i in range(0, len(root), 4096) if root[i:i + 4] == b"\x7fELF")
    flip_byte(path, at + 0x200)


def status(vm):
    _, body = vm.wait_http("/status", 10)
    return json.loads(body)


def wait_update(vm, states, timeout, pred=None):
    """Poll /status until update.state is one of states (and pred(update)
    holds); returns /status."""
    end = time.monotonic() + timeout
    st = None
    while time.monotonic() < end:
        try:
            code, body = vm.http("/status", timeout=2)
            if code == 200:
                st = json.loads(body)
                u = st.get("update", {})
                if u.get("state") in states and (pred is None or pred(u)):
                    return st
        except (OSError, ValueError):
            pass
        if vm.proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError("update never reached %s (last /status %r); console:\n%s"
                         % (states, st, vm.console()[-3000:]))


def slots_booted(vm):
    """The slot of each boot through the firmware in this qemu: the first
    banner `slot:` line after each OVMF "BdsDxe: starting" (the banner is
    printed more than once a boot; a boot that never reached init has none)."""
    boots = vm.console().split("BdsDxe: starting")[1:]
    found = [re.search(r"slot:\s+([ab])\r?\n", b) for b in boots]
    return [m.group(1) for m in found if m]


class Appliance:
    """The snakeoil N image on a disk of its own under OVMF Secure Boot,
    paired with an edge on the host's loopback; reboots boot again."""

    def __init__(self, edge, snakeoil_image, scratch, name, extra=""):
        from test_pairing import put_file
        self.edge, self.scratch = edge, scratch
        self.img = copy_image(snakeoil_image[".img"], os.path.join(scratch, name + ".img"))
        put_file(self.img, os.path.join(edge.pki, "ca.pem"), "ca.pem")
        put_config(self.img, "TRAVERSAL_CONTROLLER_URL=https://%s\nTLS_SERVER_NAME=localhost\n"
                   "TLS_CA_FILE=/config/ca.pem\nRECONNECT_INTERVAL=500ms\n"
                   "UPDATE_REBOOT=now\nUPDATE_GOOD_AFTER=5s\n%s" % (GUEST_EDGE, extra),
                   scratch)
        self.vm = None

    def boot(self):
        if self.vm is not None:
            self.vm.kill()
        self.vm = Vm(self.scratch, self.img, boot="ovmf", snapshot=False, reboot=True,
                     guestfwd=(GUEST_EDGE, self.edge.tport))
        return self.vm

    def pair(self, name):
        code = self.vm.wait_console(CODE, BOOT_TIMEOUT * 2).group(1)
        assert self.edge.post("/v1/pairings/%s/approve" % code, {"name": name}) == 200
        self.vm.wait_http("/readyz", 30)

    def kill(self):
        if self.vm is not None:
            self.vm.kill()


def offer(edge_bin, edge, name, bundle):
    return edge_cli(edge_bin, edge, "update", "offer", name, bundle)


@contextlib.contextmanager
def paired_appliance(edge_bin, scratch, snakeoil_image, name, cls=None):
    """An edge of its own and the N appliance (an Appliance, or cls)
    booted and paired with it."""
    from test_pairing import Edge
    d = tempfile.mkdtemp(prefix="edge.", dir=scratch)
    os.chmod(d, 0o755)  # the edge drops to its own user
    e = Edge(edge_bin, d)
    app = (cls or Appliance)(e, snakeoil_image, scratch, name)
    try:
        app.boot()
        app.pair("appliance")
        yield e, app
    finally:
        app.kill()
        e.stop()


def test_update_refusals_then_n_to_next(edge_bin, scratch, snakeoil_image, snakeoil_next):
    """One appliance: every refusal through the edge without a reboot, then
    N -> N+1 (fetch, write, reboot), a power cut in the first trial boot
    (it costs one of the three tries), the trial again, good, identity
    kept; a later power cut boots N+1, no longer on trial."""
    assert edge_can_offer(edge_bin), "outpost-edge has no `update offer`"
    with paired_appliance(edge_bin, scratch, snakeoil_image, "upd") as (e, app):
        vm = app.vm
        st = status(vm)
        for what in ("downgrade", "arch", "signature", "tampered"):
            r = offer(edge_bin, e, "appliance", snakeoil_next["refusals"][what][0])
            if r.returncode == 0:  # the edge took it: the appliance refuses
                seen = st["update"]["reason"]  # the last refusal's
                wait_update(vm, ("failed", "idle"), 120,
                            lambda u: u["reason"] and u["reason"] != seen)
            st = status(vm)
            assert st["version"] == VERSION and st["update"]["slot"] == "a", (what, st)
        assert slots_booted(vm) == ["a"], "a refusal rebooted"
        r = offer(edge_bin, e, "appliance", snakeoil_next["good"])
        assert r.returncode == 0, r.stdout + r.stderr
        # The reboot: systemd-boot picks the new slot's UKI (+3 tries).
        vm.wait_console(r"trial boot of %s in slot b" % re.escape(NEXT), 900)
        vm = app.boot()  # power cut in the trial
        vm.wait_console(r"trial boot of %s in slot b" % re.escape(NEXT), BOOT_TIMEOUT * 3)
        st = wait_update(vm, ("good",), BOOT_TIMEOUT * 3)
        assert st["version"] == NEXT and st["update"]["slot"] == "b", st
        assert st["update"]["other_version"] == VERSION, st
        assert st["identity"]["source"] == "data_dir", st  # no re-enrolment
        assert "PAIRING CODE" not in vm.console()
        assert e.connector("appliance")["tunnels"], "no tunnel after the update"
        # Marked good: the next boot (a power cut now) is N+1 again, no trial.
        vm = app.boot()
        st = wait_update(vm, ("good", "idle"), BOOT_TIMEOUT * 3)
        assert st["version"] == NEXT and slots_booted(vm) == ["b"], st


def test_power_cut_in_write_then_never_ready_rolls_back(edge_bin, scratch, snakeoil_image,
                                                       snakeoil_next):
    """One appliance: qemu killed while init writes the slot boots N; the
    edge offers again on the new tunnel; the never-ready N+1 is tried three
    times (exit 100, init reboots) and N comes back by itself, rolled_back;
    then a root that stops at verity rolls back the same way."""
    assert edge_can_offer(edge_bin), "outpost-edge has no `update offer`"
    with paired_appliance(edge_bin, scratch, snakeoil_image, "rollback") as (e, app):
        vm = app.vm
        r = offer(edge_bin, e, "appliance", snakeoil_next["never_ready"])
        assert r.returncode == 0, r.stdout + r.stderr
        # Disk writes at 512 KiB/s from here on: the staging (~6 MB) and
        # the slot write (~3.4 MB: root, verity, UKI) take seconds, so the
        # power cut lands inside the write, not after it.
        vm.monitor("block_set_io_throttle d0 0 0 %d 0 0 0" % (512 << 10))
        st = wait_update(vm, ("writing",), 600)
        assert st["update"]["percent"] < 100, st  # cut mid-write
        vm = app.boot()  # the power cut: the old qemu is killed first
        st = wait_update(vm, ("idle", "offered", "downloading", "verifying", "writing"),
                         BOOT_TIMEOUT * 3)
        assert st["version"] == VERSION and slots_booted(vm) == ["a"], st
        # Offered again, written, three tries of slot b, then a.
        vm.wait_console(r"trial boot of %s in slot b" % re.escape(NEXT), 900)
        end = time.monotonic() + 1200
        while time.monotonic() < end and slots_booted(vm)[-1:] != ["a"]:
            assert vm.proc.poll() is None, vm.console()[-3000:]
            time.sleep(1)
        assert slots_booted(vm) == ["a", "b", "b", "b", "a"], slots_booted(vm)
        st = wait_update(vm, ("rolled_back",), BOOT_TIMEOUT * 3)
        assert st["version"] == VERSION and st["update"]["slot"] == "a", st
        assert NEXT in st["update"]["reason"], st
        assert "PAIRING CODE" not in vm.console()
        # A signed bundle whose root does not match its verity hash: each
        # try of slot b stops at verity (panic=10 reboots), then a again.
        r = offer(edge_bin, e, "appliance", snakeoil_next["bad_root"])
        assert r.returncode == 0, r.stdout + r.stderr
        end = time.monotonic() + 1500
        while time.monotonic() < end and slots_booted(vm)[5:] != ["a"]:
            assert vm.proc.poll() is None, vm.console()[-3000:]
            time.sleep(1)
        assert vm.console().count("trial boot of %s" % NEXT2) == 0  # never got to init
        assert re.search(r"verity.*(corrupted|failed)|Kernel panic", vm.console())
        st = wait_update(vm, ("rolled_back",), BOOT_TIMEOUT * 3,
                         lambda u: NEXT2 in u["reason"])
        assert st["version"] == VERSION and st["update"]["slot"] == "a", st
