"""Issue #17 item 5, request smuggling from the tunnel: the grpc-js
controller sends HttpRequests built to smuggle a second request or a
second framing to the upstream; a raw loopback upstream records the exact
bytes it receives.  Each case is refused (bad_request) or normalised
(README "Security"): nothing the controller wrote gets to the wire raw.

Refused: CR, LF, NUL, DEL or other control bytes in a header value (so
obs-fold too), anything but a token as a header name (spaces, colon, CR,
LF, empty), a url with control bytes or spaces.  Normalised: Host (the
URL's authority is the one Host), Content-Length (recomputed from the
body), Transfer-Encoding and other hop-by-hop fields (dropped).
"""
import pytest

from controllerlib import Controller
from rawupstream import RawUpstream, parse_requests
from tunnellib import ask, body_of, connector_env, start_connector

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def answer_all(s, up):
    while up.read_request(s) is not None:
        s.sendall(OK)


@pytest.fixture
def setup(spawn, outpost_bin):
    with Controller() as ctl, RawUpstream(answer_all) as up:
        start_connector(spawn, outpost_bin, connector_env(ctl, MAX_TUNNELS_ALLOWED=1))
        yield ctl, ctl.wait_tunnel()["tunnel"], up


def reason(m):
    er = m.get("error_response")
    return er and er["reason"]


REFUSED_HEADERS = [
    ("X-A", "v\r\nX-Evil: 1"),
    ("X-A", "v\nX-Evil: 1"),
    ("X-A", "v\rX-Evil: 1"),
    ("X-A", "v\r\n X-Evil-fold"),        # obs-fold
    ("X-A", "v\r\n\r\nGET /evil HTTP/1.1"),
    ("X-A", "v\x00evil"),
    ("X-A", "v\x7fevil"),
    ("X-A", "v\x0bevil"),
    ("X-Evil\r\nX-B", "v"),
    ("X-Evil\nX-B", "v"),
    ("X-Evil\x00", "v"),
    ("X Evil", "v"),
    ("X-Evil ", "v"),
    (" X-Evil", "v"),
    ("X-Evil:", "v"),
    ("", "evil"),
]


@pytest.mark.parametrize("name,value", REFUSED_HEADERS)
def test_bad_header_refused_and_nothing_written(setup, name, value):
    ctl, t, up = setup
    m = ask(ctl, t, "GET", up.url("/a"), headers=[("X-Ok", "1"), (name, value)])
    assert reason(m) == "bad_request", m
    assert up.accepts == 0 and up.all_bytes() == b""


@pytest.mark.parametrize("suffix", [
    "/a\r\nX-Evil: 1", "/a\nX-Evil: 1", "/a\rb", "/a b HTTP/1.1\r\nX-Evil: 1",
    "/a\tb", "/a\x00evil", "/a#evil",
])
def test_bad_url_refused_and_nothing_written(setup, suffix):
    ctl, t, up = setup
    m = ask(ctl, t, "GET", up.url(suffix))
    assert reason(m) == "bad_request", m
    assert up.accepts == 0


def test_bad_host_in_url_refused(setup):
    ctl, t, up = setup
    for url in (f"http://127.0.0.1\r\nX-Evil: 1:{up.port}/",
                f"http://127.0.0.1 evil:{up.port}/",
                f"http://evil@127.0.0.1\r\n:{up.port}/"):
        assert reason(ask(ctl, t, "GET", url)) == "bad_request", url
    assert up.accepts == 0


def test_framing_and_host_normalised(setup):
    """Host, Content-Length and Transfer-Encoding from the controller never
    reach the upstream: one Host (the URL's), one Content-Length (the body's),
    no Transfer-Encoding; the next request on the same connection is
    answered by its own response (the upstream saw exactly two requests)."""
    ctl, t, up = setup
    hdrs = [("Host", "evil.example"), ("Host", "127.0.0.1"),
            ("Transfer-Encoding", "chunked"), ("Content-Length", "999"),
            ("content-length", "0"), ("Connection", "close, X-Drop"),
            ("X-Drop", "evil"), ("TE", "trailers"), ("Upgrade", "evil"),
            ("Keep-Alive", "evil"), ("X-Kept", "yes")]
    # A body that would be a second request if framed by the controller's
    # Transfer-Encoding or Content-Length: 0.
    body = b"0\r\n\r\nGET /evil HTTP/1.1\r\nHost: evil\r\n\r\n"
    m = ask(ctl, t, "POST", up.url("/one"), headers=hdrs, body=body)
    assert m["http_response"]["http_status"] == 200 and body_of(m) == b"ok"
    m = ask(ctl, t, "GET", up.url("/two"))
    assert m["http_response"]["http_status"] == 200 and body_of(m) == b"ok"
    assert up.accepts == 1, "the kept-alive connection was reused"
    reqs = parse_requests(up.received[0])
    assert [r[0] for r in reqs] == [b"POST /one HTTP/1.1", b"GET /two HTTP/1.1"]
    line, fields, got = reqs[0]
    f = dict(fields)
    assert f[b"host"] == f"127.0.0.1:{up.port}".encode()
    assert f[b"content-length"] == str(len(body)).encode() and got == body
    assert f[b"x-kept"] == b"yes"
    names = [n for n, _ in fields]
    for gone in (b"connection", b"x-drop", b"te", b"upgrade", b"keep-alive"):
        assert gone not in names
    # The only "evil" bytes on the wire are inside the framed body.
    assert up.all_bytes().count(b"evil") == body.count(b"evil")


def test_clean_headers_pass_exactly(setup):
    """The validator is not over-eager: tokens, HTAB, obs-text and empty
    values go through byte for byte."""
    ctl, t, up = setup
    hdrs = [("X-Tok!#$%&'*+-.^_`|~", "a\tb c"), ("X-Empty", ""),
            ("X-Utf8", "caf\u00e9")]
    m = ask(ctl, t, "GET", up.url("/q?a=1&b=%20"), headers=hdrs)
    assert m["http_response"]["http_status"] == 200
    line, fields, _ = parse_requests(up.received[0])[0]
    assert line == b"GET /q?a=1&b=%20 HTTP/1.1"
    f = dict(fields)
    assert f[b"x-tok!#$%&'*+-.^_`|~"] == b"a\tb c"
    assert f[b"x-empty"] == b""
    assert f[b"x-utf8"] == "caf\u00e9".encode()
