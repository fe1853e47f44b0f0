"""A hostile edge for the connector: raw HTTP/2 frames over plain TCP (h2c,
prior knowledge) or a TCP peer that stalls a TLS handshake.

It answers the connector's preface like a real edge, accepts the tunnel call
with a gRPC response header block, then runs one misbehaviour. Every
connection it accepts is recorded (time, GOAWAY codes the connector sent),
so a test sees the close, its error code and the reconnect. Loops are bounded
in count and time. Own code: no third-party HTTP/2 library.
"""
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS = 1, 1, 4
# HPACK: ":status: 200" (static 8), "content-type: application/grpc"
# (literal without indexing, static name 31).
GRPC_OK = b"\x88" + b"\x0f\x10" + bytes([16]) + b"application/grpc"
FLOW_CONTROL_ERROR = 3


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


class Conn:
    """One accepted connection: a frame reader and what the connector sent."""

    def __init__(self, sock):
        self.sock = sock
        self.goaways = []
        self.tunnel_stream = None
        self.buf = b""

    def read_frame(self, timeout=5.0):
        """(type, flags, stream, payload) or None on close / timeout."""
        self.sock.settimeout(timeout)
        try:
            while len(self.buf) < 9 or len(self.buf) < 9 + _len(self.buf):
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self.buf += chunk
        except OSError:
            return None
        n = _len(self.buf)
        head, payload, self.buf = self.buf[:9], self.buf[9:9 + n], self.buf[9 + n:]
        kind, flags = head[3], head[4]
        stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
        if kind == GOAWAY and len(payload) >= 8:
            self.goaways.append(struct.unpack(">I", payload[4:8])[0])
        if kind == HEADERS and self.tunnel_stream is None:
            self.tunnel_stream = stream
        return kind, flags, stream, payload

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def drain(self, seconds):
        """Read (and record) what the connector sends until it closes."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.read_frame(timeout=max(0.05, end - time.monotonic())) is None:
                return True
        return False

    def handshake(self, seconds=5.0):
        """Preface, SETTINGS both ways and the tunnel call's HEADERS."""
        self.sock.settimeout(seconds)
        try:
            got = b""
            while len(got) < len(PREFACE):
                chunk = self.sock.recv(len(PREFACE) - len(got))
                if not chunk:
                    return False
                got += chunk
        except OSError:
            return False
        if got != PREFACE or not self.send(frame(SETTINGS, 0, 0)):
            return False
        end = time.monotonic() + seconds
        while self.tunnel_stream is None and time.monotonic() < end:
            f = self.read_frame(timeout=end - time.monotonic())
            if f is None:
                return False
            if f[0] == SETTINGS and not f[1] & ACK:
                self.send(frame(SETTINGS, ACK, 0))
        return self.tunnel_stream is not None


def _len(b):
    return struct.unpack(">I", b"\0" + b[:3])[0]


class HostileEdge:
    """Listens on 127.0.0.1; each connection runs behaviour(conn)."""

    def __init__(self, behaviour, raw=False):
        self.behaviour = behaviour
        self.raw = raw  # raw: no HTTP/2 handshake (the TLS stall)
        self.accepted = []  # (monotonic time, Conn)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.lsock.close()
        self.thread.join(timeout=5)

    def _serve(self):
        self.lsock.settimeout(0.2)
        while not self.stop and len(self.accepted) < 50:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                continue
            c = Conn(s)
            self.accepted.append((time.monotonic(), c))
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            if self.raw or c.handshake():
                self.behaviour(c)
        finally:
            c.sock.close()


# --- misbehaviours: each returns when the connector closed (or time is up) ----

def accept_tunnel(c):
    return c.send(frame(HEADERS, END_HEADERS, c.tunnel_stream, GRPC_OK))


def ping_flood(c, count=200000):
    """PINGs without reading the ACKs: the connector's ACK queue fills."""
    accept_tunnel(c)
    ping = frame(PING, 0, 0, b"\0" * 8) * 1000
    for _ in range(count // 1000):
        if not c.send(ping):
            break
    c.drain(10)


def settings_flood(c, count=200000):
    accept_tunnel(c)
    s = frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)) * 1000
    for _ in range(count // 1000):
        if not c.send(s):
            break
    c.drain(10)


def continuation_flood(c, count=100000):
    """A header block that never ends: HEADERS without END_HEADERS, then
    CONTINUATIONs of one literal header each, for ever."""
    c.send(frame(HEADERS, 0, c.tunnel_stream, GRPC_OK))
    cont = frame(CONTINUATION, 0, c.tunnel_stream, b"\x40\x01x\x7f\x00" + b"y" * 127) * 100
    for _ in range(count // 100):
        if not c.send(cont):
            break
    c.drain(10)


def hpack_bomb(c, count=20000):
    """One 4 KiB header inserted into the dynamic table, then referenced by a
    one-byte index thousands of times: megabytes decoded from a small block."""
    big = b"\x40\x01b\x7f\x81\x1f" + b"z" * 4096  # literal, incremental indexing
    block = GRPC_OK + big + b"\xbe" * count  # 0xbe: dynamic index 62
    c.send(frame(HEADERS, END_HEADERS, c.tunnel_stream, block[:16000]) if len(block) <= 16000
           else frame(HEADERS, 0, c.tunnel_stream, block[:16000]) +
           _continuations(c.tunnel_stream, block[16000:]))
    c.drain(10)


def _continuations(stream, rest):
    out = b""
    while rest:
        part, rest = rest[:16000], rest[16000:]
        out += frame(CONTINUATION, 0 if rest else END_HEADERS, stream, part)
    return out


def window_update_overflow(c):
    """Two maximal WINDOW_UPDATEs on the connection: the window passes
    2^31-1, a FLOW_CONTROL_ERROR (RFC 9113 6.9.1)."""
    accept_tunnel(c)
    inc = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF))
    c.send(inc + inc)
    c.drain(10)


def grpc_4gib(c):
    """A gRPC message prefix announcing 4 GiB - 1 bytes, then a trickle."""
    accept_tunnel(c)
    c.send(frame(DATA, 0, c.tunnel_stream, b"\0" + struct.pack(">I", 0xFFFFFFFF) + b"x" * 1000))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if not c.send(frame(DATA, 0, c.tunnel_stream, b"x" * 16000)):
            break
        if c.read_frame(timeout=0.01) is None and c.sock.fileno() < 0:
            break
    c.drain(5)


def rapid_reset(c):
    """Accept the tunnel call, then reset it at once, every time."""
    accept_tunnel(c)
    c.send(frame(RST_STREAM, 0, c.tunnel_stream, struct.pack(">I", 8)))
    c.drain(10)


def tls_stall(c):
    """Read the ClientHello and never answer."""
    c.sock.settimeout(0.5)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            if not c.sock.recv(4096):
                return
        except socket.timeout:
            continue
        except OSError:
            return
