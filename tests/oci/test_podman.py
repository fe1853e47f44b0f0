"""The same archive loaded into podman (with runc) and run.

podman gets a private storage and run root under the test directory (vfs
driver, cgroupfs, file events), so nothing leaks into the host's podman
state.  Its containers get their own network namespace (--network none:
loopback only); the health port is reached from inside it with nsenter.
The rlimits are given explicitly because podman's defaults exceed what
this host lets a process set.
"""

import json
import shutil
import subprocess

import pytest

from conftest import TOP, netns_http, runnable, wait_for

VERSION = (TOP / "VERSION").read_text().strip()
ENV = ["-e", "TRAVERSAL_CONTROLLER_URL=http://localhost:9"]


class Podman:
    def __init__(self, root):
        self.base = ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
                     "--storage-driver", "vfs", "--runtime", "runc",
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def __call__(self, *args, check=True, timeout=120):
        r = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {r.returncode}\n{r.stderr}")
        return r

    def run(self, image, *extra):
        return self("run", "-d", "--read-only", "--network", "none",
                    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                    "--health-interval", "disable", *ENV, *extra, image).stdout.strip()

    def pid(self, ctr):
        return int(self("inspect", ctr, "--format", "{{.State.Pid}}").stdout)


@pytest.fixture
def podman(bundle_dir):
    runnable()
    if shutil.which("podman") is None:
        pytest.skip("podman not installed")
    p = Podman(bundle_dir)
    yield p
    p("rm", "--all", "--force", "--time", "0", check=False)


def test_podman_loads_the_archive_and_runs_it(podman, layout, archive):
    out = podman("load", "-i", str(archive)).stdout
    assert f"outpost:{VERSION}" in out
    digest = podman("image", "inspect", f"outpost:{VERSION}", "--format", "{{.Digest}}").stdout
    assert digest.strip() == layout.manifest_desc()["digest"]
    ctr = podman.run(f"outpost:{VERSION}")
    pid = podman.pid(ctr)
    assert wait_for(lambda: netns_http(pid, "/healthz")[0] == 200, 15, step=0.1), \
        podman("logs", ctr).stderr
    assert podman("exec", ctr, "/outpost", "probe", check=False).returncode == 1
    podman("stop", "--time", "10", ctr)
    assert podman("inspect", ctr, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"


def test_docker_archive_path_keeps_the_healthcheck(podman, layout, archive):
    # podman reads the archive through its docker-archive transport here,
    # i.e. manifest.json -> config, the way `docker load` does.
    podman("pull", "-q", f"docker-archive:{archive}")
    hc = json.loads(podman("image", "inspect", f"outpost:{VERSION}", "--format",
                           "{{json .Config.Healthcheck}}").stdout)
    assert hc["Test"] == ["CMD", "/outpost", "probe"]
    ctr = podman.run(f"outpost:{VERSION}")
    pid = podman.pid(ctr)
    assert wait_for(lambda: netns_http(pid, "/healthz")[0] == 200, 15, step=0.1)
    r = podman("healthcheck", "run", ctr, check=False)
    assert (r.returncode, r.stdout.strip()) == (1, "unhealthy"), r
