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
    """One accepted connection: a frame reader and what the connector sent.

    DATA on the tunnel call is reassembled into gRPC messages (self.msgs:
    decoded ConnectorMessages); with credit set, each DATA frame is given
    back at once by WINDOW_UPDATEs.  The connector's receive window is
    tracked (send_msgs waits for it): the edge never breaks flow control
    unless a misbehaviour means to."""

    def __init__(self, sock):
        self.sock = sock
        self.goaways = []
        self.tunnel_stream = None
        self.buf = b""
        self.rx = b""  # the tunnel call's DATA not yet a whole message
        self.msgs = []  # (request_id, oneof field, payload) from the connector
        self.credit = False
        self.pong = False  # answer the connector's PINGs
        self.closed = False
        self.lock = threading.Lock()
        self.conn_window = 65535
        self.stream_window = 65535
        self.initial_window = 65535

    def read_frame(self, timeout=5.0):
        """(type, flags, stream, payload) or None on close / timeout."""
        self.sock.settimeout(timeout)
        try:
            while len(self.buf) < 9 or len(self.buf) < 9 + _len(self.buf):
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.closed = True
                    return None
                self.buf += chunk
        except socket.timeout:
            return None
        except OSError:
            self.closed = True
            return None
        n = _len(self.buf)
        head, payload, self.buf = self.buf[:9], self.buf[9:9 + n], self.buf[9 + n:]
        kind, flags = head[3], head[4]
        stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
        if kind == GOAWAY and len(payload) >= 8:
            self.goaways.append(struct.unpack(">I", payload[4:8])[0])
        if kind == HEADERS and self.tunnel_stream is None:
            self.tunnel_stream = stream
        self._account(kind, flags, stream, payload)
        return kind, flags, stream, payload

    def _account(self, kind, flags, stream, payload):
        if kind == WINDOW_UPDATE and len(payload) == 4:
            inc = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
            if stream == 0:
                self.conn_window += inc
            elif stream == self.tunnel_stream:
                self.stream_window += inc
        elif kind == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                ident, val = struct.unpack(">HI", payload[i:i + 6])
                if ident == 4:
                    self.stream_window += val - self.initial_window
                    self.initial_window = val
        elif kind == PING and not flags & ACK and self.pong:
            self.send(frame(PING, ACK, 0, payload))
        elif kind == DATA and stream == self.tunnel_stream:
            self.rx += payload
            self._messages()
            if self.credit and payload:
                inc = struct.pack(">I", len(payload))
                self.send(frame(WINDOW_UPDATE, 0, 0, inc) +
                          frame(WINDOW_UPDATE, 0, stream, inc))

    def _messages(self):
        while len(self.rx) >= 5:
            n = struct.unpack(">I", self.rx[1:5])[0]
            if len(self.rx) < 5 + n:
                return
            self.msgs.append(pb_connector_message(self.rx[5:5 + n]))
            self.rx = self.rx[5 + n:]

    def pump(self, seconds):
        """Read (and account) frames for up to seconds; False once closed."""
        end = time.monotonic() + seconds
        while not self.closed:
            f = self.read_frame(timeout=max(0.001, end - time.monotonic()))
            if f is None or time.monotonic() >= end:
                break
        return not self.closed

    def send_msgs(self, msgs, seconds=10.0):
        """gRPC-frame msgs as DATA on the tunnel call within the connector's
        windows (reading WINDOW_UPDATEs meanwhile); False if it closed or
        the window stayed shut for seconds."""
        data = b"".join(b"\0" + struct.pack(">I", len(m)) + m for m in msgs)
        end = time.monotonic() + seconds
        while data:
            room = min(self.conn_window, self.stream_window, 16384, len(data))
            if room <= 0:
                if time.monotonic() >= end or not self.pump(0.01):
                    return False
                continue
            if not self.send(frame(DATA, 0, self.tunnel_stream, data[:room])):
                return False
            self.conn_window -= room
            self.stream_window -= room
            data = data[room:]
        return True

    def send(self, data):
        try:
            with self.lock:
                self.sock.sendall(data)
            return True
        except OSError:
            return False

    def drain(self, seconds):
        """Read (and record) what the connector sends until it closes."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.read_frame(timeout=max(0.05, end - time.monotonic())) is None \
                    and (self.closed or not self.pong):
                return True
        return False

    def handshake(self, seconds=5.0, settings=b""):
        """Preface, SETTINGS both ways (ours: settings, raw 6-byte entries)
        and the tunnel call's HEADERS."""
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
        if got != PREFACE or not self.send(frame(SETTINGS, 0, 0, settings)):
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


# --- protobuf (connector.v1), hand-encoded: varints and length-delimited ------

def _varint(n):
    n &= (1 << 64) - 1  # negative int64: ten bytes, as protobuf does
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def pb_bytes(num, data):
    data = data.encode() if isinstance(data, str) else data
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def pb_int(num, n):
    return _varint(num << 3) + _varint(n)


def ctl_health(rid, unix_ms=1):
    return pb_bytes(1, rid) + pb_bytes(2, pb_int(1, unix_ms))


def ctl_http(rid, url, method="GET", headers=(), body=b""):
    req = pb_bytes(1, method) + pb_bytes(2, url) + b"".join(
        pb_bytes(3, pb_bytes(1, k) + pb_bytes(2, v)) for k, v in headers)
    return pb_bytes(1, rid) + pb_bytes(3, req + (pb_bytes(4, body) if body else b""))


def ctl_connection(rid, action=1):
    """ConnectionRequest; action 1 is START_CLOSE."""
    return pb_bytes(1, rid) + pb_bytes(4, pb_int(1, action))


def _pb_fields(b):
    """{field number: [raw value]} of one message (varint or bytes fields)."""
    out, i = {}, 0
    while i < len(b):
        key, i = _read_varint(b, i)
        if key & 7 == 0:
            v, i = _read_varint(b, i)
        elif key & 7 == 2:
            n, i = _read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {key & 7}")
        out.setdefault(key >> 3, []).append(v)
    return out


def _read_varint(b, i):
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return n, i


def pb_connector_message(b):
    """(request_id, oneof field number, that field's own fields) of a
    ConnectorMessage: 2 health, 3 http response, 4 error, 6 metadata."""
    f = _pb_fields(b)
    rid = f.get(1, [b""])[0].decode()
    for num in (2, 3, 4, 5, 6):
        if num in f:
            return rid, num, _pb_fields(f[num][0])
    return rid, 0, {}


def error_reason(fields):
    """ErrorResponse.reason (field 100)."""
    return fields.get(100, [b""])[0].decode()


# --- the edge ------------------------------------------------------------------

def serve(c):
    """A well-behaved edge on one connection: accepts the tunnel call,
    answers PINGs, gives window back; the test asks it via ask_health()."""
    c.credit = c.pong = True
    accept_tunnel(c)
    while not c.closed and not c.stopped:
        c.pump(0.2)


def ask_health(c, rid, seconds=5.0):
    """Send a HealthCheckRequest on a serving connection; its answer's
    status (field 2) or None."""
    if not c.send_msgs([ctl_health(rid, 42)]):
        return None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for got, kind, fields in list(c.msgs):
            if got == rid and kind == 2 and fields.get(1) == [42]:
                return fields[2][0].decode()
        time.sleep(0.02)
    return None


class HostileEdge:
    """Listens on 127.0.0.1; each connection runs behaviour(conn), except
    the second one accepted when good is set: that one is served well
    (serve) and kept, so a test can prove a second tunnel keeps working
    while the first is attacked.  ctx is handed to behaviours as c.ctx."""

    def __init__(self, behaviour, raw=False, good=False, ctx=None):
        self.behaviour = behaviour
        self.raw = raw  # raw: no HTTP/2 handshake (the TLS stall)
        self.good_index = 1 if good else None
        self.good = None  # the served Conn
        self.ctx = ctx
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
        for _, c in self.accepted:
            c.stopped = True
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
            c.ctx, c.stopped = self.ctx, False
            if len(self.accepted) == self.good_index:
                self.good = c
            self.accepted.append((time.monotonic(), c))
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def hostile(self):
        """(time, Conn) of the connections that were attacked."""
        return [a for a in self.accepted if a[1] is not self.good]

    def _run(self, c):
        try:
            # A live edge answers PINGs from the first one on.
            c.pong = c is self.good or getattr(self.behaviour, "pong", False)
            if c is self.good:
                if c.handshake():
                    serve(c)
            elif self.raw or c.handshake(settings=getattr(self.behaviour, "settings", b"")):
                self.behaviour(c)
        finally:
            c.closed = True
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


def zero_window(c):
    """Our receive window is zero (SETTINGS_INITIAL_WINDOW_SIZE 0) and never
    opens: every answer the connector owes waits.  PINGs are answered (a
    live peer); a few HealthCheckRequests add answers that wait too."""
    c.pong = True
    accept_tunnel(c)
    c.send_msgs([ctl_health(f"z{i}") for i in range(5)])
    c.drain(30)


zero_window.settings = struct.pack(">HI", 4, 0)
zero_window.pong = True

FLOOD = 2000  # HttpRequests in the burst


def request_flood(c):
    """HttpRequests faster than they can be answered: FLOOD requests to an
    upstream that never answers (c.ctx), in bursts, reading the answers
    (c.answers: request id -> ErrorResponse reason); then the same flood
    without reading anything, until the connector gives up on us."""
    c.credit = c.pong = True
    accept_tunnel(c)
    url = c.ctx
    for i in range(0, FLOOD, 100):
        if not c.send_msgs([ctl_http(f"f{j}", url) for j in range(i, i + 100)]):
            return
        c.pump(0.005)
    end = time.monotonic() + 10
    while len(c.msgs) < FLOOD - 10 and time.monotonic() < end and c.pump(0.05):
        pass
    c.answers = {rid: error_reason(f) for rid, kind, f in c.msgs if kind == 4}
    c.credit = False
    for i in range(FLOOD, 20 * FLOOD, 100):
        if c.closed or not c.send_msgs([ctl_http(f"f{j}", url) for j in range(i, i + 100)],
                                        seconds=1):
            break
    c.drain(30)


EXTREME = [  # (request id, message, answer kind (None: none), reason)
    ("i" * 60000, ctl_health("i" * 60000, (1 << 63) - 1), 2, ""),
    ("neg", ctl_health("neg", -(1 << 63)), 2, ""),
    ("act", ctl_connection("act", 0x7FFFFFFF), None, ""),  # unknown: ignored
    ("alive", ctl_health("alive"), 2, ""),
    ("url", None, 4, "bad_request"),  # a 1 MB url
    ("meth", None, 4, "bad_request"),  # a 100 kB method
    ("hdrs", None, None, ""),  # 1.5 million empty headers: 3 MB, ~70 MB decoded
]


def _extreme_message(rid, url):
    if rid == "url":
        return ctl_http(rid, url + "?" + "u" * 1000000)
    if rid == "meth":
        return ctl_http(rid, url, method="G" * 100000)
    return pb_bytes(1, rid) + pb_bytes(3, b"\x1a\x00" * 1500000)


def extreme_messages(c):
    """ControllerMessages with every field at an extreme, one after another,
    each answered (c.answers: request id -> (kind, reason)) before the
    next; the last one decodes into far more memory than it takes on the
    wire."""
    c.credit = True
    accept_tunnel(c)
    c.answers = {}
    for rid, m, kind, _ in EXTREME:
        if not c.send_msgs([m or _extreme_message(rid, c.ctx)], seconds=20):
            break
        end = time.monotonic() + (5 if kind else 0.2)
        while rid not in c.answers and time.monotonic() < end and c.pump(0.02):
            for got, k, f in c.msgs:
                c.answers.setdefault(got, (k, error_reason(f) if k == 4 else ""))
    c.drain(30)


def start_close_flood(c, count=5000):
    """Thousands of START_CLOSEs on the tunnel call, in one burst; then a
    health check, answered (degraded: draining) or not."""
    c.credit = c.pong = True
    accept_tunnel(c)
    c.send_msgs([ctl_connection(f"s{i}") for i in range(count)])
    c.send_msgs([ctl_health("after")])
    c.drain(30)


request_flood.pong = extreme_messages.pong = start_close_flood.pong = True
