"""The image run by runc, as root and rootless, read-only root, own netns.

The bundle is the image's single layer unpacked plus a config.json from
`runc spec` (or `runc spec --rootless`) with the image config applied:
Entrypoint + Cmd, User, WorkingDir.  Nothing is added to the rootfs: no
/tmp, /etc/hosts or resolv.conf, exactly what a scratch image gives.  The
container gets its own network namespace; the test reaches the health port
from inside it with nsenter, so only that namespace's loopback is used.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (TOP, UNPRIVILEGED_UID, extract_rootfs, netns_http, netns_lo_up,
                      runnable, wait_for)

# The tunnel cannot come up here: nothing listens on the controller port.
ENV = ["TRAVERSAL_CONTROLLER_URL=http://localhost:9"]


class Runc:
    """One container run in the foreground by `runc run`."""

    def __init__(self, layout, bundle, rootless, env=(), args=None, user=None):
        self.bundle, self.rootless = bundle, rootless
        self.id = f"outpost-{os.getpid()}-{time.monotonic_ns()}"
        self.state = bundle / "state"
        self.state.mkdir(mode=0o700)
        extract_rootfs(layout, bundle / "rootfs")
        self.log = open(bundle / "log", "w+b")
        self._spec(layout.config()["config"], list(env), args, user)
        if rootless:
            # As a rootless unpacker leaves it: every file the user's own
            # (only one id is mapped, so image owners cannot be kept).
            for p in [bundle / "rootfs", *(bundle / "rootfs").rglob("*")]:
                os.lchown(p, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
            os.chown(self.state, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
            os.chown(self.log.name, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        self.proc = None

    def _runc(self, *args):
        cmd = ["runc", "--root", str(self.state), *args]
        if self.rootless:
            cmd = ["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}",
                   "--clear-groups", "env", f"XDG_RUNTIME_DIR={self.state}", *cmd]
        return cmd

    def _spec(self, img, env, args, user):
        subprocess.run(["runc", "spec", *(["--rootless"] if self.rootless else [])],
                       cwd=self.bundle, check=True, timeout=30)
        path = self.bundle / "config.json"
        c = json.loads(path.read_text())
        p = c["process"]
        p["terminal"] = False
        p["args"] = args or img["Entrypoint"] + img["Cmd"]
        p["cwd"] = img["WorkingDir"]
        p["env"] = env
        c["root"] = {"path": "rootfs", "readonly": True}
        ns = c["linux"]["namespaces"]
        if not any(n["type"] == "network" for n in ns):
            ns.append({"type": "network"})
        if self.rootless:
            # One mapped id: the container's root is the unprivileged host user.
            for m in ("uidMappings", "gidMappings"):
                c["linux"][m] = [{"containerID": 0, "hostID": UNPRIVILEGED_UID, "size": 1}]
        else:
            # The image's USER, or any uid as some platforms impose.
            self.user = user or img["User"]
            p["user"] = {"uid": int(self.user), "gid": int(self.user) if user else 0}
        path.write_text(json.dumps(c))
        os.chmod(self.bundle, 0o755)

    def start(self, lo=True):
        pidfile = self.state / "pid"
        self.proc = subprocess.Popen(
            self._runc("run", "--pid-file", str(pidfile), self.id),
            cwd=self.bundle, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_for(lambda: self.proc.poll() is not None or
                 (pidfile.exists() and pidfile.read_text().strip()), 20)
        assert pidfile.exists() and pidfile.read_text().strip(), self.output()
        self.pid = int(pidfile.read_text())
        if lo:
            netns_lo_up(self.pid)
        return self

    def host_uid(self):
        with open(f"/proc/{self.pid}/status") as f:
            return int(next(line for line in f if line.startswith("Uid:")).split()[1])

    def exec(self, *args, timeout=20):
        return subprocess.run(self._runc("exec", self.id, *args), capture_output=True,
                              timeout=timeout)

    def kill(self, sig):
        subprocess.run(self._runc("kill", self.id, sig), check=True, timeout=20)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def close(self):
        if self.proc and self.proc.poll() is None:
            subprocess.run(self._runc("kill", self.id, "KILL"), timeout=20)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        subprocess.run(self._runc("delete", "--force", self.id), capture_output=True, timeout=20)
        self.log.close()


@pytest.fixture(params=["root", "rootless", "any-uid"])
def container(request, layout, bundle_dir):
    runnable()
    c = Runc(layout, bundle_dir, request.param == "rootless", ENV,
             user="40404" if request.param == "any-uid" else None)
    yield c
    c.close()


def healthy(c):
    return wait_for(lambda: netns_http(c.pid, "/healthz")[0] == 200, 15, step=0.1)


def test_healthz_answers_on_read_only_root(container):
    container.start()
    assert healthy(container), container.output()
    status, body = netns_http(container.pid, "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "healthy"}
    want = UNPRIVILEGED_UID if container.rootless else int(container.user)
    assert container.host_uid() == want


def test_probe_exits_1_while_not_ready(container):
    container.start()
    assert healthy(container), container.output()
    # No tunnel can land (nothing listens on the controller port): not ready.
    r = container.exec("/outpost", "probe")
    assert r.returncode == 1, (r, container.output())
    status, body = netns_http(container.pid, "/readyz")
    assert status == 503
    assert json.loads(body)["status"] == "not ready"
    assert json.loads(body)["reason"] == "refused", body  # why: the dial


def test_sigterm_stops_with_exit_0(container):
    container.start()
    assert healthy(container), container.output()
    container.kill("TERM")
    assert container.wait(20) == 0, container.output()
    out = container.output()
    # The drain path ran to its end (not a kill, not a crash).
    assert "draining on signal 15" in out and "tunnels drained" in out, out


def test_version_runs_on_read_only_root(layout, bundle_dir):
    runnable()
    # /outpost version needs nothing: it proves exec under USER on a
    # read-only root with no /tmp before the longer tests run.
    c = Runc(layout, bundle_dir, False, args=["/outpost", "version"])
    try:
        c.start(lo=False)
        assert c.wait(20) == 0, c.output()
        out = c.output()
        version = (TOP / "VERSION").read_text().strip()
        rev = layout.manifest()["annotations"]["org.opencontainers.image.revision"]
        # The binary in the image is the one the image's labels describe.
        assert out.startswith(f"outpost {version} (revision {rev})"), out
        for lib in ("BearSSL", "nghttp2", "c-ares", "PCRE2", "protobuf-c"):
            assert lib in out, out
    finally:
        c.close()


def test_localhost_resolves_without_etc_hosts(container):
    # The scratch root has no /etc/hosts and no resolv.conf: the dial to
    # localhost must still reach the loopback (and be refused there), not
    # fail in name resolution.
    container.start()
    assert healthy(container), container.output()
    assert wait_for(lambda: netns_http(container.pid, "/readyz") ==
                    (503, '{"status":"not ready","active_tunnels":0,"reason":"refused"}'), 10), container.output()
