"""A raw loopback TCP upstream for the hostile tests: it records the exact
bytes each connection sent and answers with whatever its script writes, so
a test sees what outpost put on the wire and can misbehave at will.

    with RawUpstream(script) as up:       # script(conn, up) per connection
        up.url("/x")                      # http://127.0.0.1:PORT/x
        up.received                       # [bytes of connection 0, ...]

A script gets a Conn (conn.sock, conn.sendall) and reads requests with up.read_request(conn) (one head and its
Content-Length body, or None at EOF) and writes raw bytes.  Every read is
bounded by a socket timeout, every connection thread is joined at exit.
"""
import re
import socket
import threading

TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
FIELD = re.compile(rb"(" + TCHAR + rb"): ([\t\x20-\x7e\x80-\xff]*)")
REQUEST_LINE = re.compile(rb"[A-Z]+ [\x21-\x7e]+ HTTP/1\.1")


class Conn:
    """One accepted connection: the socket, what it sent, what is unread."""

    def __init__(self, sock):
        self.sock = sock
        self.rec = bytearray()
        self.pending = bytearray()

    def sendall(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


class RawUpstream:
    def __init__(self, script, timeout=10):
        self.script = script
        self.timeout = timeout
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.received = []        # bytes each connection sent, in accept order
        self.requests = []        # every whole request read, in order
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._socks = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def accepts(self):
        with self._lock:
            return len(self.received)

    def all_bytes(self):
        with self._lock:
            return b"".join(bytes(r) for r in self.received)

    def _accept(self):
        while not self._stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(self.timeout)
            s = Conn(s)
            with self._lock:
                self.received.append(s.rec)
                self._socks.append(s.sock)
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, s):
        try:
            self.script(s, self)
        except OSError:
            pass
        finally:
            s.close()

    def _fill(self, s):
        data = s.sock.recv(65536)
        if data:
            with self._lock:
                s.rec += data
            s.pending += data
        return bool(data)

    def read_request(self, s):
        """One request (head + Content-Length body) as bytes, or None at EOF."""
        while b"\r\n\r\n" not in s.pending:
            if not self._fill(s):
                return None
        head, _, _ = bytes(s.pending).partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        total = len(head) + 4 + (int(m.group(1)) if m else 0)
        while len(s.pending) < total:
            if not self._fill(s):
                return None
        req = bytes(s.pending[:total])
        del s.pending[:total]
        with self._lock:
            self.requests.append(req)
        return req

    def close(self):
        self._stop.set()
        self.lsock.close()
        self._acceptor.join(5)
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_requests(raw):
    """Split one connection's bytes into requests, strictly (RFC 9112): each
    is (request line, [(name, value)], body).  Anything that is not a clean
    sequence of messages (bare CR or LF, a bad field line, two framings,
    trailing garbage) fails the assertion."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"unterminated head: {raw[:200]!r}"
        lines = head.split(b"\r\n")
        for line in lines:
            assert b"\r" not in line and b"\n" not in line and b"\0" not in line, line
        assert REQUEST_LINE.fullmatch(lines[0]), lines[0]
        fields = []
        for line in lines[1:]:
            m = FIELD.fullmatch(line)
            assert m, f"bad field line {line!r}"
            fields.append((m.group(1).lower(), m.group(2)))
        names = [n for n, _ in fields]
        assert names.count(b"host") == 1, fields
        assert b"transfer-encoding" not in names, fields
        assert names.count(b"content-length") <= 1, fields
        n = int(dict(fields).get(b"content-length", b"0"))
        assert len(rest) >= n, (fields, rest)
        out.append((lines[0], fields, rest[:n]))
        raw = rest[n:]
    return out
