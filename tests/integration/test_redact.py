"""Redaction rules (#14): `outpost redact` (the dry run, the same code as the
live path), REDACTION_RULES_FILE validation in check-config/run, and the live
path (front door -> outpost-edge -> `outpost run` -> nginx) with hot reload,
against the real static binaries.  Expected outputs are written out by hand.
"""
import json
import os
import subprocess

import pytest

from conftest import base_env, free_port, run, wait_until
from test_config import pki, tls_env  # noqa: F401 (fixture)

EXAMPLE = r"""version = 1
default_replacement = "[REDACTED]"      # optional; this is the default

[[rules]]
name = "email"
type = "regex"                          # applied to the whole body text
pattern = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}'
replacement = "<email>"                 # optional; default_replacement otherwise; $1.. refer to groups

[[rules]]
name = "token-in-json"
type = "regex-structured-data"          # applied to each JSON string value, not to keys or structure
pattern = '(?i)bearer\s+[a-z0-9._-]+'
hosts = ['api\.internal', '.*\.corp\.example']   # optional; patterns matched against the whole
                                                  # request host, case-insensitive
redact_fields = ["body|message", "items|*|secret"]   # optional; only these JSON paths ('|' separated,
skip_fields = ["body|id"]                            #  '*' any key or index); skip_fields excluded
"""

JSON_IN = ('{"body": {"message": "use Bearer abc.DEF-1 now", "id": "Bearer keep1",\n'
           ' "other": "Bearer keep2"}, "items": [{"secret": "bearer zz9"}, {"secret": ["Bearer a", 7]},\n'
           ' {"x": "bearer keep3"}], "mail": "a.b@ex.com", "Bearer k": "mail joe@corp.example.com"}\n')
JSON_OUT = ('{"body": {"message": "use [REDACTED] now", "id": "Bearer keep1",\n'
            ' "other": "Bearer keep2"}, "items": [{"secret": "[REDACTED]"}, {"secret": ["[REDACTED]", 7]},\n'
            ' {"x": "bearer keep3"}], "mail": "<email>", "Bearer k": "mail <email>"}\n')


@pytest.fixture
def rules(tmp_path):
    def write(text, name="rules.toml"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write


def redact(outpost_bin, rules_file, body, *args):
    return run([outpost_bin, "redact", "--rules", rules_file, *args, "-"],
               input=body, env=base_env())


def hits(stderr):
    return dict(l.split(": ") for l in stderr.splitlines() if ": " in l)


def test_json_structured_and_text_rule(outpost_bin, rules):
    r = redact(outpost_bin, rules(EXAMPLE), JSON_IN, "--url", "http://API.internal:8080/v1",
               "--content-type", "application/json; charset=utf-8")
    assert r.returncode == 0, r.stderr
    assert r.stdout == JSON_OUT
    json.loads(r.stdout)
    assert hits(r.stderr) == {"email": "2", "token-in-json": "3"}


def test_host_not_targeted(outpost_bin, rules):
    r = redact(outpost_bin, rules(EXAMPLE), JSON_IN, "--url", "http://other.example/",
               "--content-type", "application/json")
    assert r.returncode == 0
    assert r.stdout == JSON_IN.replace("a.b@ex.com", "<email>").replace(
        "joe@corp.example.com", "<email>")


def test_text_and_html(outpost_bin, rules):
    f = rules(EXAMPLE)
    r = redact(outpost_bin, f, "From: x@y.org\nBearer abc\n", "--content-type", "text/plain")
    assert (r.returncode, r.stdout) == (0, "From: <email>\nBearer abc\n")
    html = '<p><a href="mailto:ann@site.io">ann@site.io</a></p>\n'
    r = redact(outpost_bin, f, html, "--url", "https://x.corp.example/", "--content-type", "text/html")
    assert (r.returncode, r.stdout) == (0, '<p><a href="mailto:<email>"><email></a></p>\n')
    assert hits(r.stderr)["email"] == "2"


def test_groups_and_default_replacement(outpost_bin, rules):
    f = rules('version = 1\ndefault_replacement = "$X"\n'
              "[[rules]]\nname = \"card\"\ntype = \"regex\"\npattern = '(\\d{4})-\\d{4}-(\\d{4})'\n"
              "replacement = \"$1-xxxx-${2}$$\"\n"
              "[[rules]]\nname = \"pin\"\ntype = \"regex\"\npattern = 'pin=\\d+'\n")
    r = redact(outpost_bin, f, "1234-5678-9012 pin=77\n", "--content-type", "text/plain")
    assert (r.returncode, r.stdout) == (0, "1234-xxxx-9012$ $X\n")


def test_rules_apply_in_file_order(outpost_bin, rules):
    f = rules("version = 1\n"
              "[[rules]]\nname = \"a\"\ntype = \"regex\"\npattern = 'abc'\nreplacement = \"xyz\"\n"
              "[[rules]]\nname = \"b\"\ntype = \"regex\"\npattern = 'xyz'\nreplacement = \"done\"\n")
    r = redact(outpost_bin, f, "abc", "--content-type", "text/plain")
    assert (r.returncode, r.stdout) == (0, "done")


@pytest.mark.parametrize("args,body,reason", [
    (["--content-encoding", "gzip"], "x", "malformed_gzip"),
    (["--content-encoding", "br"], "x", "content_encoding"),
    (["--status", "206"], "x", "partial_content"),
    (["--content-type", "application/json"], '{"body": {"message": "Bearer x"', "malformed_json"),
    (["--content-type", "application/json"], '{"a": 1} trailing', "malformed_json"),
    (["--content-type", "image/png"], "\x89PNG", "binary_content"),
    (["--content-type", "application/octet-stream"], "a@b.cc", "binary_content"),
])
def test_fail_closed(outpost_bin, rules, args, body, reason):
    r = redact(outpost_bin, rules(EXAMPLE), body, "--url", "http://api.internal/", *args)
    assert r.returncode == 1
    assert r.stdout == ""
    assert f"refused: redaction_failed ({reason})" in r.stderr
    assert "Bearer x" not in r.stderr and "a@b.cc" not in r.stderr


def test_binary_pass(outpost_bin, rules):
    r = redact(outpost_bin, rules(EXAMPLE), "a@b.cc", "--content-type", "image/png", "--binary-pass")
    assert (r.returncode, r.stdout) == (0, "a@b.cc")


def test_catastrophic_backtracking_bounded(outpost_bin, rules):
    f = rules("version = 1\n[[rules]]\nname = \"evil\"\ntype = \"regex\"\npattern = '(x+x+)+$'\n")
    r = run([outpost_bin, "redact", "--rules", f, "--content-type", "text/plain", "-"],
            input="x" * 5000 + "!", env=base_env(), timeout=30)
    assert r.returncode == 1
    assert "refused: redaction_failed (match_limit)" in r.stderr
    assert 'rule "evil"' in r.stderr


def test_invalid_rules_every_error(outpost_bin, rules):
    f = rules("version = 2\nextra = 1\n"
              "[[rules]]\nname = \"a\"\ntype = \"regexp\"\npattern = 'x'\n"
              "[[rules]]\nname = \"b\"\ntype = \"regex\"\npattern = '(a'\npatern = 'y'\n"
              "[[rules]]\nname = \"a\"\npattern = 'foo(?=bar)'\n"
              "[[rules]]\nname = \"c\"\ntype = \"regex\"\npattern = '(a)\\1'\nreplacement = \"$2\"\n"
              "[[rules]]\ntype = \"regex-structured-data\"\npattern = 'z'\nhosts = ['(?<!a)b']\n")
    for args in (["--check"], []):
        r = run([outpost_bin, "redact", "--rules", f, *args, "/dev/null"], env=base_env())
        assert r.returncode == 100, r
        errors = r.stderr.splitlines()
        expected = [
            f"{f}:1:11: unsupported version (expected 1)",
            f"{f}:2:9: unknown key 'extra'",
            f'{f}:5:8: rules[1] ("a"): unknown type',
            f'{f}:10:11: rules[2] ("b"): pattern: invalid at offset 2',
            f'{f}:11:10: rules[2] ("b"): unknown key \'patern\'',
            f"{f}:12:3: rules[3]: missing 'type'",
            f'{f}:14:11: rules[3] ("a"): pattern: look-around',
            f'{f}:18:11: rules[4] ("c"): pattern: back-references are not RE2 syntax',
            f"{f}:20:3: rules[5]: missing 'name'",
            f"{f}:23:10: rules[5]: hosts: look-around",
            f'{f}:12:3: rules[3] ("a"): duplicate name (also rules[1])',
        ]
        assert len(errors) == len(expected), r.stderr
        for e in expected:
            assert any(l.startswith("error: " + e) for l in errors), (e, r.stderr)


def test_toml_error_has_position(outpost_bin, rules):
    f = rules("version = 1\n[[rules]]\nname = 'x\n")
    r = run([outpost_bin, "redact", "--rules", f, "--check"], env=base_env())
    assert r.returncode == 100
    assert r.stderr == f"error: {f}:3:10: newline in a single-line string\n"


def test_missing_file(outpost_bin, tmp_path):
    f = str(tmp_path / "none.toml")
    r = run([outpost_bin, "redact", "--rules", f, "--check"], env=base_env())
    assert r.returncode == 100
    assert f"{f}: No such file or directory" in r.stderr


def test_check_config_and_run_report_rules_errors(outpost_bin, rules, pki):  # noqa: F811
    bad = rules("version = 1\n[[rules]]\nname = \"a\"\ntype = \"nope\"\npattern = 'x'\n", "r.toml")
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=bad, **tls_env(pki))
    for argv in (["check-config"], ["run"]):
        r = run([outpost_bin, *argv], env=env)
        assert r.returncode == 100, r
        assert f'environment: REDACTION_RULES_FILE: {bad}:4:8: rules[1] ("a"): unknown type' in r.stderr


def test_valid_rules_are_accepted(outpost_bin, rules, pki):  # noqa: F811
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=rules(EXAMPLE), **tls_env(pki))
    r = run([outpost_bin, "check-config"], env=env)
    assert r.returncode == 0, r.stderr
    assert "REDACTION" not in r.stderr


def test_redaction_binary_must_be_refuse_or_pass(outpost_bin, rules, pki):  # noqa: F811
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=rules(EXAMPLE),
                   REDACTION_BINARY="allow", **tls_env(pki))
    for argv in (["check-config"], ["run"]):
        r = run([outpost_bin, *argv], env=env)
        assert r.returncode == 100, r
        assert 'REDACTION_BINARY: expected refuse or pass, got "allow"' in r.stderr


def test_file_without_rules_passes(outpost_bin, rules, pki):  # noqa: F811
    # What deploy/ ships: nothing to apply, so nothing is refused; version
    # may be written as the string "1".
    f = rules('version = "1"\ndefault_replacement = "[REDACTED]"\n')
    r = run([outpost_bin, "redact", "--rules", f, "--check"], env=base_env())
    assert (r.returncode, r.stderr) == (0, f"{f}: 0 rules, valid\n")
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=f, **tls_env(pki))
    r = run([outpost_bin, "check-config"], env=env)
    assert r.returncode == 0, r.stderr
    assert "REDACTION" not in r.stderr


def healthz(port):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def loopback_tls_env(pki):
    # A controller on a loopback port nobody listens on: the worker keeps
    # redialling there and never resolves a name.
    return {**tls_env(pki), "TRAVERSAL_CONTROLLER_URL": f"https://127.0.0.1:{free_port()}"}




# --- the live path: front door -> outpost-edge -> tunnel -> `outpost run` ->
# a real nginx, with REDACTION_RULES_FILE.  The rules are the example
# (hosts extended by the loopback address the upstream listens on) and one
# pattern that backtracks catastrophically on a long run of 'q'.

LIVE = EXAMPLE.replace(r"hosts = ['api\.internal',", r"hosts = ['127\.0\.0\.1', 'api\.internal',") + r"""
[[rules]]
name = "evil"
type = "regex"
pattern = '(q+q+)+$'
"""
HTML_IN = '<p><a href="mailto:ann@site.io">ann@site.io</a></p>\n'
HTML_OUT = '<p><a href="mailto:<email>"><email></a></p>\n'
TEXT_IN = "From: x@y.org\nBearer abc\n"
TEXT_OUT = "From: <email>\nBearer abc\n"
SECRET = "a@b.cc"
FILES = {
    "doc.json": JSON_IN, "page.html": HTML_IN, "note.txt": TEXT_IN, "plain.txt": "nothing here\n",
    "bad.json": '{"body": {"message": "Bearer x", "m": "%s"' % SECRET,
    "evil.txt": "q" * 5000 + "! " + SECRET, "pic.png": "\x89PNG " + SECRET, "br.txt": SECRET,
    "big.txt": (SECRET + " ") * 300000,  # 2.1 MB, a few KiB once gzipped
}


@pytest.fixture(scope="module")
def stack(outpost_bin, outpost_edge_bin, tmp_path_factory):
    """nginx serving FILES under /typed/, an edge, and connectors started by
    name (alpha .. epsilon, each once) with their own settings; all stopped at the end."""
    from edgelib import Edge, connector, dev_pki
    from upstream import Nginx
    d = tmp_path_factory.mktemp("live")
    pki = dev_pki(str(d / "pki"), "alpha", "beta", "gamma", "delta", "epsilon", "zeta")
    (d / "www" / "typed").mkdir(parents=True)
    for name, text in FILES.items():
        (d / "www" / "typed" / name).write_bytes(text.encode("latin-1" if name == "pic.png" else "utf-8"))
    procs = []

    def start(name, **settings):
        conn = connector(outpost_bin, str(d), st["edge"], pki, name, **settings)
        procs.append(conn)
        st["edge"].wait_tunnels(name, 1)
        return conn
    try:
        with Nginx(d) as ngx:
            st = {"nginx": ngx, "dir": d, "start": start}
            st["edge"] = Edge(outpost_edge_bin, str(d), pki)
            procs.append(st["edge"])
            yield st
    finally:
        for p in reversed(procs):
            p.stop()


@pytest.fixture(scope="module")
def live(stack):
    (stack["dir"] / "rules.toml").write_text(LIVE)
    stack["alpha"] = stack["start"]("alpha", REDACTION_RULES_FILE=str(stack["dir"] / "rules.toml"),
                                    REDACT_REQUESTS="true")
    return stack


def get(live, path, headers=None, method="GET", body=None, name="alpha"):
    s, h, b = live["edge"].proxy(name, f"127.0.0.1:{live['nginx'].port}{path}", method=method,
                                 headers=headers, body=body)
    return s, {k.lower(): v for k, v in h}, b


@pytest.mark.parametrize("name,out", [("doc.json", JSON_OUT), ("page.html", HTML_OUT),
                                      ("note.txt", TEXT_OUT)])
def test_live_redaction_exact_output(live, name, out):
    s, h, b = get(live, f"/typed/{name}")
    assert s == 200, b
    assert b.decode() == out
    assert h["content-length"] == str(len(out.encode()))
    assert h["x-traversal-redacted"] == "true"


def test_live_unchanged_body_has_no_header(live):
    s, h, b = get(live, "/typed/plain.txt")
    assert (s, b) == (200, b"nothing here\n")
    assert "x-traversal-redacted" not in h and h["content-length"] == "13"


@pytest.mark.parametrize("path,headers,reason", [
    ("/br", None, "content_encoding"),
    ("/badgz", None, "malformed_gzip"),
    ("/typed/note.txt", {"Range": "bytes=0-5"}, "partial_content"),
    ("/typed/bad.json", None, "malformed_json"),
    ("/typed/evil.txt", None, "match_limit"),
    ("/typed/pic.png", None, "binary_content"),
])
def test_live_fail_closed_at_the_front_door(live, path, headers, reason):
    s, h, b = get(live, path, headers)
    assert s == 502, b
    doc = json.loads(b)
    assert doc["reason"] == "redaction_failed", doc
    assert reason in doc.get("message", "") + b.decode(), doc
    for leak in (SECRET, "Bearer", "mail", "qqqq", "PNG"):
        assert leak not in b.decode(), doc


def test_live_request_body_redacted(live):
    s, _, b = get(live, "/dav/up.txt", {"Content-Type": "text/plain"}, "PUT", b"mail joe@corp.example.com\n")
    assert s in (201, 204), b
    assert (live["dir"] / "www" / "dav" / "up.txt").read_text() == "mail <email>\n"
    s, _, b = get(live, "/dav/pic.png", {"Content-Type": "image/png"}, "PUT", b"\x89PNG " + SECRET.encode())
    assert s == 502 and json.loads(b)["reason"] == "redaction_failed", b
    assert not (live["dir"] / "www" / "dav" / "pic.png").exists()


def test_live_binary_pass(stack):
    (stack["dir"] / "rules-pass.toml").write_text(LIVE)
    stack["start"]("gamma", REDACTION_RULES_FILE=str(stack["dir"] / "rules-pass.toml"),
                   REDACTION_BINARY="pass")
    s, h, b = get(stack, "/typed/pic.png", name="gamma")
    assert (s, b) == (200, FILES["pic.png"].encode("latin-1"))
    assert "x-traversal-redacted" not in {k.lower() for k in h}
    assert get(stack, "/typed/note.txt", name="gamma")[2] == TEXT_OUT.encode()


# --- hot reload (REDACTION_RELOAD_INTERVAL=1s) under a request loop.

def ab_rules(a, b):
    return ("version = 1\n"
            f"[[rules]]\nname = \"a\"\ntype = \"regex\"\npattern = 'alpha'\nreplacement = \"{a}\"\n"
            f"[[rules]]\nname = \"b\"\ntype = \"regex\"\npattern = 'beta'\nreplacement = \"{b}\"\n")


def replace_file(path, text):
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # one change, never a half-written file


class Loop:
    """Sequential requests from a thread: (monotonic time, status, body)."""

    def __init__(self, stack, name, limit_s=20):
        import threading
        import time
        self.seen, self.stop = [], False
        stack["nginx"].write("typed/ab.txt", b"alpha beta\n")

        def run_loop():
            end = time.monotonic() + limit_s
            while not self.stop and time.monotonic() < end and len(self.seen) < 20000:
                s, _, b = get(stack, "/typed/ab.txt", name=name)
                self.seen.append((time.monotonic(), s, b))
        self.t = threading.Thread(target=run_loop, daemon=True)
        self.t.start()

    def join(self):
        self.stop = True
        self.t.join(timeout=30)
        assert not self.t.is_alive()
        return self.seen


def test_reload_valid_change_between_requests(stack):
    import time
    f = stack["dir"] / "rules-beta.toml"
    f.write_text(ab_rules("A1", "B1"))
    conn = stack["start"]("beta", REDACTION_RULES_FILE=str(f), REDACTION_RELOAD_INTERVAL="1s")
    loop = Loop(stack, "beta")
    time.sleep(1.5)
    replace_file(f, ab_rules("A2", "B2"))
    changed = time.monotonic()
    assert wait_until(lambda: any(b == b"A2 B2\n" for _, _, b in loop.seen), 5)
    time.sleep(1.2)  # more requests after the swap, one more unchanged check
    seen = loop.join()
    assert conn.alive()
    assert all(s == 200 for _, s, _ in seen), [x for x in seen if x[1] != 200][:3]
    assert {b for _, _, b in seen} == {b"A1 B1\n", b"A2 B2\n"}  # never a mix
    first_new = min(t for t, _, b in seen if b == b"A2 B2\n")
    assert first_new - changed < 1.0 + 0.5  # within one interval (plus a request)
    assert all(b == b"A2 B2\n" for t, _, b in seen if t > first_new)
    assert sum(1 for t, _, _ in seen if t > first_new) > 5
    assert "2 rules loaded" in conn.text()


@pytest.mark.parametrize("change", ["invalid", "missing"])
def test_reload_unusable_file_exits_100(stack, change):
    import time
    name = {"invalid": "delta", "missing": "epsilon"}[change]
    f = stack["dir"] / f"rules-{change}.toml"
    f.write_text(ab_rules("A1", "B1"))
    conn = stack["start"](name, REDACTION_RULES_FILE=str(f), REDACTION_RELOAD_INTERVAL="1s")
    loop = Loop(stack, name)
    time.sleep(1.5)
    if change == "invalid":
        replace_file(f, ab_rules("A2", "B2").replace("'beta'", "'(?=beta)'"))
    else:
        os.unlink(f)
    changed = time.monotonic()
    conn.p.wait(timeout=10)
    exited = time.monotonic()
    seen = loop.join()
    assert conn.p.returncode == 100, conn.text()[-2000:]
    assert exited - changed < 1.0 + 2.0  # one interval, then the drain
    assert any(b == b"A1 B1\n" for _, _, b in seen)
    for _, s, b in seen:  # the old rules whole, or a refusal: never the raw body
        assert b == b"A1 B1\n" or s in (502, 503), (s, b)
        assert b"alpha" not in b and b"A2" not in b
    assert "REDACTION_RULES_FILE" in conn.text()


# --- gzip: decoded (bounded), redacted, encoded again.

@pytest.mark.parametrize("name,out", [("doc.json", JSON_OUT), ("page.html", HTML_OUT),
                                      ("note.txt", TEXT_OUT)])
def test_live_gzip_redacted_and_reencoded(live, name, out):
    import gzip
    s, h, b = get(live, f"/typed/{name}", {"Accept-Encoding": "gzip"})
    assert s == 200, b
    assert h["content-encoding"] == "gzip" and h["x-traversal-redacted"] == "true"
    assert gzip.decompress(b).decode() == out
    assert h["content-length"] == str(len(b))


def test_live_gzip_same_bytes_as_outpost_redact(live, outpost_bin):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", live["nginx"].port, timeout=10)
    c.request("GET", "/typed/doc.json", headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    raw = r.read()
    assert r.getheader("Content-Encoding") == "gzip"
    c.close()
    dry = subprocess.run([outpost_bin, "redact", "--rules", str(live["dir"] / "rules.toml"),
                          "--url", "http://127.0.0.1/", "--content-type", "application/json",
                          "--content-encoding", "gzip", "-"], input=raw, capture_output=True,
                         env=base_env(), timeout=10)
    assert dry.returncode == 0, dry.stderr
    s, _, b = get(live, "/typed/doc.json", {"Accept-Encoding": "gzip"})
    assert s == 200 and b == dry.stdout


def test_live_gzip_decoded_size_is_bounded(live):
    import gzip
    s, h, b = get(live, "/typed/big.txt", {"Accept-Encoding": "gzip"})
    assert s == 200, b[:200]
    assert gzip.decompress(b) == ("<email> " * 300000).encode()
    (live["dir"] / "rules-zeta.toml").write_text(LIVE)
    live["start"]("zeta", REDACTION_RULES_FILE=str(live["dir"] / "rules-zeta.toml"),
                  MAX_DECODED_RESPONSE_BODY_SIZE_MB="1")
    s, _, b = get(live, "/typed/big.txt", {"Accept-Encoding": "gzip"}, name="zeta")
    assert s == 502 and json.loads(b)["reason"] == "redaction_failed", b[:200]
    assert "MAX_DECODED_RESPONSE_BODY_SIZE_MB" in json.loads(b)["message"]
    assert SECRET not in b.decode()


# --- metrics: never a matched value.

def scrape(port):
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return text, samples


def test_live_metrics(live):
    port = live["alpha"].health_port
    _, before = scrape(port)
    assert before[("outpost_redaction_rules_loaded", ())] == 3
    assert before[("outpost_redaction_last_reload_timestamp_seconds", ())] > 1.7e9
    assert get(live, "/typed/page.html")[0] == 200  # two email hits
    assert get(live, "/typed/evil.txt")[0] == 502  # a match limit refusal
    text, after = scrape(port)

    def delta(name, **labels):
        k = (name, tuple(sorted(labels.items())))
        return after[k] - before.get(k, 0)
    assert delta("outpost_redaction_hits_total", rule="email") == 2
    assert delta("outpost_redaction_hits_total", rule="token-in-json") == 0
    assert delta("outpost_redaction_refusals_total", reason="match_limit") == 1
    assert delta("outpost_redaction_refusals_total", reason="content_encoding") == 0
    assert delta("outpost_redaction_seconds_count") == 2
    assert after[("outpost_redaction_seconds_bucket", (("le", "+Inf"),))] >= 2
    for leak in ("ann@site.io", SECRET, "qqqq", "Bearer", "joe@"):
        assert leak not in text
