"""init without a VM: `outpost init --test` as PID 1 of a new PID and mount
namespace, supervising worker scripts written here."""
import os
import re
import signal
import subprocess
import time

import pytest


class Init:
    def __init__(self, outpost_bin, scratch, name, script):
        self.dir = os.path.join(scratch, "ns-" + name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)  # the worker runs as uid 999
        self.worker = os.path.join(self.dir, "worker.sh")
        with open(self.worker, "w") as f:
            f.write("#!/bin/sh\nD=%s\n%s\n" % (self.dir, script))
        os.chmod(self.worker, 0o755)
        self.log = os.path.join(self.dir, "init.log")
        env = dict(os.environ, OUTPOST_INIT_WORKER=self.worker)
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--mount-proc",
             outpost_bin, "init", "--test"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"), start_new_session=True)
        self.pid = self.wait_for(self.init_pid, 5, "init's host pid")

    def init_pid(self):
        """The host pid of the namespace's PID 1 (unshare's only child)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def children(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def zombies(self):
        out = []
        for p in self.children():
            try:
                with open("/proc/%d/stat" % p) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        out.append(p)
            except OSError:
                pass
        return out

    def text(self):
        with open(self.log) as f:
            return f.read()

    def lines(self, pattern):
        return re.findall(pattern, self.text())

    @staticmethod
    def wait_for(fn, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = fn()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("timed out waiting for " + what)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def init(outpost_bin, scratch, request):
    started = []

    def start(script):
        i = Init(outpost_bin, scratch, request.node.name, script)
        started.append(i)
        return i

    yield start
    for i in started:
        i.stop()


def test_refuses_when_not_pid1(outpost_bin):
    r = subprocess.run([outpost_bin, "init", "--test"], capture_output=True,
                       timeout=10)
    assert r.returncode == 100
    assert b"PID 1" in r.stderr


def test_worker_is_unprivileged_but_may_set_the_clock(init):
    # The worker runs as uid 999 with exactly one capability, CAP_SYS_TIME
    # (bit 25), ambient so that it survives exec: NTP before the first dial.
    i = init('grep -E "^(Uid|Cap(Eff|Prm|Amb)|NoNewPrivs):" /proc/self/status > $D/st.tmp'
             ' && mv $D/st.tmp $D/status\nexec sleep 60')
    path = os.path.join(i.dir, "status")
    i.wait_for(lambda: os.path.exists(path), 5, "worker status")
    with open(path) as f:
        st = dict(line.split(":", 1) for line in f.read().splitlines())
    st = {k: v.split() for k, v in st.items()}
    assert st["Uid"][:3] == ["999"] * 3
    for cap in ("CapEff", "CapPrm", "CapAmb"):
        assert int(st[cap][0], 16) == 1 << 25, (cap, st[cap])
    assert st["NoNewPrivs"] == ["1"]


def test_reaps_orphans(init):
    # Each worker leaves an orphan that exits later: init inherits and reaps it.
    i = init('sh -c "sleep 0.3 &"\necho started >> $D/runs\nexec sleep 60')
    i.wait_for(lambda: os.path.exists(os.path.join(i.dir, "runs")), 5, "worker")
    time.sleep(1.0)  # the orphan has exited by now
    assert i.zombies() == []
    assert len(i.children()) == 1  # only the worker is left
    assert i.proc.poll() is None


def test_restarts_killed_worker(init):
    i = init('echo $$ >> $D/pids\nexec sleep 60')
    pids = os.path.join(i.dir, "pids")
    i.wait_for(lambda: os.path.exists(pids), 5, "first worker")
    first = i.wait_for(i.children, 5, "worker process")[0]
    os.kill(first, signal.SIGKILL)
    i.wait_for(lambda: len(open(pids).read().split()) >= 2, 5, "restart")
    assert i.lines(r"worker killed signal=9 .*restart_in_ms=(\d+)")
    assert first not in i.children()


def test_backoff_temporary_is_fast_and_grows(init):
    i = init("echo x >> $D/runs\nexit 111")
    time.sleep(4.0)
    runs = len(open(os.path.join(i.dir, "runs")).read().split())
    delays = [int(d) for d in i.lines(r"code=111 .*restart_in_ms=(\d+)")]
    assert runs >= 4, i.text()
    assert 250 <= delays[0] <= 500
    # Doubling with equal jitter: each delay lies in [base/2, base].
    for n, d in enumerate(delays[:6]):
        base = min(500 << n, 30000)
        assert base // 2 <= d <= base, (n, d)


def test_backoff_permanent_is_slow_and_loud(init):
    i = init("echo x >> $D/runs\nexit 100")
    time.sleep(3.0)
    runs = len(open(os.path.join(i.dir, "runs")).read().split())
    assert runs == 1
    assert i.lines(r"code=100 .*restart_in_ms=60000")
    assert "fix the configuration" in i.text()


def test_sigterm_orderly_shutdown(init):
    # The worker exits on TERM; an orphan ignoring TERM is KILLed after grace.
    i = init("sh -c 'trap \"\" TERM; while :; do sleep 0.2; done' &\n"
             "trap 'echo term > $D/got_term; exit 0' TERM\n"
             "echo up > $D/up\nwhile :; do sleep 0.1; done")
    i.wait_for(lambda: os.path.exists(os.path.join(i.dir, "up")), 5, "worker")
    time.sleep(0.3)
    t0 = time.monotonic()
    os.kill(i.pid, signal.SIGTERM)
    assert i.proc.wait(timeout=15) == 0
    took = time.monotonic() - t0
    assert os.path.exists(os.path.join(i.dir, "got_term"))
    t = i.text()
    order = ["shutdown (SIGTERM)", "grace period over", "all processes gone",
             "poweroff (test mode: exit)"]
    pos = [t.find(s) for s in order]
    assert all(p >= 0 for p in pos), t
    assert pos == sorted(pos), t
    assert 4.5 <= took <= 8, took
    assert "worker exited" not in t  # no restart while stopping
