"""Drive the independent grpc-js test controller (controller/controller.js).

    pki = make_pki(tmp_path)                      # openssl, via pki.sh
    with Controller(tls=True, pki=pki) as c:      # or Controller() for h2c
        c.port                                    # where to point outpost
        t = c.wait_tunnel()                       # {"tunnel": N, ...}
        c.wait_message(lambda m: "health_check_response" in m["msg"])
        c.cmd(cmd="http", tunnel=t["tunnel"], request_id="r1",
              method="GET", url="http://127.0.0.1:8080/")

Every wait is bounded (timeout seconds).  Events are the JSON lines the
controller prints; see the header of controller.js for the protocol.
"""
import json
import os
import queue
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONTROLLER_DIR = os.path.join(HERE, "controller")
NODE = os.environ.get("NODE", "node")


def make_pki(directory, *clients):
    """Generate the test PKI into directory (see pki.sh); returns its path."""
    directory = str(directory)
    subprocess.run([os.path.join(HERE, "pki.sh"), directory, *(clients or ("test",))],
                   check=True, timeout=120, capture_output=True)
    return directory


class Controller:
    def __init__(self, tls=False, pki=None, port=0, server="server", extra=()):
        argv = [NODE, os.path.join(CONTROLLER_DIR, "controller.js"), "--port", str(port)]
        if tls:
            argv += ["--tls", "--cert", os.path.join(pki, server + ".pem"),
                     "--key", os.path.join(pki, server + ".key"),
                     "--ca", os.path.join(pki, "ca.pem")]
        argv += list(extra)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1,
                                     cwd=CONTROLLER_DIR)
        self.events = []          # every event, in order
        self._q = queue.Queue()
        self._seen = 0            # events consumed by wait()
        self._next_id = 1
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()
        ev = self.wait(lambda e: e["event"] == "listening", timeout=20)
        self.port = ev["port"]

    def _read(self):
        for line in self.proc.stdout:
            try:
                self._q.put(json.loads(line))
            except ValueError:
                self._q.put({"event": "garbage", "line": line})
        self._q.put({"event": "exit"})

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _pump(self, timeout):
        try:
            self.events.append(self._q.get(timeout=timeout))
        except queue.Empty:
            pass

    def wait(self, pred, timeout=10, since=None):
        """First event (after the last one a wait returned, or index since)
        matching pred; raises TimeoutError after timeout seconds."""
        start = self._seen if since is None else since
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.events):
                e = self.events[i]
                i += 1
                if pred(e):
                    if since is None:
                        self._seen = i
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching controller event in {timeout}s; "
                                   f"last: {self.events[-5:]}; "
                                   f"stderr: {''.join(self.stderr[-10:])}")
            self._pump(min(left, 0.2))

    def cmd(self, timeout=10, **c):
        """Send a command; returns its reply (raises if it failed)."""
        c.setdefault("id", self._next_id)
        self._next_id += 1
        n = len(self.events)
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()
        r = self.wait(lambda e: e["event"] == "reply" and e.get("id") == c["id"],
                      timeout=timeout, since=n)
        if not r["ok"]:
            raise RuntimeError(f"controller command {c['cmd']} failed: {r.get('error')}")
        return r

    def wait_tunnel(self, timeout=10):
        return self.wait(lambda e: e["event"] == "tunnel_open", timeout)

    def wait_message(self, pred=lambda m: True, timeout=10):
        """Next ConnectorMessage event whose msg satisfies pred."""
        return self.wait(lambda e: e["event"] == "message" and pred(e["msg"]), timeout)

    def messages(self):
        return [e for e in self.events if e["event"] == "message"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
