"""Shared fixtures for outpost integration tests.

Binaries come from the environment (OUTPOST_BIN, OUTPOST_EDGE_BIN: absolute
paths, set by `make integration`).  Every process a test starts is bounded
in time and cleaned up; only loopback is used.
"""
import os
import signal
import socket
import subprocess

import pytest


def _bin(var):
    path = os.environ.get(var)
    if not path or not os.path.isfile(path):
        pytest.fail(f"{var} must name the binary under test (run `make integration`)")
    return path


@pytest.fixture(scope="session")
def outpost_bin():
    return _bin("OUTPOST_BIN")


@pytest.fixture(scope="session")
def outpost_edge_bin():
    return _bin("OUTPOST_EDGE_BIN")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port():
    return free_port()


def base_env(**extra):
    """A minimal environment: no inherited settings, no default config file."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OUTPOST_CONFIG": ""}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(argv, env=None, timeout=10, **kw):
    """Run to completion within timeout seconds; returns CompletedProcess (text)."""
    return subprocess.run(argv, env=env if env is not None else base_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def spawn():
    """Start long-running processes; each is terminated (then killed) at teardown."""
    procs = []

    def start(argv, env=None, **kw):
        p = subprocess.Popen(argv, env=env if env is not None else base_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for f in (p.stdout, p.stderr):
            if f:
                f.close()
