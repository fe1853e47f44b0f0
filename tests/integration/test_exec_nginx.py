"""The HTTP executor against a real nginx (HTTP and HTTPS on loopback),
driven through `outpost fetch`, which runs one request with the connector's
own executor and settings and prints JSON lines."""
import base64
import gzip
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import base_env, free_port, run
from upstream import Nginx


def openssl_cert(d, name, san):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", f"{d}/{name}key.pem", "-out", f"{d}/{name}cert.pem",
         "-days", "2", "-subj", "/CN=outpost-test", "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    d = tmp_path_factory.mktemp("nginx")
    (d / "www").mkdir()
    (d / "www" / "index.html").write_text("<h1>hello from nginx</h1>\n")
    (d / "www" / "text.txt").write_text("compress me " * 4000)
    (d / "www" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    openssl_cert(d, "", "DNS:localhost,IP:127.0.0.1")
    openssl_cert(d, "other", "DNS:other.test")
    with Nginx(d, cert=d / "cert.pem", key=d / "key.pem") as n:
        yield {"dir": d, "http": n.port, "https": n.https_port}


def fetch(outpost_bin, *args, env=None, timeout=30):
    r = run([outpost_bin, "fetch", *args], env=env or base_env(), timeout=timeout)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    out = {"rc": r.returncode, "stderr": r.stderr, "headers": []}
    for obj in lines:
        if "header" in obj:
            out["headers"].append((obj["header"], obj["value"]))
        elif "body_base64" in obj:
            out["body"] = base64.b64decode(obj["body_base64"])
            assert len(out["body"]) == obj["body_len"]
        else:
            out.update(obj)
    return out


def header(res, name):
    return [v for k, v in res["headers"] if k.lower() == name.lower()]


def test_http_get(outpost_bin, nginx):
    res = fetch(outpost_bin, f"http://127.0.0.1:{nginx['http']}/index.html")
    assert res["rc"] == 0, res
    assert res["status"] == 200
    assert res["body"] == b"<h1>hello from nginx</h1>\n"
    assert header(res, "content-length") == ["26"]
    assert header(res, "connection") == []  # hop-by-hop dropped


def test_404_and_500_are_responses(outpost_bin, nginx):
    res = fetch(outpost_bin, f"http://localhost:{nginx['http']}/nope")
    assert res["rc"] == 0 and res["status"] == 404
    res = fetch(outpost_bin, f"http://localhost:{nginx['http']}/fail")
    assert res["rc"] == 0 and res["status"] == 500 and res["body"] == b"boom\n"


def test_redirect_not_followed(outpost_bin, nginx):
    res = fetch(outpost_bin, f"http://127.0.0.1:{nginx['http']}/redirect")
    assert res["status"] == 302
    assert header(res, "location")[0].endswith("/elsewhere")


def test_set_cookie_repeated_in_order(outpost_bin, nginx):
    res = fetch(outpost_bin, f"http://127.0.0.1:{nginx['http']}/cookies")
    assert res["status"] == 200
    names = [k.lower() for k, _ in res["headers"]]
    assert header(res, "set-cookie") == ["a=1; Path=/", "b=2, c=3"]
    assert names.index("set-cookie") < names.index("x-middle") < \
        len(names) - 1 - names[::-1].index("set-cookie")


def test_post_1mib_binary_roundtrip(outpost_bin, nginx, tmp_path):
    data = os.urandom(1024 * 1024) + b"\r\n\x00end"
    src = tmp_path / "body.bin"
    src.write_bytes(data)
    url = f"http://127.0.0.1:{nginx['http']}/dav/upload.bin"
    res = fetch(outpost_bin, "-X", "PUT", "-H", "Content-Type: application/octet-stream",
                "-f", str(src), url)
    assert res["rc"] == 0, res
    assert res["status"] in (201, 204)
    assert (nginx["dir"] / "www" / "dav" / "upload.bin").read_bytes() == data
    res = fetch(outpost_bin, url)
    assert res["status"] == 200 and res["body"] == data


def test_put_inline_data_and_delete(outpost_bin, nginx):
    url = f"http://127.0.0.1:{nginx['http']}/dav/small.txt"
    res = fetch(outpost_bin, "-X", "PUT", "-d", "small body", url)
    assert res["rc"] == 0 and res["status"] in (201, 204)
    assert fetch(outpost_bin, url)["body"] == b"small body"
    res = fetch(outpost_bin, "-X", "DELETE", url)
    assert res["status"] == 204
    assert fetch(outpost_bin, url)["status"] == 404


def test_head_has_no_body(outpost_bin, nginx):
    res = fetch(outpost_bin, "-X", "HEAD", f"http://127.0.0.1:{nginx['http']}/big.bin")
    assert res["rc"] == 0 and res["status"] == 200
    assert header(res, "content-length") == [str(3 * 1024 * 1024)]
    assert res["body"] == b""


def test_chunked_gzip_response(outpost_bin, nginx):
    res = fetch(outpost_bin, "-H", "Accept-Encoding: gzip",
                f"http://127.0.0.1:{nginx['http']}/gz")
    assert res["rc"] == 0 and res["status"] == 200
    assert header(res, "transfer-encoding") == []  # decoded, hop-by-hop
    assert header(res, "content-encoding") == ["gzip"]
    assert gzip.decompress(res["body"]) == b"compress me " * 4000


def test_too_large_response(outpost_bin, nginx):
    env = base_env(MAX_RESPONSE_BODY_SIZE_MB=1)
    res = fetch(outpost_bin, f"http://127.0.0.1:{nginx['http']}/big.bin", env=env)
    assert res["rc"] == 1 and res["error"] == "too_large"


def test_https_with_ca(outpost_bin, nginx):
    env = base_env(UPSTREAM_TLS_CA_FILE=nginx["dir"] / "cert.pem")
    res = fetch(outpost_bin, f"https://localhost:{nginx['https']}/index.html", env=env)
    assert res["rc"] == 0, res
    assert res["status"] == 200  # HTTP/1.1 although the listener offers h2
    assert res["body"] == b"<h1>hello from nginx</h1>\n"


def test_https_ip_literal_matches_ip_san(outpost_bin, nginx):
    env = base_env(UPSTREAM_TLS_CA_FILE=nginx["dir"] / "cert.pem")
    res = fetch(outpost_bin, f"https://127.0.0.1:{nginx['https']}/index.html", env=env)
    assert res["rc"] == 0, res
    assert res["status"] == 200


def test_https_put_1mib_binary(outpost_bin, nginx, tmp_path):
    data = os.urandom(1024 * 1024)
    src = tmp_path / "tls-body.bin"
    src.write_bytes(data)
    env = base_env(UPSTREAM_TLS_CA_FILE=nginx["dir"] / "cert.pem")
    url = f"https://localhost:{nginx['https']}/dav/tls-upload.bin"
    res = fetch(outpost_bin, "-X", "PUT", "-f", str(src), url, env=env)
    assert res["rc"] == 0, res
    assert (nginx["dir"] / "www" / "dav" / "tls-upload.bin").read_bytes() == data
    res = fetch(outpost_bin, url, env=env)
    assert res["status"] == 200 and res["body"] == data


def test_https_untrusted_is_tls_error(outpost_bin, nginx):
    env = base_env(UPSTREAM_TLS_CA_FILE=nginx["dir"] / "othercert.pem")
    res = fetch(outpost_bin, f"https://localhost:{nginx['https']}/", env=env)
    assert res["rc"] == 1 and res["error"] == "tls"
    assert "not trusted" in res["detail"]


def test_https_hostname_mismatch(outpost_bin, nginx, tmp_path):
    # The server's certificate is trusted, but it does not carry the name
    # asked for (names under .localhost resolve to loopback by themselves).
    env = base_env(UPSTREAM_TLS_CA_FILE=nginx["dir"] / "cert.pem")
    res = fetch(outpost_bin, f"https://localhost.localhost:{nginx['https']}/", env=env)
    assert res["rc"] == 1 and res["error"] == "tls"
    assert "host name" in res["detail"]


def test_https_verify_off(outpost_bin, nginx):
    env = base_env(UPSTREAM_TLS_VERIFY="false",
                   UPSTREAM_TLS_CA_FILE=nginx["dir"] / "othercert.pem")
    res = fetch(outpost_bin, f"https://localhost:{nginx['https']}/index.html", env=env)
    assert res["rc"] == 0, res
    assert res["status"] == 200


def test_refused_and_dns(outpost_bin):
    res = fetch(outpost_bin, f"http://127.0.0.1:{free_port()}/")
    assert res["error"] == "refused"
    res = fetch(outpost_bin, "http://nothing.invalid/",
                env=base_env(DNS_SERVERS=f"127.0.0.1:{free_port()}"))
    assert res["error"] == "dns"


def test_upstream_hang_is_timeout(outpost_bin):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        res = fetch(outpost_bin, f"http://127.0.0.1:{srv.getsockname()[1]}/",
                    env=base_env(REQUEST_TIMEOUT="700ms"))
        assert res["error"] == "timeout"
        assert 0.6 < time.monotonic() - t0 < 5
        assert len(conns) == 1
    finally:
        stop.set()
        t.join(timeout=2)
        for c in conns:
            c.close()
        srv.close()


def test_bad_request(outpost_bin):
    res = fetch(outpost_bin, "-X", "TRACE", "http://127.0.0.1:1/")
    assert res["error"] == "bad_request"
    res = fetch(outpost_bin, "ftp://127.0.0.1/")
    assert res["error"] == "bad_request"
