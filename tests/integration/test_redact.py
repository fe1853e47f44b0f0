"""Redaction rules (#14): `outpost redact` (the dry run, the same code the
live path will use) and REDACTION_RULES_FILE validation in check-config/run,
against the real static binary.  Expected outputs are written out by hand.
"""
import json
import os

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
    (["--content-encoding", "gzip"], "x", "content_encoding"),
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


def test_valid_rules_refused_until_the_executor_applies_them(outpost_bin, rules, pki):  # noqa: F811
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=rules(EXAMPLE), **tls_env(pki))
    for argv in (["check-config"], ["run"]):
        r = run([outpost_bin, *argv], env=env)
        assert r.returncode == 100, r
        assert "2 valid rules, but the executor does not apply redaction yet" in r.stderr


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


def test_changed_rules_file_stops_the_worker(outpost_bin, rules, pki, spawn):  # noqa: F811
    # No swap in place yet: a change must never leave the worker running on
    # rules it was not given.  It drains and exits 111; the restart validates.
    import time
    f = rules('version = 1\n')
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=f,
                   REDACTION_RELOAD_INTERVAL="1s", **loopback_tls_env(pki))
    p = spawn([outpost_bin, "run"], env=env)
    time.sleep(2.5)  # two unchanged checks
    assert p.poll() is None
    with open(f, "a") as fh:
        fh.write(EXAMPLE.split("\n", 1)[1])
    assert p.wait(timeout=10) == 111
    r = run([outpost_bin, "check-config"], env=env)
    assert r.returncode == 100


def test_vanished_rules_file_stops_the_worker(outpost_bin, rules, pki, spawn):  # noqa: F811
    f = rules('version = 1\n')
    env = base_env(HTTP_PORT=free_port(), REDACTION_RULES_FILE=f,
                   REDACTION_RELOAD_INTERVAL="1s", **loopback_tls_env(pki))
    p = spawn([outpost_bin, "run"], env=env)
    assert wait_until(lambda: healthz(int(env["HTTP_PORT"])), 5)  # the loop runs
    os.unlink(f)
    assert p.wait(timeout=10) == 111
