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
    if os.geteuid() == 0:
        # CI runs as root and the tests keep their files under pytest's
        # 0700 tmp dirs: processes keep uid 0 (capabilities still dropped)
        # unless a test names OUTPOST_USER; test_privileges.py proves the drop.
        env.update(OUTPOST_USER="0:0", ALLOW_ROOT="true")
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


# --- bounded waits and a running worker (health port tests) -------------------

def wait_until(pred, timeout=5.0, interval=0.02):
    """Poll pred() until it returns a truthy value or timeout seconds pass."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def port_answers(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def worker(outpost_bin, spawn, port):
    """Start `outpost run` on a free HTTP_PORT; returns (process, port).

    Extra settings are passed as keyword arguments: worker(ENV_LEVEL="debug").
    """
    def start(*args, **env):
        p = spawn([outpost_bin, *(args or ("run",))],
                  env=base_env(HTTP_PORT=port, **env))
        if not wait_until(lambda: p.poll() is not None or port_answers(port), 5):
            pytest.fail("worker did not open its health port within 5 s")
        if p.poll() is not None:
            pytest.fail(f"worker exited {p.returncode}: {p.stderr.read().decode()}")
        return p, port
    return start
