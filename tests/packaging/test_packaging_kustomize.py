"""The Kustomize base and overlays, rendered by `kubectl kustomize`.

Every rendering is checked for what the pod must be (read-only, non-root
65532, no capabilities, RuntimeDefault seccomp, no service account token),
its probes, the grace period against DRAIN_TIMEOUT, and its configuration:
every key is a setting the binary knows, no secret is in a ConfigMap, and
the pod's whole environment passes the binary's own `check-config`.
"""
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import DEPLOY, TOP, duration_s, run

KUSTOMIZE = DEPLOY / "kustomize"
OVERLAYS = ["base", "enrolment", "enrolment-persistent", "proxy"]
UID = 65532
# Settings the manifests already use that a change in flight adds to the
# table (the identity work, issue #12: ENROLLMENT_TOKEN_FILE).  Remove a name
# once the binary knows it; nothing else may be missing.
PENDING = {"ENROLLMENT_TOKEN_FILE"}


def render(overlay):
    out = run(["kubectl", "kustomize", str(KUSTOMIZE / overlay)]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request):
    return request.param, render(request.param)


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


def container(docs):
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (c,) = [c for c in pod["containers"] if c["name"] == "outpost"]
    return pod, c


def env_configmap(docs):
    _, c = container(docs)
    (ref,) = [e["configMapRef"]["name"] for e in c.get("envFrom", [])]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == ref]
    return cm["data"]


def test_pod_security(docs):
    _, d = docs
    pod, c = container(d)
    assert pod["automountServiceAccountToken"] is False
    psc, sc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == UID
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == UID
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not sc.get("privileged")
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_probes(docs):
    _, d = docs
    _, c = container(d)
    health = [p for p in c["ports"] if p["name"] == "health"]
    assert health and str(health[0]["containerPort"]) == env_configmap(d)["HTTP_PORT"]
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                        ("startupProbe", "/healthz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "health"}, probe


def test_grace_period_outlasts_drain(docs, settings):
    _, d = docs
    pod, _ = container(d)
    drain = env_configmap(d).get("DRAIN_TIMEOUT", settings["DRAIN_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] > duration_s(drain)


def test_rollout_and_spread(docs):
    name, d = docs
    dep = one(d, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    pdb = one(d, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    if name.startswith("enrolment"):
        # One single-use token enrols one connector.
        assert dep["spec"]["replicas"] == 1
    else:
        assert dep["spec"]["replicas"] == 2
        assert dep["spec"]["strategy"] == {
            "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_network_policy_admits_only_health_port(docs):
    _, d = docs
    np = one(d, "NetworkPolicy")
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert np["spec"]["ingress"] == [{"ports": [{"port": "health", "protocol": "TCP"}]}]


def test_every_key_is_a_setting(docs, settings):
    _, d = docs
    _, c = container(d)
    keys = set(env_configmap(d)) | {e["name"] for e in c.get("env", [])}
    assert keys - set(settings) <= PENDING, keys - set(settings)


def test_no_secret_in_a_configmap(docs, outpost_bin, tmp_path):
    # The binary refuses secrets (and unknown keys) in a config file: every
    # ConfigMap's data, written as one, must pass.
    _, d = docs
    for cm in (x for x in d if x["kind"] == "ConfigMap"):
        for key, value in cm["data"].items():
            assert "-----BEGIN" not in value, (cm["metadata"]["name"], key)
    conf = tmp_path / "settings.conf"
    conf.write_text("".join(f"{k}={v}\n" for k, v in env_configmap(d).items()))
    r = run([outpost_bin, "check-config"], check=False,
            env={"PATH": os.environ["PATH"], "OUTPOST_CONFIG": str(conf)})
    assert r.returncode == 0, r.stderr


def test_pod_environment_passes_check_config(docs, outpost_bin, tmp_path):
    # The pod's environment with its mounts mapped into tmp_path, filled as
    # the Secret and ConfigMaps would fill them (dev PKI for the mTLS files).
    name, d = docs
    pod, c = container(d)
    pki = tmp_path / "pki"
    subprocess.run([str(TOP / "scripts" / "dev-pki.sh"), str(pki), "alpha"], check=True,
                   capture_output=True, timeout=60)
    mounts = {m["mountPath"]: tmp_path / m["name"] for m in c["volumeMounts"]}
    for vol in pod["volumes"]:
        dst = tmp_path / vol["name"]
        dst.mkdir()
        if vol.get("secret", {}).get("secretName") == "outpost-tls":
            for src, key in (("connector-alpha.pem", "tls.crt"), ("connector-alpha.key", "tls.key"),
                             ("ca.pem", "ca.crt")):
                shutil.copy(pki / src, dst / key)
        elif vol.get("secret"):
            (dst / "token").write_text("opt_test\n")
        elif vol.get("configMap"):
            (cm,) = [x for x in d if x["kind"] == "ConfigMap" and
                     x["metadata"]["name"] == vol["configMap"]["name"]]
            for key, value in cm["data"].items():
                (dst / key).write_text(value)

    def mapped(v):
        for path, local in mounts.items():
            if v == path or v.startswith(path + "/"):
                return str(local) + v[len(path):]
        return v
    env = {"PATH": os.environ["PATH"], **env_configmap(d)}
    env.update({e["name"]: mapped(e["value"]) for e in c.get("env", [])})
    r = run([outpost_bin, "check-config"], env=env, check=False)
    assert r.returncode == 0, (name, r.stderr)
    assert "error" not in r.stderr, r.stderr
