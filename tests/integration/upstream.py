"""Real upstreams for integration tests, on loopback with temp configs.

    with Nginx(tmp_path) as n:       # n.port (HTTP), n.root (document root)
        ...
    Nginx(d, cert=..., key=...)      # also HTTPS (and h2) on n.https_port
    Nginx(d, trace_log=True)         # n.traceparents(): the W3C headers it got

Locations: /dav/ (PUT/GET, byte-exact bodies), /echo (request body echoed
back by the echo module), /cookies (two Set-Cookie around another header),
/hop (echoes X-Hop-Probe and X-Keep, adds a hop-by-hop-named header),
/redirect (302), /fail (500), /gz (text.txt gzip-encoded), /typed/ (files typed
by extension: json, html, png, txt; gzip for json, html and txt when asked),
/br and /badgz (typed/br.txt labelled Content-Encoding: br, gzip), /nginx_status
(stub_status: n.counts() gives connections accepted and requests served
by this nginx so far, not counting these queries), and everything else from
the root.

    with Squid(allowed_port) as sq:  # a forward proxy allowing CONNECT there
    Squid(port, http_port=..., hosts={"name": "127.0.0.1"}, auth=(u, p))
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

CONF = """
load_module {echo};
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {access}
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    client_max_body_size 64m;
    client_body_buffer_size 2m;
    keepalive_requests 100000;
    server {{
        listen {host}:{port};
        {tls}
        server_name localhost;
        root {d}/www;
        location /dav/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
        }}
        location = /echo {{
            echo_read_request_body;
            echo_request_body;
        }}
        location = /cookies {{
            add_header Set-Cookie "a=1; Path=/";
            add_header X-Middle "m";
            add_header Set-Cookie "b=2, c=3";
            return 200 "cookies\\n";
        }}
        location = /hop {{
            add_header X-Seen-Probe "[$http_x_hop_probe]";
            add_header X-Seen-Keep "[$http_x_keep]";
            add_header Keep-Alive "timeout=5";
            return 200 "hop\\n";
        }}
        location = /redirect {{ return 302 /elsewhere; }}
        location = /fail {{ return 500 "boom\\n"; }}
        location /typed/ {{
            types {{ application/json json; text/html html; image/png png; text/plain txt; }}
            gzip on;
            gzip_types application/json text/html text/plain;
            gzip_min_length 1;
        }}
        location = /br {{
            default_type text/plain;
            add_header Content-Encoding br;
            alias {d}/www/typed/br.txt;
        }}
        location = /badgz {{
            default_type text/plain;
            add_header Content-Encoding gzip;
            alias {d}/www/typed/br.txt;
        }}
        location = /nginx_status {{ stub_status; }}
        location = /gz {{
            gzip on;
            gzip_types text/plain;
            gzip_min_length 1;
            default_type text/plain;
            alias {d}/www/text.txt;
        }}
    }}
}}
"""


# Nginx(trace_log=True): each request's URI and W3C trace headers, one line.
TRACE_LOG = ("log_format trace '$request_uri $http_traceparent $http_tracestate'; "
             "access_log {d}/trace.log trace;")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, directory, cert=None, key=None, host="127.0.0.1", trace_log=False):
        self.dir = str(directory)
        self.host = host
        self.root = os.path.join(self.dir, "www")
        os.makedirs(os.path.join(self.root, "dav"), exist_ok=True)
        self.port = free_port()
        self.https_port = free_port() if cert else None
        tls = ""
        if cert:
            tls = (f"listen 127.0.0.1:{self.https_port} ssl http2; "
                   f"ssl_certificate {cert}; ssl_certificate_key {key};")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(d=self.dir, host=host, port=self.port, echo=ECHO_MODULE,
                                tls=tls, access=TRACE_LOG.format(d=self.dir) if trace_log
                                else "access_log off;"))
        self.proc = subprocess.Popen([NGINX, "-c", conf, "-e", self.dir + "/error.log"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for p in (self.port, self.https_port):
            if p is not None:
                self._wait(p)

    def _wait(self, port):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode())
            try:
                with socket.create_connection((self.host, port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {port} within 10 s")

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def counts(self):
        """(accepted connections, requests) so far, without these queries."""
        self.status_queries = getattr(self, "status_queries", 0) + 1
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /nginx_status HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        accepts, _, requests = data.split(b"\r\n\r\n", 1)[1].splitlines()[2].split()
        return int(accepts) - self.status_queries, int(requests) - self.status_queries

    def traceparents(self):
        """(uri, traceparent, tracestate) of each request so far (trace_log=True);
        "-" for a header the request did not carry."""
        try:
            with open(os.path.join(self.dir, "trace.log")) as f:
                return [tuple(line.rstrip("\n").split(" ", 2)) for line in f]
        except FileNotFoundError:
            return []

    def write(self, name, data):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(data)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


SQUID_CONF = """
http_port 127.0.0.1:{port}
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log {d}/access.log
cache deny all
coredump_dir {d}
visible_hostname outpost-test
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 0 seconds
acl CONNECT method CONNECT
acl lo src 127.0.0.1/32
acl allowed_port port {allow}
{extra}http_access allow CONNECT lo allowed_port {authed}
{http}http_access deny all
"""

# Squid(..., http_port=N): plain (absolute-form) requests to port N too.
SQUID_HTTP = """acl plain_port port {port}
http_access allow !CONNECT lo plain_port {authed}
"""

# Squid(..., auth=(user, password)): every request needs Basic credentials.
SQUID_AUTH = """auth_param basic program /usr/lib/squid/basic_ncsa_auth {d}/passwd
auth_param basic children 1 startup=1 idle=1
auth_param basic realm outpost-test
acl authed proxy_auth REQUIRED
"""


class Squid:
    """A real forward proxy on loopback allowing CONNECT to one port; with
    http_port also plain requests to that port; hosts ({name: address})
    resolved by squid from its own hosts file (no DNS is asked); auth
    (user, password) answers 407 to requests without those credentials."""

    def __init__(self, allow_port, http_port=None, hosts=None, auth=None):
        # Directly under /tmp: squid drops to its own user, which cannot
        # reach pytest's private temporary directories.
        self.dir = tempfile.mkdtemp(prefix="outpost-squid-")
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        conf = os.path.join(self.dir, "squid.conf")
        extra, authed = "", ""
        if hosts:
            with open(os.path.join(self.dir, "hosts"), "w") as f:
                f.writelines(f"{a} {n}\n" for n, a in hosts.items())
            extra += f"hosts_file {self.dir}/hosts\n"
        if auth:
            digest = subprocess.run(["openssl", "passwd", "-apr1", auth[1]], check=True,
                                    capture_output=True, text=True, timeout=10).stdout.strip()
            with open(os.path.join(self.dir, "passwd"), "w") as f:
                f.write(f"{auth[0]}:{digest}\n")
            extra += SQUID_AUTH.format(d=self.dir)
            authed = "authed"
        http = SQUID_HTTP.format(port=http_port, authed=authed) if http_port else ""
        with open(conf, "w") as f:
            f.write(SQUID_CONF.format(d=self.dir, port=self.port, allow=allow_port,
                                      extra=extra, authed=authed, http=http))
        self.proc = subprocess.Popen(["/usr/sbin/squid", "-N", "-f", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("squid exited")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("squid did not listen within 15 s")

    def connects(self):
        """CONNECT lines squid logged so far."""
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                return [l for l in f if " CONNECT " in l]
        except OSError:
            return []

    def log(self):
        """The requests squid logged so far, one line each (not the bare
        connections of the start-up probe, logged as NONE_NONE/000)."""
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                return [l for l in f if " NONE_NONE/000 " not in l]
        except OSError:
            return []

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
