"""Two network namespaces joined by a bridge, for the lwIP build over a tap.

    connector ns ("C")                      edge ns ("E", where pytest runs)
    tap0 (lwIP: 10.77.0.2, fd77::2) ─┐
                                     br0 ── veth ─── 10.77.0.1, fd77::1
    br0 itself: 10.77.0.3 (the POSIX     outpost-edge, dnsmasq, nginx
    build, on the kernel's stack)

The lwIP build owns tap0: its stack is the only host with 10.77.0.2, and
the kernel of C only bridges its frames.  The POSIX build runs in the same
namespace on the kernel's stack (br0's address), so both builds take the
same path to the edge.  pytest enters E itself (setns), so that every
process it starts and every socket it opens is there; Net.close() returns
it to its own namespace and deletes both, whatever happened before.
"""
import ctypes
import os
import shutil
import signal
import subprocess

CLONE_NEWNET = 0x40000000
IP = shutil.which("ip") or "/usr/sbin/ip"
EDGE_ADDR = "10.77.0.1"
LWIP_ADDR = "10.77.0.2"
POSIX_ADDR = "10.77.0.3"
LWIP_ADDR6 = "fd77::2"
PREFIX = 24
TAP = "tap0"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def _ip(*args, ns=None):
    argv = [IP] + (["-n", ns] if ns else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")


class Net:
    """The two namespaces; pytest's own thread is in E until close()."""

    def __init__(self):
        tag = f"opl{os.getpid()}"
        self.c, self.e = tag + "c", tag + "e"
        self._home = None
        try:
            self._build()
            self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            fd = os.open(f"/run/netns/{self.e}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException:
            self.close()
            raise

    def _build(self):
        c, e = self.c, self.e
        _ip("netns", "add", c)
        _ip("netns", "add", e)
        _ip("tuntap", "add", "dev", TAP, "mode", "tap", ns=c)
        _ip("link", "add", "br0", "type", "bridge", ns=c)
        _ip("link", "add", "ve", "type", "veth", "peer", "name", "vb", "netns", e, ns=c)
        for dev in (TAP, "ve"):
            _ip("link", "set", dev, "master", "br0", ns=c)
        _ip("addr", "add", f"{POSIX_ADDR}/{PREFIX}", "dev", "br0", ns=c)
        for dev in ("lo", TAP, "ve", "br0"):
            _ip("link", "set", dev, "up", ns=c)
        _ip("addr", "add", f"{EDGE_ADDR}/{PREFIX}", "dev", "vb", ns=e)
        _ip("addr", "add", "fd77::1/64", "dev", "vb", "nodad", ns=e)
        for dev in ("lo", "vb"):
            _ip("link", "set", dev, "up", ns=e)

    def in_c(self):
        """argv prefix: run a command in the connector namespace."""
        return [IP, "netns", "exec", self.c]

    def close(self):
        if self._home is not None:
            _setns(self._home)
            os.close(self._home)
            self._home = None
        for ns in (self.c, self.e):
            if not os.path.exists(f"/run/netns/{ns}"):
                continue
            r = subprocess.run([IP, "netns", "pids", ns], capture_output=True,
                               text=True, timeout=10)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=10)


class Dnsmasq:
    """dnsmasq on EDGE_ADDR:53 answering names (a dict name -> IPv4) only."""

    def __init__(self, tmp, names):
        argv = [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground",
                "--no-resolv", "--no-hosts", "--bind-interfaces",
                f"--listen-address={EDGE_ADDR}", "--except-interface=lo", "--user=root",
                f"--pid-file={tmp}/dnsmasq.pid", "--log-facility=-", "--log-queries"]
        argv += [f"--address=/{n}/{a}" for n, a in names.items()]
        self.log = open(os.path.join(tmp, "dnsmasq.log"), "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        self.log.close()
