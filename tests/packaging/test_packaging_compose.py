"""deploy/compose: what Debian's podman-compose makes of it.

podman-compose 1.0.3 (Debian 12) has no `config` command; `--dry-run up`
is its equivalent: it parses and merges the files, substitutes variables
and prints the podman commands it would run, without running them.  The
checks read those commands (what a container really gets) and the YAML
itself for what 1.0.3 does not translate (stop_grace_period, the exec form
of the health check, which 1.0.3 wraps in /bin/sh -c: a scratch image has
no shell, docker compose and later podman-compose run it as written).
"""
import os
import re
import shlex

import pytest
import yaml

from conftest import DEPLOY, duration_s, run

COMPOSE = DEPLOY / "compose"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    for f in ("connector.pem", "connector.key", "ca.pem"):
        (d / f).write_text("placeholder\n")
    return d


def dry_run(tls, *files, **env):
    e = {"PATH": os.environ["PATH"], "OUTPOST_TLS_DIR": str(tls), **env}
    argv = ["podman-compose", "--dry-run"]
    for f in files:
        argv += ["-f", str(COMPOSE / f)]
    out = run(argv + ["up", "-d"], env=e, cwd=COMPOSE).stdout
    runs = {}
    for line in out.splitlines():
        if line.startswith("podman run "):
            name = re.search(r"--name=compose_(\w+)_1", line).group(1)
            runs[name] = line
    return runs


def env_of(line):
    return dict(m.split("=", 1) for m in re.findall(r" -e (\S+=\S*)", line))


def test_connector_container(tls, settings):
    runs = dry_run(tls, "compose.yaml", TRAVERSAL_CONTROLLER_URL="https://edge.example:443")
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


def test_edge_for_evaluation(tls, settings):
    runs = dry_run(tls, "compose.yaml", "compose.edge.yaml")
    assert set(runs) == {"outpost", "edge"}, runs
    edge, conn = runs["edge"], runs["outpost"]
    assert "--entrypoint" in edge and "/outpost-edge" in edge
    assert "--read-only" in edge and "--cap-drop ALL" in edge
    assert set(env_of(edge)) <= set(settings) | {"OUTPOST_CONFIG"}
    assert env_of(conn)["TRAVERSAL_CONTROLLER_URL"] == "https://edge:7443"
    assert shlex.split(edge)[-1] == "run"
