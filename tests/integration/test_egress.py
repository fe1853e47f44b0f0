"""The HTTP egress policy (EGRESS_ALLOW, #14 item 6) against a real nginx on
loopback, with dnsmasq as the test resolver (DNS_SERVERS) mapping names to
loopback addresses.  nginx's own counters (stub_status) show that a refused
request connected nothing.  Driven through `outpost fetch` (the connector's
executor with its settings) and, once, end to end through the edge's front
door, where the refusal is the ErrorResponse reason policy_denied.  The
default refusal of metadata and link-local addresses is proven on the
matcher (tests/unit/test_netpolicy.c): tests never dial beyond loopback."""
import socket
import subprocess
import time

import pytest

from conftest import base_env, free_port, port_answers, run, wait_until
from edgelib import Edge, connector, dev_pki
from test_exec_nginx import fetch, openssl_cert
from upstream import Nginx, Squid

DNSMASQ = "/usr/sbin/dnsmasq"


def free_dns_port():
    """A loopback port free for both UDP and TCP (dnsmasq binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
    raise AssertionError("no loopback port free for UDP and TCP")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    d = tmp_path_factory.mktemp("nginx")
    (d / "www").mkdir()
    (d / "www" / "index.html").write_text("<h1>hello from nginx</h1>\n")
    with Nginx(d) as n:
        yield n


@pytest.fixture(scope="module")
def dns():
    """dnsmasq on a loopback port: inside.test and outside.test are
    127.0.0.1 (A only); every other name under .test does not exist (and
    squid, which asks 127.0.0.1:53, resolves none of them)."""
    port = free_dns_port()
    p = subprocess.Popen(
        [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
         "--no-hosts", "--no-poll", "--listen-address=127.0.0.1", "--bind-interfaces",
         f"--port={port}", "--local=/test/", "--host-record=inside.test,127.0.0.1",
         "--host-record=outside.test,127.0.0.1", "--user=root", "--pid-file="],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    while not port_answers(port) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.poll() is None and port_answers(port), "dnsmasq did not start"
    yield f"127.0.0.1:{port}"
    p.terminate()
    p.wait(timeout=5)
    p.stderr.close()


def egress_fetch(outpost_bin, dns, url, allow=None):
    env = dict(DNS_SERVERS=dns)
    if allow is not None:
        env["EGRESS_ALLOW"] = allow
    return fetch(outpost_bin, url, env=base_env(**env))


def refused(res):
    return res["rc"] != 0 and res.get("error") == "policy_denied"


def test_unlisted_port_refused_nothing_dialled(outpost_bin, nginx, dns):
    before = nginx.counts()
    res = egress_fetch(outpost_bin, dns, nginx.url("/index.html"),
                       allow=f"127.0.0.1:{free_port()}")
    assert refused(res), res
    assert "EGRESS_ALLOW" in res["detail"]
    assert nginx.counts() == before


def test_name_resolving_outside_the_cidr_refused(outpost_bin, nginx, dns):
    """outside.test is 127.0.0.1; only 127.0.0.2/32 is allowed: refused
    after DNS, and nginx on 127.0.0.1 accepted nothing."""
    before = nginx.counts()
    res = egress_fetch(outpost_bin, dns, f"http://outside.test:{nginx.port}/index.html",
                       allow=f"127.0.0.2/32:{nginx.port}")
    assert refused(res), res
    assert nginx.counts() == before


def test_allowed_cidr_and_name_pass(outpost_bin, nginx, dns):
    before = nginx.counts()
    res = egress_fetch(outpost_bin, dns, f"http://inside.test:{nginx.port}/index.html",
                       allow=f"127.0.0.0/30:{nginx.port}")
    assert res["rc"] == 0 and res["status"] == 200, res
    assert res["body"] == b"<h1>hello from nginx</h1>\n"
    res = egress_fetch(outpost_bin, dns, f"http://inside.test:{nginx.port}/index.html",
                       allow=f"*.test:{nginx.port - 1}-{nginx.port}")
    assert res["rc"] == 0 and res["status"] == 200, res
    # A listed name does not let another name through on its addresses.
    res = egress_fetch(outpost_bin, dns, f"http://outside.test:{nginx.port}/index.html",
                       allow=f"inside.test:{nginx.port}")
    assert refused(res), res
    accepts, requests = nginx.counts()
    assert (accepts - before[0], requests - before[1]) == (2, 2)


def test_unset_allows_loopback(outpost_bin, nginx, dns):
    res = egress_fetch(outpost_bin, dns, nginx.url("/index.html"))
    assert res["rc"] == 0 and res["status"] == 200, res


def test_redirect_never_followed(outpost_bin, nginx, dns):
    """The 302 comes back as the response; nginx served that one request
    and no request for /elsewhere (not on this connection, not another)."""
    before = nginx.counts()
    res = egress_fetch(outpost_bin, dns, nginx.url("/redirect"))
    assert res["rc"] == 0 and res["status"] == 302, res
    assert any(k.lower() == "location" and v.endswith("/elsewhere")
               for k, v in res["headers"])
    accepts, requests = nginx.counts()
    assert (accepts - before[0], requests - before[1]) == (1, 1)


@pytest.fixture(scope="module")
def tls_nginx(tmp_path_factory):
    d = tmp_path_factory.mktemp("nginx-tls")
    (d / "www").mkdir()
    (d / "www" / "index.html").write_text("<h1>hello from nginx</h1>\n")
    openssl_cert(d, "", "DNS:inside.test,DNS:outside.test")
    with Nginx(d, cert=d / "cert.pem", key=d / "key.pem") as n:
        n.ca = d / "cert.pem"
        yield n


def test_https_proxy_connects_to_the_checked_address(outpost_bin, tls_nginx, dns):
    """Through HTTPS_PROXY (a real squid that cannot resolve inside.test),
    a CIDR rule is checked on the connector's resolution and the CONNECT
    names the checked address; a CIDR miss never reaches the proxy."""
    n = tls_nginx
    with Squid(n.https_port) as sq:
        env = dict(DNS_SERVERS=dns, HTTPS_PROXY=f"http://127.0.0.1:{sq.port}",
                   UPSTREAM_TLS_CA_FILE=n.ca)
        url = f"https://inside.test:{n.https_port}/index.html"
        res = fetch(outpost_bin, url, env=base_env(
            EGRESS_ALLOW=f"127.0.0.0/30:{n.https_port}", **env))
        assert res["rc"] == 0 and res["status"] == 200, res
        assert res["body"] == b"<h1>hello from nginx</h1>\n"
        assert wait_until(lambda: len(sq.connects()) == 1, 5), sq.connects()
        assert f" 127.0.0.1:{n.https_port} " in sq.connects()[0], sq.connects()
        before = n.counts()
        res = fetch(outpost_bin, url, env=base_env(
            EGRESS_ALLOW=f"127.0.0.2/32:{n.https_port}", **env))
        assert refused(res), res
        time.sleep(0.2)
        assert len(sq.connects()) == 1 and n.counts() == before


@pytest.mark.parametrize("key", ["EGRESS_ALLOW", "SESSION_ALLOW"])
def test_bad_entry_reported_by_check_config_and_run(outpost_bin, key):
    env = base_env(**{key: "127.0.0.1:80,10.0.0.1/8:443"})
    r = run([outpost_bin, "check-config"], env=env)
    assert r.returncode == 100, r
    msg = f'environment: {key}: entry 2 "10.0.0.1/8:443": address has bits set'
    assert msg in r.stdout + r.stderr
    r = run([outpost_bin, "run"], env=env)
    assert r.returncode == 100 and msg in r.stdout + r.stderr, r


def test_front_door_answers_policy_denied(outpost_bin, outpost_edge_bin, nginx, tmp_path):
    """End to end: the connector's ErrorResponse reason reaches the
    front door as the typed reason of the 502."""
    (tmp_path / "pki").mkdir()
    pki = dev_pki(str(tmp_path / "pki"), "alpha")
    edge = Edge(outpost_edge_bin, str(tmp_path), pki)
    other = free_port()
    conn = None
    try:
        conn = connector(outpost_bin, str(tmp_path), edge, pki, "alpha",
                         EGRESS_ALLOW=f"127.0.0.1:{other}")
        edge.wait_tunnels("alpha", 1)
        before = nginx.counts()
        s, _, b = edge.proxy("alpha", f"127.0.0.1:{nginx.port}/index.html")
        assert s == 502 and b'"reason":"policy_denied"' in b, (s, b)
        assert nginx.counts() == before
    finally:
        if conn is not None:
            conn.stop()
        edge.stop()
