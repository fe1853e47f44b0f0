"""The appliance enrols by device pairing (issue 12 items 5 and 7): first boot with
no identity shows a pairing code on the console; approving it on an outpost-edge
on the host's loopback (reached through user-net guestfwd) gives the appliance its
certificate; the identity on the data partition survives a reboot; with the data
partition removed the next boot shows NEEDS RECOVERY and a new code.  One first
boot (module fixture) serves both later boots."""
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import NAME, Vm, copy_image, free_port, partition, put_config

BOOT_TIMEOUT = 60
HERE = os.path.dirname(os.path.abspath(__file__))
PKI_SH = os.path.join(HERE, "..", "integration", "pki.sh")
GUEST_EDGE = "10.0.2.100:7443"
CODE = r"PAIRING CODE ([A-Z]{4}-[A-Z]{4})"
OBSERVE = 5  # seconds a recovering appliance is watched for restarts and tunnels


def put_file(img, src, name):
    off, _ = partition(img, "outpost-config")
    subprocess.run(["mcopy", "-o", "-i", "%s@@%d" % (img, off), src, "::/" + name],
                   check=True, timeout=30, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))


class Edge:
    def __init__(self, binary, scratch):
        self.pki = os.path.join(scratch, "pki")
        subprocess.run(["sh", PKI_SH, self.pki], check=True, capture_output=True, timeout=120)
        self.tport, self.aport = free_port(), free_port()
        self.token = os.urandom(12).hex()
        tok = os.path.join(scratch, "api-token")
        with open(tok, "w") as f:
            f.write(self.token)
        env = dict(PATH="/usr/bin:/bin", OUTPOST_CONFIG="",
                   EDGE_LISTEN="127.0.0.1:%d" % self.tport, EDGE_API_PORT=str(self.aport),
                   EDGE_API_TOKEN_FILE=tok, EDGE_TLS_CERT_FILE=self.pki + "/server.pem",
                   EDGE_TLS_KEY_FILE=self.pki + "/server.key",
                   EDGE_DATA_DIR=os.path.join(scratch, "edge-data"),
                   EDGE_PAIRING_INTERVAL="1s")
        self.log = open(os.path.join(scratch, "edge.log"), "wb")
        self.proc = subprocess.Popen([binary, "run"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        time.sleep(0.5)

    def post(self, path, body):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.aport, path),
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def connector(self, name):
        req = urllib.request.Request("http://127.0.0.1:%d/v1/connectors/%s" % (self.aport, name),
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def delete_partition(img, name):
    """Remove the GPT entry called name: the disk as if that partition were gone."""
    out = subprocess.run(["sfdisk", "--json", img], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    nodes = [p["node"] for p in json.loads(out)["partitiontable"]["partitions"]
             if p.get("name") == name]
    assert len(nodes) == 1 and nodes[0].startswith(img), nodes
    subprocess.run(["sfdisk", "--delete", img, nodes[0][len(img):]], check=True,
                   capture_output=True, timeout=30)
    with pytest.raises(KeyError):
        partition(img, name)


def wait_until(fn, timeout, step=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(step)
    return fn()


@pytest.fixture(scope="module")
def edge(outpost_bin, scratch):
    e = Edge(os.path.join(os.path.dirname(outpost_bin), "outpost-edge"), scratch)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def paired(image_dir, kernel, scratch, edge):
    """First boot with no identity: the code on the console and in /status,
    approval on the edge, ready, then a clean power-off.  The disk afterwards."""
    img = copy_image(os.path.join(image_dir, NAME + ".img"), os.path.join(scratch, "pair.img"))
    put_file(img, os.path.join(edge.pki, "ca.pem"), "ca.pem")
    put_config(img, "TRAVERSAL_CONTROLLER_URL=https://%s\nTLS_SERVER_NAME=localhost\n"
               "TLS_CA_FILE=/config/ca.pem\nRECONNECT_INTERVAL=500ms\n" % GUEST_EDGE, scratch)
    vm = Vm(scratch, img, boot="direct", devices="virtio", kernel=kernel, snapshot=False,
            guestfwd=(GUEST_EDGE, edge.tport))
    try:
        code = vm.wait_console(CODE, BOOT_TIMEOUT).group(1)
        assert "NEEDS RECOVERY" not in vm.console()  # a first boot, not a recovery
        _, status = vm.wait_http("/status", 10)
        assert json.loads(status)["identity"]["user_code"] == code
        assert edge.post("/v1/pairings/%s/approve" % code, {"name": "appliance"}) == 200
        try:
            vm.wait_http("/readyz", 30)
        except AssertionError:
            print(open(edge.log.name).read()[-4000:])  # the edge's side, for the report
            raise
        _, status = vm.wait_http("/status", 10)
        ident = json.loads(status)["identity"]
        assert ident["source"] == "pairing" and ident["name"] == "appliance"
        vm.monitor("system_powerdown")
        assert vm.wait_exit(30) is not None, vm.console()[-2000:]
    finally:
        vm.kill()
    return {"img": img, "code": code, "fwd": (GUEST_EDGE, edge.tport)}


def test_pairing_enrols_and_survives_reboot(vms, kernel, paired):
    # Second boot of the same disk (writes discarded): the identity is on the
    # data partition.
    vm = vms(paired["img"], boot="direct", devices="virtio", kernel=kernel, snapshot=True,
             guestfwd=paired["fwd"])
    vm.wait_http("/readyz", BOOT_TIMEOUT)
    _, status = vm.wait_http("/status", 10)
    ident = json.loads(status)["identity"]
    assert ident["source"] == "data_dir" and ident["name"] == "appliance"
    assert "PAIRING CODE" not in vm.console()


def test_data_partition_removed_needs_recovery(vms, kernel, scratch, edge, paired):
    img = copy_image(paired["img"], os.path.join(scratch, "nodata.img"))
    delete_partition(img, "outpost-data")
    # Tunnels of earlier boots are gone before this one starts.
    assert wait_until(lambda: edge.connector("appliance")["tunnels"] == [], 15), \
        edge.connector("appliance")
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel, snapshot=False,
             guestfwd=paired["fwd"])
    code = vm.wait_console("NEEDS RECOVERY: " + CODE, BOOT_TIMEOUT).group(1)
    assert code != paired["code"]
    con = vm.console()
    assert "outpost-data not found" in con and "data:     NEEDS RECOVERY" in con
    _, body = vm.wait_http("/readyz", 10, want=503)
    assert json.loads(body)["reason"] == "needs_recovery", body
    _, status = vm.wait_http("/status", 10)
    st = json.loads(status)
    assert st["state"] == "needs_recovery" and st["identity"]["user_code"] == code, st
    assert "data partition" in st["identity"]["action"]
    # The observation window: init and the worker stay up, no tunnel opens.
    end = time.monotonic() + OBSERVE
    while time.monotonic() < end:
        assert vm.proc.poll() is None, vm.console()[-3000:]
        assert edge.connector("appliance")["tunnels"] == []
        time.sleep(0.5)
    con = vm.console()
    assert con.count("init: worker started") == 1, con[-3000:]
    assert "worker exited" not in con and "worker killed" not in con, con[-3000:]
    assert vm.http("/readyz")[0] == 503 and vm.http("/healthz")[0] == 200
