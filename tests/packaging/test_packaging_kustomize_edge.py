"""deploy/kustomize/edge (#19): outpost-edge as 3 replicas, rendered by
`kubectl kustomize`.

Checked on the rendered objects: the Deployment (3 replicas, surge rollout,
non-root read-only pod, probes on the edge's own /healthz and /readyz on the
front-door port), the headless tunnel Service (no virtual IP, only ready pods
in its record set), the front-door Service, the PodDisruptionBudget, the pod
anti-affinity, the shared ReadWriteMany volume mounted at EDGE_DATA_DIR, the
NetworkPolicy; every selector selects the pods; every ConfigMap key is a
setting; and the pod's environment, its mounts filled, passes the edge's own
`outpost-edge check-config`.
"""
import os
import subprocess

import pytest
import yaml

from conftest import DEPLOY, TOP, run

EDGE = DEPLOY / "kustomize" / "edge"
UID = 65532


@pytest.fixture(scope="module")
def docs():
    out = run(["kubectl", "kustomize", str(EDGE)]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="session")
def edge_bin():
    path = os.environ.get("OUTPOST_EDGE_BIN")
    if not path or not os.path.isfile(path):
        pytest.fail("OUTPOST_EDGE_BIN must name outpost-edge (run `make packaging-test`)")
    return path


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind}s named {name}"
    return found[0]


def pod_of(docs):
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return dep, pod, c


def settings_of(docs):
    _, _, c = pod_of(docs)
    (ref,) = [e["configMapRef"]["name"] for e in c["envFrom"]]
    return one(docs, "ConfigMap", ref)["data"]


def port_named(c, name):
    (p,) = [p for p in c["ports"] if p["name"] == name]
    return p["containerPort"]


def test_three_replicas_surge_rollout(docs):
    dep, pod, _ = pod_of(docs)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "outpost-edge"


def test_pod_security(docs):
    _, pod, c = pod_of(docs)
    assert pod["automountServiceAccountToken"] is False
    psc, sc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == UID
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == UID
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert not sc.get("privileged")
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert c["command"] == ["/outpost-edge"] and c["args"] == ["run"]


def test_probes_on_the_edges_health_endpoints(docs):
    _, _, c = pod_of(docs)
    s = settings_of(docs)
    assert str(port_named(c, "api")) == s["EDGE_API_PORT"]
    assert s["EDGE_API_LISTEN"] == "0.0.0.0"  # the kubelet probes the pod's address
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                        ("startupProbe", "/healthz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "api"}, probe
        assert "httpHeaders" not in c[probe]["httpGet"]  # no token: none needed


def test_headless_tunnel_service_one_record_per_ready_pod(docs):
    dep, _, c = pod_of(docs)
    svc = one(docs, "Service", "outpost-edge-tunnel")["spec"]
    assert svc["clusterIP"] == "None"
    assert svc["publishNotReadyAddresses"] is False
    assert svc["selector"] == dep["spec"]["selector"]["matchLabels"]
    (p,) = svc["ports"]
    assert p["targetPort"] == "tunnel" and p["protocol"] == "TCP"
    listen = settings_of(docs)["EDGE_LISTEN"]
    assert listen == f"0.0.0.0:{port_named(c, 'tunnel')}"
    assert p["port"] == port_named(c, "tunnel")  # connectors dial the URL's port everywhere


def test_front_door_service(docs):
    dep, _, _ = pod_of(docs)
    svc = one(docs, "Service", "outpost-edge")["spec"]
    assert svc.get("type", "ClusterIP") == "ClusterIP" and svc.get("clusterIP") != "None"
    assert svc["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert [p["targetPort"] for p in svc["ports"]] == ["api"]


def test_disruption_budget_and_anti_affinity(docs):
    dep, pod, _ = pod_of(docs)
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    (term,) = pod["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"]
    t = term["podAffinityTerm"]
    assert t["topologyKey"] == "kubernetes.io/hostname"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert t["labelSelector"]["matchLabels"].items() <= labels.items()


def test_shared_data_volume_read_write_many(docs):
    _, pod, c = pod_of(docs)
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    (vol,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert vol["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    (m,) = [m for m in c["volumeMounts"] if m["name"] == vol["name"]]
    assert m["mountPath"] == settings_of(docs)["EDGE_DATA_DIR"] and not m.get("readOnly")
    assert pod["securityContext"]["fsGroup"] == UID  # the non-root edge writes it


def test_network_policy_tunnel_and_front_door_only(docs):
    np = one(docs, "NetworkPolicy")["spec"]
    assert set(np["policyTypes"]) == {"Ingress", "Egress"}
    assert np["ingress"] == [{"ports": [{"port": "tunnel", "protocol": "TCP"},
                                        {"port": "api", "protocol": "TCP"}]}]
    assert np.get("egress") in (None, [])  # the edge dials nothing


def test_every_key_is_a_setting(docs, settings):
    _, _, c = pod_of(docs)
    keys = set(settings_of(docs)) | {e["name"] for e in c.get("env", [])}
    assert keys - set(settings) <= {"OUTPOST_CONFIG"}, keys - set(settings)


def test_pod_environment_passes_edge_check_config(docs, edge_bin, tmp_path):
    _, pod, c = pod_of(docs)
    pki = tmp_path / "pki"
    subprocess.run([str(TOP / "scripts" / "dev-pki.sh"), str(pki), "alpha"], check=True,
                   capture_output=True, timeout=60)
    mounts = {m["mountPath"]: tmp_path / m["name"] for m in c["volumeMounts"]}
    for vol in pod["volumes"]:
        dst = tmp_path / vol["name"]
        dst.mkdir()
        if vol.get("secret"):
            (dst / "tls.crt").write_bytes((pki / "edge.pem").read_bytes())
            (dst / "tls.key").write_bytes((pki / "edge.key").read_bytes())
            (dst / "api-token").write_text(os.urandom(16).hex() + "\n")
            for f in dst.iterdir():
                f.chmod(0o600)

    def mapped(v):
        for path, local in mounts.items():
            if v == path or v.startswith(path + "/"):
                return str(local) + v[len(path):]
        return v
    env = {"PATH": os.environ["PATH"]}
    env.update({k: mapped(v) for k, v in settings_of(docs).items()})
    env.update({e["name"]: mapped(e["value"]) for e in c.get("env", [])})
    r = run([edge_bin, "check-config"], env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert "error" not in r.stderr, r.stderr
    # A setting the edge refuses fails the same check (the test can fail).
    r = run([edge_bin, "check-config"], env={**env, "EDGE_LISTEN": "0.0.0.0:x"}, check=False)
    assert r.returncode == 100 and "EDGE_LISTEN" in r.stderr + r.stdout, r
