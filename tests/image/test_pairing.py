"""The appliance enrols by device pairing (issue 12 item 5): first boot with no
identity shows a pairing code on the console; approving it on an outpost-edge on
the host's loopback (reached through user-net guestfwd) gives the appliance its
certificate; the identity on the data partition survives a reboot."""
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import NAME, copy_image, free_port, partition, put_config

BOOT_TIMEOUT = 60
HERE = os.path.dirname(os.path.abspath(__file__))
PKI_SH = os.path.join(HERE, "..", "integration", "pki.sh")
GUEST_EDGE = "10.0.2.100:7443"


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

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def edge(outpost_bin, scratch):
    e = Edge(os.path.join(os.path.dirname(outpost_bin), "outpost-edge"), scratch)
    yield e
    e.stop()


def test_pairing_enrols_and_survives_reboot(vms, image_dir, kernel, scratch, edge):
    img = copy_image(os.path.join(image_dir, NAME + ".img"), os.path.join(scratch, "pair.img"))
    put_file(img, os.path.join(edge.pki, "ca.pem"), "ca.pem")
    put_config(img, "TRAVERSAL_CONTROLLER_URL=https://%s\nTLS_SERVER_NAME=localhost\n"
               "TLS_CA_FILE=/config/ca.pem\nRECONNECT_INTERVAL=500ms\n" % GUEST_EDGE, scratch)
    fwd = (GUEST_EDGE, edge.tport)
    vm = vms(img, boot="direct", devices="virtio", kernel=kernel, snapshot=False, guestfwd=fwd)
    m = vm.wait_console(r"PAIRING CODE ([A-Z]{4}-[A-Z]{4})", BOOT_TIMEOUT)
    code = m.group(1)
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
    # Second boot of the same disk: the identity is on the data partition.
    vm2 = vms(img, boot="direct", devices="virtio", kernel=kernel, snapshot=False,
              guestfwd=fwd)
    vm2.wait_http("/readyz", BOOT_TIMEOUT)
    _, status = vm2.wait_http("/status", 10)
    ident = json.loads(status)["identity"]
    assert ident["source"] == "data_dir" and ident["name"] == "appliance"
    assert "PAIRING CODE" not in vm2.console()
