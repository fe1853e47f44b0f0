"""deploy/compose: what Debian's podman-compose makes of it, and a live run.

podman-compose 1.0.3 (Debian 12) has no `config` command; `--dry-run up`
is its equivalent: it parses and merges the files, substitutes variables
and prints the podman commands it would run.  The checks read those
commands (what a container really gets) and the YAML itself for what 1.0.3
does not translate (stop_grace_period, the exec form of the health check,
which 1.0.3 wraps in /bin/sh -c: a scratch image has no shell; docker
compose and later podman-compose run it as written).  Then the stack runs:
the image from `make oci` ($OCI_TAR), the connector and a local outpost-edge
on a compose network, the connector ready with its tunnels up.

podman gets a private storage, run root and network config directory
(CONTAINERS_CONF) under the test's directory, so nothing reaches the host's
podman state (even --dry-run creates the project's network).
"""
import os
import re
import shlex
import subprocess
import time
import urllib.request

import pytest
import yaml

from conftest import DEPLOY, TOP, duration_s, free_port, run

COMPOSE = DEPLOY / "compose"
PROJECT = "outposttest"
UID = 65532


class Podman:
    """podman and podman-compose on private state under root."""

    def __init__(self, root):
        (root / "net").mkdir()
        conf = root / "containers.conf"
        conf.write_text(f'[network]\nnetwork_config_dir = "{root}/net"\n')
        self.env = {"PATH": os.environ["PATH"], "CONTAINERS_CONF": str(conf)}
        self.args = ["--root", str(root / "storage"), "--runroot", str(root / "run"),
                     "--storage-driver", "vfs", "--runtime", "runc",
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def podman(self, *args, check=True):
        return run(["podman", *self.args, *args], env=self.env, timeout=120, check=check)

    def compose(self, files, *args, dry=False, check=True, **env):
        argv = ["podman-compose", *(["--dry-run"] if dry else []), "-p", PROJECT,
                "--podman-args", " ".join(self.args),
                # This host's rlimits are below podman's defaults.
                "--podman-run-args", "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"]
        for f in files:
            argv += ["-f", str(COMPOSE / f)]
        return run(argv + list(args), env={**self.env, **env}, cwd=COMPOSE, timeout=180,
                   check=check)


@pytest.fixture(scope="module")
def pm(tmp_path_factory):
    return Podman(tmp_path_factory.mktemp("podman"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    for f in ("connector.pem", "connector.key", "ca.pem"):
        (d / f).write_text("placeholder\n")
    return d


def dry_run(pm, tls, *files, **env):
    out = pm.compose(files, "up", "-d", dry=True, OUTPOST_TLS_DIR=str(tls), **env).stdout
    runs = {}
    for line in out.splitlines():
        if line.startswith("podman "):
            m = re.search(rf" --name={PROJECT}_(\w+)_1 ", line)
            if m:
                runs[m.group(1)] = line
    return runs


def env_of(line):
    return dict(m.split("=", 1) for m in re.findall(r" -e (\S+=\S*)", line))


def test_connector_container(pm, tls, settings):
    runs = dry_run(pm, tls, "compose.yaml", TRAVERSAL_CONTROLLER_URL="https://edge.example:443")
    assert set(runs) == {"outpost"}, runs
    line = runs["outpost"]
    for flag in ("--read-only", "--cap-drop ALL", "--security-opt no-new-privileges:true",
                 "-u 65532:65532", "--tmpfs /data:", "-p 127.0.0.1:8081:8080",
                 "--healthcheck-interval 10s", "--restart unless-stopped"):
        assert flag in line, flag
    assert "${" not in line, "a variable was left unsubstituted"
    assert "/outpost" in line.split("--healthcheck-command", 1)[1].split("--", 1)[0]
    env = env_of(line)
    assert env["TRAVERSAL_CONTROLLER_URL"] == "https://edge.example:443"
    assert set(env) <= set(settings), set(env) - set(settings)
    # The mTLS files arrive as read-only secrets where TLS_*_FILE look.
    for key in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"):
        assert re.search(rf"--volume \S+:{env[key]}:ro", line), key
    assert env["DATA_DIR"] == "/data"


def test_yaml_health_check_and_grace(settings):
    doc = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    svc = doc["services"]["outpost"]
    assert svc["healthcheck"]["test"] == ["CMD", "/outpost", "probe"]
    drain = svc["environment"].get("DRAIN_TIMEOUT", settings["DRAIN_TIMEOUT"])
    assert duration_s(svc["stop_grace_period"]) > duration_s(drain)
    assert set(doc["services"]) == {"outpost"}


def test_edge_for_evaluation(pm, tls, settings):
    runs = dry_run(pm, tls, "compose.yaml", "compose.edge.yaml")
    assert set(runs) == {"outpost", "edge"}, runs
    edge, conn = runs["edge"], runs["outpost"]
    assert "--entrypoint" in edge and "/outpost-edge" in edge
    assert "--read-only" in edge and "--cap-drop ALL" in edge
    assert set(env_of(edge)) <= set(settings) | {"OUTPOST_CONFIG"}
    assert env_of(conn)["TRAVERSAL_CONTROLLER_URL"] == "https://edge:7443"
    assert shlex.split(edge)[-1] == "run"


def get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


@pytest.mark.skipif(bool(os.environ.get("PKG_QEMU")), reason="runs the host's architecture only")
def test_stack_runs_connector_ready_against_edge(pm, tmp_path):
    tar = os.environ.get("OCI_TAR")
    if not tar or not os.path.isfile(tar):
        pytest.fail("OCI_TAR must name the image archive `make oci` wrote")
    pki = tmp_path / "pki"
    subprocess.run([str(TOP / "scripts" / "dev-pki.sh"), str(pki), "alpha"], check=True,
                   capture_output=True, timeout=60)
    token = os.urandom(16).hex()
    (pki / "api-token").write_text(token + "\n")
    # Bind-mounted secrets keep their owner: the image user must be able to read them.
    for f in pki.iterdir():
        os.chown(f, UID, UID)
    pm.podman("load", "-i", tar)
    hport, aport = free_port(), free_port()
    env = dict(OUTPOST_TLS_DIR=str(pki), OUTPOST_TLS_NAME="connector-alpha",
               OUTPOST_HEALTH_PORT=str(hport), OUTPOST_EDGE_API_PORT=str(aport),
               OUTPOST_EDGE_BIN=os.environ["OUTPOST_EDGE_BIN"])
    files = ("compose.yaml", "compose.edge.yaml")
    try:
        pm.compose(files, "up", "-d", **env)
        want = (200, b'{"status":"ready","active_tunnels":2}')
        deadline = time.monotonic() + 30
        while get(f"http://127.0.0.1:{hport}/readyz") != want and time.monotonic() < deadline:
            time.sleep(0.2)
        logs = pm.podman("logs", f"{PROJECT}_outpost_1", check=False)
        assert get(f"http://127.0.0.1:{hport}/readyz") == want, logs.stdout + logs.stderr
        st, body = get(f"http://127.0.0.1:{aport}/v1/connectors/alpha", token)
        assert st == 200 and b'"state":"online"' in body, (st, body)
        info = pm.podman("inspect", f"{PROJECT}_outpost_1", "--format",
                         "{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}").stdout.split()
        assert info == ["true", f"{UID}:{UID}"], info
    finally:
        pm.compose(files, "down", check=False, **env)
        pm.podman("network", "rm", f"{PROJECT}_default", check=False)
