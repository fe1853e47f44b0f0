"""Upstream requests through a corporate proxy (issue 18 item 4): the
executor, driven by `outpost fetch`, reaching a real nginx through Debian's
squid on loopback with HTTPS_PROXY (CONNECT), HTTP_PROXY (absolute form)
and NO_PROXY, squid's access log showing what went through it, 407 as a
typed error; and UPSTREAM_TLS_CA_FILE with a private CA.

The upstream is named nginx.localhost: the connector resolves *.localhost
to loopback by itself (for a direct request) and squid from its own hosts
file, while a loopback literal or "localhost" would never be proxied (Go's
rule, which the anchor follows)."""
import subprocess

import pytest

from conftest import base_env, free_port, run, wait_until
from test_exec_nginx import fetch
from upstream import Nginx, Squid

NAME = "nginx.localhost"
HOSTS = {NAME: "127.0.0.1"}
INDEX = b"<h1>hello from nginx</h1>\n"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def private_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem", "-days", "2",
            "-subj", f"/CN=outpost test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("proxy-pki")
    private_ca(d, "ca")
    private_ca(d, "otherca")
    (d / "leaf.ext").write_text(f"subjectAltName=DNS:{NAME},IP:127.0.0.1\n"
                                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{d}/leaf.key", "-out", f"{d}/leaf.csr", "-subj", f"/CN={NAME}")
    openssl("x509", "-req", "-in", f"{d}/leaf.csr", "-CA", f"{d}/ca.pem", "-CAkey",
            f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/leaf.pem", "-days", "2",
            "-extfile", f"{d}/leaf.ext")
    return d


@pytest.fixture(scope="module")
def nginx(tmp_path_factory, pki):
    d = tmp_path_factory.mktemp("proxy-nginx")
    (d / "www").mkdir()
    (d / "www" / "index.html").write_bytes(INDEX)
    with Nginx(d, cert=pki / "leaf.pem", key=pki / "leaf.key") as n:
        yield n


@pytest.fixture(scope="module")
def squid(nginx):
    with Squid(nginx.https_port, http_port=nginx.port, hosts=HOSTS) as sq:
        yield sq


@pytest.fixture(scope="module")
def squid_auth(nginx):
    with Squid(nginx.https_port, http_port=nginx.port, hosts=HOSTS,
               auth=("joe", "s3cret-pw")) as sq:
        yield sq


def env(pki, **settings):
    return base_env(UPSTREAM_TLS_CA_FILE=pki / "ca.pem", **settings)


def new_lines(sq, before):
    """The lines squid logged after `before` lines (waits for one)."""
    return wait_until(lambda: sq.log()[before:], 5, 0.05) or []


def assert_not_proxied(outpost_bin, sq, nginx, before):
    """Nothing went through sq since `before`: a marker request sent
    through it afterwards is the only line logged since (squid logs in
    order of completion, and the requests before it had completed)."""
    marker = f"http://{NAME}:{nginx.port}/marker-{free_port()}"
    res = fetch(outpost_bin, marker, env=base_env(HTTP_PROXY=f"http://127.0.0.1:{sq.port}"))
    assert res["rc"] == 0 and res["status"] == 404, res
    lines = new_lines(sq, before)
    assert len(lines) == 1 and f" GET {marker} " in lines[0], lines


def test_https_upstream_through_connect(outpost_bin, nginx, squid, pki):
    before = len(squid.log())
    url = f"https://{NAME}:{nginx.https_port}/index.html"
    res = fetch(outpost_bin, url,
                env=env(pki, HTTPS_PROXY=f"http://127.0.0.1:{squid.port}"))
    assert res["rc"] == 0, res
    assert res["status"] == 200 and res["body"] == INDEX
    (line,) = new_lines(squid, before)
    # Under the default EGRESS_ALLOW a name passes by its addresses only:
    # the connector resolved and checked it, and CONNECT names the address.
    assert f" CONNECT 127.0.0.1:{nginx.https_port} " in line
    assert "TCP_TUNNEL/200" in line


def test_connect_by_name_when_egress_allow_lists_it(outpost_bin, nginx, squid, pki):
    before = len(squid.log())
    url = f"https://{NAME}:{nginx.https_port}/index.html"
    res = fetch(outpost_bin, url, env=env(pki, HTTPS_PROXY=f"http://127.0.0.1:{squid.port}",
                                          EGRESS_ALLOW=f"{NAME}:{nginx.https_port}"))
    assert res["rc"] == 0 and res["body"] == INDEX, res
    (line,) = new_lines(squid, before)
    assert f" CONNECT {NAME}:{nginx.https_port} " in line


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_egress_allow_applies_through_the_proxy(outpost_bin, nginx, squid, pki, scheme):
    before = len(squid.log())
    port = nginx.https_port if scheme == "https" else nginx.port
    proxy = f"http://127.0.0.1:{squid.port}"
    res = fetch(outpost_bin, f"{scheme}://{NAME}:{port}/index.html",
                env=env(pki, HTTPS_PROXY=proxy, HTTP_PROXY=proxy,
                        EGRESS_ALLOW=f"{NAME}:{port + 1}"))
    assert res["rc"] == 1 and res["error"] == "policy_denied", res
    assert_not_proxied(outpost_bin, squid, nginx, before)


def test_http_upstream_in_absolute_form(outpost_bin, nginx, squid, pki):
    before = len(squid.log())
    url = f"http://{NAME}:{nginx.port}/index.html"
    # No scheme: http:// (as Go reads the variable).
    res = fetch(outpost_bin, url, env=env(pki, HTTP_PROXY=f"127.0.0.1:{squid.port}"))
    assert res["rc"] == 0, res
    assert res["status"] == 200 and res["body"] == INDEX
    (line,) = new_lines(squid, before)
    assert f" GET {url} " in line and "/200 " in line


def test_each_scheme_uses_its_own_variable(outpost_bin, nginx, squid, pki):
    """HTTP_PROXY does not carry https requests, nor HTTPS_PROXY http ones."""
    before = len(squid.log())
    e = env(pki, HTTP_PROXY=f"http://127.0.0.1:{squid.port}")
    res = fetch(outpost_bin, f"https://{NAME}:{nginx.https_port}/", env=e)
    assert res["rc"] == 0 and res["status"] == 200, res
    e = env(pki, HTTPS_PROXY=f"http://127.0.0.1:{squid.port}")
    res = fetch(outpost_bin, f"http://{NAME}:{nginx.port}/", env=e)
    assert res["rc"] == 0 and res["status"] == 200, res
    assert_not_proxied(outpost_bin, squid, nginx, before)


def test_lower_case_names_and_precedence(outpost_bin, nginx, squid, pki):
    before = len(squid.log())
    url = f"https://{NAME}:{nginx.https_port}/index.html"
    res = fetch(outpost_bin, url,
                env=env(pki, https_proxy=f"http://127.0.0.1:{squid.port}"))
    assert res["rc"] == 0 and res["status"] == 200, res
    assert len(new_lines(squid, before)) == 1
    # Both set: the upper-case name wins (the lower-case one names a dead port).
    before = len(squid.log())
    e = env(pki, HTTPS_PROXY=f"http://127.0.0.1:{squid.port}",
            https_proxy=f"http://127.0.0.1:{free_port()}")
    res = fetch(outpost_bin, url, env=e)
    assert res["rc"] == 0 and res["status"] == 200, res
    assert len(new_lines(squid, before)) == 1
    r = run([outpost_bin, "check-config"], env=e)
    assert "warning: environment: https_proxy: ignored, HTTPS_PROXY is also set" in r.stderr


@pytest.mark.parametrize("no_proxy,direct", [
    ("localhost", True),            # a name and every name under it
    (".localhost", True),           # names under it only
    ("*.localhost", True),
    (NAME, True),
    ("other.localhost,nginx.localhost:{port}", True),
    ("nginx.localhost:1", False),   # another port: proxied
    ("127.0.0.0/8", False),         # names never match addresses
    ("*", True),
])
def test_no_proxy(outpost_bin, nginx, squid, pki, no_proxy, direct):
    before = len(squid.log())
    url = f"http://{NAME}:{nginx.port}/index.html"
    e = env(pki, HTTP_PROXY=f"http://127.0.0.1:{squid.port}",
            NO_PROXY=no_proxy.format(port=nginx.port))
    res = fetch(outpost_bin, url, env=e)
    assert res["rc"] == 0 and res["status"] == 200 and res["body"] == INDEX, res
    if direct:
        assert_not_proxied(outpost_bin, squid, nginx, before)
    else:
        assert f" GET {url} " in new_lines(squid, before)[0]


def test_loopback_is_never_proxied(outpost_bin, nginx, squid, pki):
    before = len(squid.log())
    e = env(pki, HTTP_PROXY=f"http://127.0.0.1:{squid.port}",
            HTTPS_PROXY=f"http://127.0.0.1:{squid.port}")
    for url in (f"http://127.0.0.1:{nginx.port}/", f"http://localhost:{nginx.port}/",
                f"https://127.0.0.1:{nginx.https_port}/"):
        res = fetch(outpost_bin, url, env=e)
        assert res["rc"] == 0 and res["status"] == 200, (url, res)
    assert_not_proxied(outpost_bin, squid, nginx, before)


def test_407_is_a_typed_error_never_a_direct_fallback(outpost_bin, nginx, squid_auth, pki):
    """Directly, nginx.localhost answers: a fallback would succeed."""
    proxy = f"http://127.0.0.1:{squid_auth.port}"
    for var, url in (("HTTPS_PROXY", f"https://{NAME}:{nginx.https_port}/index.html"),
                     ("HTTP_PROXY", f"http://{NAME}:{nginx.port}/index.html")):
        before = len(squid_auth.log())
        res = fetch(outpost_bin, url, env=env(pki, **{var: proxy}))
        assert res["rc"] == 1, res
        assert res["error"] == "proxy"
        assert res["detail"] == "proxy: 407 proxy authentication required"
        assert "TCP_DENIED/407" in new_lines(squid_auth, before)[0]
        direct = fetch(outpost_bin, url, env=env(pki))
        assert direct["status"] == 200


def test_proxy_credentials_are_sent(outpost_bin, nginx, squid_auth, pki):
    proxy = f"http://joe:s3cret-pw@127.0.0.1:{squid_auth.port}"
    for var, url in (("HTTPS_PROXY", f"https://{NAME}:{nginx.https_port}/index.html"),
                     ("HTTP_PROXY", f"http://{NAME}:{nginx.port}/index.html")):
        before = len(squid_auth.log())
        res = fetch(outpost_bin, url, env=env(pki, **{var: proxy}))
        assert res["rc"] == 0 and res["status"] == 200 and res["body"] == INDEX, res
        (line,) = new_lines(squid_auth, before)
        assert " joe " in line and "s3cret" not in line


def test_unreachable_proxy_is_a_typed_error(outpost_bin, nginx, pki):
    dead = f"http://127.0.0.1:{free_port()}"
    for var, url in (("HTTPS_PROXY", f"https://{NAME}:{nginx.https_port}/"),
                     ("HTTP_PROXY", f"http://{NAME}:{nginx.port}/")):
        res = fetch(outpost_bin, url, env=env(pki, **{var: dead}))
        assert res["rc"] == 1 and res["error"] == "proxy", res
        assert res["detail"] == "proxy: unreachable, or its answer is not HTTP"


# --- UPSTREAM_TLS_CA_FILE with a private CA ---------------------------------

@pytest.mark.parametrize("via_proxy", [False, True])
def test_private_ca_verifies_and_a_wrong_ca_is_a_tls_error(outpost_bin, nginx, squid, pki, via_proxy):
    url = f"https://{NAME}:{nginx.https_port}/index.html"
    extra = dict(HTTPS_PROXY=f"http://127.0.0.1:{squid.port}") if via_proxy else {}
    res = fetch(outpost_bin, url, env=env(pki, **extra))
    assert res["rc"] == 0 and res["body"] == INDEX, res
    res = fetch(outpost_bin, url,
                env=base_env(UPSTREAM_TLS_CA_FILE=pki / "otherca.pem", **extra))
    assert res["rc"] == 1 and res["error"] == "tls", res
    assert res["detail"] == "tls: certificate not trusted"


# --- the one validation path -------------------------------------------------

@pytest.mark.parametrize("settings,message", [
    (dict(NO_PROXY="corp,10.0.0.0/33"), "environment: NO_PROXY: entry 2: bad CIDR"),
    (dict(no_proxy="a b"), "environment: NO_PROXY: entry 1: not a host name"),
    (dict(HTTPS_PROXY="https://proxy.example:3128"),
     "environment: HTTPS_PROXY: invalid proxy: https proxies are not supported"),
    (dict(HTTP_PROXY="socks5://proxy.example:1080"), "environment: HTTP_PROXY: invalid proxy"),
])
def test_bad_proxy_settings_refused_by_check_config_and_run(outpost_bin, settings, message):
    e = base_env(HTTP_PORT=free_port(), TRAVERSAL_CONTROLLER_URL="http://127.0.0.1:9",
                 **settings)
    for argv in (["check-config"], ["run"]):
        r = run([outpost_bin, *argv], env=e)
        assert r.returncode == 100, r
        assert message in r.stderr, r.stderr


def test_print_masks_proxy_credentials(outpost_bin):
    r = run([outpost_bin, "check-config", "--print"],
            env=base_env(HTTPS_PROXY="http://joe:hunter2@proxy.example:3128",
                         http_proxy="joe:hunter2@proxy.example:3128"))
    assert r.returncode == 0, r
    assert "HTTPS_PROXY=http://***@proxy.example:3128  # environment" in r.stdout
    assert "HTTP_PROXY=***@proxy.example:3128  # environment, as http_proxy" in r.stdout
    assert "hunter2" not in r.stdout + r.stderr
