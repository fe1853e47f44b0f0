"""The connector's side of update delivery (#21, docs/protocol-extensions.md
"Appliance updates"): the offer on the Tunnel call, Updates/Fetch with resume,
the staged file, its verification and the APPLY to init, Updates/Report.

The edge is the grpc-js test controller (controller/controller.js serves
outpost.v1.Updates with grpc-js defaults).  init's end of the control channel
is, for most cases, a Python SOCK_SEQPACKET peer speaking lib/initctl.h
(FakeInit below): it records every request and answers APPLY with verifying,
then STATUS with writing and written, as init does.  The last test runs the
real `outpost init --test` (test_update_apply.py's chroot and loop disk; root
needed) with the real `outpost run` as its worker, up to init's refusal: its
write needs vfat, which this host lacks.  Bundles are made by
scripts/update.sh with a throwaway key, as test_update_apply.py does."""
import hashlib
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import threading

import pytest

import bundlelib
from conftest import base_env, free_port, wait_until
from controllerlib import Controller
from tunnellib import connector_env, get

TOP = pathlib.Path(__file__).resolve().parents[2]
RUNNING = (TOP / "VERSION").read_text().strip()
NEXT = ".".join(RUNNING.split(".")[:-1] + [str(int(RUNNING.split(".")[-1]) + 1)])
STATES = ["idle", "offered", "downloading", "verifying", "writing", "written",
          "trial", "good", "rolled_back", "failed"]
INIT_STATES = ["idle", "verifying", "writing", "written", "trial", "good",
               "rolled_back", "failed"]  # enum initctl_state
MAGIC = 0x4c54434f
APPLY, REBOOT, STATUS = 1, 2, 3


class FakeInit:
    """init's end of OUTPOST_INIT_CTL: records requests, plays the states."""

    def __init__(self, state=0, other=""):
        self.mine, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.requests = []  # (op, path)
        self.state, self.percent, self.other = state, 0, other
        self.polls = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _reply(self, op, result=0, reason=""):
        self.mine.send(struct.pack("<5I8s32s32s128s", MAGIC, op, result, self.state,
                                   self.percent, b"a", RUNNING.encode(),
                                   self.other.encode(), reason.encode()))

    def _serve(self):
        while True:
            try:
                m = self.mine.recv(4096)
            except OSError:
                return
            if not m:
                return
            magic, op, path = struct.unpack("<II256s", m)
            path = path.split(b"\0")[0].decode()
            self.requests.append((op, path))
            if op == APPLY:
                self.state = 1  # verifying
            elif op == STATUS and self.state in (1, 2):
                self.polls += 1
                self.state, self.percent = (2, 50) if self.polls == 1 else (3, 0)
                if self.state == 3:
                    self.other = NEXT
            self._reply(op)

    def applied(self):
        return [p for op, p in self.requests if op == APPLY]

    def close(self):
        for s in (self.mine, self.theirs):
            s.close()


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    d = tmp_path_factory.mktemp("bundle")
    b = bundlelib.build(d, NEXT)
    data = b["data"]
    tampered = d / "tampered.update"
    tampered.write_bytes(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    badsig = d / "badsig.update"  # a byte of the signed manifest changed
    badsig.write_bytes(data[:40] + bytes([data[40] ^ 1]) + data[41:])
    return dict(b, tampered=tampered, badsig=badsig)


@pytest.fixture
def setup(tmp_path, spawn, outpost_bin, bundle):
    """A controller, a fake init and a connector under it (MAX_TUNNELS 1)."""
    made = []

    def start(init=True, init_state=0, init_other="", stale=(), **extra):
        c = Controller()
        made.append(c)
        fi = FakeInit(init_state, init_other) if init else None
        if fi:
            made.append(fi)
        data = tmp_path / "data"
        (data / "update").mkdir(parents=True, exist_ok=True)
        for name in stale:
            (data / "update" / name).write_bytes(b"old")
        env = connector_env(c, MAX_TUNNELS_ALLOWED=1, DATA_DIR=data,
                            UPDATE_SIGNING_CERT=bundle["cert"], **extra)
        kw = {}
        if fi:
            env["OUTPOST_INIT_CTL"] = str(fi.theirs.fileno())
            kw["pass_fds"] = (fi.theirs.fileno(),)
        p = spawn([outpost_bin, "run"], env=base_env(**env), **kw)
        p.health_port = int(env["HTTP_PORT"])
        t = c.wait_tunnel(timeout=15)
        return c, fi, p, t, data / "update"
    yield start
    for m in made:
        m.close()


def offer(c, t, bundle, **over):
    o = dict(version=NEXT, arch="x86_64", size=len(bundle["data"]), sha256_hex=bundle["sha"])
    o.update(over)
    c.cmd(cmd="update_offer", tunnel=t["tunnel"], **o)


def status(p):
    return get(p.health_port, "/status")[1]["update"]


def pump(c, secs):
    """Take in the controller's events for secs seconds."""
    try:
        c.wait(lambda e: False, timeout=secs, since=len(c.events))
    except TimeoutError:
        pass


def reports(c):
    return [e["status"] for e in c.events if e["event"] == "update_report"]


def wait_report(c, pred, timeout=10):
    return c.wait(lambda e: e["event"] == "update_report" and pred(e["status"]),
                  timeout=timeout, since=0)


def fetches(c):
    return [e for e in c.events if e["event"] == "update_fetch"]


def metric(p, name):
    text = get(p.health_port, "/metrics")[1]
    return [line for line in text.splitlines() if line.startswith(name)]


def test_offer_fetched_with_resume_verified_and_applied(setup, bundle):
    c, fi, p, t, upd = setup()
    assert "update" in ",".join(t["capabilities"]).split(",")
    c.cmd(cmd="update_serve", file=str(bundle["path"]), version=NEXT,
          sha256_hex=bundle["sha"], drop_after=200000)
    offer(c, t, bundle)
    c.wait(lambda e: e["event"] == "update_fetch_end" and e["why"] == "dropped", 20)
    again = c.wait(lambda e: e["event"] == "update_fetch", 20)
    # Resumed from what it held: at least what was sent before the drop
    # minus what was still in flight, never from 0.
    assert 0 < again["offset"] < len(bundle["data"])
    c.wait(lambda e: e["event"] == "update_fetch_end" and e["why"] == "ended", 20)
    assert wait_until(lambda: status(p)["state"] == "written", 15), status(p)
    staged = upd / ("outpost-%s.update" % NEXT)
    assert staged.read_bytes() == bundle["data"]
    assert (staged.stat().st_mode & 0o777) == 0o600
    assert not (upd / ("outpost-%s.part" % NEXT)).exists()
    assert fi.applied() == ["/data/update/outpost-%s.update" % NEXT]
    st = status(p)
    assert st["other_version"] == NEXT and st["offered_version"] == NEXT
    assert st["slot"] == "a" and st["version"] == RUNNING
    # Reports: the states in the contract's order, the download's percent
    # rising, the last one "written".
    wait_report(c, lambda r: r.get("state") == "written")
    seen = [r.get("state", "") for r in reports(c)]
    order = [STATES.index(s or "idle") for s in seen]
    assert order == sorted(order), seen
    for s in ("downloading", "verifying", "writing", "written"):
        assert s in seen, seen
    pct = [r.get("percent", 0) for r in reports(c) if r.get("state") == "downloading"]
    assert pct == sorted(pct) and len(pct) <= 101
    assert metric(p, 'outpost_update_state{state="written"} 1')
    fetched = float(metric(p, "outpost_update_bytes_fetched_total")[0].split()[-1])
    assert fetched == len(bundle["data"])
    assert metric(p, 'outpost_update_fetch_failures_total{reason="stream"} 1')
    # The same offer again (a new tunnel would send it) changes nothing.
    offer(c, t, bundle)
    pump(c, 0.5)
    assert len(fetches(c)) == 2


def test_sha256_mismatch_fails_removes_and_applies_nothing(setup, bundle):
    c, fi, p, t, upd = setup()
    c.cmd(cmd="update_serve", file=str(bundle["tampered"]), version=NEXT,
          sha256_hex=bundle["sha"])
    offer(c, t, bundle)
    assert wait_until(lambda: status(p)["state"] == "failed", 20), status(p)
    assert status(p)["reason"] == "sha256 mismatch"
    assert list(upd.iterdir()) == []
    assert fi.applied() == []
    assert metric(p, 'outpost_update_fetch_failures_total{reason="sha256"} 1')
    wait_report(c, lambda r: r.get("state") == "failed")


def test_newer_offer_replaces_a_download_and_a_bad_signature_fails(setup, bundle):
    c, fi, p, t, upd = setup()
    c.cmd(cmd="update_serve", file=str(bundle["path"]), version=NEXT,
          sha256_hex=bundle["sha"], drop_after=65536)
    offer(c, t, bundle)
    c.wait(lambda e: e["event"] == "update_fetch_end" and e["why"] == "dropped", 20)
    bad = bundle["badsig"].read_bytes()
    sha = hashlib.sha256(bad).hexdigest()
    c.cmd(cmd="update_serve", file=str(bundle["badsig"]), version=NEXT, sha256_hex=sha)
    n = len(c.events)
    offer(c, t, bundle, sha256_hex=sha)
    c.wait(lambda e: e["event"] == "update_fetch" and e["offset"] == 0, 20, since=n)
    assert wait_until(lambda: status(p)["state"] == "failed", 20), status(p)
    assert "signature" in status(p)["reason"], status(p)
    assert fi.applied() == []
    assert list(upd.iterdir()) == []
    assert metric(p, 'outpost_update_fetch_failures_total{reason="verify"} 1')


@pytest.mark.parametrize("over,reason", [
    (dict(arch="aarch64"), "for arch aarch64, this is x86_64"),
    (dict(version=RUNNING), "is not newer than"),
    (dict(version="0.0.1"), "is not newer than"),
    (dict(size=2 << 20), "over UPDATE_MAX_BYTES"),
    (dict(sha256_hex="00" * 31), "sha256 is 31 bytes"),
])
def test_refused_offers_fetch_nothing(setup, bundle, over, reason):
    c, fi, p, t, upd = setup(UPDATE_MAX_BYTES=1 << 20)
    c.cmd(cmd="update_serve", file=str(bundle["path"]), version=NEXT,
          sha256_hex=bundle["sha"])
    offer(c, t, bundle, **over)
    assert wait_until(lambda: status(p)["state"] == "failed", 10), status(p)
    assert reason in status(p)["reason"]
    wait_report(c, lambda r: r.get("state") == "failed")
    assert reason in reports(c)[-1]["reason"]
    pump(c, 0.3)
    assert fetches(c) == []
    assert not upd.exists() or list(upd.iterdir()) == []
    assert fi.applied() == []


@pytest.mark.parametrize("state,other,version", [
    ("trial", "", RUNNING),        # rebooted into it: the edge still offers it
    ("good", "", RUNNING),
    ("written", NEXT, NEXT),       # restarted while waiting for the reboot
    ("rolled_back", NEXT, NEXT),   # it did not come up: not again
])
def test_applied_versions_are_not_fetched_again(setup, bundle, state, other, version):
    c, fi, p, t, upd = setup(init_state=INIT_STATES.index(state), init_other=other)
    assert status(p)["state"] == state
    offer(c, t, bundle, version=version)
    pump(c, 0.5)
    assert fetches(c) == []
    assert status(p)["state"] == state and status(p)["reason"] == ""
    assert fi.applied() == []


@pytest.mark.parametrize("state, other, version, reason", [
    (3, NEXT, NEXT, None),
    (0, "", NEXT, f"reboot into {NEXT} refused: the update state is idle"),
    (3, NEXT, "9.9.9", f"reboot into 9.9.9 refused: the written update is {NEXT}"),
])
def test_reboot_request_only_into_the_written_update(setup, bundle, state, other, version,
                                                     reason):
    """ControllerMessage.update_reboot (UPDATE_REBOOT=manual): init's REBOOT
    only when init has written exactly that version; else nothing is asked
    of init and the report says why, the state unchanged."""
    c, fi, p, t, _ = setup(init_state=state, init_other=other, UPDATE_REBOOT="manual")
    wait_report(c, lambda s: s["state"] == INIT_STATES[state])
    c.cmd(cmd="update_reboot", tunnel=t["tunnel"], version=version)
    if reason is None:
        assert wait_until(lambda: (REBOOT, "") in fi.requests, 10), fi.requests
        return
    s = wait_report(c, lambda s: s.get("reason"))["status"]
    assert s["reason"] == reason and s.get("state") == INIT_STATES[state], s
    assert status(p)["reason"] == reason
    assert REBOOT not in [op for op, _ in fi.requests], fi.requests


def test_stale_staged_files_removed_at_start(setup, bundle):
    c, fi, p, t, upd = setup(stale=("outpost-0.0.9.update", "outpost-0.0.8.part", "keep"))
    assert sorted(x.name for x in upd.iterdir()) == ["keep"]


def test_no_capability_without_init_ctl(setup, bundle):
    c, fi, p, t, upd = setup(init=False)
    assert "update" not in ",".join(t["capabilities"]).split(",")
    assert "update" not in get(p.health_port, "/status")[1]
    offer(c, t, bundle)  # ignored: nobody to apply it
    pump(c, 0.5)
    assert fetches(c) == []
    assert reports(c) == []


def test_report_unimplemented_stops_reports_on_that_connection(setup, bundle):
    c, fi, p, t, upd = setup()
    wait_report(c, lambda r: True)  # on the tunnel's open
    assert reports(c)[0].get("state") == "idle"
    c.cmd(cmd="update_report_unimplemented")
    offer(c, t, bundle, arch="aarch64")
    wait_report(c, lambda r: r.get("state") == "failed")
    offer(c, t, bundle, version="0.0.1")
    assert wait_until(lambda: "0.0.1" in status(p)["reason"], 10)
    pump(c, 0.5)
    assert len(reports(c)) == 2


# --- the real init ------------------------------------------------------------

@pytest.fixture
def disk(tmp_path):
    if os.geteuid() != 0 or not shutil.which("losetup") or not shutil.which("unshare"):
        pytest.skip("needs root, loop devices and unshare")
    from test_update_apply import Disk
    d = Disk(tmp_path)
    yield d
    d.close()


def test_real_init_takes_the_apply_and_its_refusal_is_reported(
        tmp_path, disk, outpost_bin, bundle):
    """`outpost init --test` (test_update_apply.py's chroot and loop disk)
    runs the real `outpost run` as its worker: the connector fetches and
    verifies the bundle with its UPDATE_SIGNING_CERT and sends APPLY over
    init's channel; init, whose image certificate is another key's, takes
    the request, verifies again and refuses (bad signature, before any
    write, so no vfat is needed); the connector follows init's states to
    failed and reports init's reason."""
    from test_update_apply import make_root, stop
    other = tmp_path / "other"
    other.mkdir()
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
       "-subj", "/CN=other", "-keyout", other / "k.key", "-out", other / "k.crt")
    root = make_root(tmp_path, disk, outpost_bin, bundle["path"], other / "k.crt")
    (root / "data/update/bundle.update").unlink()
    shutil.copy(bundle["cert"], root / "etc/outpost/connector.crt")
    for sub in ("data", "data/update"):
        os.chown(root / sub, 999, 999)
    c = Controller()
    try:
        port = free_port()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OUTPOST_CONFIG": "",
               "TRAVERSAL_CONTROLLER_URL": "http://127.0.0.1:%d" % c.port,
               "HTTP_PORT": str(port), "DATA_DIR": "/data", "MAX_TUNNELS_ALLOWED": "1",
               "RECONNECT_INTERVAL": "200ms", "ENV_LEVEL": "info",
               "UPDATE_SIGNING_CERT": "/etc/outpost/connector.crt"}
        script = ("mount -t proc proc {r}/proc && mount --bind {r}/cmdline {r}/proc/cmdline"
                  " && mount --bind -o ro /usr {r}/usr && exec chroot {r} /outpost init --test"
                  ).format(r=root)
        log = tmp_path / "init.log"
        p = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--propagation", "private",
             "sh", "-c", script], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True)
        try:
            t = c.wait_tunnel(timeout=20)
            assert "update" in ",".join(t["capabilities"]).split(",")
            c.cmd(cmd="update_serve", file=str(bundle["path"]), version=NEXT,
                  sha256_hex=bundle["sha"])
            offer(c, t, bundle)
            r = wait_report(c, lambda r: r.get("state") == "failed", timeout=60)["status"]
            text = log.read_text()
        finally:
            stop(p)
    finally:
        c.close()
    assert r.get("reason") == "bad signature", (r, text)
    assert r.get("slot") == "a" and r.get("offered_version") == NEXT, r
    seen = [e["status"].get("state") for e in c.events if e["event"] == "update_report"]
    assert "verifying" in seen and seen[-1] == "failed", seen
    assert "/data/update/outpost-%s.update" % NEXT in text, text
    assert (root / "data/update" / ("outpost-%s.update" % NEXT)).read_bytes() == bundle["data"]
    assert disk.read("root-b", 2 * 1024 * 1024) == bytes(2 * 1024 * 1024)
