"""Helpers for the outpost-edge integration tests (test_edge*.py).

Real processes only: outpost-edge, `outpost run` connectors, the grpc-js
connector emulator (controller/edge_client.js) and a threaded Python HTTP
upstream.  Every process writes its log to a file (a pipe nobody reads would
stall it), is bounded in time, and is stopped by its own handle.
"""
import hashlib
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import base_env, free_port, port_answers, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEV_PKI = os.path.join(ROOT, "scripts", "dev-pki.sh")
CONTROLLER_DIR = os.path.join(os.path.dirname(__file__), "controller")


class Proc:
    """A child process with its log in a file."""

    def __init__(self, argv, env, log, stdin=None, preexec_fn=None):
        self.log = log
        self._f = open(log, "wb")
        self.p = subprocess.Popen(argv, env=env, stdout=self._f, stderr=subprocess.STDOUT,
                                  stdin=stdin, preexec_fn=preexec_fn)

    def alive(self):
        return self.p.poll() is None

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        if self.p.stdin:
            self.p.stdin.close()
        self._f.close()


def events(proc, kind):
    """The JSON lines of proc's log whose "event" is kind (the grpc-js clients')."""
    out = []
    for line in proc.text().splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("event") == kind:
            out.append(ev)
    return out


def dev_pki(directory, *names):
    for n in names:
        subprocess.run([DEV_PKI, directory, n], check=True, capture_output=True, timeout=30)
    return directory


class Edge:
    """outpost-edge on free loopback ports with a fresh API token."""

    def __init__(self, binary, tmp, pki=None, preexec_fn=None, listen="127.0.0.1", **settings):
        self.tport = free_port()
        self.aport = free_port()
        self.token = "test-token-" + os.urandom(12).hex()
        tok = os.path.join(tmp, "edge-token")
        with open(tok, "w") as f:
            f.write(self.token + "\n")
        env = dict(EDGE_LISTEN=f"{listen}:{self.tport}", EDGE_API_PORT=self.aport,
                   EDGE_API_TOKEN_FILE=tok, ENV_LEVEL="debug")
        if pki is None:
            env["EDGE_H2C"] = "true"
        else:
            env.update(EDGE_TLS_CERT_FILE=f"{pki}/edge.pem", EDGE_TLS_KEY_FILE=f"{pki}/edge.key",
                       EDGE_CLIENT_CA_FILE=f"{pki}/ca.pem")
        env.update(settings)
        self.proc = Proc([binary, "run"], base_env(**env), os.path.join(tmp, "edge.log"),
                         preexec_fn=preexec_fn)
        if not wait_until(lambda: not self.proc.alive() or port_answers(self.aport), 5):
            raise AssertionError("edge did not open its front door:\n" + self.proc.text())
        if not self.proc.alive():
            raise AssertionError("edge exited:\n" + self.proc.text())

    @property
    def url(self):
        return f"https://127.0.0.1:{self.tport}"

    def request(self, method, path, body=None, headers=None, token=True, timeout=30):
        """(status, headers list, body bytes) from the front door."""
        h = dict(headers or {})
        if token is True:
            h["Authorization"] = f"Bearer {self.token}"
        elif token:
            h["Authorization"] = token
        c = http.client.HTTPConnection("127.0.0.1", self.aport, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            c.close()

    def state(self, name=None):
        s, _, b = self.request("GET", "/v1/connectors" + (f"/{name}" if name else ""))
        assert s == 200, (s, b)
        return json.loads(b)

    def proxy(self, name, target, method="GET", body=None, headers=None):
        return self.request(method, f"/v1/connectors/{name}/proxy/http/{target}", body=body,
                            headers=headers)

    def wait_tunnels(self, name, n, timeout=10):
        def ok():
            try:
                st = self.state(name)
            except AssertionError:
                return None
            online = [t for t in st["tunnels"] if t["state"] == "online" and t["hostname"]]
            return st if len(online) >= n else None
        st = wait_until(ok, timeout, 0.05)
        assert st, f"{name}: fewer than {n} online tunnels:\n" + self.proc.text()[-3000:]
        return st

    def stop(self):
        self.proc.stop()


def connector(binary, tmp, edge, pki, name, **settings):
    """`outpost run` for connector `name`, ready (/readyz 200) on return."""
    hport = free_port()
    env = dict(TRAVERSAL_CONTROLLER_URL=edge.url, TLS_CERT_FILE=f"{pki}/connector-{name}.pem",
               TLS_KEY_FILE=f"{pki}/connector-{name}.key", TLS_CA_FILE=f"{pki}/ca.pem",
               HTTP_PORT=hport, RECONNECT_INTERVAL="200ms", MAX_BACKOFF_DELAY="1s")
    env.update(settings)
    p = Proc([binary, "run"], base_env(**env), os.path.join(tmp, f"outpost-{name}.log"))
    p.health_port = hport

    def ready():
        if not p.alive():
            return True
        try:
            c = http.client.HTTPConnection("127.0.0.1", hport, timeout=1)
            c.request("GET", "/readyz")
            return c.getresponse().status == 200
        except OSError:
            return False
    if not wait_until(ready, 15, 0.05) or not p.alive():
        raise AssertionError(f"connector {name} not ready:\n" + p.text()[-3000:])
    return p


def grpcjs_client(tmp, edge, name, tunnels=1, tls=None, extra=()):
    """The grpc-js connector emulator; tls = (pki_dir, cert_basename)."""
    argv = ["node", os.path.join(CONTROLLER_DIR, "edge_client.js"), f"127.0.0.1:{edge.tport}",
            "--name", name, "--tunnels", str(tunnels), *extra]
    if tls:
        d, base = tls
        argv += ["--tls", "--cert", f"{d}/{base}.pem", "--key", f"{d}/{base}.key",
                 "--ca", f"{d}/ca.pem", "--server-name", "localhost"]
    env = base_env(NODE_PATH=os.path.join(CONTROLLER_DIR, "node_modules"))
    return Proc(argv, env, os.path.join(tmp, f"grpcjs-{name}.log"), stdin=subprocess.PIPE)


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path.split("?")[0]
        if path == "/echo":
            self._send(200, body, [("X-Body-Sha256", hashlib.sha256(body).hexdigest())])
        elif path == "/cookies":
            self._send(200, b"cookies\n", [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")])
        elif path.startswith("/slow/"):
            time.sleep(int(path[6:]) / 1000)
            self._send(200, b"slow\n")
        elif path.startswith("/disposition/"):
            # Header bytes >= 0x80: UTF-8 or Latin-1 "cafe" with an e-acute
            # (send_header encodes latin-1, so a str of bytes goes out as is).
            name = "café.txt".encode(path[13:]).decode("latin-1")
            self._send(200, b"file\n",
                       [("Content-Disposition", f'attachment; filename="{name}"')])
        elif path.startswith("/size/"):
            self._send(200, b"x" * int(path[6:]))
        else:
            doc = {"method": self.command, "path": self.path, "body_len": len(body),
                   "headers": dict(self.headers.items())}
            self._send(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class Upstream:
    """A threaded HTTP/1.1 server on loopback: /echo, /cookies, /slow/MS, /size/N,
    /disposition/{utf-8|latin-1} (a Content-Disposition with a non-ASCII name)."""

    def __init__(self):
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    @property
    def hostport(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
