"""init assesses the boot (#21): the real `outpost init --test` as PID 1 of a
new PID namespace, with a directory standing in for the ESP
(OUTPOST_INIT_ESP), the running slot given (OUTPOST_INIT_SLOT) and init's
NOTIFY_SOCKET at a path of the test's (OUTPOST_INIT_NOTIFY).  The worker is a
small script (run as init's worker user) that sends sd_notify datagrams and
asks init's control channel (lib/initctl.h) for STATUS.  A trial boot is
marked good once the worker is ready for UPDATE_GOOD_AFTER; a worker exiting
100 on trial reboots (test mode: init exits 0); a good slot never reboots for
it; a newer other slot whose tries are used up shows as rolled_back.
Root needed (PID namespace, the worker's uid)."""
import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
RUNNING = (TOP / "VERSION").read_text().strip()
OLDER = "0.0.1"
NEWER = "999.0.0"
STATES = ["idle", "verifying", "writing", "written", "trial", "good",
          "rolled_back", "failed"]

# argv[1] of the worker is what it does: "ready" (READY=1, then STATUS until
# good or 20 s), "exit100", "status" (STATUS once, then wait).
WORKER = r'''#!/usr/bin/python3
import json, os, socket, struct, sys, time
MODE = open(os.path.join(os.path.dirname(__file__), "mode")).read().strip()
OUT = os.path.join(os.path.dirname(__file__), "out")
ctl = socket.socket(fileno=int(os.environ["OUTPOST_INIT_CTL"]))
def ask(op, path=b""):
    ctl.send(struct.pack("<II256s", 0x4c54434f, op, path))
    r = ctl.recv(4096)
    magic, op, result, state, pct = struct.unpack_from("<5I", r)
    t = [x.split(b"\0")[0].decode() for x in struct.unpack_from("8s32s32s128s", r, 20)]
    return dict(result=result, state=state, slot=t[0], version=t[1], other=t[2], reason=t[3])
def save(name, d):
    with open(os.path.join(OUT, name + ".tmp"), "w") as f:
        json.dump(d, f)
    os.rename(os.path.join(OUT, name + ".tmp"), os.path.join(OUT, name))
save("first", ask(3))
if MODE == "exit100":
    sys.exit(100)
if MODE == "ready":
    save("apply", ask(1, b"/data/update/x.update"))
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n.sendto(b"READY=1\nSTATUS=ready: 1 tunnel up", os.environ["NOTIFY_SOCKET"])
    end = time.monotonic() + 20
    while time.monotonic() < end and ask(3)["state"] != 5:
        time.sleep(0.1)
    save("last", ask(3))
time.sleep(60)
'''


@pytest.fixture
def world():
    """A directory the worker (uid 999) can read, with ESP and out/."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="outpost-assess-"))
    os.chmod(d, 0o755)
    (d / "esp/EFI/Linux").mkdir(parents=True)
    (d / "out").mkdir()
    os.chmod(d / "out", 0o777)
    (d / "worker.py").write_text(WORKER)
    os.chmod(d / "worker.py", 0o755)
    yield d
    shutil.rmtree(d)


def ukis(d):
    return sorted(os.listdir(d / "esp/EFI/Linux"))


def start(d, outpost_bin, slot, mode, log, good_after="1s"):
    (d / "mode").write_text(mode)
    env = dict(os.environ, OUTPOST_INIT_WORKER=str(d / "worker.py"),
               OUTPOST_INIT_ESP=str(d / "esp"), OUTPOST_INIT_SLOT=slot,
               OUTPOST_INIT_NOTIFY=str(d / "notify"),
               UPDATE_GOOD_AFTER=good_after)
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", str(outpost_bin), "init", "--test"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(log, "w"), start_new_session=True)


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, 9)
    p.wait(timeout=10)


def exit_of(d, outpost_bin, tmp_path, slot, mode):
    """init's exit code (it must end within 30 s) and its log."""
    log = tmp_path / "init.log"
    p = start(d, outpost_bin, slot, mode, log)
    try:
        rc = p.wait(timeout=30)
    finally:
        stop(p)
    return rc, log.read_text()


@contextlib.contextmanager
def running(d, outpost_bin, tmp_path, slot, mode):
    """init started, the worker's first STATUS read; init killed after."""
    log = tmp_path / "init.log"
    p = start(d, outpost_bin, slot, mode, log)
    try:
        yield p, log, wait_file(d / "out/first", p, log)
    finally:
        stop(p)


def alive_after(p, seconds, each=lambda: None):
    """Whether init still runs after seconds, each() once a second."""
    for _ in range(seconds):
        each()
        time.sleep(1)
    return p.poll() is None


def wait_file(path, p, log, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not path.exists():
        assert p.poll() is None, log.read_text()
        time.sleep(0.05)
    assert path.exists(), log.read_text()
    return json.loads(path.read_text())


def touch(d, *names):
    for n in names:
        (d / "esp/EFI/Linux" / n).write_bytes(b"MZ")


@pytest.fixture(autouse=True)
def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (PID namespace, the worker's uid)")


def test_trial_marked_good_once_ready(world, outpost_bin, tmp_path):
    trial = "outpost-%s-b+2-1.efi" % RUNNING
    touch(world, "outpost-%s-a.efi" % OLDER, trial)
    with running(world, outpost_bin, tmp_path, "b", "ready") as (p, log, first):
        assert STATES[first["state"]] == "trial", first
        assert first["other"] == OLDER and first["slot"] == "b", first
        # The fallback is not overwritten while on trial.
        apply = wait_file(world / "out/apply", p, log)
        assert apply["result"] != 0 and "on trial" in apply["reason"], apply
        last = wait_file(world / "out/last", p, log)
    text = log.read_text()
    assert STATES[last["state"]] == "good", (last, text)
    assert ukis(world) == sorted(["outpost-%s-a.efi" % OLDER,
                                  "outpost-%s-b.efi" % RUNNING]), text
    assert "trial boot of %s in slot b" % RUNNING in text, text
    assert "worker ready: ready: 1 tunnel up" in text, text
    assert "slot b (%s) marked good" % RUNNING in text, text


def test_trial_worker_exit_100_reboots(world, outpost_bin, tmp_path):
    trial = "outpost-%s-a+3.efi" % RUNNING
    touch(world, trial)
    rc, text = exit_of(world, outpost_bin, tmp_path, "a", "exit100")
    assert rc == 0, text
    assert "trial boot of %s in slot a failed: the worker exited 100" % RUNNING in text, text
    assert "reboot (test mode: exit)" in text, text
    assert ukis(world) == [trial], text


def test_good_slot_never_reboots_for_exit_100(world, outpost_bin, tmp_path):
    touch(world, "outpost-%s-a.efi" % RUNNING)
    with running(world, outpost_bin, tmp_path, "a", "exit100") as (p, log, first):
        assert alive_after(p, 2), log.read_text()
    assert STATES[first["state"]] == "good", first
    assert "reboot" not in log.read_text()


def test_rolled_back_from_a_newer_slot(world, outpost_bin, tmp_path):
    touch(world, "outpost-%s-a.efi" % RUNNING, "outpost-%s-b+0-3.efi" % NEWER)
    with running(world, outpost_bin, tmp_path, "a", "status") as (p, log, first):
        pass
    text = log.read_text()
    assert STATES[first["state"]] == "rolled_back", (first, text)
    assert first["reason"] == "%s did not come up after 3 tries" % NEWER, first
    assert first["other"] == NEWER, first
    assert "outpost: rolled back: %s did not come up after 3 tries" % NEWER in text, text


def test_readiness_from_another_process_does_not_count(world, outpost_bin, tmp_path):
    trial = "outpost-%s-b+2-1.efi" % RUNNING
    touch(world, trial)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with running(world, outpost_bin, tmp_path, "b", "status") as (p, log, first):
        assert alive_after(p, 3, lambda: s.sendto(
            b"READY=1\nSTATUS=ready: forged", str(world / "notify"))), log.read_text()
    assert STATES[first["state"]] == "trial", first
    assert "worker ready" not in log.read_text()
    assert ukis(world) == [trial]
