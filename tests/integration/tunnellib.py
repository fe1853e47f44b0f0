"""Helpers for tests that run `outpost run` against the grpc-js controller."""
import base64
import itertools
import json
import os
import urllib.request

from conftest import base_env, free_port, wait_until

_ids = itertools.count(1)


def connector_env(ctl, pki=None, client="test", **extra):
    """Settings pointing outpost at controller ctl (mTLS when pki is given)."""
    env = dict(HTTP_PORT=free_port(), ENV_LEVEL="info", RECONNECT_INTERVAL="200ms",
               MAX_BACKOFF_DELAY="2s")
    if pki is None:
        env["TRAVERSAL_CONTROLLER_URL"] = f"http://127.0.0.1:{ctl.port}"
    else:
        env.update(TRAVERSAL_CONTROLLER_URL=f"https://127.0.0.1:{ctl.port}",
                   TLS_CERT_FILE=os.path.join(pki, f"client-{client}.pem"),
                   TLS_KEY_FILE=os.path.join(pki, f"client-{client}.key"),
                   TLS_CA_FILE=os.path.join(pki, "ca.pem"))
    env.update(extra)
    return env


def start_connector(spawn, outpost_bin, env):
    p = spawn([outpost_bin, "run"], env=base_env(**env))
    p.health_port = int(env["HTTP_PORT"])
    return p


def get(port, path, timeout=2):
    """(status, parsed JSON or text) from the connector's health port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        status = e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def readyz(port):
    try:
        return get(port, "/readyz")
    except OSError:
        return 0, None


def ask(ctl, tunnel, method, url, headers=(), body=b"", timeout=15):
    """Send an HttpRequest on tunnel; returns the ConnectorMessage answering it."""
    rid = f"req-{next(_ids)}"
    ctl.cmd(cmd="http", tunnel=tunnel, request_id=rid, method=method, url=url,
            headers=[list(h) for h in headers],
            body_b64=base64.b64encode(body).decode())
    return ctl.wait(lambda e: e["event"] == "message" and
                    e["msg"].get("request_id") == rid, timeout=timeout, since=0)["msg"]


def send_async(ctl, tunnel, method, url, headers=(), body=b""):
    rid = f"req-{next(_ids)}"
    ctl.cmd(cmd="http", tunnel=tunnel, request_id=rid, method=method, url=url,
            headers=[list(h) for h in headers],
            body_b64=base64.b64encode(body).decode())
    return rid


def answer(ctl, rid, timeout=15):
    return ctl.wait(lambda e: e["event"] == "message" and
                    e["msg"].get("request_id") == rid, timeout=timeout, since=0)["msg"]


def body_of(msg):
    return base64.b64decode(msg["http_response"].get("body", ""))


def headers_of(msg):
    return [(h["key"], h["value"]) for h in msg["http_response"].get("headers", [])]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_tunnels(ctl):
    return [t for t in ctl.cmd(cmd="list")["tunnels"] if t["open"]]


def wait_tunnels(ctl, n, timeout=10):
    ok = wait_until(lambda: len(open_tunnels(ctl)) >= n, timeout, 0.05)
    assert ok, f"expected {n} open tunnels, have {open_tunnels(ctl)}"
    return open_tunnels(ctl)


def log_lines(proc):
    """Parsed JSON log lines the connector wrote (after it exited)."""
    out = []
    for line in proc.stderr.read().decode().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
