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


def read_kv(path):
    with open(path) as f:
        return dict((l.split(" ", 1) + [""])[:2] for l in f.read().splitlines())


def test_control_channel_status_and_refusals(init, outpost_bin):
    # The worker asks the real init over the inherited OUTPOST_INIT_CTL
    # socket: STATUS answers, APPLY outside /data/update/ is refused with
    # the reason, and the worker's environment names a seqpacket socket.
    q = '"%s" update' % outpost_bin
    i = init('%s status > $D/st 2>$D/st.err; echo $? > $D/st.rc\n'
             '%s apply /tmp/x.update > $D/ap 2>$D/ap.err; echo $? > $D/ap.rc\n'
             'echo "$OUTPOST_INIT_CTL" > $D/env\n'
             'touch $D/done\nexec sleep 60' % (q, q))
    i.wait_for(lambda: os.path.exists(os.path.join(i.dir, "done")), 10, "worker")
    d = lambda n: os.path.join(i.dir, n)
    assert open(d("st.rc")).read().strip() == "0", open(d("st.err")).read()
    st = read_kv(d("st"))
    assert st["state"] == "idle" and st["percent"] == "0", st
    assert set(st) == {"slot", "version", "other-version", "state",
                       "percent", "reason"}
    assert open(d("ap.rc")).read().strip() == "100"
    assert "init refused: path outside /data/update/" in open(d("ap.err")).read()
    assert read_kv(d("ap"))["reason"] == "path outside /data/update/"
    assert open(d("env")).read().strip().isdigit()
    assert "control request 1 refused: path outside /data/update/" in i.text()
    assert i.proc.poll() is None  # a refusal never ends init


def test_control_channel_reboot(init, outpost_bin):
    # REBOOT ends init with a reboot instead of a poweroff (test mode: exit).
    # The worker waits for "go" (at most 10 s): init must not be gone
    # before the test has found its pid.
    i = init('for n in $(seq 200); do [ -e $D/go ] && break; sleep 0.05; done\n'
             '"%s" update reboot > $D/rb 2>&1\nexec sleep 60' % outpost_bin)
    open(os.path.join(i.dir, "go"), "w").close()
    assert i.proc.wait(timeout=30) == 0
    t = i.text()
    assert "shutdown (reboot requested)" in t, t
    assert "reboot (test mode: exit)" in t, t
    assert "poweroff" not in t, t


def test_update_status_outside_the_appliance(outpost_bin):
    env = {k: v for k, v in os.environ.items() if k != "OUTPOST_INIT_CTL"}
    r = subprocess.run([outpost_bin, "update", "status"], capture_output=True,
                       env=env, timeout=10)
    assert r.returncode == 100
    assert r.stderr == b"update: not an appliance\n"
    r = subprocess.run([outpost_bin, "update", "status"], capture_output=True,
                       env=dict(env, OUTPOST_INIT_CTL="0"),
                       stdin=subprocess.DEVNULL, timeout=10)
    assert r.returncode == 100
    assert b"OUTPOST_INIT_CTL: fd 0 is not init's control socket" in r.stderr


def test_worker_logs_init_update_state_at_start(init, outpost_bin):
    # The real worker (`outpost run`) asks init for the update state once
    # at start and logs it, and keeps the channel from what it runs.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    i = init('HTTP_PORT=%d exec "%s" run 2> $D/run.log' % (port, outpost_bin))
    log = os.path.join(i.dir, "run.log")
    i.wait_for(lambda: os.path.exists(log) and "update: " in open(log).read(),
               10, "the worker's update line")
    line = [l for l in open(log).read().splitlines() if "update: " in l][0]
    assert re.search(r'"update: slot \S+ version \S*, other slot \S+, '
                     r'state idle"', line), line
    pid = i.children()[0]
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if e)
    fd = int(env[b"OUTPOST_INIT_CTL"])
    assert os.readlink("/proc/%d/fd/%d" % (pid, fd)).startswith("socket:")
    with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
        flags = int(re.search(r"flags:\s+(\d+)", f.read()).group(1), 8)
    assert flags & os.O_CLOEXEC
