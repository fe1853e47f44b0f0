"""`make run` end to end: scripts/run.sh with RUN_ONCE=1 starts outpost-edge,
a connector that enrols with a token the script asked the edge for, and the
demo upstream, and prints one successful proxied response; every process is
gone afterwards."""
import json
import os
import shutil
import subprocess

from edgelib import ROOT


def test_make_run_prints_a_proxied_response(outpost_bin, outpost_edge_bin):
    bindir = os.path.dirname(outpost_bin)
    assert os.path.dirname(outpost_edge_bin) == bindir
    env = dict(os.environ, RUN_ONCE="1", RUN_TIMEOUT="20")
    run_dir = os.path.join(os.path.dirname(bindir), "run")
    shutil.rmtree(os.path.join(run_dir, "data"), ignore_errors=True)  # enrol afresh
    r = subprocess.run([os.path.join(ROOT, "scripts", "run.sh"), bindir], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "$ curl -si -H \"Authorization: Bearer $(cat " in r.stdout
    assert "HTTP/1.1 200 OK" in r.stdout
    assert "hello from the demo upstream, through outpost" in r.stdout
    # ... and through a session: the same answer as raw bytes.
    assert " connect --edge http://127.0.0.1:" in r.stdout
    assert r.stdout.count("hello from the demo upstream, through outpost") == 2, r.stdout
    assert "connector ready" in r.stderr and "stopped" in r.stderr
    assert "enrolling connector \"demo\" with a single-use token" in r.stderr
    shown = subprocess.run([outpost_bin, "identity", "show"], capture_output=True, text=True,
                           env={"DATA_DIR": os.path.join(run_dir, "data"), "OUTPOST_CONFIG": ""},
                           timeout=10)
    assert shown.returncode == 0 and json.loads(shown.stdout)["source"] == "enroll"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert run_dir + "/" not in ps, "a process of make run is still alive"
