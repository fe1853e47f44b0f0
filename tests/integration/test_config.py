"""`outpost check-config` against the real static binary.

One behaviour per test: errors from the environment, secrets refused in the
config file and never printed, the same settings accepted from the
environment, --print hiding secrets, every error listed at once.
"""
import base64
import os
import re

import pytest

from conftest import base_env, free_port, run
from controllerlib import make_pki

# A recognisable secret: neither it nor its base64 form may ever be printed.
SECRET = "-----BEGIN EC PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END EC PRIVATE KEY-----\n"
SECRET_B64 = base64.b64encode(SECRET.encode()).decode()
CERT_B64 = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nX\n").decode()


def check(outpost_bin, *args, env):
    return run([outpost_bin, "check-config", *args], env=env)


def assert_no_secret(r):
    for text in (r.stdout, r.stderr):
        assert SECRET_B64 not in text
        assert SECRET_B64[:16] not in text
        assert "TOPSECRETKEYBYTES" not in text


def test_env_errors_name_both_keys(outpost_bin):
    r = check(outpost_bin, env=base_env(TRAVERSAL_CONTROLLER_URL="nope",
                                        MAX_TUNNELS_ALLOWED="-1"))
    assert r.returncode == 100, r
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 2, r.stderr
    assert any("environment: TRAVERSAL_CONTROLLER_URL" in l for l in errors)
    assert any("environment: MAX_TUNNELS_ALLOWED" in l and "out of range" in l
               for l in errors)
    assert "config ok" not in r.stdout


def test_secret_in_config_file_refused(outpost_bin, tmp_path):
    conf = tmp_path / "outpost.conf"
    conf.write_text(f"HTTP_PORT=9001\nTLS_KEY_BASE64={SECRET_B64}\n"
                    f"TLS_CERT_BASE64={CERT_B64}\n")
    r = check(outpost_bin, env=base_env(OUTPOST_CONFIG=conf))
    assert r.returncode == 100, r
    assert f"error: {conf}:2: TLS_KEY_BASE64: secrets are refused" in r.stderr
    assert f"{conf}:3: TLS_CERT_BASE64" in r.stderr
    assert_no_secret(r)


def test_same_settings_from_environment_pass(outpost_bin, tmp_path):
    conf = tmp_path / "outpost.conf"
    conf.write_text("HTTP_PORT=9001\n")
    r = check(outpost_bin, env=base_env(OUTPOST_CONFIG=conf,
                                        TLS_KEY_BASE64=SECRET_B64,
                                        TLS_CERT_BASE64=CERT_B64))
    assert r.returncode == 0, r
    assert r.stdout.strip().endswith("config ok")
    assert "error" not in r.stderr
    assert_no_secret(r)


def test_secret_from_file_setting_in_config_file(outpost_bin, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text(SECRET)
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "outpost.conf"
    conf.write_text(f"TLS_KEY_FILE={key}\nTLS_CERT_FILE={cert}\n")
    r = check(outpost_bin, "--print", env=base_env(OUTPOST_CONFIG=conf))
    assert r.returncode == 0, r
    assert f"TLS_KEY_FILE={key}  # {conf}:1" in r.stdout
    assert_no_secret(r)


def test_print_hides_secrets(outpost_bin, tmp_path):
    conf = tmp_path / "outpost.conf"
    conf.write_text("# comment\nHTTP_PORT=9001\n")
    r = check(outpost_bin, "--print",
              env=base_env(OUTPOST_CONFIG=conf, TLS_KEY_BASE64=SECRET_B64,
                           TLS_CERT_BASE64=CERT_B64, ENV_NAME="two\nlines",
                           EGRESS_PROXY_URL="http://user:hunter2@proxy.internal:3128"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert "TLS_KEY_BASE64=<set>  # environment" in lines
    assert "TLS_CA_BASE64=<unset>  # default" in lines
    assert f"HTTP_PORT=9001  # {conf}:2" in lines
    assert "MAX_TUNNELS_ALLOWED=2  # default" in lines
    assert "ENV_NAME=two\\x0alines  # environment" in lines
    assert "EGRESS_PROXY_URL=http://***@proxy.internal:3128  # environment" in lines
    assert "hunter2" not in r.stdout + r.stderr
    assert CERT_B64 not in r.stdout
    assert_no_secret(r)
    # Every setting of the table is listed exactly once.
    md = check(outpost_bin, "--markdown", env=base_env())
    names = re.findall(r"^\| `([A-Z0-9_]+)` \|", md.stdout, re.M)
    printed = [l.split("=", 1)[0] for l in lines if "=" in l]
    assert sorted(printed) == sorted(names) and len(names) > 40


def test_all_errors_reported_at_once(outpost_bin, tmp_path):
    conf = tmp_path / "outpost.conf"
    conf.write_text("MAX_TUNELS_ALLOWED=3\n"
                    "HTTP_PORT=0\n"
                    "RECONNECT_INTERVAL=soon\n"
                    "UPSTREAM_TLS_VERIFY=maybe\n"
                    'ENV_NAME="unterminated\n')
    r = check(outpost_bin, env=base_env(OUTPOST_CONFIG=conf, DRAIN_TIMEOUT="forever"))
    assert r.returncode == 100, r
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 6, r.stderr
    assert f"{conf}:1: MAX_TUNELS_ALLOWED: unknown setting; did you mean MAX_TUNNELS_ALLOWED?" in r.stderr
    for n, key in enumerate(["HTTP_PORT", "RECONNECT_INTERVAL", "UPSTREAM_TLS_VERIFY",
                             "ENV_NAME"], start=2):
        assert f"{conf}:{n}: {key}:" in r.stderr
    assert "environment: DRAIN_TIMEOUT: invalid duration" in r.stderr
    assert "config invalid: 6 errors" in r.stderr


def test_precedence_file_envfile_environment(outpost_bin, tmp_path):
    dotenv = tmp_path / "dotenv"
    dotenv.write_text("export HTTP_PORT=9002\nMAX_TUNNELS_ALLOWED=4\n")
    conf = tmp_path / "outpost.conf"
    conf.write_text(f"HTTP_PORT=9001\nMAX_TUNNELS_ALLOWED=3\nENV_NAME=lab\nENV_FILE={dotenv}\n")
    r = check(outpost_bin, "--print",
              env=base_env(OUTPOST_CONFIG=conf, MAX_TUNNELS_ALLOWED="5"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert f"ENV_NAME=lab  # {conf}:3" in lines
    assert f"HTTP_PORT=9002  # {dotenv}:1" in lines
    assert "MAX_TUNNELS_ALLOWED=5  # environment" in lines


def test_missing_named_config_file_is_an_error(outpost_bin, tmp_path):
    r = check(outpost_bin, env=base_env(OUTPOST_CONFIG=tmp_path / "absent.conf"))
    assert r.returncode == 100, r
    assert "OUTPOST_CONFIG: cannot open" in r.stderr


def test_bad_usage(outpost_bin):
    r = check(outpost_bin, "--bogus", env=base_env())
    assert r.returncode == 100
    assert "usage" in r.stderr


# --- what `run` refuses at start, check-config reports (issue 10 item 7) ---

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "test")


def tls_env(pki, key="client-test.key", **extra):
    return dict(TRAVERSAL_CONTROLLER_URL="https://edge.example",
                TLS_CERT_FILE=os.path.join(pki, "client-test.pem"),
                TLS_KEY_FILE=os.path.join(pki, key),
                TLS_CA_FILE=os.path.join(pki, "ca.pem"), **extra)


def refused_by_both(outpost_bin, settings, expected):
    """check-config and run both exit 100 and name every expected error."""
    env = base_env(HTTP_PORT=free_port(), **settings)
    c = check(outpost_bin, env=env)
    w = run([outpost_bin, "run"], env=env)
    for r in (c, w):
        assert r.returncode == 100, r
        errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
        assert len(errors) == len(expected), r.stderr
        for e in expected:
            assert any(e in l for l in errors), (e, r.stderr)
    assert "config ok" not in c.stdout
    assert f"config invalid: {len(expected)} error" in c.stderr
    return c, w


def test_tls_key_that_does_not_parse(outpost_bin, pki, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    env = tls_env(pki)
    env["TLS_KEY_FILE"] = str(bad)
    refused_by_both(outpost_bin, env, ["environment: TLS_KEY_FILE: key does not parse"])


def test_tls_key_that_does_not_match_cert(outpost_bin, pki):
    refused_by_both(outpost_bin, tls_env(pki, key="client-test-rsa.key"),
                    ["environment: TLS_KEY_FILE: key does not match the TLS_CERT certificate"])


def test_matching_identity_passes(outpost_bin, pki):
    r = check(outpost_bin, env=base_env(**tls_env(pki)))
    assert r.returncode == 0, r
    assert "error" not in r.stderr


def test_controller_url_with_userinfo(outpost_bin):
    c, w = refused_by_both(
        outpost_bin, dict(TRAVERSAL_CONTROLLER_URL="http://joe:hunter2@127.0.0.1:9"),
        ["environment: TRAVERSAL_CONTROLLER_URL: credentials in the URL are not allowed"])
    assert "hunter2" not in c.stderr + c.stdout + w.stderr + w.stdout


def test_https_egress_proxy(outpost_bin):
    refused_by_both(outpost_bin, dict(EGRESS_PROXY_URL="https://proxy.example:3128"),
                    ["environment: EGRESS_PROXY_URL: https proxies are not supported"])


def test_dns_servers_garbage(outpost_bin):
    refused_by_both(outpost_bin, dict(DNS_SERVERS="garbage"),
                    ["environment: DNS_SERVERS: "])


def test_ntp_servers_naming_no_server(outpost_bin):
    refused_by_both(outpost_bin, dict(NTP_SERVERS=",,,"),
                    ["environment: NTP_SERVERS: names no server"])


def test_upstream_ca_that_does_not_parse(outpost_bin, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    refused_by_both(outpost_bin, dict(TRAVERSAL_CONTROLLER_URL="http://127.0.0.1:9",
                                      UPSTREAM_TLS_CA_FILE=str(bad)),
                    ["environment: UPSTREAM_TLS_CA_FILE: certificate 1 does not parse"])


def test_every_start_error_at_once(outpost_bin, pki):
    env = tls_env(pki, key="client-test-rsa.key",
                  EGRESS_PROXY_URL="https://proxy.example:3128",
                  DNS_SERVERS="garbage", NTP_SERVERS=",,,")
    env["TRAVERSAL_CONTROLLER_URL"] = "https://joe:hunter2@edge.example"
    c, _ = refused_by_both(outpost_bin, env, [
        "TRAVERSAL_CONTROLLER_URL: credentials", "EGRESS_PROXY_URL: https proxies",
        "DNS_SERVERS: ", "NTP_SERVERS: names no server", "TLS_KEY_FILE: key does not match"])
    assert "hunter2" not in c.stderr
